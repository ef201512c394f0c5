#!/bin/sh
# lifecycle: five rounds of create -> guest I/O -> power-off, plus five of
# create -> xl destroy while the guest is busy, against one daemon. Every
# destroy must be quick (the daemon answers 5 -> 6), no dying domain may be
# left, and the daemon must survive all of it.  Error-level lines logged
# meanwhile (none should be: checklist item 32) are counted and shown.
. /xvm/env; . /xvm/tests/lib.sh
N=lifecycle G=xvm-life
require_daemon $N || exit 0
IMG=$XVM_IMGDIR/life.img SOCK=$XVM_SOCKDIR/life.sock CFG=$XVM_RUN/life.conf
mk_image "$IMG"
start_qsd "$IMG" "$SOCK" || { fail $N "backend did not start"; exit 0; }
: >"$CFG"; dev_config "$CFG" $G "$SOCK"
start_daemon $N --config="$CFG" || { stop_pid "$QSD_PID"; exit 0; }
# The service's own fds and mappings (workers come and go with guests).
fds() { ls /proc/"$DAEMON_PID"/fd 2>/dev/null | wc -l; }
maps() { wc -l </proc/"$DAEMON_PID"/maps 2>/dev/null || echo 0; }
fd0=$(fds) map0=$(maps)
log0=$(wc -l <"$DAEMON_LOG")
bad=""
i=0
while [ $i -lt 5 ] && [ -z "$bad" ]; do
    i=$((i + 1))
    GUEST_EXTRA="xvm.rsha=$RSHA" why=$(run_guest $G blk-data 300 "$(virtio_disk_line "$IMG")") ||
        { bad="round $i (power-off): $why"; break; }
    why=$(check_written $G "$IMG") || { bad="round $i: $why"; break; }
    # the same guest destroyed mid-I/O
    guest_cfg $G blk-data "$(virtio_disk_line "$IMG")" | sed 's/xvm.guest=blk-data/xvm.guest=blk-data xvm.loops=50/' >"$XVM_RUN/$G-d.cfg"
    xl create "$XVM_RUN/$G-d.cfg" >"$XVM_RUN/$G-d.create" 2>&1 || { bad="round $i: create for destroy failed: $(grep -m1 -i error "$XVM_RUN/$G-d.create")"; break; }
    wait_log $G 'XVM-GUEST-FACT device' 120 || note "round $i: guest did not reach its I/O loop before destroy"
    t0=$(now_ms); xl destroy $G >/dev/null 2>&1; t1=$(now_ms)
    note "round $i: destroy mid-I/O took $((t1 - t0)) ms"
    [ $((t1 - t0)) -lt 8000 ] || { bad="round $i: xl destroy took $((t1 - t0)) ms (state 6 not answered?)"; break; }
    sleep 1
    no_dying_domains || { bad="round $i: domain left behind: $(xl list | tail -n +2 | tr '\n' ' ')"; break; }
    daemon_alive || { bad="round $i: daemon died: $(tail -n 3 "$DAEMON_LOG" | tr '\n' ' ')"; break; }
done
sleep 1
fd1=$(fds) map1=$(maps)
errs=$(tail -n +$((log0 + 1)) "$DAEMON_LOG" | grep ' error: ' || true)
note "service fds $fd0 -> $fd1, mappings $map0 -> $map1 after $i rounds"
fact lifecycle "$(printf '%s\n' "$errs" | grep -c ' error: ') error-level lines over $i create/power-off/destroy rounds"
# Reported, not yet enforced: the first run on Xen tells what is left.
[ -z "$errs" ] || note "error-level lines for normal power-off and xl destroy: $(printf '%s\n' "$errs" | head -n 3 | tr '\n' ' ')"
fact lifecycle "fds $fd0 -> $fd1, mappings $map0 -> $map1 over $i create/destroy rounds"
[ -n "$bad" ] || [ "$fd1" -le "$fd0" ] || bad="service fds grew from $fd0 to $fd1"
[ -n "$bad" ] || [ "$map1" -le "$map0" ] || bad="service mappings grew from $map0 to $map1"
stop_pid "$DAEMON_PID"; stop_pid "$QSD_PID"
[ -z "$bad" ] || { fail $N "$bad"; exit 0; }
pass $N
