#!/usr/bin/env bash
# The project's test command: install build and test dependencies (as root,
# with apt-get), bootstrap autotools, configure, build and run `make check`
# in a build directory, then the same suites under ASan+UBSan.
#   XVM_SKIP_APT=1   do not call apt-get (dependencies already present)
#   XVM_NO_SANITIZE=1  skip the sanitizer pass
#   XVM_FUZZ_SECONDS=N run each libFuzzer target N seconds (default 30; 0 skips)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

pkgs=(build-essential autoconf automake libtool pkg-config check
      libxen-dev libjson-c-dev libfdt-dev device-tree-compiler
      qemu-system-common qemu-utils
      clang libclang-rt-14-dev valgrind cppcheck dpdk-dev)
if [ "${XVM_SKIP_APT:-0}" != 1 ]; then
    if [ "$(id -u)" = 0 ]; then
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
    else
        echo "run-tests: not root, not installing packages (${pkgs[*]})" >&2
    fi
fi

autoreconf -fi >/dev/null

jobs=$(nproc 2>/dev/null || echo 2)
run_check() { # <builddir> <configure args...>
    local dir=$1; shift
    mkdir -p "$dir"
    (cd "$dir" && "$top/configure" -q "$@" && make -s -j"$jobs" &&
     make -s -j"$jobs" check) || {
        echo "run-tests: make check failed in $dir; test logs follow" >&2
        find "$dir/tests" -name '*.log' -newer "$dir/config.status" \
            -exec tail -n 60 {} + >&2 2>/dev/null || true
        return 1
    }
}

run_check "$top/_build"
if [ "${XVM_NO_SANITIZE:-0}" != 1 ]; then
    run_check "$top/_build-asan" --enable-sanitizers CC=clang
fi

fuzz_s=${XVM_FUZZ_SECONDS:-30}
if [ "$fuzz_s" -gt 0 ]; then
    log="$top/_build/fuzz.log"
    echo "run-tests: fuzzing each target for ${fuzz_s}s (log: $log)"
    if ! make -s -C "$top/_build" fuzz FUZZ_SECONDS="$fuzz_s" >"$log" 2>&1; then
        echo "run-tests: a fuzz target failed; end of its log:" >&2
        tail -n 40 "$log" >&2
        exit 1
    fi
    grep -E '^(Done|stat::number_of_executed_units|INFO: Running with|#[0-9]+.*DONE)' \
        "$log" | grep -E 'Done|DONE' || true
fi
echo "run-tests: all suites passed"
