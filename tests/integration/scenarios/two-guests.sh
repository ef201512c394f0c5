#!/bin/sh
# two-guests: one daemon serves two guests at once, each with its own virtio
# disk and backend; both data checks and both image checksums must hold.
# The per-guest workers run deprivileged: restricted to their guest's domid
# and dropped to uid nobody (checklist item 21), so the backends' sockets
# are opened to them.
. /xvm/env; . /xvm/tests/lib.sh
N=two-guests
require_daemon $N || exit 0
CFG=$XVM_RUN/two.conf; : >"$CFG"
for g in a b; do
    mk_image "$XVM_IMGDIR/two-$g.img"; eval "RSHA_$g=\$RSHA"
    start_qsd "$XVM_IMGDIR/two-$g.img" "$XVM_SOCKDIR/two-$g.sock" || { fail $N "backend $g did not start"; exit 0; }
    eval "QSD_$g=\$QSD_PID"
    chmod 0666 "$XVM_SOCKDIR/two-$g.sock"
    dev_config "$CFG" "xvm-two-$g" "$XVM_SOCKDIR/two-$g.sock"
done
start_daemon $N --config="$CFG" --user=nobody || { stop_pid "$QSD_a"; stop_pid "$QSD_b"; exit 0; }
for g in a b; do
    eval "rs=\$RSHA_$g"
    guest_cfg "xvm-two-$g" blk-data "$(virtio_disk_line "$XVM_IMGDIR/two-$g.img")" \
        | sed "s/xvm.guest=blk-data/xvm.guest=blk-data xvm.rsha=$rs/" >"$XVM_RUN/two-$g.cfg"
    if ! xl create "$XVM_RUN/two-$g.cfg" >"$XVM_RUN/two-$g.create" 2>&1; then
        cat "$XVM_RUN/two-$g.create" >&2
        xl destroy xvm-two-a >/dev/null 2>&1
        stop_pid "$DAEMON_PID"; stop_pid "$QSD_a"; stop_pid "$QSD_b"
        fail $N "xl create of guest $g failed: $(grep -m1 -i error "$XVM_RUN/two-$g.create")"; exit 0
    fi
done
res=ok
for g in a b; do
    wait_guest_gone "xvm-two-$g" 400 || { res="guest $g did not power off"; cleanup_guest "xvm-two-$g"; }
done
alive=yes; daemon_alive || alive=no
stop_pid "$DAEMON_PID"; stop_pid "$QSD_a"; stop_pid "$QSD_b"
[ "$res" = ok ] || { show_guest_log xvm-two-a; show_guest_log xvm-two-b; fail $N "$res"; exit 0; }
for g in a b; do
    why=$(guest_verdict "xvm-two-$g") || { show_guest_log "xvm-two-$g"; fail $N "guest $g: $why"; exit 0; }
    why=$(check_written "xvm-two-$g" "$XVM_IMGDIR/two-$g.img") || { fail $N "guest $g: $why"; exit 0; }
    relay_guest_facts "xvm-two-$g"
done
[ $alive = yes ] || { fail $N "the daemon died during the run"; exit 0; }
drops=$(grep -c 'restricted to the guest, running as uid 65534' "$DAEMON_LOG")
[ "$drops" -ge 2 ] || { fail $N "workers did not report running as nobody ($drops of 2): $(grep -m2 -E 'restrict|uid' "$DAEMON_LOG" | tr '\n' ' ')"; exit 0; }
note "both workers restricted to their domid and running as uid 65534"
pass $N
