#!/bin/sh
# Guest side of the perf scenario: sequential 1 MiB and random 4 KiB write
# and read throughput with O_DIRECT on one block device. Env from the
# command line: XVM_DEV (default vda), XVM_MB (default 16), XVM_N4K (number
# of random 4 KiB requests each way, default 256). Under TCG, and with one
# busybox dd per random request, the absolute numbers mostly measure the
# emulator: only the ratio between two devices in one boot means anything.
dev=/dev/${XVM_DEV:-vda}
MB=${XVM_MB:-16}
N4K=${XVM_N4K:-256}
ms() { awk '{printf "%d\n", $1 * 1000}' /proc/uptime; }
gfail() { echo "XVM-GUEST-FAIL blk-perf: $*"; exit 1; }
i=0
while [ ! -b "$dev" ] && [ $i -lt 150 ]; do sleep 0.1; i=$((i + 1)); done
[ -b "$dev" ] || gfail "$dev did not appear"
b=$(basename "$dev")
drv=$(basename "$(readlink /sys/block/$b/device/driver 2>/dev/null)" 2>/dev/null)
echo "XVM-GUEST-FACT device $b ($drv) $(( $(cat /sys/block/$b/size) / 2048 )) MiB"
blocks=$((MB * 256))

t0=$(ms)
dd if=/dev/zero of="$dev" bs=1M count="$MB" oflag=direct conv=fsync 2>/tmp/dd.err ||
    gfail "sequential write: $(cat /tmp/dd.err)"
t1=$(ms)
sync; echo 3 >/proc/sys/vm/drop_caches
t2=$(ms)
dd if="$dev" of=/dev/null bs=1M count="$MB" iflag=direct,fullblock 2>/tmp/dd.err ||
    gfail "sequential read: $(cat /tmp/dd.err)"
t3=$(ms)

# Random offsets from a fixed linear congruential sequence.
x=12345 n=0
t4=$(ms)
while [ $n -lt "$N4K" ]; do
    x=$(( (x * 1103515245 + 12345) % 2147483648 ))
    dd if=/dev/zero of="$dev" bs=4k count=1 seek=$((x % blocks)) oflag=direct 2>/dev/null ||
        gfail "random write $n failed"
    n=$((n + 1))
done
t5=$(ms)
x=54321 n=0
while [ $n -lt "$N4K" ]; do
    x=$(( (x * 1103515245 + 12345) % 2147483648 ))
    dd if="$dev" of=/dev/null bs=4k count=1 skip=$((x % blocks)) iflag=direct 2>/dev/null ||
        gfail "random read $n failed"
    n=$((n + 1))
done
t6=$(ms)
echo "XVM-GUEST-FACT perf mb $MB seqw_ms $((t1 - t0)) seqr_ms $((t3 - t2)) n4k $N4K randw_ms $((t5 - t4)) randr_ms $((t6 - t5))"
