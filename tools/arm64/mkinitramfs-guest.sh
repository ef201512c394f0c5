#!/bin/bash
# Build the guest initramfs: static busybox, virtio-mmio/blk/rng (+ virtiofs,
# xen-blkfront for the comparisons) modules from the selected release's
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
copy_modules "$ARM64_ROOT" "$KVER" "$T" virtio_mmio virtio_blk virtio-rng fuse virtiofs xen-blkfront
install -m 0755 "$ARM64_DIR/guest-init.sh" "$T/init"
mkdir -p "$T/scenarios"
for f in "$TOP_SRCDIR"/tests/integration/guest/*.sh; do
    [ -e "$f" ] && install -m 0755 "$f" "$T/scenarios/"
done
pack_cpio "$T" "$OUT"
log "guest initramfs: $OUT ($(du -h "$OUT" | cut -f1); modules: $(tr '\n' ' ' <"$T/usr/lib/modules/xvm/order"))"
