#!/usr/bin/env bash
# The demo, end to end on a fresh Debian machine (as root): build the daemon,
# then boot Xen + dom0 + a Linux guest under qemu-system-aarch64 (TCG) and
# print a short summary: Xen version, the devices the guest saw, the relay
# mode of each device and why, bytes moved and verified through
# xen-vhost-master, throughput next to Xen's PV block device. When a step
# fails, it says which one and shows that step's own output.
#   XVM_DEMO_SCENARIOS="disk perf"   what to run (see tests/integration)
#   XEN_VERSION=4.20|4.17|auto       Xen release (auto: 4.20 if its source
#                                    can be had, else 4.17)
#   XVM_SKIP_APT=1                   do not call apt-get
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
logs=$top/_build/demo-logs
mkdir -p "$logs"

# step NAME CMD...: run CMD with its output in $logs/NAME.log; on failure
# name the step and show the end of its output.
step() {
    local name=$1 t0=$SECONDS; shift
    echo "demo: $name"
    if ! "$@" >"$logs/$name.log" 2>&1; then
        echo "demo: FAILED at step '$name' after $((SECONDS - t0)) s; end of $logs/$name.log:" >&2
        tail -n 30 "$logs/$name.log" >&2
        exit 1
    fi
}

# libfdt-dev: the host's daemon writes the partial device trees of the
# declared-device scenarios (grants*, virtiofs, net), so that a later
# `make check-arm64` in the same tree can run them too.
pkgs=(build-essential autoconf automake libtool pkg-config check
      libxen-dev libjson-c-dev libfdt-dev)
if [ "${XVM_SKIP_APT:-0}" != 1 ]; then
    if [ "$(id -u)" = 0 ]; then
        export DEBIAN_FRONTEND=noninteractive
        step apt-update apt-get update -qq
        step install-build-deps apt-get install -y -qq --no-install-recommends "${pkgs[@]}"
    else
        echo "demo: not root: not installing ${pkgs[*]} (and the arm64 harness" \
             "will ask for its host packages); run as root on a fresh machine" >&2
    fi
fi
step autoreconf autoreconf -fi
cd _build
step configure "$top/configure" -q
step build make -j"$(nproc 2>/dev/null || echo 2)"
# The harness prints its own progress and, on failure, the failed step.
exec make -s demo-arm64 ARM64_SCENARIOS="${XVM_DEMO_SCENARIOS:-disk perf}"
