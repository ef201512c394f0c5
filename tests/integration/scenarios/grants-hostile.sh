#!/bin/sh
# grants-hostile: a guest on the grant kernel with two declared grant-based
# virtio-blk devices, served by the dom0 service (shadow mode, one
# qemu-storage-daemon each).  The guest (guest/grants-hostile.sh) unbinds
# the first and programs its queue with refs it never granted, with
# guest-physical addresses, with a ref past the grant space and a mix,
# then QueueReady=1, DRIVER_OK and a kick: each access must be answered
# (else the guest hangs), the device must report DEVICE_NEEDS_RESET and
# reset cleanly.  Then the second device must pass the data check, and the
# service must still be up.
. /xvm/env; . /xvm/tests/lib.sh
N=grants-hostile G=xvm-ghostile
require_daemon $N || exit 0
grant_guest $N grants-hostile || exit 0
IMG0=$XVM_IMGDIR/ghostile-0.img IMG1=$XVM_IMGDIR/ghostile-1.img
mk_image "$IMG0"
start_qsd "$IMG0" "$XVM_SOCKDIR/ghostile-0.sock" || { fail $N "backend 0 did not start"; exit 0; }
QSD0=$QSD_PID
mk_image "$IMG1"
start_qsd "$IMG1" "$XVM_SOCKDIR/ghostile-1.sock" || { stop_pid "$QSD0"; fail $N "backend 1 did not start"; exit 0; }
QSD1=$QSD_PID
start_daemon $N --config="$CFG" --log-level=debug || { stop_pid "$QSD0"; stop_pid "$QSD1"; exit 0; }
GUEST_EXTRA="xvm.rsha=$RSHA xvm.hbase=0x2000400 xvm.dbase=0x2001000" \
    why=$(run_guest_declared $G grants-hostile 400 "0 1" \
        'vuart = "sbsa_uart"' "device_tree = \"$DTB\"")
rc=$?
sleep 1
alive=yes; daemon_alive || alive=no
stop_pid "$DAEMON_PID"; stop_pid "$QSD0"; stop_pid "$QSD1"
[ $alive = yes ] || { tail -n 20 "$DAEMON_LOG"; fail $N "the service died under the hostile guest"; exit 0; }
[ $rc -eq 0 ] || { tail -n 30 "$DAEMON_LOG"; fail $N "$why"; exit 0; }
why=$(check_written $G "$IMG1") || { fail $N "second device: $why"; exit 0; }
stats=$(grant_served $N $G "$DAEMON_LOG" declared1) || exit 0
no_dying_domains || { fail $N "domain left behind: $(xl list | tail -n +2 | tr '\n' ' ')"; exit 0; }
note "daemon log lines about the hostile device's rings: $(grep -cE "declared0.*(cannot map the rings' grants|rings rejected)" "$DAEMON_LOG")"
note "$(grep -m1 'declared0: grant device: .* grant copies' "$DAEMON_LOG" | sed 's/.*grant device: /hostile device: /')"
note "second device: $stats"
relay_guest_facts $G
pass $N
