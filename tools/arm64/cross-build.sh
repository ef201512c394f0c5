#!/bin/bash
# Cross-compile the project's daemon for arm64 against the selected Xen
# release's libxen-dev, using the sysroot fetch.sh extracted (libc6,
# libc6-dev, linux-libc-dev, libxen*, libjson-c*), with the project's own
# autotools: autoreconf -fi at the top of the source tree, then configure
# --host=aarch64-linux-gnu in a build dir outside the source tree.
#
# Usage: cross-build.sh [-S SRCDIR] [-B BUILDDIR] [-o OUT] [--no-fetch]
#                       [--release trixie|bookworm]
#   --release  build against that release's libxen-dev (trixie: Xen 4.20,
#              bookworm: 4.17) whatever Xen the harness boots; needs no
#              hypervisor source
#   -S  source tree (default: the tree this script lives in)
#   -B  build dir (default: $XVM_CROSS_BUILD_DIR or $CACHE/cross/<release>)
#   -o  copy the built daemon here (default: print its path only)
# Prints the path of the aarch64 binary on stdout (last line).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

SRC=$TOP_SRCDIR BUILD="" OUT="" FETCH=1 CROSS_REL=
while [ $# -gt 0 ]; do
    case $1 in
    -S) SRC=$2; shift 2 ;;
    -B) BUILD=$2; shift 2 ;;
    -o) OUT=$2; shift 2 ;;
    --no-fetch) FETCH=0; shift ;;
    --release) CROSS_REL=$2; shift 2 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) die "unknown argument $1" ;;
    esac
done
SRC=$(cd "$SRC" && pwd)
[ -f "$SRC/configure.ac" ] ||
    die "no configure.ac in $SRC: the daemon's source is not in this tree yet, nothing to cross-build"

if [ -n "$CROSS_REL" ]; then
    "$ARM64_DIR/fetch.sh" --sysroot-only "$CROSS_REL" >/dev/null || exit 1
    XEN_REL=$CROSS_REL SYSROOT=$CACHE/sysroot/$CROSS_REL
    case $CROSS_REL in trixie) XEN_VERSION=4.20 ;; *) XEN_VERSION=4.17 ;; esac
else
    if [ $FETCH = 1 ]; then
        out=$("$ARM64_DIR/fetch.sh" 2> >(grep -v '^    ' >&2)) || exit 1
        if printf '%s\n' "$out" | grep -q '^SKIP arm64:'; then printf '%s\n' "$out"; exit 0; fi
    fi
    load_selected
fi
[ -d "$SYSROOT/usr/include/xen" ] || [ -f "$SYSROOT/usr/include/xenctrl.h" ] ||
    die "sysroot $SYSROOT has no Xen headers; rerun tools/arm64/fetch.sh"

BUILD=${BUILD:-${XVM_CROSS_BUILD_DIR:-$CACHE/cross/$XEN_REL}}
# A build dir configured from another source tree would rebuild the wrong
# files (its dependency records name that tree): start it afresh.
if [ -e "$BUILD/config.status" ] &&
   [ "$(cat "$BUILD/.xvm-srcdir" 2>/dev/null)" != "$SRC" ]; then
    rm -rf "$BUILD"
fi
mkdir -p "$BUILD"
BUILD=$(cd "$BUILD" && pwd)
printf '%s\n' "$SRC" >"$BUILD/.xvm-srcdir"
case $BUILD/ in "$SRC"/*) die "build dir $BUILD is inside the source tree $SRC; pick one outside it" ;; esac

T0=$(date +%s)
log "autoreconf -fi in $SRC"
(cd "$SRC" && autoreconf -fi) >"$BUILD/autoreconf.log" 2>&1 ||
    { tail -20 "$BUILD/autoreconf.log" >&2; die "autoreconf failed (log: $BUILD/autoreconf.log)"; }

CCX="aarch64-linux-gnu-gcc --sysroot=$SYSROOT"
PCDIRS="$SYSROOT/usr/lib/aarch64-linux-gnu/pkgconfig:$SYSROOT/usr/lib/pkgconfig:$SYSROOT/usr/share/pkgconfig"
log "configure --host=aarch64-linux-gnu (sysroot $SYSROOT, Xen $XEN_VERSION) in $BUILD"
(cd "$BUILD" && \
    PKG_CONFIG_LIBDIR="$PCDIRS" PKG_CONFIG_PATH="" PKG_CONFIG_SYSROOT_DIR="$SYSROOT" \
    "$SRC/configure" --host=aarch64-linux-gnu --build="$(gcc -dumpmachine)" \
        --with-xen=yes CC="$CCX" \
        PKG_CONFIG="pkg-config" \
        PKG_CONFIG_LIBDIR="$PCDIRS" PKG_CONFIG_SYSROOT_DIR="$SYSROOT" \
        LDFLAGS="-Wl,-rpath-link=$SYSROOT/usr/lib/aarch64-linux-gnu -Wl,-rpath-link=$SYSROOT/lib/aarch64-linux-gnu") \
    >"$BUILD/configure.out" 2>&1 ||
    { tail -30 "$BUILD/configure.out" >&2; die "configure failed (see $BUILD/config.log)"; }
grep -A8 'xen backend' "$BUILD/configure.out" | sed 's/^/    /' >&2 || true

log "make -j$(nproc)"
# Only the programs: unit tests (check) are not built for the target.
make -C "$BUILD" -j"$(nproc)" all >"$BUILD/make.log" 2>&1 ||
    { tail -40 "$BUILD/make.log" >&2; die "cross build failed (log: $BUILD/make.log)"; }

BIN="$BUILD/src/xen-vhost-master"
[ -f "$BIN" ] || die "build finished but $BIN is missing (has src/daemon/daemon.am a bin_PROGRAMS += src/xen-vhost-master yet?)"
is_aarch64_elf "$BIN" || die "$BIN is not an AArch64 ELF binary"
log "cross build OK in $(( $(date +%s) - T0 )) s: $BIN"
if [ -n "$OUT" ]; then
    mkdir -p "$(dirname "$OUT")"; cp "$BIN" "$OUT"; BIN=$(cd "$(dirname "$OUT")" && pwd)/$(basename "$OUT")
    # The project's XEN_MMAP test backend travels next to the daemon.
    [ -f "$BUILD/tests/xvm-test-blkd" ] && cp "$BUILD/tests/xvm-test-blkd" "$(dirname "$BIN")/"
fi
echo "$BIN"
