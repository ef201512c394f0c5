#!/bin/sh
# Runs in dom0 (from the initramfs /init): every scenario in $XVM_SCENARIOS,
# each bounded by a timeout; a scenario that reports nothing is a FAIL.
. /xvm/env
. /xvm/tests/lib.sh
: >"$XVM_RESULTS"
echo "XVM-BEGIN xen=$XEN_VERSION tools=$XEN_TOOLS_VERSION src=$XEN_SRC_VERSION scenarios=$XVM_SCENARIOS"
xl info 2>/dev/null | grep -E '^(xen_version|xen_caps|total_memory|free_memory|nr_cpus)' | sed 's/^/XVM-INFO /'
for s in $XVM_SCENARIOS; do
    f=/xvm/tests/scenarios/$s.sh
    if [ ! -f "$f" ]; then fail "$s" "no scenario script $s.sh"; continue; fi
    before=$(wc -l <"$XVM_RESULTS")
    t0=$(now_ms)
    echo "XVM-SCENARIO-START $s"
    { timeout "${XVM_SCENARIO_TIMEOUT:-900}" sh "$f" 2>&1; echo $? >"$XVM_RUN/$s.rc"; } | tee "$XVM_RUN/$s.out"
    rc=$(cat "$XVM_RUN/$s.rc")
    t1=$(now_ms)
    after=$(wc -l <"$XVM_RESULTS")
    if [ "$after" -eq "$before" ]; then
        case $rc in
        124|143) fail "$s" "timed out after ${XVM_SCENARIO_TIMEOUT:-900} s" ;;
        *) fail "$s" "exited rc=$rc without reporting a result" ;;
        esac
        # Whatever guest it left behind: what it is doing, then gone.
        for g in $(xl list 2>/dev/null | awk 'NR > 1 && $1 != "Domain-0" { print $1 }'); do
            guest_diag "$g"; cleanup_guest "$g"
        done
    fi
    echo "XVM-TIME $s $((t1 - t0)) ms"
    # dom0's files live in RAM: a scenario's disk images go with it, so
    # memory does not shrink scenario by scenario (a full run once ran
    # dom0 out of memory in perf); what is left is reported.
    rm -rf "$XVM_IMGDIR"
    echo "XVM-MEM $s $(awk '/^MemAvailable/ { print int($2 / 1024) }' /proc/meminfo) MiB available in dom0"
done
np=$(grep -c '^PASS' "$XVM_RESULTS"); nf=$(grep -c '^FAIL' "$XVM_RESULTS"); ns=$(grep -c '^SKIP' "$XVM_RESULTS")
echo "XVM-SUMMARY $np passed, $nf failed, $ns skipped"
sed 's/^/XVM-RESULT /' "$XVM_RESULTS"
echo "XVM-END"
