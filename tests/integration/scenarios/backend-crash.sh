#!/bin/sh
# backend-crash: kill -9 qemu-storage-daemon while the guest is in its I/O
# loop, start it again on the same socket; the daemon must reconnect and
# resume (inflight tracking), and the guest's data checks must all pass.
. /xvm/env; . /xvm/tests/lib.sh
N=backend-crash G=xvm-crash
require_daemon $N || exit 0
IMG=$XVM_IMGDIR/crash.img SOCK=$XVM_SOCKDIR/crash.sock CFG=$XVM_RUN/crash.conf
mk_image "$IMG"
start_qsd "$IMG" "$SOCK" || { fail $N "backend did not start"; exit 0; }
: >"$CFG"; dev_config "$CFG" $G "$SOCK"
start_daemon $N --config="$CFG" || { stop_pid "$QSD_PID"; exit 0; }
guest_cfg $G blk-data "$(virtio_disk_line "$IMG")" | sed "s/xvm.guest=blk-data/xvm.guest=blk-data xvm.loops=4 xvm.rsha=$RSHA/" >"$XVM_RUN/$G.cfg"
rm -f "$(guest_log $G)"
if ! xl create "$XVM_RUN/$G.cfg" >"$XVM_RUN/$G.create" 2>&1; then
    stop_pid "$DAEMON_PID"; stop_pid "$QSD_PID"
    fail $N "xl create failed: $(grep -m1 -i error "$XVM_RUN/$G.create")"; exit 0
fi
if wait_log $G 'XVM-GUEST-FACT read_ms' 180; then
    kill -9 "$QSD_PID"; wait "$QSD_PID" 2>/dev/null
    note "backend killed during the guest's write loop"
    sleep 2
    start_qsd "$IMG" "$SOCK" || note "backend restart failed"
else
    note "guest never reached its I/O loop"
fi
res=ok
wait_guest_gone $G 400 || { res="guest did not power off after the backend restart"; show_guest_log $G; cleanup_guest $G; }
alive=yes; daemon_alive || alive=no
stop_pid "$DAEMON_PID"; stop_pid "$QSD_PID"
[ "$res" = ok ] || { fail $N "$res"; exit 0; }
why=$(guest_verdict $G) || { show_guest_log $G; fail $N "$why"; exit 0; }
why=$(check_written $G "$IMG") || { fail $N "$why"; exit 0; }
[ $alive = yes ] || { fail $N "the daemon died"; exit 0; }
pass $N
