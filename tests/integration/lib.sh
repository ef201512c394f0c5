# shellcheck shell=sh
# Helpers for dom0-side scenario scripts (busybox sh). Sourced.
# Every scenario reports through pass/fail/skip; run-dom0.sh turns a missing
# report into a FAIL.

XVM_RUN=/run/xvm
XVM_RESULTS=$XVM_RUN/results
XVM_DAEMON=${XVM_DAEMON:-/xvm/bin/xen-vhost-master}
GUEST_KERNEL=/xvm/guest/Image
GUEST_INITRD=/xvm/guest/initrd.img
mkdir -p "$XVM_RUN"

pass() { echo "PASS $1"; echo "PASS $1" >>"$XVM_RESULTS"; }
fail() { echo "FAIL $1: $2"; echo "FAIL $1: $2" >>"$XVM_RESULTS"; }
skip() { echo "SKIP $1: $2"; echo "SKIP $1: $2" >>"$XVM_RESULTS"; }
note() { echo "NOTE $*"; }
# Machine-readable facts for the demo summary: FACT key value...
fact() { echo "FACT $*"; }

now_ms() { awk '{printf "%d\n", $1 * 1000}' /proc/uptime; }

# xen_at_least 4.18: true when the running toolstack is at least that version.
xen_at_least() {
    want=$1
    have=$XEN_VERSION
    [ "$(printf '%s\n%s\n' "$want" "$have" | sort -t. -k1,1n -k2,2n | head -n1)" = "$want" ]
}

# require_daemon NAME: FAIL (not SKIP) when the daemon binary is missing.
require_daemon() {
    if [ ! -x "$XVM_DAEMON" ]; then
        fail "$1" "daemon binary missing: $XVM_DAEMON was not built or not passed to boot.sh (--daemon)"
        return 1
    fi
}

# guest_cfg NAME GUEST_SCENARIO [extra xl config lines...] > file
guest_cfg() {
    name=$1 gs=$2; shift 2
    cat <<CFG
name = "$name"
kernel = "$GUEST_KERNEL"
ramdisk = "$GUEST_INITRD"
memory = ${XVM_GUEST_MEM:-96}
vcpus = 1
extra = "console=hvc0 rdinit=/init quiet xvm.guest=$gs"
CFG
    for l in "$@"; do echo "$l"; done
}

guest_log() { echo "/var/log/xen/console/guest-$1.log"; }

# guest_exists NAME
guest_exists() { xl domid "$1" >/dev/null 2>&1; }

# wait_guest_gone NAME TIMEOUT_S: 0 when the domain went away in time.
wait_guest_gone() {
    n=0
    while guest_exists "$1"; do
        n=$((n + 1))
        [ $n -gt $(($2 * 10)) ] && return 1
        sleep 0.1
    done
    return 0
}

# wait_log NAME PATTERN TIMEOUT_S: wait for a line in the guest's console log.
wait_log() {
    n=0
    while ! grep -q "$2" "$(guest_log "$1")" 2>/dev/null; do
        n=$((n + 1))
        [ $n -gt $(($3 * 10)) ] && return 1
        sleep 0.1
    done
}

# guest_results NAME SCENARIO: turn the guest's XVM-GUEST-* lines into our
# verdict; prints the reason on failure.
guest_verdict() {
    log=$(guest_log "$1")
    if ! grep -q 'XVM-GUEST-UP' "$log" 2>/dev/null; then
        echo "guest never printed XVM-GUEST-UP (console log: $(tail -c 300 "$log" 2>/dev/null | tr '\n\r' '  '))"
        return 1
    fi
    f=$(grep 'XVM-GUEST-FAIL' "$log" | head -n1)
    if [ -n "$f" ]; then echo "guest: ${f#*XVM-GUEST-FAIL }"; return 1; fi
    if ! grep -q 'XVM-GUEST-DONE rc=0' "$log"; then
        echo "guest did not finish cleanly: $(grep 'XVM-GUEST-DONE' "$log" | head -n1)"
        return 1
    fi
    return 0
}

# Dump a guest's console log (for diagnosing failures).
show_guest_log() {
    echo "---- console of $1 ----"
    tail -n "${2:-40}" "$(guest_log "$1")" 2>/dev/null
    echo "---- end ----"
}

# cleanup_guest NAME: destroy the domain if it is still there.
cleanup_guest() { guest_exists "$1" && xl destroy "$1" >/dev/null 2>&1; true; }
