#!/bin/sh
# virtiofs: a virtio-fs device backed by virtiofsd in dom0; the guest mounts
# it, checks a file dom0 put there and writes one back for dom0 to check.
# Xen >= 4.18: a virtio= entry (type device26) served by the daemon in
# service mode.  Xen 4.17 (libxl has no virtio= entries): the device is
# declared in tests/integration/virtiofs.conf and reaches the guest through
# the partial device tree the host's daemon wrote with --device-tree (xl's
# device_tree=); its node has no `iommus`, so Debian's stock kernel drives
# it with plain foreign mapping.  The daemon is then the guest's xl-spawned
# device model, which serves declared devices before the guest runs;
# vuart gives the guest SPIs.
# The guest holds before it ends (guest/fs-data.sh), pass or fail: dom0
# then reads the daemon's counters (--status) and releases it.
. /xvm/env; . /xvm/tests/lib.sh
N=virtiofs G=xvm-fs
require_daemon $N || exit 0
SHARE=/tmp/xvm-share SOCK=$XVM_SOCKDIR/fs.sock ST=$XVM_RUN/fs-status
rm -rf "$SHARE" "$ST" "$(guest_log $G)"; mkdir -p "$SHARE"
dd if=/dev/urandom of="$SHARE/in.bin" bs=1M count=4 2>/dev/null
ISHA=$(sha256sum "$SHARE/in.bin" | cut -c1-64)
start_virtiofsd "$SHARE" "$SOCK" || { fail $N "virtiofsd did not start"; exit 0; }
# The counters while the guest holds (bounded by the guest's own run).
( wait_log $G 'XVM-GUEST-HOLD' 300 &&
      "$XVM_DAEMON" --status --backend-dir="$XVM_SOCKDIR" >"$ST" 2>&1
  release_guest $G ) &
WATCH=$!
if xen_at_least 4.18; then
    CFG=$XVM_RUN/fs.conf
    : >"$CFG"; dev_config "$CFG" $G "$SOCK" 0
    start_daemon $N --config="$CFG" || { stop_pid "$WATCH"; stop_pid "$FSD_PID"; exit 0; }
    GUEST_EXTRA="xvm.isha=$ISHA" why=$(run_guest $G fs-data 300 \
        'virtio = [ "type=virtio,device26,transport=mmio,grant_usage=0" ]')
    rc=$?
    stop_pid "$DAEMON_PID"
    dmlog=$DAEMON_LOG
else
    CFG=/xvm/tests/virtiofs.conf DTB=/xvm/guest/virtiofs.dtb
    [ -f "$DTB" ] || { fail $N "partial device tree missing (no host daemon with libfdt to write it)"; exit 0; }
    # The kernel's lines from its first instruction until hvc0 takes over
    # go to the vuart (xenconsoled logs it as guest-$G-vuart0.log; a
    # non-debug Xen refuses a domU's console_io, so the xenboot earlycon
    # would stay silent), the rest to hvc0 (loglevel 7: all of them), and
    # init names its steps: a guest that hangs says where.
    GUEST_EXTRA="xvm.isha=$ISHA xvm.trace=1 earlycon=pl011,0x22000000 loglevel=7" \
        why=$(run_declared_guest $G fs-data 300 "$CFG" "$DTB")
    rc=$?
    dmlog=/var/log/xen/qemu-dm-$G.log
fi
stop_pid "$WATCH"; stop_pid "$FSD_PID"
sed "s/^/NOTE $N status: /" "$ST" 2>/dev/null
[ $rc -eq 0 ] || {
    echo "---- daemon log: warnings and errors ----"
    grep -E ' (warn|err|error): ' "$dmlog" 2>/dev/null | tail -n 15
    echo "---- daemon log ----"; tail -n 30 "$dmlog" 2>/dev/null
    echo "---- virtiofsd log ----"; tail -n 10 "$XVM_RUN/virtiofsd.log" 2>/dev/null
    echo "---- guest kernel (vuart) ----"; tail -n 15 "$(guest_log $G-vuart0)" 2>/dev/null
    fail $N "$why"; exit 0
}
gsha=$(sed -n 's/.*XVM-GUEST-SHA \([0-9a-f]*\).*/\1/p' "$(guest_log $G)" | head -n1)
[ -f "$SHARE/out.bin" ] || { fail $N "the guest's file did not reach the share"; exit 0; }
[ "$(sha256sum "$SHARE/out.bin" | cut -c1-64)" = "$gsha" ] || { fail $N "out.bin differs from what the guest wrote"; exit 0; }
relay_guest_facts $G
pass $N
