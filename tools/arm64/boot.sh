#!/bin/bash
# Boot the rebuilt Xen + Debian dom0 under qemu-system-aarch64 (TCG), run the
# given dom0 scenarios (tests/integration/scenarios/NAME.sh), collect the
# console log and report.
#
# Usage: boot.sh [-s "boot disk ..."] [-d DAEMON] [-t TIMEOUT_S] [-l LOG]
#                [--summary] [--no-fetch]
#   -s  scenarios to run, in order (default: boot)
#   -d  our daemon binary (aarch64), copied into dom0 as /xvm/bin/xen-vhost-master
#   -t  hard timeout for the whole QEMU run in seconds (default 1200)
#   -l  console log file (default $XVM_BUILD_DIR/console.log or ./arm64-console.log)
#   --summary  print a human summary (used by `make demo-arm64`)
# Env: XEN_VERSION (see fetch.sh), XVM_CACHE, XVM_DOM0_MEM (MiB, default 1024),
#      XVM_QEMU_MEM (MiB, default 2048), XVM_SCENARIO_TIMEOUT (s, per scenario),
#      XVM_DOM0_KERNEL (stock: Debian's, the default; eventfd: the kernel
#      build-guest-kernel.sh --dom0 builds, with the privcmd ioeventfd and
#      irqfd; guests keep Debian's kernel either way).
# Exit: 0 when every result is PASS or SKIP, 1 on any FAIL or when the run
# produced no result block (crash, hang, timeout). Prints "SKIP arm64: ..."
# and exits 0 when no Xen source can be had at all.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

SCEN="boot" DAEMON="" TMO=1200 LOGF="" SUMMARY=0 FETCH=1
while [ $# -gt 0 ]; do
    case $1 in
    -s) SCEN=$2; shift 2 ;;
    -d) DAEMON=$2; shift 2 ;;
    -t) TMO=$2; shift 2 ;;
    -l) LOGF=$2; shift 2 ;;
    --summary) SUMMARY=1; shift ;;
    --no-fetch) FETCH=0; shift ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) die "unknown argument $1" ;;
    esac
done

WALL0=$(date +%s)
if [ $FETCH = 1 ]; then
    out=$("$ARM64_DIR/fetch.sh" 2> >(grep -v '^    ' >&2)) || exit 1
    if printf '%s\n' "$out" | grep -q '^SKIP arm64:'; then
        printf '%s\n' "$out"; exit 0
    fi
fi
load_selected
DOM0_KERNEL=$KERNEL DOM0_KVER=$KVER
case ${XVM_DOM0_KERNEL:-stock} in
stock) ;;
eventfd)
    DOM0_KERNEL=$("$ARM64_DIR/build-guest-kernel.sh" --dom0 | tail -n 1) ||
        die "no dom0 kernel with the privcmd eventfds (build-guest-kernel.sh --dom0 failed)"
    DOM0_KVER="6.12 with XEN_PRIVCMD_EVENTFD ($(basename "$(dirname "$DOM0_KERNEL")"))" ;;
*) die "XVM_DOM0_KERNEL=$XVM_DOM0_KERNEL: expected stock or eventfd" ;;
esac
XVM_DOM0_KERNEL=${XVM_DOM0_KERNEL:-stock}
WALL_FETCH=$(( $(date +%s) - WALL0 ))

WORK=${XVM_BUILD_DIR:-$(pwd)/arm64-work}
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
[ -n "$LOGF" ] || LOGF="$WORK/console.log"
if [ -n "$DAEMON" ]; then
    [ -f "$DAEMON" ] || die "daemon binary $DAEMON does not exist"
    is_aarch64_elf "$DAEMON" || log "WARNING: $DAEMON is not an AArch64 ELF binary"
fi

"$ARM64_DIR/mkinitramfs-guest.sh" "$WORK/guest.cpio.gz"
# shellcheck disable=SC2086
XVM_DEMO=$SUMMARY "$ARM64_DIR/mkinitramfs-dom0.sh" "$WORK/dom0.cpio.gz" "$WORK/guest.cpio.gz" "$DAEMON" $SCEN
WALL_IMG=$(( $(date +%s) - WALL0 - WALL_FETCH ))

DOM0_MEM=${XVM_DOM0_MEM:-1024}
QEMU_MEM=${XVM_QEMU_MEM:-2048}
# No commas allowed in -append / guest-loader bootargs (QEMU option syntax).
XEN_ARGS="dom0_mem=${DOM0_MEM}M console=dtuart dtuart=/pl011@9000000 loglvl=all guest_loglvl=all"
DOM0_ARGS="console=hvc0 earlycon=xen rdinit=/init panic=1"

