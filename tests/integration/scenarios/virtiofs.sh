#!/bin/sh
# virtiofs: a virtio-fs device (virtio= type device26) served by the daemon
# in service mode with virtiofsd as the backend; the guest mounts it, checks
# a file dom0 put there and writes one back for dom0 to check. Needs
# Xen >= 4.18 (virtio= entries).
. /xvm/env; . /xvm/tests/lib.sh
N=virtiofs G=xvm-fs
if ! xen_at_least 4.18; then
    skip $N "virtio-fs uses a virtio= entry, which needs Xen >= 4.18; this run uses Xen $XEN_VERSION"
    exit 0
fi
require_daemon $N || exit 0
SHARE=/tmp/xvm-share SOCK=$XVM_SOCKDIR/fs.sock CFG=$XVM_RUN/fs.conf
rm -rf "$SHARE"; mkdir -p "$SHARE"
dd if=/dev/urandom of="$SHARE/in.bin" bs=1M count=4 2>/dev/null
ISHA=$(sha256sum "$SHARE/in.bin" | cut -c1-64)
start_virtiofsd "$SHARE" "$SOCK" || { fail $N "virtiofsd did not start"; exit 0; }
: >"$CFG"; dev_config "$CFG" $G "$SOCK" 0
start_daemon $N --config="$CFG" || { stop_pid "$FSD_PID"; exit 0; }
GUEST_EXTRA="xvm.isha=$ISHA" why=$(run_guest $G fs-data 300 \
    'virtio = [ "type=virtio,device26,transport=mmio,grant_usage=0" ]')
rc=$?
stop_pid "$DAEMON_PID"; stop_pid "$FSD_PID"
[ $rc -eq 0 ] || { fail $N "$why"; exit 0; }
gsha=$(sed -n 's/.*XVM-GUEST-SHA \([0-9a-f]*\).*/\1/p' "$(guest_log $G)" | head -n1)
[ -f "$SHARE/out.bin" ] || { fail $N "the guest's file did not reach the share"; exit 0; }
[ "$(sha256sum "$SHARE/out.bin" | cut -c1-64)" = "$gsha" ] || { fail $N "out.bin differs from what the guest wrote"; exit 0; }
relay_guest_facts $G
pass $N
