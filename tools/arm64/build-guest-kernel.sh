#!/bin/bash
# Build an arm64 guest kernel with grant-based virtio (CONFIG_XEN_VIRTIO),
# which Debian's arm64 kernels lack, from Debian's linux-source-6.12
# (bookworm-security, installed with apt-get): tinyconfig plus
# guest-kernel.config beside this script, cross-compiled with
# aarch64-linux-gnu-gcc.  Cached by source version and fragment hash in
# $CACHE/kernel-xen-virtio-<version>-<hash>/Image and reused; a cold
# build prints its time.  Prints the Image path on stdout (last line).
# --dom0 builds the dom0 kernel with the privcmd ioeventfd and irqfd
# instead: dom0-kernel.config merged after guest-kernel.config, cached in
# $CACHE/kernel-xen-dom0-eventfd-<version>-<hash of both fragments>.
#
# Usage: build-guest-kernel.sh [--dom0] [-j N]
set -euo pipefail
. "$(dirname "$0")/lib.sh"

JOBS=2
FRAGS=("$ARM64_DIR/guest-kernel.config")
NAME=kernel-xen-virtio WHAT="guest kernel"
while [ $# -gt 0 ]; do
    case $1 in
    -j) JOBS=$2; shift 2 ;;
    --dom0) FRAGS+=("$ARM64_DIR/dom0-kernel.config")
            NAME=kernel-xen-dom0-eventfd WHAT="dom0 kernel"; shift ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) die "unknown argument $1" ;;
    esac
done
PKG=linux-source-6.12

if ! dpkg -s "$PKG" >/dev/null 2>&1 || ! command -v aarch64-linux-gnu-gcc >/dev/null ||
   ! command -v bc >/dev/null || ! command -v flex >/dev/null || ! command -v bison >/dev/null; then
    [ "$(id -u)" = 0 ] || die "need root to apt-get install $PKG and the kernel build tools"
    log "apt-get install $PKG gcc-aarch64-linux-gnu bc bison flex (bookworm-security has $PKG)"
    apt-get install -y -qq --no-install-recommends "$PKG" gcc-aarch64-linux-gnu \
        bc bison flex libssl-dev libelf-dev xz-utils make >/dev/null ||
        { apt-get update -qq && apt-get install -y -qq --no-install-recommends "$PKG" \
            gcc-aarch64-linux-gnu bc bison flex libssl-dev libelf-dev xz-utils make >/dev/null; } ||
        die "cannot install $PKG (is bookworm-security in the apt sources?)"
fi
VER=$(dpkg-query -W -f '${Version}' "$PKG")
TARBALL=$(dpkg -L "$PKG" | grep -E '/linux-source-6\.12\.tar\.(xz|bz2|gz)$' | head -1)
[ -f "$TARBALL" ] || die "$PKG $VER ships no source tarball"
HASH=$(cat "${FRAGS[@]}" | sha256sum | cut -c1-12)
OUT=$CACHE/$NAME-$VER-$HASH
if [ -f "$OUT/Image" ]; then
    log "$WHAT cached: $OUT/Image"
    printf '%s\n' "$OUT/Image"
    exit 0
fi
SRC=$CACHE/src/linux-source-$VER
if [ ! -f "$SRC/.xvm-extracted" ]; then
    log "extracting $TARBALL into $SRC"
    rm -rf "$SRC.tmp" && mkdir -p "$SRC.tmp"
    tar -xf "$TARBALL" -C "$SRC.tmp" --strip-components=1
    rm -rf "$SRC" && mv "$SRC.tmp" "$SRC"
    touch "$SRC/.xvm-extracted"
fi
BUILD=$OUT.build
rm -rf "$BUILD" && mkdir -p "$BUILD"
K=(make -s -C "$SRC" O="$BUILD" ARCH=arm64 CROSS_COMPILE=aarch64-linux-gnu-)
T0=$(date +%s)
log "tinyconfig + ${FRAGS[*]##*/} ($HASH) for $PKG $VER"
"${K[@]}" tinyconfig >"$BUILD/config.log" 2>&1
(cd "$BUILD" && ARCH=arm64 "$SRC/scripts/kconfig/merge_config.sh" -m -O "$BUILD" \
    "$BUILD/.config" "${FRAGS[@]}") >>"$BUILD/config.log" 2>&1
"${K[@]}" olddefconfig >>"$BUILD/config.log" 2>&1
# Every option of the fragments must have survived olddefconfig.
missing=$(cat "${FRAGS[@]}" | grep -E '^CONFIG_[A-Z0-9_]+=y' | while read -r opt; do
    grep -qx "$opt" "$BUILD/.config" || printf '%s ' "$opt"; done)
[ -z "$missing" ] || die "options dropped by olddefconfig (unmet dependencies): $missing"
log "building Image with -j$JOBS (log: $BUILD/build.log)"
"${K[@]}" -j"$JOBS" Image >"$BUILD/build.log" 2>&1 ||
    { tail -30 "$BUILD/build.log" >&2; die "kernel build failed (log: $BUILD/build.log)"; }
T1=$(date +%s)
mkdir -p "$OUT"
cp "$BUILD/arch/arm64/boot/Image" "$BUILD/.config" "$OUT/"
rm -rf "$BUILD"
log "$WHAT built cold in $((T1 - T0)) s: $OUT/Image ($(du -h "$OUT/Image" | cut -f1))"
printf 'FACT kernel_build_s %s\n' "$((T1 - T0))" >&2
printf '%s\n' "$OUT/Image"
