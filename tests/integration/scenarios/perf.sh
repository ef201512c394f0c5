#!/bin/sh
# perf: the same O_DIRECT data check over Xen's PV block device (blkback on a
# loop device, the in-tree peer) and over our virtio disk (service mode,
# qemu-storage-daemon backend); report both throughputs.
. /xvm/env; . /xvm/tests/lib.sh
N=perf
mbps() { [ "$2" -gt 0 ] && echo "$(( $1 * 1000 / $2 )) MiB/s" || echo "n/a"; }

# --- PV blkback
mk_image "$XVM_IMGDIR/pv.img"
LOOP=$(losetup -f)
losetup "$LOOP" "$XVM_IMGDIR/pv.img" || { fail $N "losetup $LOOP failed"; exit 0; }
GUEST_EXTRA="xvm.dev=xvda xvm.rsha=$RSHA" \
    why=$(run_guest xvm-pv blk-data 300 "disk = [ \"format=raw,vdev=xvda,access=rw,script=/xvm/tests/pv-block-hotplug.sh,target=$LOOP\" ]")
rc=$?
losetup -d "$LOOP" 2>/dev/null
if [ $rc -ne 0 ]; then fail $N "PV blkback run failed: $why"; exit 0; fi
why=$(check_written xvm-pv "$XVM_IMGDIR/pv.img") || { fail $N "PV blkback: $why"; exit 0; }
pvw=$(sed -n 's/.*XVM-GUEST-FACT write_ms \([0-9]*\) readback_ms \([0-9]*\).*/\1 \2/p' "$(guest_log xvm-pv)" | head -n1)
note "PV blkback: ${DATA_MB} MiB write $(mbps $DATA_MB ${pvw% *}), read+sha256 $(mbps $DATA_MB ${pvw#* })"
fact throughput "PV blkback (xen-blkfront): write $(mbps $DATA_MB ${pvw% *}), read+sha256 $(mbps $DATA_MB ${pvw#* }) (${DATA_MB} MiB O_DIRECT; TCG)"
relay_guest_facts xvm-pv
rm -f "$XVM_IMGDIR/pv.img"

# --- our virtio disk
require_daemon $N || exit 0
IMG=$XVM_IMGDIR/perf.img SOCK=$XVM_SOCKDIR/perf.sock CFG=$XVM_RUN/perf.conf
mk_image "$IMG"
start_qsd "$IMG" "$SOCK" || { fail $N "qemu-storage-daemon: see log"; exit 0; }
: >"$CFG"; dev_config "$CFG" xvm-perf "$SOCK"
start_daemon $N --config="$CFG" || { stop_pid "$QSD_PID"; exit 0; }
GUEST_EXTRA="xvm.rsha=$RSHA" why=$(run_guest xvm-perf blk-data 300 "$(virtio_disk_line "$IMG")")
rc=$?
stop_pid "$DAEMON_PID"; stop_pid "$QSD_PID"
[ $rc -eq 0 ] || { fail $N "virtio run failed: $why"; exit 0; }
why=$(check_written xvm-perf "$IMG") || { fail $N "virtio: $why"; exit 0; }
vw=$(sed -n 's/.*XVM-GUEST-FACT write_ms \([0-9]*\) readback_ms \([0-9]*\).*/\1 \2/p' "$(guest_log xvm-perf)" | head -n1)
note "virtio (xen-vhost-master + qemu-storage-daemon): write $(mbps $DATA_MB ${vw% *}), read+sha256 $(mbps $DATA_MB ${vw#* })"
fact throughput "virtio-blk via xen-vhost-master: write $(mbps $DATA_MB ${vw% *}), read+sha256 $(mbps $DATA_MB ${vw#* }) (${DATA_MB} MiB O_DIRECT; TCG)"
relay_guest_facts xvm-perf
pass $N
