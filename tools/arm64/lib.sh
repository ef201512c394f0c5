# shellcheck shell=bash
# Common helpers for the arm64 integration harness (sourced, not run).
#
# Layout of the persistent cache ($XVM_CACHE, default /var/cache/xen-vhost-master,
# or $HOME/.cache/xen-vhost-master when that is not writable):
#   apt/<suite>/        private apt state (lists, archives, empty dpkg status)
#   debs/<rel>/         downloaded arm64 .debs for release <rel> (trixie|bookworm)
#   root/<rel>/         all of them extracted (dpkg -x), the "arm64 root"
#   sysroot/<rel>/      libc/libxen/json-c dev packages only, for cross-compiling
#   src/<rel>/          Debian's Xen source tarballs (kept: the registry may 404 later)
#   xen/<srcver>/xen    the rebuilt hypervisor (CONFIG_EXPERT, CONFIG_IOREQ_SERVER)
#   selected.env        what fetch.sh chose (XEN_VERSION, XEN_REL, paths)

ARM64_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP_SRCDIR=$(cd "$ARM64_DIR/../.." && pwd)

xvm_cache_dir() {
    local d=${XVM_CACHE:-/var/cache/xen-vhost-master}
    if mkdir -p "$d" 2>/dev/null && [ -w "$d" ]; then
        echo "$d"
    else
        d=${XDG_CACHE_HOME:-$HOME/.cache}/xen-vhost-master
        mkdir -p "$d" && echo "$d"
    fi
}
CACHE=$(xvm_cache_dir)
export CACHE

log()  { printf '[arm64 %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die()  { printf '[arm64] ERROR: %s\n' "$*" >&2; exit 1; }
loud() {
    printf '\n' >&2
    printf '[arm64] ################################################################\n' >&2
    printf '[arm64] ## %s\n' "$@" >&2
    printf '[arm64] ################################################################\n\n' >&2
}

# Mirror URLs from the host's apt configuration (one-line and deb822 formats).
# Prints two lines: "main <url>" and "security <url>".
host_mirrors() {
    local files=() f
    [ -f /etc/apt/sources.list ] && files+=(/etc/apt/sources.list)
    for f in /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] && files+=("$f")
    done
    [ ${#files[@]} -gt 0 ] || return 1
    # Collect every URI mentioned, in either format, skipping comments.
    local uris
    uris=$(
        for f in "${files[@]}"; do
            case $f in
            *.sources)
                sed -n 's/^[[:space:]]*URIs:[[:space:]]*//p' "$f" | tr ' ' '\n' ;;
            *)
                sed -n 's/^[[:space:]]*deb\(-src\)\?[[:space:]]\+\(\[[^]]*\][[:space:]]\+\)\?\([^[:space:]]\+\).*/\3/p' "$f" ;;
            esac
        done | sed 's:/*$::' | awk 'NF' | sort -u
    )
    local main sec
    main=$(printf '%s\n' "$uris" | grep -E '/debian$' | head -n1)
    sec=$(printf '%s\n' "$uris" | grep -E '/debian-security$' | head -n1)
    [ -n "$main" ] || return 1
    # The security archive lives beside the main one on the usual mirrors.
    [ -n "$sec" ] || sec="${main%/debian}/debian-security"
    echo "main $main"
    echo "security $sec"
}

# Release facts.
rel_for_version() {
    case $1 in
    4.20) echo trixie ;;
    4.17) echo bookworm ;;
    *) return 1 ;;
    esac
}

# Private apt for an arm64 release: apt_priv <rel> <apt-get|apt-cache> args...
apt_priv_dir() { echo "$CACHE/apt/$1"; }

apt_priv_setup() {
    local rel=$1 d main sec
    d=$(apt_priv_dir "$rel")
    mkdir -p "$d/lists/partial" "$d/archives/partial" "$d/etc"
    : >"$d/status"
    local m
    m=$(host_mirrors) || die "cannot find a Debian mirror in the host's apt sources"
    main=$(printf '%s\n' "$m" | awk '$1=="main"{print $2}')
    sec=$(printf '%s\n' "$m" | awk '$1=="security"{print $2}')
    local kr=/usr/share/keyrings/debian-archive-keyring.gpg
    cat >"$d/etc/sources.list" <<EOF
deb [arch=arm64 signed-by=$kr] $main $rel main
deb [arch=arm64 signed-by=$kr] $main $rel-updates main
deb [arch=arm64 signed-by=$kr] $sec $rel-security main
deb-src [signed-by=$kr] $main $rel main
deb-src [signed-by=$kr] $main $rel-updates main
deb-src [signed-by=$kr] $sec $rel-security main
EOF
}

apt_priv() {
    local rel=$1 tool=$2; shift 2
    local d
    d=$(apt_priv_dir "$rel")
    "$tool" -q \
        -o APT::Architecture=arm64 -o APT::Architectures=arm64 \
        -o Dir::Etc::SourceList="$d/etc/sources.list" \
        -o Dir::Etc::SourceParts=/dev/null \
        -o Dir::Etc::Preferences=/dev/null \
        -o Dir::Etc::PreferencesParts=/dev/null \
        -o Dir::State::Lists="$d/lists" \
        -o Dir::State::status="$d/status" \
        -o Dir::Cache="$d" \
        -o Dir::Cache::Archives="$d/archives" \
        -o Debug::NoLocking=1 \
        -o APT::Sandbox::User=root \
        -o APT::Install-Recommends=0 \
        "$@"
}

# True when $1 is an AArch64 ELF file (readelf comes with binutils, which
# fetch.sh installs; `file` is not on a minimal Debian machine).
is_aarch64_elf() {
    readelf -h "$1" 2>/dev/null | grep -q 'Machine:[[:space:]]*AArch64'
}

# Load what fetch.sh selected.
load_selected() {
    [ -f "$CACHE/selected.env" ] || die "run tools/arm64/fetch.sh first ($CACHE/selected.env missing)"
    # shellcheck disable=SC1091
    . "$CACHE/selected.env"
}
