#!/bin/sh
# disk: a virtio disk served in service mode. The daemon runs first
# (xen-vhost-master --service), qemu-storage-daemon is the backend; the xl
# disk line is backendtype=standalone,specification=virtio (libxl waits for
# state 2 at create and for 6 at destroy). Data checked both ways, image
# checksum compared after shutdown, no dying domain left behind.
. /xvm/env; . /xvm/tests/lib.sh
N=disk G=xvm-disk
require_daemon $N || exit 0
IMG=$XVM_IMGDIR/disk.img SOCK=$XVM_SOCKDIR/disk.sock CFG=$XVM_RUN/disk.conf
mk_image "$IMG"
start_qsd "$IMG" "$SOCK" || { fail $N "backend did not start"; exit 0; }
: >"$CFG"; dev_config "$CFG" $G "$SOCK"
start_daemon $N --config="$CFG" || { stop_pid "$QSD_PID"; exit 0; }
GUEST_EXTRA="xvm.rsha=$RSHA" why=$(run_guest $G blk-data 300 "$(virtio_disk_line "$IMG")")
rc=$?
alive=yes; daemon_alive || alive=no
sleep 1
nodying=yes; no_dying_domains || nodying=no
stop_pid "$DAEMON_PID"; stop_pid "$QSD_PID"
[ $rc -eq 0 ] || { fail $N "$why"; exit 0; }
why=$(check_written $G "$IMG") || { fail $N "$why"; exit 0; }
[ $alive = yes ] || { fail $N "the daemon died during the run: $(tail -n 3 "$DAEMON_LOG" | tr '\n' ' ')"; exit 0; }
[ $nodying = yes ] || { fail $N "domain left behind after power-off: $(xl list | tail -n +2 | tr '\n' ' ')"; exit 0; }
guest_times $G
fact boot_guest_ms $((RG_T2 - RG_T0))
note "xl create $((RG_T1 - RG_T0)) ms, whole guest run $((RG_T2 - RG_T0)) ms"
relay_guest_facts $G
relay_mode_facts $N
pass $N
