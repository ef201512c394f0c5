#!/bin/sh
# Guest side of `virtiofs`: mount the virtio-fs share, check the file dom0
# put there (XVM_ISHA), write one back and print its checksum.
gfail() { echo "XVM-GUEST-FAIL fs-data: $* [dmesg: $(dmesg | tail -n 4 | tr '\n' '|')]"; exit 1; }
tag=${XVM_TAG:-}
if [ -z "$tag" ]; then
    for t in /sys/fs/virtiofs/*/tag; do [ -f "$t" ] && tag=$(cat "$t") && break; done
fi
tag=${tag:-xvmfs}
mkdir -p /mnt/fs
i=0
until mount -t virtiofs "$tag" /mnt/fs 2>/tmp/mount.err; do
    i=$((i + 1)); [ $i -gt 50 ] && gfail "mount -t virtiofs $tag failed: $(cat /tmp/mount.err)"
    sleep 0.2
done
echo "XVM-GUEST-FACT device virtiofs tag=$tag"
[ -f /mnt/fs/in.bin ] || gfail "in.bin not visible in the share ($(ls /mnt/fs | tr '\n' ' '))"
sha=$(sha256sum /mnt/fs/in.bin | cut -c1-64)
[ "$sha" = "${XVM_ISHA:-}" ] || gfail "in.bin reads as $sha, dom0 wrote ${XVM_ISHA:-?}"
dd if=/dev/urandom of=/mnt/fs/out.bin bs=1M count=2 2>/dev/null || gfail "write failed"
sync
echo "XVM-GUEST-SHA $(sha256sum /mnt/fs/out.bin | cut -c1-64)"
echo "XVM-GUEST-FACT bytes_verified $((6 * 1048576))"
umount /mnt/fs
