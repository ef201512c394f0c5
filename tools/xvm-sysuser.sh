#!/bin/sh
# Create the system user and group xen-vhost-master, which the daemon's
# workers and the qemu-storage-daemon instances it starts run as.
# Idempotent.  Used by `make install` (on the running system) and by the
# arm64 harness (into an image's /etc), so both create the same user.
#
#   xvm-sysuser.sh              on this system, as root (useradd)
#   xvm-sysuser.sh --root DIR   into DIR/etc/passwd and DIR/etc/group
#
# systemd installs get the same user from xen-vhost-master.sysusers.
set -eu
NAME=xen-vhost-master
GECOS="xen-vhost-master workers"

if [ "${1:-}" = --root ]; then
    root=${2:?xvm-sysuser.sh --root DIR}
    p=$root/etc/passwd g=$root/etc/group
    touch "$p" "$g"
    grep -q "^$NAME:" "$p" && exit 0
    # The highest free system id below 1000 in both files, as useradd
    # --system picks it.
    id=999
    while cut -d: -f3 "$p" "$g" | grep -qx "$id"; do
        id=$((id - 1))
        [ "$id" -gt 100 ] || { echo "xvm-sysuser.sh: no free system id" >&2; exit 1; }
    done
    grep -q "^$NAME:" "$g" || echo "$NAME:x:$id:" >>"$g"
    gid=$(grep "^$NAME:" "$g" | cut -d: -f3)
    echo "$NAME:x:$id:$gid:$GECOS:/nonexistent:/usr/sbin/nologin" >>"$p"
    exit 0
fi
getent passwd "$NAME" >/dev/null && exit 0
useradd --system --user-group --no-create-home --home-dir /nonexistent \
    --shell /usr/sbin/nologin --comment "$GECOS" "$NAME"
echo "xvm-sysuser.sh: created system user $NAME (uid $(id -u "$NAME"))"
