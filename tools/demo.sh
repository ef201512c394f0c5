#!/usr/bin/env bash
# The demo, end to end on a fresh Debian machine (as root): build the daemon,
# then boot Xen + dom0 + a Linux guest under qemu-system-aarch64 (TCG) and
# print a short summary: Xen version, the devices the guest saw, bytes moved
# and verified through xen-vhost-master, throughput next to Xen's PV block.
#   XVM_DEMO_SCENARIOS="disk perf"   what to run (see tests/integration)
#   XEN_VERSION=4.20|4.17|auto       Xen release (auto: 4.20 if its source
#                                    can be had, else 4.17)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

if [ "$(id -u)" = 0 ] && [ "${XVM_SKIP_APT:-0}" != 1 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends build-essential autoconf \
        automake libtool pkg-config check libxen-dev libjson-c-dev >/dev/null
fi
autoreconf -fi >/dev/null
mkdir -p _build
cd _build
"$top/configure" -q
make -s -j"$(nproc 2>/dev/null || echo 2)" >/dev/null
exec make -s demo-arm64 ARM64_SCENARIOS="${XVM_DEMO_SCENARIOS:-disk perf}"
