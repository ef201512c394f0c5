#!/bin/sh
# zero-copy: a virtio disk served in zero-copy mode under Xen. No Debian
# backend speaks the vhost-user XEN_MMAP feature, so the backend is the
# project's own xvm-test-blkd, which maps the guest's RAM through
# /dev/xen/privcmd from the regions the daemon sends. The daemon must choose
# zero-copy by itself (auto mode) and say so; the guest's data is checked
# both ways and against the image after shutdown. The backend also tries,
# with the privcmd fd the daemon sent it, to map a page of dom0 and to
# issue a device-model op on another domain and a hypercall: each must
# fail with EPERM (the fd is restricted to the guest; checklist item 26).
. /xvm/env; . /xvm/tests/lib.sh
N=zero-copy G=xvm-zc
require_daemon $N || exit 0
IMG=$XVM_IMGDIR/zc.img SOCK=$XVM_SOCKDIR/zc.sock CFG=$XVM_RUN/zc.conf
mk_image "$IMG"
why=$(start_test_blkd "$IMG" "$SOCK" --probe-privcmd) || { fail $N "$why"; exit 0; }
: >"$CFG"; dev_config "$CFG" $G "$SOCK"
start_daemon $N --config="$CFG" --mode=auto || { stop_pid "$QSD_PID"; exit 0; }
# Progress while the guest runs, so a hang shows where it is.
( while sleep 20; do
      echo "NOTE zero-copy progress: $(xl list 2>/dev/null | awk 'NR > 1 { printf "%s(%s) ", $1, $5 }')"
      echo "NOTE   daemon: $(tail -n 2 "$DAEMON_LOG" | tr '\n' '|')"
      echo "NOTE   backend: $(tail -n 2 "$XVM_RUN/blkd-$(basename "$SOCK").log" | tr '\n' '|')"
      echo "NOTE   procs: $(ps -o pid,stat,comm 2>/dev/null | grep -E 'xl|blkd|vhost' | tr -s ' \n' ' ')"
  done ) &
WATCH=$!
GUEST_EXTRA="xvm.rsha=$RSHA" why=$(run_guest $G blk-data 150 "$(virtio_disk_line "$IMG")")
rc=$?
if [ $rc -ne 0 ]; then
    echo "---- daemon log (tail) ----"; tail -n 25 "$DAEMON_LOG"
    echo "---- xvm-test-blkd log (tail) ----"; tail -n 25 "$XVM_RUN/blkd-$(basename "$SOCK").log"
    echo "----"
fi
kill $WATCH 2>/dev/null
alive=yes; daemon_alive || alive=no
stop_pid "$DAEMON_PID"; stop_pid "$QSD_PID"
blog=$XVM_RUN/blkd-$(basename "$SOCK").log
[ $rc -eq 0 ] || { tail -n 5 "$blog"; fail $N "$why"; exit 0; }
why=$(check_written $G "$IMG") || { fail $N "$why"; exit 0; }
mode=$(grep -m1 -o 'zero-copy mode ([^)]*)' "$DAEMON_LOG")
[ -n "$mode" ] || { fail $N "data passed but the daemon did not log zero-copy mode: $(grep -m1 'mode (' "$DAEMON_LOG")"; exit 0; }
grep -q 'xen foreign' "$blog" || { fail $N "the backend did not map foreign regions: $(tail -n 3 "$blog" | tr '\n' ' ')"; exit 0; }
[ $alive = yes ] || { fail $N "the daemon died"; exit 0; }
probe=$(grep -m1 'privcmd probe (received fd)' "$blog")
own=$(grep -m1 'privcmd probe (own unrestricted fd)' "$blog")
note "backend, with the fd it received: ${probe#*: privcmd probe (received fd): }"
note "backend, with its own unrestricted fd: ${own#*: privcmd probe (own unrestricted fd): }"
[ -n "$probe" ] || { fail $N "the backend ran no privcmd probe: $(tail -n 3 "$blog" | tr '\n' ' ')"; exit 0; }
for op in 'MMAPBATCH_V2 dom0 gfn [0-9a-fx]*: EPERM' 'DM_OP dom[0-9]*: EPERM' 'HYPERCALL xen_version: EPERM'; do
    echo "$probe" | grep -q "$op" || { fail $N "the backend's privcmd fd is not restricted to the guest: want '$op' in: $probe"; exit 0; }
done
note "daemon: $mode; backend: $(grep -m1 -o 'protocol features [^ ]* ([^)]*)' "$blog")"
relay_guest_facts $G
pass $N
