#!/bin/bash
# Build the dom0 initramfs. Two gzip'd cpio members, concatenated:
#   base (cached per arm64 root):  busybox, Xen tools + libs, xenstore-utils,
#     bash + /etc/xen (hotplug scripts for the PV comparison), kernel modules
#     (xen-evtchn, xen-gntdev, xen-gntalloc, xen-privcmd, xenfs, xen-blkback,
#     loop), qemu-storage-daemon and virtiofsd with their libraries, the guest
#     kernel;
#   overlay (every run): /init, /xvm/env, /xvm/bin (our daemon, if given),
#     /xvm/tests (runner, helpers, scenarios), /xvm/guest/initrd.img.
# Usage: mkinitramfs-dom0.sh OUT.cpio.gz GUEST_INITRD [DAEMON_BINARY] [SCENARIOS...]
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$ARM64_DIR/imglib.sh"
load_selected
OUT=${1:?usage: mkinitramfs-dom0.sh OUT GUEST_INITRD [DAEMON] [SCENARIOS...]}
GUEST_INITRD=${2:?guest initramfs missing}
DAEMON=${3:-}
shift 3 2>/dev/null || shift $#
SCENARIOS=("$@")
[ ${#SCENARIOS[@]} -gt 0 ] || SCENARIOS=(boot)

XEN_BIN_DIR=/usr/lib/xen-$XEN_VERSION/bin

build_base() {
    local base=$1 T
    T=$(mktemp -d "${TMPDIR:-/tmp}/xvm-dom0.XXXXXX")
    tree_init "$T"
    local bb=/usr/bin/busybox; [ -e "$ARM64_ROOT$bb" ] || bb=/bin/busybox
    copy_file "$ARM64_ROOT" "$T" "$bb" /usr/bin/busybox
    # Xen tools: every ELF program in the versioned bin dir (scripts need python).
    local elfs=() f
    for f in "$ARM64_ROOT$XEN_BIN_DIR"/*; do
        [ -f "$f" ] || continue
        case $(basename "$f") in oxenstored) continue ;; esac
        head -c4 "$f" | grep -q 'ELF' && elfs+=("${f#"$ARM64_ROOT"}")
    done
    for f in "$ARM64_ROOT"/usr/bin/xenstore*; do elfs+=("${f#"$ARM64_ROOT"}"); done
    local bash=/usr/bin/bash; [ -e "$ARM64_ROOT$bash" ] || bash=/bin/bash
    elfs+=("$bash")
    # vhost-user backends
    elfs+=(/usr/bin/qemu-storage-daemon)
    for f in /usr/libexec/virtiofsd /usr/lib/qemu/virtiofsd; do
        [ -e "$ARM64_ROOT$f" ] && elfs+=("$f")
    done
    # glibc dlopen()s libgcc_s for pthread_cancel (xl aborts without it).
    elfs+=("$(_find_lib "$ARM64_ROOT" libgcc_s.so.1 "")")
    # xen-vhost-master's own libraries beyond the Xen ones (its QMP face).
    elfs+=("$(_find_lib "$ARM64_ROOT" libjson-c.so.5 "")")
    copy_elf_closure "$ARM64_ROOT" "$T" "${elfs[@]}"
    ln -sf bash "$T/usr/bin/sh.bash"
    # trixie's virtiofsd lives in libexec; give it one well-known name.
    [ -e "$T/usr/libexec/virtiofsd" ] && ln -sf ../libexec/virtiofsd "$T/usr/bin/virtiofsd"
    [ -e "$T/usr/lib/qemu/virtiofsd" ] && ln -sf ../lib/qemu/virtiofsd "$T/usr/bin/virtiofsd"
    cp -a "$ARM64_ROOT/etc/xen" "$T/etc/"
    copy_modules "$ARM64_ROOT" "$KVER" "$T" xen-evtchn xen-gntdev xen-gntalloc xen-privcmd xenfs xen-blkback loop
    printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$T/etc/passwd"
    printf 'root:x:0:\nnogroup:x:65534:\n' >"$T/etc/group"
    # The daemon's workers run as xen-vhost-master: added as make install does.
    sh "$TOP_SRCDIR/tools/xvm-sysuser.sh" --root "$T"
    mkdir -p "$T/xvm/guest"
    cp "$KERNEL" "$T/xvm/guest/Image"
    pack_cpio "$T" "$base"
    rm -rf "$T"
}

key=$( (cat "$ARM64_ROOT/.stamp"; cat "$ARM64_DIR/imglib.sh" "$0" "$TOP_SRCDIR/tools/xvm-sysuser.sh") | sha256sum | cut -c1-16)
BASE="$CACHE/img/dom0-base-$XEN_REL-$key.cpio.gz"
mkdir -p "$CACHE/img"
if [ ! -f "$BASE" ]; then
    t=$(date +%s)
    log "building the dom0 base initramfs (cached as $BASE)"
    rm -f "$CACHE/img/dom0-base-$XEN_REL-"*.cpio.gz
    build_base "$BASE"
    log "dom0 base: $(du -h "$BASE" | cut -f1) in $(( $(date +%s) - t )) s"
fi

O=$(mktemp -d "${TMPDIR:-/tmp}/xvm-dom0o.XXXXXX")
trap 'rm -rf "$O"' EXIT
mkdir -p "$O/xvm/bin" "$O/xvm/guest" "$O/xvm/tests"
install -m 0755 "$ARM64_DIR/dom0-init.sh" "$O/init"
cp "$GUEST_INITRD" "$O/xvm/guest/initrd.img"
if [ -n "$DAEMON" ]; then
    [ -f "$DAEMON" ] || die "daemon binary $DAEMON not found"
    install -m 0755 "$DAEMON" "$O/xvm/bin/xen-vhost-master"
    # the XEN_MMAP-capable test backend (zero-copy scenario), if built
    blkd=$(dirname "$DAEMON")/xvm-test-blkd
    [ -f "$blkd" ] || blkd=$(dirname "$DAEMON")/../tests/xvm-test-blkd
    [ -f "$blkd" ] && install -m 0755 "$blkd" "$O/xvm/bin/xvm-test-blkd"
fi
cp -r "$TOP_SRCDIR/tests/integration/." "$O/xvm/tests/"
# The grants* scenarios' guest kernel (built once, cached).
case " ${SCENARIOS[*]} " in *" grants"*)
    gk=$("$ARM64_DIR/build-guest-kernel.sh" | tail -n 1) && cp "$gk" "$O/xvm/guest/Image-grants" ||
        log "WARNING: no grant guest kernel; the grants scenarios will FAIL" ;;
esac
# The net scenario's backend: DPDK's testpmd with, in its plugin
# directory, the vhost PMD and the ring mempool handler (testpmd's mbuf
# pools need it), and their libraries (fetch-dpdk.sh; about 20 MB, 7 MB
# compressed), in this overlay only.
case " ${SCENARIOS[*]} " in *" net "*)
    dr=$("$ARM64_DIR/fetch-dpdk.sh" | tail -n 1) &&
        plugins=$(cd "$dr" && find usr/lib/aarch64-linux-gnu/dpdk -type f \
                      \( -name 'librte_net_vhost.so.*' -o -name 'librte_mempool_ring.so.*' \)) &&
        [ "$(echo "$plugins" | wc -w)" = 2 ] &&
        copy_elf_closure "$dr" "$O" /usr/bin/dpdk-testpmd $(printf '/%s ' $plugins) ||
        log "WARNING: no DPDK testpmd; the net scenario will FAIL" ;;
esac
# The partial device trees of the declared devices: each
# tests/integration/NAME.conf of a selected scenario (grants* for any
# grants scenario, virtiofs, net) gives NAME.dtb for the one guest it
# declares devices for, written by the host's own daemon
# ($XVM_HOST_DAEMON: the aarch64 one has no libfdt in the sysroot).
confs=
case " ${SCENARIOS[*]} " in *" grants"*)
    confs=$(ls "$TOP_SRCDIR"/tests/integration/grants*.conf) ;;
esac
for sc in virtiofs net; do
    case " ${SCENARIOS[*]} " in *" $sc "*) confs="$confs $TOP_SRCDIR/tests/integration/$sc.conf" ;; esac
done
for conf in $confs; do
    dtb=$O/xvm/guest/$(basename "$conf" .conf).dtb
    guest=$(sed -n 's/^\[device \([^:]*\):.*/\1/p' "$conf" | head -n 1)
    if [ -x "${XVM_HOST_DAEMON:-}" ]; then
        "$XVM_HOST_DAEMON" -c "$conf" --device-tree="$guest" >"$dtb" ||
            { rm -f "$dtb"; log "WARNING: $XVM_HOST_DAEMON --device-tree=$guest failed"; }
    else
        log "WARNING: XVM_HOST_DAEMON unset: no partial device tree for $conf; its scenario will FAIL"
    fi
done
rm -f "$O/xvm/tests/integration.am"
cat >"$O/xvm/env" <<ENV
XEN_VERSION=$XEN_VERSION
XEN_SRC_VERSION=$XEN_SRC_VERSION
XEN_TOOLS_VERSION=$XEN_TOOLS_VERSION
XEN_BIN=$XEN_BIN_DIR
XVM_SCENARIOS="${SCENARIOS[*]}"
XVM_DAEMON=/xvm/bin/xen-vhost-master
XVM_DEMO=${XVM_DEMO:-0}
XVM_SCENARIO_TIMEOUT=${XVM_SCENARIO_TIMEOUT:-900}
ENV
pack_cpio "$O" "$OUT.overlay"
cat "$BASE" "$OUT.overlay" >"$OUT.tmp"
rm -f "$OUT.overlay"
mv "$OUT.tmp" "$OUT"
log "dom0 initramfs: $OUT ($(du -h "$OUT" | cut -f1); scenarios: ${SCENARIOS[*]})"