loud "arm64 harness: Xen $XEN_VERSION (hypervisor source $XEN_SRC_VERSION, tools $XEN_TOOLS_VERSION)" \
     "dom0 kernel $DOM0_KVER, guest kernel $KVER" \
     "scenarios: $SCEN, timeout ${TMO}s, console log: $LOGF"

# failed_step LOG QEMU_RC TIMEOUT: the step of the run that did not finish.
failed_step() {
    local f=$1 why sig
    sig=$(sed -n 's/^qemu-system-aarch64: terminating on signal \([0-9]*\).*/\1/p' "$f" | head -n1)
    if [ -n "$sig" ]; then
        why="QEMU was stopped by signal $sig (killed from outside, or the hard timeout)"
    elif grep -q '^qemu-system-aarch64:' "$f"; then
        why="QEMU did not start the machine"
    elif ! grep -q '^(XEN)\|^ Xen ' "$f"; then
        why="Xen did not start (no hypervisor output)"
    elif ! grep -q '^XVM-DOM0-UP' "$f"; then
        why="the dom0 kernel did not reach its init"
    elif ! grep -q '^XVM-DOM0-READY' "$f"; then
        why="dom0's Xen services (xenstored, xen-init-dom0) did not come up"
    else
        local last
        last=$(sed -n 's/^XVM-SCENARIO-START //p' "$f" | tail -n1)
        if [ -n "$last" ] && ! grep -q "^XVM-TIME $last " "$f"; then
            why="scenario '$last' did not finish"
        else
            why="dom0 stopped before printing its result block"
        fi
    fi
    [ "$2" = 124 ] && why="$why: hard timeout after ${3}s"
    grep -q 'Kernel panic' "$f" && why="$why (kernel panic)"
    grep -q '(XEN) Panic on CPU' "$f" && why="$why (Xen panicked)"
    echo "$why"
}

# step_context LOG: the lines that explain the failed step.
step_context() {
    local f=$1 last
    echo "---- relevant lines of $f ----"
    if grep '^qemu-system-aarch64:' "$f" | grep -qv 'terminating on signal'; then
        grep '^qemu-system-aarch64:' "$f"
    else
        grep -E -A4 'Kernel panic|Panic on CPU|XVM-DOM0-NOTE' "$f" | head -n 30
        last=$(sed -n 's/^XVM-SCENARIO-START //p' "$f" | tail -n1)
        if [ -n "$last" ] && ! grep -q "^XVM-TIME $last " "$f"; then
            sed -n "/^XVM-SCENARIO-START $last\$/,\$p" "$f" | tail -n 40
        else
            tail -n 40 "$f"
        fi
    fi
    echo "----"
}

# demo_summary LOG NPASS NFAIL NSKIP: what a newcomer wants to know first.
demo_summary() {
    local f=$1
    echo
    echo "================ xen-vhost-master arm64 demo ================"
    echo "Xen:        $XEN_VERSION (hypervisor rebuilt from Debian source $XEN_SRC_VERSION"
    echo "            with CONFIG_IOREQ_SERVER; tools $XEN_TOOLS_VERSION)"
    sed -n 's/^XVM-INFO xen_version *: */Running:    Xen /p' "$f" | head -n1
    if [ "$XVM_DOM0_KERNEL" = stock ]; then
        echo "Kernel:     $KVER (dom0 and guests, Debian's arm64 package)"
    else
        echo "Kernel:     dom0 $DOM0_KVER; guests $KVER (Debian's arm64 package)"
    fi
    echo "Devices the guests saw:"
    sed -n 's/^FACT device \(.*\)/  - \1/p' "$f" | sort -u
    echo "Relay mode of each device, and why:"
    sed -n 's/^FACT mode \(.*\)/  - \1/p' "$f" | sort -u
    sed -n 's/^FACT bytes_verified \([0-9]*\).*/\1/p' "$f" |
        awk '{ printf "Bytes moved through the daemon and verified: %.0f MiB (%s bytes)\n", $1 / 1048576, $1 }'
    if grep -q '^FACT perf_row ' "$f"; then
        echo "Performance next to Xen's PV block device (one boot, TCG: compare, do not quote):"
        echo "(fio in the guest, O_DIRECT, libaio; virtio via the daemon: shadow mode with"
        echo " qemu-storage-daemon, zero-copy with xvm-test-blkd, and shadow with xvm-test-blkd)"
        { echo "workload|shadow|zero-copy|Xen PV|shadow/PV|zero-copy/PV|shadow(blkd)|shadow(blkd)/zero-copy"
          sed -n 's/^FACT perf_row //p' "$f"; } |
            awk -F'|' '{ printf "  %-15s %-13s %-13s %-13s %-9s %-12s %-13s %s\n", $1, $2, $3, $4, $5, $6, $7, $8 }'
        sed -n 's/^FACT perf_counters \(.*\)/  daemon counters, \1/p' "$f"
    fi
    sed -n 's/^FACT boot_guest_ms \(.*\)/Guest boot to power-off: \1 ms/p' "$f" | head -n1
    echo "Results:    $2 passed, $3 failed, $4 skipped (console log: $f)"
    printf '%s\n' "$RES" | sed -n 's/^FAIL /  FAILED: /p'
    echo "============================================================="
}

