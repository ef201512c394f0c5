#!/bin/bash
# Build the guest initramfs: static busybox, fio (the perf scenario's
# benchmark, with its library closure; the libraries of the engines it never
# uses are trapping stand-ins, see stub_lib), virtio-mmio/blk/rng (+ virtiofs,
# virtio-net, xen-blkfront for the comparisons) modules from the selected release's
# kernel, the guest /init and the guest scenario scripts
# (tests/integration/guest/*.sh, selected at boot by xvm.guest=NAME).
# Usage: mkinitramfs-guest.sh OUT.cpio.gz
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$ARM64_DIR/imglib.sh"
load_selected
OUT=${1:?usage: mkinitramfs-guest.sh OUT.cpio.gz}

T=$(mktemp -d "${TMPDIR:-/tmp}/xvm-guest.XXXXXX")
trap 'rm -rf "$T"' EXIT
tree_init "$T"
bb=/usr/bin/busybox; [ -e "$ARM64_ROOT$bb" ] || bb=/bin/busybox
copy_file "$ARM64_ROOT" "$T" "$bb" /usr/bin/busybox
# fio's engines for Ceph, GlusterFS, NBD, RDMA and PMEM are linked in (BIND_NOW):
# stand-ins keep the image small; libaio and io_uring are real.
FIO_STUBS="librbd.so.1 librados.so.2 libgfapi.so.0 libnbd.so.0 libibverbs.so.1 librdmacm.so.1 libpmem.so.1 libpmemblk.so.1"
if [ -e "$ARM64_ROOT/usr/bin/fio" ]; then
    STUB_LIBS=$FIO_STUBS copy_elf_closure "$ARM64_ROOT" "$T" /usr/bin/fio
    for so in $FIO_STUBS; do
        stub_lib "$ARM64_ROOT" "$T" /usr/bin/fio "$so" || {
            log "no stand-in for $so: copying fio's whole library closure"
            copy_elf_closure "$ARM64_ROOT" "$T" /usr/bin/fio
            break
        }
    done
else
    log "no fio in $ARM64_ROOT (rerun fetch.sh): the perf scenario will fail"
fi
copy_modules "$ARM64_ROOT" "$KVER" "$T" virtio_mmio virtio_blk virtio-rng fuse virtiofs virtio_net xen-blkfront
install -m 0755 "$ARM64_DIR/guest-init.sh" "$T/init"
mkdir -p "$T/scenarios"
for f in "$TOP_SRCDIR"/tests/integration/guest/*.sh; do
    [ -e "$f" ] && install -m 0755 "$f" "$T/scenarios/"
done
pack_cpio "$T" "$OUT"
log "guest initramfs: $OUT ($(du -h "$OUT" | cut -f1); modules: $(tr '\n' ' ' <"$T/usr/lib/modules/xvm/order"))"
