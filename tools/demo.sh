#!/usr/bin/env bash
# The demo: the arm64 Xen harness in summary form (see tests/integration).
# Until that harness lands, this runs the simulator demo.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
if [ -x "$top/tools/arm64/demo.sh" ]; then
    exec bash "$top/tools/arm64/demo.sh" "$@"
fi
echo "demo: arm64 harness not present in this tree yet" >&2
exit 1
