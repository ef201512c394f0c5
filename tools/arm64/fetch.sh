#!/bin/bash
# Fetch everything the arm64 harness needs, from Debian's packages only:
#   1. host tools (qemu-system-arm, the aarch64 cross gcc, cpio, ...) via apt-get
#   2. Debian's Xen source package for the chosen release (kept in the cache:
#      the registry may 404 it later), trying 4.20 (trixie) then 4.17 (bookworm)
#   3. the arm64 package closure of that release, downloaded into a private apt
#      dir and extracted with dpkg -x
#   4. the hypervisor rebuilt from that source with Debian's own config plus
#      CONFIG_EXPERT=y and CONFIG_IOREQ_SERVER=y (Debian's arm64 build lacks it)
#
# Env: XEN_VERSION=4.20|4.17|auto (default auto), XVM_CACHE (cache dir),
#      XVM_OFFLINE=1 (use the cache only, no network).
# Output: $CACHE/selected.env. If no hypervisor source can be had at all this
# prints "SKIP arm64: <why>" and exits 0.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

XEN_VERSION=${XEN_VERSION:-auto}
OFFLINE=${XVM_OFFLINE:-0}
T0=$(date +%s)

# ---------------------------------------------------------------- host tools
host_tools() {
    local need=() cmd pkg
    for pair in qemu-system-aarch64:qemu-system-arm aarch64-linux-gnu-gcc:gcc-aarch64-linux-gnu \
                cpio:cpio xz:xz-utils flex:flex bison:bison python3:python3 bc:bc \
                make:make gzip:gzip readelf:binutils dpkg-deb:dpkg \
                autoreconf:autoconf automake:automake pkg-config:pkg-config; do
        cmd=${pair%%:*}; pkg=${pair#*:}
        command -v "$cmd" >/dev/null 2>&1 || need+=("$pkg")
    done
    [ -f /usr/share/keyrings/debian-archive-keyring.gpg ] || need+=(debian-archive-keyring)
    [ ${#need[@]} -eq 0 ] && return 0
    [ "$OFFLINE" = 1 ] && die "missing host packages (offline): ${need[*]}"
    [ "$(id -u)" = 0 ] || die "missing host packages, install as root: apt-get install ${need[*]}"
    log "installing host packages: ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
}

# ------------------------------------------------------------ private apt
apt_update_if_stale() {
    local rel=$1 d
    d=$(apt_priv_dir "$rel")
    apt_priv_setup "$rel"
    [ "$OFFLINE" = 1 ] && return 0
    # Refresh at most once every 12 hours.
    if [ -z "$(find "$d/lists" -maxdepth 1 -name '*_Packages' -mmin -720 2>/dev/null | head -n1)" ]; then
        log "apt-get update (private, $rel arm64)"
        apt_priv "$rel" apt-get update >"$d/update.log" 2>&1 || { tail -5 "$d/update.log" >&2; return 1; }
    fi
}

# ---------------------------------------------------------- Xen source
# Try every source version of xen the release's suites list, newest first.
# Success: an orig tarball in $CACHE/src/<rel>/ (the .dsc may 404; the orig
# is enough for the hypervisor). Any success is kept for later runs.
src_have() {
    ls "$CACHE/src/$1"/xen_*.orig.tar.* >/dev/null 2>&1
}

src_fetch() {
    local rel=$1 dst="$CACHE/src/$1" v tmp
    src_have "$rel" && return 0
    [ "$OFFLINE" = 1 ] && return 1
    apt_update_if_stale "$rel" || return 1
    tmp=$(mktemp -d "$CACHE/src-dl.XXXXXX")
    local versions
    versions=$(apt_priv "$rel" apt-cache showsrc xen 2>/dev/null | sed -n 's/^Version: //p' | sort -ruV)
    for v in $versions; do
        log "trying Debian source xen=$v ($rel)"
        (cd "$tmp" && apt_priv "$rel" apt-get source --download-only "xen=$v") \
            >"$tmp/source-$v.log" 2>&1 || true
        grep -E '404|Err:' "$tmp/source-$v.log" | sed 's/^/    /' >&2 || true
        if ls "$tmp"/xen_*.orig.tar.* >/dev/null 2>&1; then
            mkdir -p "$dst"
            mv "$tmp"/xen_* "$dst"/
            echo "$v" >"$dst/VERSION"
            rm -rf "$tmp"
            log "got xen source $v, cached in $dst"
            return 0
        fi
    done
    rm -rf "$tmp"
    return 1
}

choose_version() {
    local why=""
    case $XEN_VERSION in
    auto)
        if src_fetch trixie; then
            SEL=4.20
            loud "Using Xen 4.20 (Debian trixie): source package $(cat "$CACHE/src/trixie/VERSION")"
        elif src_fetch bookworm; then
            SEL=4.17
            loud "FALLBACK: using Xen 4.17 (Debian bookworm), source $(cat "$CACHE/src/bookworm/VERSION")" \
                 "because Debian's Xen 4.20 source package could not be downloaded (404 from the registry)" \
                 "and none is cached in $CACHE/src/trixie. Scenarios needing Xen >= 4.18 will SKIP."
        else
            echo "SKIP arm64: no Xen source package obtainable (4.20 trixie and 4.17 bookworm both failed, nothing cached in $CACHE/src)"
            exit 0
        fi ;;
    4.20|4.17)
        SEL=$XEN_VERSION
        if ! src_fetch "$(rel_for_version "$SEL")"; then
            echo "SKIP arm64: Debian's Xen $SEL source package could not be downloaded and none is cached in $CACHE/src/$(rel_for_version "$SEL")"
            exit 0
        fi
        loud "Using Xen $SEL as requested (XEN_VERSION=$XEN_VERSION), source $(cat "$CACHE/src/$(rel_for_version "$SEL")/VERSION")" ;;
    *) die "XEN_VERSION must be 4.20, 4.17 or auto (got $XEN_VERSION)" ;;
    esac
    : "$why"
}

