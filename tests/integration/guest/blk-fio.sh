#!/bin/sh
# Guest side of the perf scenario: fio on one block device, O_DIRECT with
# libaio, each job for a fixed time: 4 KiB random read and write at queue
# depth 1 and 32, 1 MiB sequential read and write at depth 8. One line per
# job: XVM-GUEST-FACT fio JOB iops N kibps N, then latencies (fio's) and
# the disk's interrupts and requests over the job (guest kernel's). Then it says
# "XVM-GUEST-FIO-DONE" and waits (at most XVM_HOLD seconds) for a line on
# its console, so dom0 can read the daemon's counters while the device is
# still there. Env from the command line: XVM_DEV (default vda), XVM_FIO_S
# (seconds measured per job, default 5, after 2 s of warm-up: TCG
# translates fio's code on first use), XVM_HOLD (default 30).
dev=/dev/${XVM_DEV:-vda}
secs=${XVM_FIO_S:-5}
gfail() { echo "XVM-GUEST-FAIL blk-fio: $*"; exit 1; }
i=0
while [ ! -b "$dev" ] && [ $i -lt 150 ]; do sleep 0.1; i=$((i + 1)); done
[ -b "$dev" ] || gfail "$dev did not appear"
command -v fio >/dev/null || gfail "no fio in the guest initramfs"
b=$(basename "$dev")
drv=$(basename "$(readlink /sys/block/$b/device/driver 2>/dev/null)" 2>/dev/null)
echo "XVM-GUEST-FACT device $b ($drv) $(( $(cat /sys/block/$b/size) / 2048 )) MiB"

# irqs: the disk's interrupts so far (virtio-mmio or blkfront), all CPUs.
irqs() {
    awk '/virtio|blkif/ { for (i = 2; i <= NF && $i ~ /^[0-9]+$/; i++) n += $i }
         END { print n + 0 }' /proc/interrupts
}
# ios: requests the disk completed so far (reads + writes, sysfs stat).
ios() { awk '{ print $1 + $5 }' "/sys/block/$b/stat"; }

# job NAME RW BS DEPTH: terse v3 fields 7/8 are read KiB/s and IOPS,
# 48/49 the same for writes; 12/53 the mean submission latency, 16/57 the
# mean completion latency, 24/65 and 30/71 its 50th and 99th percentiles
# (usec, "50.000000%=N"). The line also gives the disk's interrupts and
# completed requests over the job (ramp included), from the guest kernel.
job() {
    i0=$(irqs) r0=$(ios)
    fio --name="$1" --filename="$dev" --rw="$2" --bs="$3" --iodepth="$4" \
        --ioengine=libaio --direct=1 --thread --time_based --runtime="$secs" \
        --ramp_time=2 \
        --randrepeat=1 --norandommap --output-format=terse --terse-version=3 \
        >/tmp/fio.out 2>/tmp/fio.err ||
        gfail "fio $1: $(tail -c 300 /tmp/fio.err | tr '\n' ' ')"
    awk -F';' -v n="$1" -v w="${2#rand}" -v irqs=$(($(irqs) - i0)) -v ios=$(($(ios) - r0)) '
    function pct(f) { sub(/.*=/, "", f); return f + 0 }
    $1 == 3 {
        o = (w == "write") ? 41 : 0
        printf "XVM-GUEST-FACT fio %s iops %.0f kibps %d slat_us %.0f clat_us %.0f p50 %d p99 %d irqs %d ios %d\n",
            n, $8 + $49, $7 + $48, $(12 + o), $(16 + o), pct($(24 + o)), pct($(30 + o)), irqs, ios }' \
        /tmp/fio.out
}
job randread-qd1 randread 4k 1
job randread-qd32 randread 4k 32
job randwrite-qd1 randwrite 4k 1
job randwrite-qd32 randwrite 4k 32
job seqread-1m read 1m 8
job seqwrite-1m write 1m 8
echo "XVM-GUEST-FIO-DONE"
read -r -t "${XVM_HOLD:-30}" _ || true
