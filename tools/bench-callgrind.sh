#!/usr/bin/env bash
# Instructions per 4 KiB request spent by the relay on the shadow and
# zero-copy paths, from valgrind --tool=callgrind (stable counts on a noisy
# machine).  Runs the benchmark driver twice per mode with different fixed
# request counts and divides the difference, so set-up costs cancel.
#   tools/bench-callgrind.sh [BUILD_DIR]   (default: _build)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$top/_build}
job=4k-randread-qd32
n1=4000
n2=12000
make -s -C "$build" tests/bench_blk >/dev/null
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# Inclusive instruction count of a function in a callgrind profile.
incl() { # <profile> <function>
    callgrind_annotate --inclusive=yes --threshold=100 "$1" 2>/dev/null |
        awk -v f="$2" '!d && $0 ~ ("[ :]" f "( |$|\\[)") { gsub(",", "", $1); print $1; d = 1 }'
}
# All of libc's memcpy/memmove variants, summed.
copies() { # <profile>
    callgrind_annotate --inclusive=yes --threshold=100 "$1" 2>/dev/null |
        awk '/:(__)?mem(cpy|move)[a-z_]* \[.*libc/ { gsub(",", "", $1); s += $1 } END { print s + 0 }'
}
total() { # <profile>
    callgrind_annotate "$1" 2>/dev/null |
        awk '!d && /PROGRAM TOTALS/ { gsub(",", "", $1); print $1; d = 1 }'
}

for mode in shadow zero-copy; do
    for n in $n1 $n2; do
        valgrind --tool=callgrind --callgrind-out-file="$out/$mode.$n" \
            "$build/tests/bench_blk" --only "$mode" --job "$job" \
            --requests "$n" --rounds 1 >/dev/null 2>&1
    done
    per() { # <function>: instructions per request attributed to it
        local a b
        a=$(incl "$out/$mode.$n1" "$1"); b=$(incl "$out/$mode.$n2" "$1")
        echo $(( (${b:-0} - ${a:-0}) / (n2 - n1) ))
    }
    all=$(( ($(total "$out/$mode.$n2") - $(total "$out/$mode.$n1")) / (n2 - n1) ))
    mmio=$(per relay_mmio)
    call=$(per relay_on_call)
    kick=$(per shadow_kick)
    reap=$(per shadow_reap)
    cpy=$(( ($(copies "$out/$mode.$n2") - $(copies "$out/$mode.$n1")) / (n2 - n1) ))
    printf '%-9s per 4 KiB request: whole process %6d, relay (guest MMIO + completion) %6d, of which memcpy %6d, relay without memcpy %6d\n' \
        "$mode" "$all" "$((mmio + call))" "$cpy" "$((mmio + call - cpy))"
    if [ "$mode" = shadow ]; then
        printf '          shadow_kick %d, shadow_reap %d (inclusive)\n' "$kick" "$reap"
    fi
done
