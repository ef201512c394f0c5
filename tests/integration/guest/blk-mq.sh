#!/bin/sh
# Guest side of the mq scenario: a virtio disk with one queue per vCPU.
# The guest must see one blk-mq hardware queue per CPU
# (/sys/block/vda/mq/0, /1, ...); then, from each CPU in turn (busybox
# taskset), XVM_MB MiB (default 4) of random data go to that CPU's own
# region of the disk with O_DIRECT and come back with O_DIRECT on the same
# CPU, checksums compared; XVM-GUEST-FACT mq_sha CPU SHA lets dom0 compare
# the image after shutdown.  Last, from each CPU, XVM_SMALL (default 256)
# O_DIRECT reads of 4 KiB one after the other: a fixed number of small
# requests, so dom0's counters per request compare between runs.  Then it
# says "XVM-GUEST-MQ-DONE" and waits (at
# most XVM_HOLD seconds, default 30) for a line on its console, so dom0 can
# read the daemon's per-queue counters while the device is still there.
dev=/dev/${XVM_DEV:-vda}
MB=${XVM_MB:-4}
gfail() { echo "XVM-GUEST-FAIL blk-mq: $*"; exit 1; }
i=0
while [ ! -b "$dev" ] && [ $i -lt 150 ]; do sleep 0.1; i=$((i + 1)); done
[ -b "$dev" ] || gfail "$dev did not appear"
b=$(basename "$dev")
ncpu=$(nproc)
nq=$(ls -d /sys/block/$b/mq/[0-9]* 2>/dev/null | wc -l)
echo "XVM-GUEST-FACT mq_hw_queues $nq cpus $ncpu"
for q in /sys/block/$b/mq/[0-9]*; do
    [ -d "$q" ] && echo "XVM-GUEST-FACT mq_queue $(basename "$q") cpu_list $(cat "$q/cpu_list" 2>/dev/null)"
done
[ "$ncpu" -ge 2 ] || gfail "the guest has $ncpu CPU(s), 2 wanted (xl vcpus=2)"
[ "$nq" -ge "$ncpu" ] || gfail "$dev has $nq hardware queue(s) for $ncpu CPUs (virtio features: $(cat /sys/block/$b/device/features 2>/dev/null))"
taskset 1 true 2>/dev/null || gfail "busybox has no working taskset applet"

cpu=0
while [ $cpu -lt "$ncpu" ]; do
    mask=$(printf '%x' $((1 << cpu)))
    off=$((cpu * MB * 4)) # in 256 KiB blocks
    dd if=/dev/urandom of=/tmp/w.bin bs=1M count="$MB" 2>/dev/null
    wsha=$(sha256sum /tmp/w.bin | cut -c1-64)
    taskset "$mask" dd if=/tmp/w.bin of="$dev" bs=256k seek=$off count=$((MB * 4)) \
        oflag=direct conv=fsync 2>/tmp/dd.err ||
        gfail "CPU $cpu: O_DIRECT write failed: $(cat /tmp/dd.err)"
    rm -f /tmp/w.bin
    vsha=$(taskset "$mask" dd if="$dev" bs=256k skip=$off count=$((MB * 4)) \
               iflag=direct,fullblock 2>/tmp/dd.err | sha256sum | cut -c1-64)
    grep -q "^$((MB * 4))+0 records in" /tmp/dd.err ||
        gfail "CPU $cpu: O_DIRECT read back failed: $(cat /tmp/dd.err)"
    [ "$vsha" = "$wsha" ] || gfail "CPU $cpu: read back $vsha, wrote $wsha"
    echo "XVM-GUEST-FACT mq_sha $cpu $wsha"
    cpu=$((cpu + 1))
done
echo "XVM-GUEST-FACT bytes_verified $((ncpu * MB * 2 * 1048576))"
small=${XVM_SMALL:-256}
cpu=0
while [ $cpu -lt "$ncpu" ]; do
    taskset "$(printf '%x' $((1 << cpu)))" dd if="$dev" of=/dev/null bs=4k \
        skip=$((cpu * MB * 256)) count="$small" iflag=direct 2>/tmp/dd.err
    grep -q "^$small+0 records in" /tmp/dd.err ||
        gfail "CPU $cpu: 4 KiB O_DIRECT reads failed: $(cat /tmp/dd.err)"
    cpu=$((cpu + 1))
done
echo "XVM-GUEST-FACT mq_small_reads $((ncpu * small)) of 4 KiB"
echo "XVM-GUEST-MQ-DONE"
read -r -t "${XVM_HOLD:-30}" _ || true
