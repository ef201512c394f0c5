#!/bin/sh
# virtio-xl: a virtio= block device whose device model is our daemon, started
# by xl itself (device_model_override, device_model_version="qemu-xen", a
# vfb as the trigger, device_model_args with our options). Needs Xen >= 4.18
# (4.17's xl ignores virtio= silently).
. /xvm/env; . /xvm/tests/lib.sh
N=virtio-xl G=xvm-vxl
if ! xen_at_least 4.18; then
    skip $N "virtio= needs Xen >= 4.18; this run uses Xen $XEN_VERSION (Debian's 4.20 source was not available)"
    exit 0
fi
require_daemon $N || exit 0
IMG=$XVM_IMGDIR/vxl.img SOCK=$XVM_SOCKDIR/blk.sock
mk_image "$IMG"
start_qsd "$IMG" "$SOCK" || { fail $N "backend did not start"; exit 0; }
GUEST_EXTRA="xvm.rsha=$RSHA" why=$(run_guest $G blk-data 300 \
    'virtio = [ "type=virtio,device2,transport=mmio,grant_usage=0" ]' \
    "device_model_override = \"$XVM_DAEMON\"" \
    'device_model_version = "qemu-xen"' \
    'vfb = [ "vnc=0,sdl=0" ]' \
    "device_model_args = [ \"--backend-dir=$XVM_SOCKDIR\", \"--log-level=debug\" ]")
rc=$?
sleep 1
nodying=yes; no_dying_domains || nodying=no
stop_pid "$QSD_PID"
[ $rc -eq 0 ] || { cat /var/log/xen/qemu-dm-$G.log 2>/dev/null | tail -n 20 >&2; fail $N "$why"; exit 0; }
why=$(check_written $G "$IMG") || { fail $N "$why"; exit 0; }
[ $nodying = yes ] || { fail $N "domain left behind: $(xl list | tail -n +2 | tr '\n' ' ')"; exit 0; }
relay_guest_facts $G
pass $N
