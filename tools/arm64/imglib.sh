# shellcheck shell=bash
# Helpers for building initramfs trees from an extracted arm64 Debian root
# (sourced by mkinitramfs-*.sh, after lib.sh).
#
# Trees are built merged-/usr: everything lands under usr/, and bin, sbin and
# lib are relative links to it, whatever layout the release used (bookworm
# ships /lib and /bin, trixie only /usr).

READELF=${READELF:-aarch64-linux-gnu-readelf}
command -v "$READELF" >/dev/null || READELF=readelf

tree_init() {
    local t=$1 d
    rm -rf "$t"
    mkdir -p "$t"/usr/bin "$t"/usr/sbin "$t"/usr/lib "$t"/etc "$t"/dev "$t"/proc \
             "$t"/sys "$t"/run "$t"/tmp "$t"/var "$t"/root "$t"/mnt
    for d in bin sbin lib; do ln -s "usr/$d" "$t/$d"; done
    ln -s ../run "$t/var/run"
    # /init is a shell script: /bin/sh must exist before busybox --install runs.
    ln -s busybox "$t/usr/bin/sh"
    chmod 1777 "$t/tmp"
}

# Map a path inside the Debian root to its place in the merged-/usr tree.
merged_path() {
    case $1 in
    /lib/*|/bin/*|/sbin/*) echo "/usr$1" ;;
    *) echo "$1" ;;
    esac
}

# Copy one file from the root into the tree (symlinks dereferenced: fetch.sh
# made every absolute link in the root relative, so they resolve inside it), under
# its merged-/usr name. Usage: copy_file ROOT TREE /path/in/root [/dest/path]
copy_file() {
    local root=$1 tree=$2 src=$3 dst=${4:-}
    [ -n "$dst" ] || dst=$(merged_path "$src")
    [ -e "$root$src" ] || { echo "copy_file: $src not in $root" >&2; return 1; }
    mkdir -p "$tree$(dirname "$dst")"
    cp -L "$root$src" "$tree$dst"
}

# Library search directories inside the root (multiarch first).
LIB_DIRS="/lib/aarch64-linux-gnu /usr/lib/aarch64-linux-gnu /lib /usr/lib"

_find_lib() {
    local root=$1 name=$2 extra=$3 d
    for d in $extra $LIB_DIRS; do
        if [ -e "$root$d/$name" ]; then echo "$d/$name"; return 0; fi
    done
    return 1
}

# Copy ELF files and the shared libraries they need (walking DT_NEEDED and
# PT_INTERP, honouring RUNPATH/RPATH with $ORIGIN). Libraries go to their
# merged-/usr paths; those named in $STUB_LIBS (sonames) are not copied
# (stub_lib makes stand-ins for them). Usage: copy_elf_closure ROOT TREE /path/in/root...
copy_elf_closure() {
    local root=$1 tree=$2; shift 2
    local queue=("$@") seen=" " f
    while [ ${#queue[@]} -gt 0 ]; do
        f=${queue[0]}; queue=("${queue[@]:1}")
        case $seen in *" $f "*) continue ;; esac
        seen="$seen$f "
        case " ${STUB_LIBS:-} " in *" $(basename "$f") "*) continue ;; esac
        copy_file "$root" "$tree" "$f" || return 1
        local real dyn
        real="$root$f"
        dyn=$("$READELF" -dl "$real" 2>/dev/null) || continue
        local interp rp extra="" n lib
        interp=$(printf '%s\n' "$dyn" | sed -n 's/.*Requesting program interpreter: \([^]]*\)].*/\1/p')
        [ -n "$interp" ] && queue+=("$interp")
        rp=$(printf '%s\n' "$dyn" | sed -n 's/.*(R\(UN\)\?PATH).*\[\(.*\)\]/\2/p' | tr ':' ' ')
        for n in $rp; do
            extra="$extra ${n//\$ORIGIN/$(dirname "$f")}"
        done
        for n in $(printf '%s\n' "$dyn" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
            lib=$(_find_lib "$root" "$n" "$extra") || { echo "copy_elf_closure: $n (needed by $f) not found" >&2; return 1; }
            queue+=("$lib")
        done
    done
}

# Build a stand-in for the shared library SONAME (found in ROOT) at its
# merged-/usr path in TREE: every function BIN imports from it, under the
# same symbol versions, defined as a trap. For libraries a program links
# only for features a scenario never uses (fio's rbd, gluster, nbd, rdma and
# pmem engines: about 75 MB of closure for code that never runs); BIND_NOW
# binaries need every symbol resolved at load time, hence the stand-in.
# Needs the aarch64 cross compiler. Usage: stub_lib ROOT TREE BIN SONAME
stub_lib() {
    local root=$1 tree=$2 bin=$3 so=$4 lib t cc=${STUB_CC:-aarch64-linux-gnu-gcc} vs=""
    lib=$(_find_lib "$root" "$so" "") || { echo "stub_lib: $so not in $root" >&2; return 1; }
    t=$(mktemp -d "${TMPDIR:-/tmp}/xvm-stub.XXXXXX")
    # Names the library defines; the binary's imports as "name version".
    "$READELF" --dyn-syms -W "$root$lib" |
        awk '$7 != "UND" && $4 == "FUNC" { sub(/@.*/, "", $8); print $8 }' | sort -u >"$t/defs"
    "$READELF" --dyn-syms -W "$root$bin" |
        awk '$7 == "UND" && $4 == "FUNC" { n = $8; v = ""; i = index(n, "@");
             if (i) { v = substr(n, i + 1); n = substr(n, 1, i - 1) }
             if (v !~ /^GLIBC/) print n, v }' |
        awk 'NR == FNR { d[$1] = 1; next } ($1 in d)' "$t/defs" - | sort -u >"$t/syms"
    awk '{ printf "void %s(void) { __builtin_trap(); }\n", $1 }' "$t/syms" >"$t/stub.c"
    if awk '$2 != ""' "$t/syms" | grep -q .; then
        awk '$2 != "" { s[$2] = s[$2] " " $1 ";" }
             END { for (v in s) printf "%s { global:%s };\n", v, s[v] }' "$t/syms" >"$t/ver"
        vs="-Wl,--version-script=$t/ver"
    fi
    mkdir -p "$tree$(dirname "$(merged_path "$lib")")"
    "$cc" -shared -nostdlib -fPIC -O2 -w -Wl,-soname,"$so" $vs -o "$tree$(merged_path "$lib")" "$t/stub.c" ||
        { rm -rf "$t"; echo "stub_lib: cannot build a stand-in for $so" >&2; return 1; }
    rm -rf "$t"
}

