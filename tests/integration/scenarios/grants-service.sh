#!/bin/sh
# grants-service: the grants scenario's guest and device (grant kernel, one
# declared grant-based virtio-blk device whose DT node carries `iommus`,
# shadow mode from qemu-storage-daemon), served by the dom0 service
# instead of an xl-spawned daemon.  The service's worker is restricted to
# the guest and runs as the xen-vhost-master user, so it cannot open
# /dev/xen/gntdev itself: the service passes it one with the device.  The
# guest is created paused and unpaused once the service reports the
# device ready in xenstore.  Checked: the data round trip, ACCESS_PLATFORM
# negotiated, the worker deprivileged yet doing grant copies, no foreign
# mapping.
. /xvm/env; . /xvm/tests/lib.sh
N=grants-service G=xvm-gsvc
require_daemon $N || exit 0
grant_guest $N grants-service || exit 0
IMG=$XVM_IMGDIR/gsvc.img SOCK=$XVM_SOCKDIR/gsvc.sock
mk_image "$IMG"
start_qsd "$IMG" "$SOCK" || { fail $N "backend did not start"; exit 0; }
start_daemon $N --config="$CFG" --log-level=debug || { stop_pid "$QSD_PID"; exit 0; }
GUEST_EXTRA="xvm.rsha=$RSHA" why=$(run_guest_declared $G blk-data 300 0 \
    'vuart = "sbsa_uart"' "device_tree = \"$DTB\"")
rc=$?
sleep 1
alive=yes; daemon_alive || alive=no
stop_pid "$DAEMON_PID"; stop_pid "$QSD_PID"
[ $rc -eq 0 ] || { tail -n 30 "$DAEMON_LOG"; fail $N "$why"; exit 0; }
[ $alive = yes ] || { fail $N "the service died during the run"; exit 0; }
why=$(check_written $G "$IMG") || { fail $N "$why"; exit 0; }
grep -q 'attached for grant devices' "$DAEMON_LOG" ||
    { tail -n 20 "$DAEMON_LOG"; fail $N "the worker never got a gntdev fd"; exit 0; }
stats=$(grant_served $N $G "$DAEMON_LOG" declared0) || exit 0
workers_deprivileged $N || exit 0
no_dying_domains || { fail $N "domain left behind: $(xl list | tail -n +2 | tr '\n' ' ')"; exit 0; }
guest_times $G
note "service served the declared grant device: ready $((RG_T1 - RG_T0)) ms after xl create -p; $stats"
fact grant_stats_service "$stats"
relay_guest_facts $G
pass $N
