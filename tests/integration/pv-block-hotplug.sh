#!/bin/sh
# Minimal block hotplug script for the PV blkback comparison (busybox sh):
# Xen's /etc/xen/scripts/block needs more of a distribution than the dom0
# initramfs has. For a block device target it only has to publish the
# device's major:minor for blkback.
case $1 in
add)
    p=$(xenstore-read "$XENBUS_PATH/params") || exit 1
    [ -b "$p" ] || { echo "$p is not a block device" >&2; exit 1; }
    mm=$(stat -L -c '%t:%T' "$p")
    xenstore-write "$XENBUS_PATH/physical-device" "$mm" \
                   "$XENBUS_PATH/physical-device-path" "$p"
    ;;
esac
exit 0