# ------------------------------------------------------ arm64 binary closure
pkgs_for() {
    case $1 in
    trixie)
        echo xen-utils-4.20 xenstore-utils busybox-static qemu-utils virtiofsd \
             libxen-dev libc6-dev linux-libc-dev libjson-c-dev bash fio ;;
    bookworm)
        echo xen-utils-4.17 xenstore-utils busybox-static qemu-system-common \
             libxen-dev libc6-dev linux-libc-dev libjson-c-dev bash fio ;;
    esac
}

# Packages downloaded without their dependencies (kernel: avoid initramfs-tools
# and udev; hypervisor deb: only its config file is used).
pkgs_nodeps_for() {
    local rel=$1 kpkg
    kpkg=$(apt_priv "$rel" apt-cache depends linux-image-arm64 2>/dev/null |
           sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*-arm64\)$/\1/p' | head -n1)
    [ -n "$kpkg" ] || die "cannot resolve the exact kernel package behind linux-image-arm64 ($rel)"
    echo "$kpkg xen-hypervisor-$SEL-arm64"
}

fetch_closure() {
    local rel=$1 debs="$CACHE/debs/$1" root="$CACHE/root/$1" d
    d=$(apt_priv_dir "$rel")
    mkdir -p "$debs"
    if [ "$OFFLINE" != 1 ]; then
        apt_update_if_stale "$rel"
        local t=$(date +%s)
        log "resolving and downloading the arm64 closure for $rel: $(pkgs_for "$rel")"
        apt_priv "$rel" apt-get install -y --download-only $(pkgs_for "$rel") >"$d/install.log" 2>&1 ||
            { tail -20 "$d/install.log" >&2; die "closure download failed"; }
        local nd
        nd=$(pkgs_nodeps_for "$rel")
        log "downloading without dependencies: $nd"
        (cd "$debs" && apt_priv "$rel" apt-get download $nd) >"$d/download.log" 2>&1 ||
            { tail -20 "$d/download.log" >&2; die "download failed"; }
        cp -n "$d/archives"/*.deb "$debs"/ 2>/dev/null || true
        # Keep only the newest version of each package.
        prune_old_debs "$debs"
        log "downloaded $(ls "$debs"/*.deb | wc -l) packages, $(du -sh "$debs" | cut -f1) in $(( $(date +%s) - t )) s"
    fi
    ls "$debs"/*.deb >/dev/null 2>&1 || die "no .debs in $debs (offline and nothing cached?)"
    local stamp
    stamp=$(ls "$debs"/*.deb | xargs -n1 basename | sort | sha256sum | cut -c1-16)
    if [ "$(cat "$root/.stamp" 2>/dev/null)" != "$stamp" ]; then
        log "extracting $(ls "$debs"/*.deb | wc -l) packages into $root"
        rm -rf "$root"; mkdir -p "$root"
        for f in "$debs"/*.deb; do dpkg -x "$f" "$root"; done
        merged_usr_links "$root"
        fix_symlinks_absolute "$root"
        echo "$stamp" >"$root/.stamp"
    fi
    make_sysroot "$rel"
}

prune_old_debs() {
    local dir=$1
    ls "$dir"/*.deb | xargs -n1 basename | awk -F_ '{print $1}' | sort | uniq -d |
    while read -r p; do
        # newest by dpkg version ordering stays
        local files newest=""
        files=$(ls "$dir/${p}_"*.deb)
        for f in $files; do
            local v
            v=$(dpkg-deb -f "$f" Version)
            if [ -z "$newest" ] || dpkg --compare-versions "$v" gt "$(dpkg-deb -f "$newest" Version)"; then
                newest=$f
            fi
        done
        for f in $files; do [ "$f" = "$newest" ] || rm -f "$f"; done
    done
}

# Sysroot for cross-compiling: libc, kernel headers, Xen and json-c dev+libs.
make_sysroot() {
    local rel=$1 debs="$CACHE/debs/$1" sr="$CACHE/sysroot/$1" stamp f p
    stamp=$(cat "$CACHE/root/$rel/.stamp")
    [ "$(cat "$sr/.stamp" 2>/dev/null)" = "$stamp" ] && return 0
    log "building the cross sysroot $sr"
    rm -rf "$sr"; mkdir -p "$sr"
    for f in "$debs"/*.deb; do
        p=$(basename "$f" | cut -d_ -f1)
        case $p in
        lib*|linux-libc-dev) dpkg -x "$f" "$sr" ;;
        esac
    done
    merged_usr_links "$sr"
    fix_symlinks_absolute "$sr"
    echo "$stamp" >"$sr/.stamp"
}

# trixie packages install into /usr only and rely on base-files' /lib -> usr/lib
# links; bookworm packages still use /lib. Give both trees both views.
merged_usr_links() {
    local r=$1 d
    for d in lib bin sbin; do
        if [ ! -e "$r/$d" ] && [ ! -L "$r/$d" ]; then
            mkdir -p "$r/usr/$d"; ln -s "usr/$d" "$r/$d"
        fi
    done
}

# Absolute symlinks inside an extracted tree point at the host; make them
# relative so --sysroot and PKG_CONFIG_SYSROOT_DIR resolve inside the tree.
fix_symlinks_absolute() {
    local sr=$1 l t
    find "$sr" -type l | while read -r l; do
        t=$(readlink "$l")
        case $t in
        /*) ln -sfn "$(realpath -m --relative-to="$(dirname "$l")" "$sr$t")" "$l" ;;
        esac
    done
}

# --------------------------------------------------------- hypervisor build
build_xen() {
    local rel=$1 srcdir="$CACHE/src/$1" root="$CACHE/root/$1" v cfg tarball out key
    v=$(cat "$srcdir/VERSION")
    cfg=$(ls "$root"/boot/xen-*-arm64.config 2>/dev/null | head -n1)
    [ -n "$cfg" ] || cfg=$(ls "$root"/boot/xen-*.config 2>/dev/null | head -n1)
    if [ -z "$cfg" ]; then
        # The hypervisor deb may be newer than the cached root stamp: extract it.
        local hd
        hd=$(ls "$CACHE/debs/$rel"/xen-hypervisor-*-arm64_*.deb | head -n1)
        dpkg -x "$hd" "$root"
        cfg=$(ls "$root"/boot/xen-*-arm64.config | head -n1)
    fi
    [ -f "$cfg" ] || die "no Debian hypervisor config found in $root/boot"
    key="$v-$(cat "$cfg" | sha256sum | cut -c1-12)"
    out="$CACHE/xen/$key"
    if [ -f "$out/xen" ] && [ -f "$out/.ok" ]; then
        log "hypervisor cached: $out/xen"
        XEN_IMAGE=$out/xen; return 0
    fi
    tarball=$(ls "$srcdir"/xen_*.orig.tar.* | head -n1)
    local b="$CACHE/xen-build.$$"
    rm -rf "$b"; mkdir -p "$b"
    log "unpacking $(basename "$tarball")"
    tar -C "$b" -xf "$tarball"
    local top
    top=$(find "$b" -mindepth 1 -maxdepth 1 -type d | head -n1)
    [ -d "$top/xen" ] || die "unexpected source layout in $tarball"
    cp "$cfg" "$top/xen/.config"
    sed -i -e '/^CONFIG_EXPERT[= ]/d' -e '/CONFIG_EXPERT is not set/d' \
           -e '/^CONFIG_IOREQ_SERVER[= ]/d' -e '/CONFIG_IOREQ_SERVER is not set/d' "$top/xen/.config"
    printf 'CONFIG_EXPERT=y\nCONFIG_IOREQ_SERVER=y\n' >>"$top/xen/.config"
    local t=$(date +%s) mk=(make -C "$top/xen" XEN_TARGET_ARCH=arm64 CROSS_COMPILE=aarch64-linux-gnu-)
    log "building the hypervisor (Debian config $(basename "$cfg") + EXPERT + IOREQ_SERVER)"
    "${mk[@]}" olddefconfig >"$b/build.log" 2>&1 || { tail -30 "$b/build.log" >&2; die "olddefconfig failed"; }
    grep -q '^CONFIG_IOREQ_SERVER=y' "$top/xen/.config" || die "CONFIG_IOREQ_SERVER did not stick"
    "${mk[@]}" -j"$(nproc)" >>"$b/build.log" 2>&1 || { tail -30 "$b/build.log" >&2; die "hypervisor build failed (log: $b/build.log)"; }
    mkdir -p "$out"
    cp "$top/xen/xen" "$out/xen"
    cp "$top/xen/.config" "$out/config"
    cp "$b/build.log" "$out/build.log"
    touch "$out/.ok"
    rm -rf "$b"
    log "hypervisor built in $(( $(date +%s) - t )) s: $out/xen"
    XEN_IMAGE=$out/xen
}

# ------------------------------------------------------------------- main
host_tools
# --sysroot-only RELEASE: just the cross sysroot of trixie (Xen 4.20) or
# bookworm (4.17), no hypervisor source needed: for cross-compiling the
# daemon against that release's libxen-dev.
if [ "${1:-}" = --sysroot-only ]; then
    REL=${2:?--sysroot-only needs trixie or bookworm}
    case $REL in trixie) SEL=4.20 ;; bookworm) SEL=4.17 ;; *) die "unknown release $REL" ;; esac
    fetch_closure "$REL"
    echo "SYSROOT=$CACHE/sysroot/$REL"
    exit 0
fi
choose_version
REL=$(rel_for_version "$SEL")
fetch_closure "$REL"
build_xen "$REL"

ROOT="$CACHE/root/$REL"
KERNEL=$(ls "$ROOT"/boot/vmlinuz-*-arm64 | sort -V | tail -n1)
KVER=${KERNEL##*/vmlinuz-}
# guest-loader and libxl want the raw arm64 Image: unpack a gzip'd vmlinuz.
if [ "$(head -c2 "$KERNEL" | od -An -tx1 | tr -d ' ')" = 1f8b ]; then
    mkdir -p "$CACHE/kernel"
    [ -f "$CACHE/kernel/Image-$KVER" ] || gzip -dc "$KERNEL" >"$CACHE/kernel/Image-$KVER"
    KERNEL=$CACHE/kernel/Image-$KVER
fi
cat >"$CACHE/selected.env.tmp" <<EOF
XEN_VERSION=$SEL
XEN_REL=$REL
XEN_SRC_VERSION=$(cat "$CACHE/src/$REL/VERSION")
XEN_TOOLS_VERSION=$(dpkg-deb -f "$(ls "$CACHE/debs/$REL"/xen-utils-${SEL}_*.deb | head -n1)" Version 2>/dev/null || echo unknown)
XEN_IMAGE=$XEN_IMAGE
ARM64_ROOT=$ROOT
SYSROOT=$CACHE/sysroot/$REL
KERNEL=$KERNEL
KVER=$KVER
EOF
mv "$CACHE/selected.env.tmp" "$CACHE/selected.env"
cat "$CACHE/selected.env" >&2
log "fetch.sh done in $(( $(date +%s) - T0 )) s"
