#!/bin/sh
# hostile: a guest that does not load virtio_mmio and instead pokes the
# device's registers with busybox devmem (bad queue sizes and addresses
# outside its RAM, notifies of unready queues, status regressions, writes to
# read-only registers). The daemon must stay up and keep serving: afterwards
# a well-behaved guest on the same daemon passes the data check.
. /xvm/env; . /xvm/tests/lib.sh
N=hostile
require_daemon $N || exit 0
IMG=$XVM_IMGDIR/hostile.img SOCK=$XVM_SOCKDIR/hostile.sock CFG=$XVM_RUN/hostile.conf
mk_image "$IMG"
start_qsd "$IMG" "$SOCK" || { fail $N "backend did not start"; exit 0; }
: >"$CFG"; dev_config "$CFG" xvm-evil "$SOCK"; dev_config "$CFG" xvm-good "$SOCK"
start_daemon $N --config="$CFG" || { stop_pid "$QSD_PID"; exit 0; }
GUEST_EXTRA="xvm.nomod=virtio_mmio" why=$(run_guest xvm-evil hostile 300 "$(virtio_disk_line "$IMG")")
r1=$?
cleanup_guest xvm-evil; sleep 1
[ $r1 -eq 0 ] || note "hostile guest run: $why"
alive=yes; daemon_alive || alive=no
if [ $alive = yes ]; then
    GUEST_EXTRA="xvm.rsha=$RSHA" why=$(run_guest xvm-good blk-data 300 "$(virtio_disk_line "$IMG")")
    r2=$?
fi
stop_pid "$DAEMON_PID"; stop_pid "$QSD_PID"
[ $alive = yes ] || { fail $N "the daemon died under the hostile guest: $(tail -n 5 "$DAEMON_LOG" | tr '\n' ' ')"; exit 0; }
[ "$r2" -eq 0 ] || { fail $N "well-behaved guest after the hostile one: $why"; exit 0; }
why=$(check_written xvm-good "$IMG") || { fail $N "$why"; exit 0; }
note "daemon log lines about rejected guest writes: $(grep -ciE 'reject|invalid|ignor|bad' "$DAEMON_LOG")"
pass $N