# One QEMU at a time on this machine.
exec 9>"$CACHE/qemu.lock"
if ! flock -w 1800 9; then die "another arm64 QEMU run holds $CACHE/qemu.lock"; fi

T_QEMU0=$(date +%s)
set +e
timeout -k 10 "$TMO" qemu-system-aarch64 \
    -machine virt,virtualization=on,gic-version=3 -cpu cortex-a57 -smp 2 -m "$QEMU_MEM" \
    -accel tcg,thread=multi -nographic -no-reboot -monitor none -serial stdio \
    -nic none \
    -kernel "$XEN_IMAGE" -append "$XEN_ARGS" \
    -device guest-loader,addr=0x49000000,kernel="$DOM0_KERNEL",bootargs="$DOM0_ARGS" \
    -device guest-loader,addr=0x50000000,initrd="$WORK/dom0.cpio.gz" \
    </dev/null 2>&1 | sed -u 's/\r//g' | tee "$LOGF" | grep --line-buffered -E \
    '^(PASS|FAIL|SKIP|NOTE) |XVM-(DOM0|SCENARIO|TIME|SUMMARY|BEGIN|END|POWEROFF)|Kernel panic|\(XEN\) \*\*\*' >&2
QRC=${PIPESTATUS[0]}
set -e
T_QEMU=$(( $(date +%s) - T_QEMU0 ))
exec 9>&-

# ---------------------------------------------------------------- verdict
RES=$(sed -n 's/^XVM-RESULT //p' "$LOGF")
rc=0
if ! grep -q '^XVM-END' "$LOGF"; then
    # Name the step that did not finish and show its own lines.
    step=$(failed_step "$LOGF" "$QRC" "$TMO")
    echo "FAIL arm64-harness: $step (qemu rc=$QRC)"
    step_context "$LOGF"
    # Still report what finished before things went wrong.
    RES=$(grep -E '^(PASS|FAIL|SKIP) ' "$LOGF" | sort -u || true)
    RES=$(printf '%s\nFAIL arm64-harness: %s (qemu rc=%s)\n' "$RES" "$step" "$QRC" | awk 'NF')
    rc=1
fi
echo "==== arm64 results (Xen $XEN_VERSION) ===="
[ -n "$RES" ] && printf '%s\n' "$RES"
if printf '%s\n' "$RES" | grep -q '^FAIL'; then
    rc=1
    echo "---- console context of the failures ----"
    for n in $(printf '%s\n' "$RES" | sed -n 's/^FAIL \([^:]*\):.*/\1/p'); do
        # the scenario's own output, from its start line to its time line
        # (without Xen's console lines: a failing guest's diagnostics
        # re-print the ones about it)
        sed -n "/XVM-SCENARIO-START $n\$/,/XVM-TIME $n /p" "$LOGF" | { grep -v '^(XEN) ' || true; } | tail -n 100
    done
    echo "----"
fi
np=$(printf '%s\n' "$RES" | grep -c '^PASS' || true)
nf=$(printf '%s\n' "$RES" | grep -c '^FAIL' || true)
ns=$(printf '%s\n' "$RES" | grep -c '^SKIP' || true)
echo "arm64: $np passed, $nf failed, $ns skipped"
echo "arm64 wall time: fetch ${WALL_FETCH}s, images ${WALL_IMG}s, qemu ${T_QEMU}s, total $(( $(date +%s) - WALL0 ))s"

if [ $SUMMARY = 1 ]; then
    demo_summary "$LOGF" "$np" "$nf" "$ns"
fi
exit $rc
