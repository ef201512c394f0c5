#!/bin/sh
# perf: side by side in one boot, sequential 1 MiB and random 4 KiB O_DIRECT
# write and read throughput over Xen's PV block device (blkback on a loop
# device, the in-tree peer) and over our virtio disk (service mode,
# qemu-storage-daemon backend); prints both and the ratio. A measurement,
# not a gate: TCG makes absolute numbers meaningless.
. /xvm/env; . /xvm/tests/lib.sh
N=perf
# Throughput of one guest run of guest/blk-perf.sh: "seqw seqr randw randr"
# in MiB/s for the sequential pair and IOPS for the random pair.
perf_of() { # GUEST
    sed -n 's/.*XVM-GUEST-FACT perf mb \([0-9]*\) seqw_ms \([0-9]*\) seqr_ms \([0-9]*\) n4k \([0-9]*\) randw_ms \([0-9]*\) randr_ms \([0-9]*\).*/\1 \2 \3 \4 \5 \6/p' \
        "$(guest_log "$1")" | head -n1 |
        awk '{ printf "%.1f %.1f %.0f %.0f\n",
               $1 * 1000 / ($2 ? $2 : 1), $1 * 1000 / ($3 ? $3 : 1),
               $4 * 1000 / ($5 ? $5 : 1), $4 * 1000 / ($6 ? $6 : 1) }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0) ? a / b : 0 }'; }

# 1. Xen's own PV block device (blkfront/blkback) on a loop device.
mk_image "$XVM_IMGDIR/pv.img"
LOOP=$(losetup -f)
losetup "$LOOP" "$XVM_IMGDIR/pv.img" || { fail $N "losetup $LOOP failed"; exit 0; }
GUEST_EXTRA="xvm.dev=xvda" \
    why=$(run_guest xvm-pv blk-perf 600 "disk = [ \"format=raw,vdev=xvda,access=rw,script=/xvm/tests/pv-block-hotplug.sh,target=$LOOP\" ]")
rc=$?
losetup -d "$LOOP" 2>/dev/null
rm -f "$XVM_IMGDIR/pv.img"
[ $rc -eq 0 ] || { fail $N "PV blkback run failed: $why"; exit 0; }
pv=$(perf_of xvm-pv)
[ -n "$pv" ] || { fail $N "PV guest printed no perf line"; exit 0; }

# 2. virtio-blk through xen-vhost-master and qemu-storage-daemon.
require_daemon $N || exit 0
IMG=$XVM_IMGDIR/perf.img SOCK=$XVM_SOCKDIR/perf.sock CFG=$XVM_RUN/perf.conf
mk_image "$IMG"
start_qsd "$IMG" "$SOCK" || { fail $N "qemu-storage-daemon: see log"; exit 0; }
: >"$CFG"; dev_config "$CFG" xvm-perf "$SOCK"
start_daemon $N --config="$CFG" || { stop_pid "$QSD_PID"; exit 0; }
GUEST_EXTRA="xvm.dev=vda" why=$(run_guest xvm-perf blk-perf 600 "$(virtio_disk_line "$IMG")")
rc=$?
stop_pid "$DAEMON_PID"; stop_pid "$QSD_PID"
relay_mode_facts $N
[ $rc -eq 0 ] || { fail $N "virtio run failed: $why"; exit 0; }
vio=$(perf_of xvm-perf)
[ -n "$vio" ] || { fail $N "virtio guest printed no perf line"; exit 0; }

set -- $pv; pw=$1 pr=$2 piw=$3 pir=$4
set -- $vio; vw=$1 vr=$2 viw=$3 vir=$4
# One row of the demo's table: workload | virtio | PV | virtio/PV.
line() {
    note "$1: virtio $2, PV $3, virtio/PV $(ratio "${2%% *}" "${3%% *}")"
    fact perf_row "$1|$2|$3|$(ratio "${2%% *}" "${3%% *}")"
}
line "seq 1 MiB write" "$vw MiB/s" "$pw MiB/s"
line "seq 1 MiB read" "$vr MiB/s" "$pr MiB/s"
line "rand 4 KiB write" "$viw IOPS" "$piw IOPS"
line "rand 4 KiB read" "$vir IOPS" "$pir IOPS"
fact throughput "virtio via xen-vhost-master: seq 1M write $vw MiB/s, read $vr MiB/s; rand 4k write $viw IOPS, read $vir IOPS (TCG)"
fact throughput "Xen PV blkback: seq 1M write $pw MiB/s, read $pr MiB/s; rand 4k write $piw IOPS, read $pir IOPS (TCG)"
fact ratio "virtio/PV: seq write $(ratio "$vw" "$pw"), seq read $(ratio "$vr" "$pr"), rand write $(ratio "$viw" "$piw"), rand read $(ratio "$vir" "$pir")"
pass $N
