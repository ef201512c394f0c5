#!/bin/sh
# two-guests: one daemon serves two guests at once, each with its own virtio
# disk and backend; both data checks and both image checksums must hold.
# The per-guest workers run deprivileged by default: restricted to their
# guest's domid and dropped to the xen-vhost-master user (checklist items
# 21, 26), which reaches the backends' sockets through the socket
# directory's group (no world-writable sockets, no --user). Guest a's
# backend is started by hand (as root, umask 007); guest b's disk names no
# socket, so the service starts qemu-storage-daemon for it, as the same
# unprivileged user, on an image that user's group may read and write.
. /xvm/env; . /xvm/tests/lib.sh
N=two-guests
require_daemon $N || exit 0
CFG=$XVM_RUN/two.conf; : >"$CFG"
for g in a b; do
    mk_image "$XVM_IMGDIR/two-$g.img"; eval "RSHA_$g=\$RSHA"
done
start_qsd "$XVM_IMGDIR/two-a.img" "$XVM_SOCKDIR/two-a.sock" || { fail $N "backend a did not start"; exit 0; }
QSD_a=$QSD_PID QSD_b=
dev_config "$CFG" "xvm-two-a" "$XVM_SOCKDIR/two-a.sock"
# b: no socket of its own nor a shared blk.sock (left by another scenario)
rm -f "$XVM_SOCKDIR/blk.sock" "$XVM_SOCKDIR"/*-"$VIRTIO_DISK_DEVID".sock
chgrp "$XVM_USER" "$XVM_IMGDIR/two-b.img" && chmod 0660 "$XVM_IMGDIR/two-b.img"
start_daemon $N --config="$CFG" || { stop_pid "$QSD_a"; exit 0; }
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
xuid=$(id -u "$XVM_USER")
drops=$(grep -c "restricted to the guest, running as uid $xuid " "$DAEMON_LOG")
[ "$drops" -ge 2 ] || { fail $N "workers did not report running as $XVM_USER, uid $xuid ($drops of 2): $(grep -m2 -E 'restrict|uid' "$DAEMON_LOG" | tr '\n' ' ')"; exit 0; }
[ "$(wc -l <"$WORKERS")" -ge 2 ] || { fail $N "saw $(wc -l <"$WORKERS") of 2 workers serving: $(cat "$WORKERS" | tr '\n' ' ')"; exit 0; }
grep -q "^[0-9]* $xuid $xuid $xuid $xuid\$" "$BACKENDS" || { fail $N "no qemu-storage-daemon started by the service was seen running as uid $xuid: $(cat "$BACKENDS" | tr '\n' ' ') $(grep -m1 'started' "$DAEMON_LOG")"; exit 0; }
note "both workers restricted to their domid and running as $XVM_USER (uid $xuid), by default; guest b's qemu-storage-daemon started by the service as the same user"
pass $N
