#!/bin/sh
# zero-copy: --mode=zero-copy needs a backend that advertises the vhost-user
# XEN_MMAP protocol feature (it maps guest RAM itself). With such a backend
# the data check must pass; with Debian's backends (none has XEN_MMAP) the
# daemon must refuse zero-copy cleanly and say why, which is a SKIP of the
# zero-copy path, not a failure.
. /xvm/env; . /xvm/tests/lib.sh
N=zero-copy G=xvm-zc
require_daemon $N || exit 0
IMG=$XVM_IMGDIR/zc.img SOCK=$XVM_SOCKDIR/zc.sock CFG=$XVM_RUN/zc.conf
mk_image "$IMG"
start_qsd "$IMG" "$SOCK" || { fail $N "backend did not start"; exit 0; }
: >"$CFG"; dev_config "$CFG" $G "$SOCK"
start_daemon $N --config="$CFG" --mode=zero-copy || { stop_pid "$QSD_PID"; exit 0; }
GUEST_EXTRA="xvm.rsha=$RSHA" why=$(run_guest $G blk-data 300 "$(virtio_disk_line "$IMG")")
rc=$?
alive=yes; daemon_alive || alive=no
stop_pid "$DAEMON_PID"; stop_pid "$QSD_PID"
if [ $rc -eq 0 ] && why=$(check_written $G "$IMG"); then
    pass $N; exit 0
fi
if grep -qi 'XEN_MMAP' "$DAEMON_LOG"; then
    skip $N "no packaged vhost-user backend advertises XEN_MMAP (daemon: $(grep -m1 -i XEN_MMAP "$DAEMON_LOG"))"
    exit 0
fi
fail $N "zero-copy run failed and the daemon did not say XEN_MMAP was missing: $why (daemon alive: $alive)"
