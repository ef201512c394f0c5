#!/bin/bash
# DPDK's testpmd for the arm64 dom0 (the `net` scenario's vhost-user net
# backend), from the selected release's packages: dpdk-dev (which ships
# dpdk-testpmd) without its dependencies, plus the runtime libraries
# dpdk-dev depends on (not libdpdk-dev, not python3), the vhost PMD and
# the ring mempool handler (librte-net-vhost<ABI>, librte-mempool-ring<ABI>,
# ABI that of librte-eal), resolved by the private apt; only those the base
# closure (fetch.sh) lacks are downloaded.  They are extracted over a
# hard-linked copy of the base root, kept apart from it so the base root
# and its images do not change.  Cached by the base root's stamp and the
# package list; prints the root's path on stdout (last line).
# Usage: fetch-dpdk.sh   (after fetch.sh)
set -euo pipefail
. "$(dirname "$0")/lib.sh"
load_selected

D=$CACHE/dpdk/$XEN_REL
mkdir -p "$D/debs"
deps=$(apt_priv "$XEN_REL" apt-cache depends dpdk-dev 2>/dev/null |
       sed -n 's/^ *Depends: \([^<][^ ]*\)$/\1/p' | grep -v -x -e libdpdk-dev -e python3)
abi=$(echo "$deps" | sed -n 's/^librte-eal\([0-9]*\)$/\1/p')
[ -n "$abi" ] || die "cannot resolve dpdk-dev's dependencies (librte-eal) for $XEN_REL arm64"
# shellcheck disable=SC2086
want=$(apt_priv "$XEN_REL" apt-get install -s $deps librte-net-vhost$abi \
           librte-mempool-ring$abi 2>/dev/null |
       sed -n 's/^Inst \([^ ]*\) .*/\1/p')
need="dpdk-dev"
for p in $want; do
    ls "$CACHE/debs/$XEN_REL/${p}_"*.deb >/dev/null 2>&1 || need="$need $p"
done
key=$( (cat "$ARM64_ROOT/.stamp"; echo "$need") | sha256sum | cut -c1-16)
ROOT=$D/root-$key
if [ ! -f "$ROOT/.done" ]; then
    t=$(date +%s)
    # shellcheck disable=SC2086
    (cd "$D/debs" && apt_priv "$XEN_REL" apt-get download $need) >"$D/download.log" 2>&1 ||
        { tail -5 "$D/download.log" >&2; die "downloading DPDK's packages failed"; }
    rm -rf "$D"/root-*
    cp -al "$ARM64_ROOT" "$ROOT"
    for p in $need; do
        f=$(ls -t "$D/debs/${p}_"*.deb | head -n1)
        dpkg -x "$f" "$ROOT"
        # As fetch.sh does: absolute links resolve inside the root.
        dpkg-deb -c "$f" | sed -n 's|.* \./\(.*\) -> \(/.*\)$|\1 \2|p' |
            while read -r l to; do
                ln -sfn "$(realpath -m --relative-to="$(dirname "$ROOT/$l")" "$ROOT$to")" "$ROOT/$l"
            done
    done
    touch "$ROOT/.done"
    log "DPDK root $ROOT: $(echo "$need" | wc -w) packages ($(du -ch "$D/debs"/*.deb | tail -n1 | cut -f1)) in $(( $(date +%s) - t )) s"
fi
echo "$ROOT"