# Copy kernel modules (and their depends=, recursively) flat into
# TREE/usr/lib/modules/xvm/, decompressing .ko.xz/.ko.zst, and write
# TREE/usr/lib/modules/xvm/order with a dependency-respecting load order.
# Modules that are not found (built in) are skipped with a note.
# Usage: copy_modules ROOT KVER TREE name...
copy_modules() {
    local root=$1 kver=$2 tree=$3; shift 3
    local mdir="$root/lib/modules/$kver" out="$tree/usr/lib/modules/xvm"
    [ -d "$mdir" ] || mdir="$root/usr/lib/modules/$kver"
    mkdir -p "$out"
    : >"$out/order"
    local done_=" "
    _add_mod() {
        local m=$1 f deps d
        case $done_ in *" $m "*) return 0 ;; esac
        done_="$done_$m "
        f=$(find "$mdir" \( -name "$m.ko" -o -name "$m.ko.xz" -o -name "$m.ko.zst" -o -name "$m.ko.gz" \) | head -n1)
        if [ -z "$f" ]; then
            # modules.builtin uses '-' or '_' interchangeably with the file name
            echo "  module $m: not found as a module (built in?), skipped" >&2
            return 0
        fi
        case $f in
        *.xz) xz -dc "$f" >"$out/$m.ko" ;;
        *.zst) zstd -qdc "$f" >"$out/$m.ko" ;;
        *.gz) gzip -dc "$f" >"$out/$m.ko" ;;
        *) cp "$f" "$out/$m.ko" ;;
        esac
        deps=$(strings "$out/$m.ko" | sed -n 's/^depends=//p' | head -n1 | tr ',' ' ')
        for d in $deps; do _add_mod "$d"; done
        echo "$m" >>"$out/order"
    }
    local m
    for m in "$@"; do _add_mod "$m"; done
}

# Pack a tree as a gzip'd newc cpio. Usage: pack_cpio TREE OUT
pack_cpio() {
    local tree=$1 out=$2
    (cd "$tree" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) |
        gzip -6 -n >"$out.tmp"
    mv "$out.tmp" "$out"
}
