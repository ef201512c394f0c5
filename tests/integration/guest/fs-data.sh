#!/bin/sh
# Guest side of `virtiofs`: mount the virtio-fs share, check the file dom0
# put there (XVM_ISHA), write one back and print its checksum.  Every step
# that waits on the device runs under a timeout, so a device that never
# answers ends in XVM-GUEST-FAIL with what the guest saw, not in a hang.
# Before it ends, pass or fail, the guest holds (as guest/hold.sh) so dom0
# can read the daemon's counters while the device still serves.
T=${XVM_FS_TIMEOUT:-60}
# The verdict goes to the console (fd 3), whatever a step's output is
# redirected to.
exec 3>&1
seen() {
    for d in /sys/bus/virtio/devices/*; do
        [ -e "$d/device" ] && printf '%s=%s(%s) ' "${d##*/}" "$(cat "$d/device")" "$(cat "$d/status" 2>/dev/null)"
    done
    printf '[irqs: %s] ' "$(grep -i virtio /proc/interrupts | tr -s ' ' | tr '\n' '|')"
    printf '[dmesg: %s]' "$(dmesg | grep -i -e virtio -e fuse | tail -n 6 | tr '\n' '|')"
}
hold() {
    echo "XVM-GUEST-HOLD" >&3
    read -r -t "${XVM_HOLD:-30}" _ || true
}
# A share whose requests never complete would hang init's final sync, and
# the guest would never power off: abort the FUSE connection first.
gfail() {
    echo "XVM-GUEST-FAIL fs-data: $* [devices: $(seen)]" >&3
    hold
    umount -f /mnt/fs 2>/dev/null
    exit 1
}
now_ms() { awk '{printf "%d\n", $1 * 1000}' /proc/uptime; }
# step WHAT CMD...: CMD under the timeout (killed, not asked: a FUSE
# request waits killably).
step() {
    what=$1; shift
    timeout -s KILL "$T" "$@" || gfail "$what failed or took over $T s (rc $?)"
}
# Reads stream into sha256sum in 1 MiB blocks: with cache=none every read
# is a FUSE request of its size, and 4 KiB ones cost a request each.
sha_of() { step "reading $1" sh -c "dd if='$1' bs=1M 2>/dev/null | sha256sum >/tmp/sha.out"; cut -c1-64 /tmp/sha.out; }
tag=${XVM_TAG:-}
if [ -z "$tag" ]; then
    for t in /sys/fs/virtiofs/*/tag; do [ -f "$t" ] && tag=$(cat "$t") && break; done
fi
tag=${tag:-xvmfs}
mkdir -p /mnt/fs
step "mount -t virtiofs $tag" mount -t virtiofs "$tag" /mnt/fs
echo "XVM-GUEST-FACT device virtiofs tag=$tag"
step "ls of the share" ls /mnt/fs >/tmp/ls.out
[ -f /mnt/fs/in.bin ] || gfail "in.bin not visible in the share ($(tr '\n' ' ' </tmp/ls.out))"
t0=$(now_ms)
sha=$(sha_of /mnt/fs/in.bin) || exit 1
t1=$(now_ms)
[ "$sha" = "${XVM_ISHA:-}" ] || gfail "in.bin reads as $sha, dom0 wrote ${XVM_ISHA:-?}"
step "writing out.bin" dd if=/dev/urandom of=/mnt/fs/out.bin bs=1M count=2
step "sync" sync
t2=$(now_ms)
osha=$(sha_of /mnt/fs/out.bin) || exit 1
echo "XVM-GUEST-SHA $osha"
echo "XVM-GUEST-FACT bytes_verified $((6 * 1048576))"
echo "XVM-GUEST-FACT fs_ms read_4MiB=$((t1 - t0)) write_2MiB=$((t2 - t1))"
step "umount" umount /mnt/fs
hold
