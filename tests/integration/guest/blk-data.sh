#!/bin/sh
# Guest side of the block data checks. Env from the command line:
#   XVM_DEV (default vda), XVM_MB (default 16), XVM_RSHA (sha256 of the
#   seeded second region, written by dom0), XVM_LOOPS (default 1).
# Reads the seeded region and checks it, writes DATA_MB of random data with
# O_DIRECT, drops caches, reads it back with O_DIRECT, compares checksums and
# prints XVM-GUEST-SHA for dom0 to compare against the image.
# (busybox dd with iflag=direct stops silently on a short read: hence 256k
# blocks and fullblock.)
dev=/dev/${XVM_DEV:-vda}
MB=${XVM_MB:-16}
ms() { awk '{printf "%d\n", $1 * 1000}' /proc/uptime; }
gfail() {
    echo "XVM-GUEST-FAIL blk-data: $* [df: $(df -k /tmp | tail -n 1)] [dmesg: $(dmesg | tail -n 4 | tr '\n' '|')] [mem: $(grep -E 'MemFree|MemTotal' /proc/meminfo | tr -s ' \n' ' ')]"
    exit 1
}
i=0
while [ ! -b "$dev" ] && [ $i -lt 150 ]; do sleep 0.1; i=$((i + 1)); done
[ -b "$dev" ] || gfail "$dev did not appear (virtio devices: $(ls /sys/bus/virtio/devices 2>/dev/null | tr '\n' ' '); dmesg: $(dmesg | grep -iE 'virtio|blkfront' | tail -n 3 | tr '\n' ' '))"
b=$(basename "$dev")
drv=$(basename "$(readlink /sys/block/$b/device/driver 2>/dev/null)" 2>/dev/null)
echo "XVM-GUEST-FACT device $b ($drv) $(( $(cat /sys/block/$b/size) / 2048 )) MiB"
# Negotiated virtio features, bit 0 first (bit 33: ACCESS_PLATFORM, grants).
[ -r /sys/block/$b/device/features ] &&
    echo "XVM-GUEST-FACT virtio_features $(cat /sys/block/$b/device/features)"

if [ -n "${XVM_RSHA:-}" ]; then
    t0=$(ms)
    sha=$(dd if="$dev" bs=256k skip=$((MB * 4)) count=$((MB * 4)) iflag=direct,fullblock 2>/tmp/dd.err |
          sha256sum | cut -c1-64)
    t1=$(ms)
    grep -q "^$((MB * 4))+0 records in" /tmp/dd.err ||
        gfail "read of the seeded region failed: $(cat /tmp/dd.err)"
    [ "$sha" = "$XVM_RSHA" ] || gfail "seeded region reads back as $sha, dom0 wrote $XVM_RSHA"
    echo "XVM-GUEST-FACT read_ms $((t1 - t0)) for ${MB} MiB"
fi

loops=${XVM_LOOPS:-1} n=0
while [ $n -lt "$loops" ]; do
    n=$((n + 1))
    dd if=/dev/urandom of=/tmp/w.bin bs=1M count="$MB" 2>/dev/null
    wsha=$(sha256sum /tmp/w.bin | cut -c1-64)
    t0=$(ms)
    dd if=/tmp/w.bin of="$dev" bs=256k count=$((MB * 4)) oflag=direct conv=fsync 2>/tmp/dd.err ||
        gfail "O_DIRECT write failed: $(cat /tmp/dd.err)"
    t1=$(ms)
    rm -f /tmp/w.bin
    sync; echo 3 >/proc/sys/vm/drop_caches
    t2=$(ms)
    vsha=$(dd if="$dev" bs=256k count=$((MB * 4)) iflag=direct,fullblock 2>/tmp/dd.err |
           sha256sum | cut -c1-64)
    t3=$(ms)
    grep -q "^$((MB * 4))+0 records in" /tmp/dd.err ||
        gfail "O_DIRECT read back failed: $(cat /tmp/dd.err)"
    [ "$vsha" = "$wsha" ] || gfail "loop $n: read back $vsha, wrote $wsha"
    echo "XVM-GUEST-FACT write_ms $((t1 - t0)) readback_ms $((t3 - t2)) for ${MB} MiB (loop $n)"
done
echo "XVM-GUEST-FACT bytes_verified $(( MB * 1048576 * (loops * 2 + 1) ))"
echo "XVM-GUEST-SHA $wsha"
