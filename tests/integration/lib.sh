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

# A scenario that started the service passes only if its workers ran
# deprivileged (workers_deprivileged).
pass() {
    if [ -n "${DAEMON_PID:-}" ] && ! workers_deprivileged "$1"; then return; fi
    echo "PASS $1"; echo "PASS $1" >>"$XVM_RESULTS"
}
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
# ($GUEST_EXTRA: more kernel command-line words, e.g. xvm.rsha=...; no commas)
guest_cfg() {
    name=$1 gs=$2; shift 2
    cat <<CFG
name = "$name"
kernel = "$GUEST_KERNEL"
ramdisk = "$GUEST_INITRD"
memory = ${XVM_GUEST_MEM:-128}
vcpus = ${XVM_GUEST_VCPUS:-1}
extra = "console=hvc0 rdinit=/init quiet xvm.guest=$gs ${GUEST_EXTRA:-}"
CFG
    for l in "$@"; do echo "$l"; done
}

guest_log() { echo "/var/log/xen/console/guest-$1.log"; }

# guest_exists NAME
guest_exists() { xl domid "$1" >/dev/null 2>&1; }

# now_s: dom0's uptime in whole seconds.  The waits below count in it:
# a loop of `sleep 0.1` and an `xl` command takes 2-3 times its sleeps
# under TCG, and a "300 s" counted in sleeps once ran 740 s, close to
# run-dom0.sh's per-scenario timeout, which kills a scenario before it
# can say why.
now_s() { cut -d. -f1 /proc/uptime; }

# wait_guest_gone NAME TIMEOUT_S: 0 when the domain went away in time.
wait_guest_gone() {
    wg_end=$(($(now_s) + $2))
    while guest_exists "$1"; do
        [ "$(now_s)" -lt "$wg_end" ] || return 1
        sleep 0.1
    done
    return 0
}

# wait_log NAME PATTERN TIMEOUT_S: wait for a line in the guest's console log.
wait_log() {
    wl_end=$(($(now_s) + $3))
    while ! grep -q "$2" "$(guest_log "$1")" 2>/dev/null; do
        [ "$(now_s)" -lt "$wl_end" ] || return 1
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

# guest_diag NAME: what a guest that did not finish is doing, as NOTE lines
# (the run's summary shows a failed scenario's last lines): its vCPUs'
# state and run time sampled twice a second apart (running and
# advancing: spinning; blocked and still: waiting), Xen's view of them
# (debug key q: pause_flags 4 = blocked in Xen, as on an ioreq nobody
# answered; 1 = the guest idles), its console as xenconsoled connected it,
# the device model's register counters (--status: did the guest touch the
# device at all) and Xen's last lines about the domain.
guest_diag() {
    gdn=$1
    gd=$(xl domid "$gdn" 2>/dev/null) || { note "diag $gdn: no such domain"; return 0; }
    xl list | sed "s/^/NOTE diag xl list: /"
    xl vcpu-list "$gdn" | sed "s/^/NOTE diag vcpus: /"
    sleep 1
    xl vcpu-list "$gdn" | tail -n +2 | sed "s/^/NOTE diag vcpus 1 s later: /"
    note "diag console of dom$gd: tty=$(xenstore-read "/local/domain/$gd/console/tty" 2>&1)" \
        "port=$(xenstore-read "/local/domain/$gd/console/port" 2>&1)" \
        "vuart tty=$(xenstore-read "/local/domain/$gd/vuart/0/tty" 2>&1);" \
        "logs: $(wc -c /var/log/xen/console/guest-"$gdn"*.log 2>&1 | tr '\n' ' ')"
    tail -n 8 "/var/log/xen/console/guest-$gdn-vuart0.log" 2>/dev/null | sed "s/^/NOTE diag vuart: /"
    note "diag daemon status: $(timeout 10 "$XVM_DAEMON" --status --json \
        --backend-dir="$XVM_SOCKDIR" 2>&1 |
        grep -E '"(instance|state|reg_reads|reg_writes|requests)"' | tr -d ' ,' | tr '\n' ' ')"
    xl debug-keys q
    xl dmesg | awk -v d="$gd" '
        $0 ~ "General information for domain " d ":" { p = 2 }
        $0 ~ "VCPU information and callbacks for domain " d ":" { p = 5 }
        p > 0 { print "NOTE diag xen: " $0; p-- }'
    xl dmesg | grep "d${gd}v" | grep -v 'debug-key' | tail -n 6 | sed "s/^/NOTE diag xen dom$gd: /"
    # Event channels (key e) [pending/masked/...]: the guest's, and dom0's
    # end of each the guest has with a Xen consumer (x=1: its ioreq ports).
    xl debug-keys e
    xl dmesg >"$XVM_RUN/diag-evtchn"
    # Two passes over the last dump: dom0's ports come before the guest's.
    awk -v d="$gd" '
        /pressed -> dumping event-channel info/ { if (FNR == NR) { last = FNR; split("", want) }; c = ""; next }
        FNR != NR && FNR < last { next }
        /Event channel information for domain / { c = $NF; sub(":", "", c); next }
        !/\]: s=/ { next }
        FNR == NR { if (c == d && / x=1 d=0 p=/) { q = $0; sub(/.* p=/, "", q); want[q] = 1 }; next }
        c == d { print "NOTE diag evtchn dom" d ": " $0 }
        c == "0" && ($2 in want) { print "NOTE diag evtchn dom0: " $0 }' \
        "$XVM_RUN/diag-evtchn" "$XVM_RUN/diag-evtchn"
}

# cleanup_guest NAME: destroy the domain if it is still there.
cleanup_guest() { guest_exists "$1" && xl destroy "$1" >/dev/null 2>&1; true; }

# ------------------------------------------------------------------ devices
XVM_SOCKDIR=/run/xen-vhost-master
# Workers run as this user by default (made by tools/xvm-sysuser.sh, as
# make install does).
XVM_USER=xen-vhost-master

# prep_sockdir: the socket directory as the unit's tmpfiles.d file makes it
# (root:xen-vhost-master, 2770, setgid) before any backend binds in it, so
# sockets backends create with umask 007 are the workers' through the group.
prep_sockdir() {
    mkdir -p "$XVM_SOCKDIR"
    chgrp "$XVM_USER" "$XVM_SOCKDIR" && chmod 2770 "$XVM_SOCKDIR"
}
XVM_IMGDIR=/tmp/xvm-img
DATA_MB=${XVM_DATA_MB:-16}
VIRTIO_DISK_DEVID=51712   # xvda

# mk_image PATH: 2*DATA_MB MiB image; the second half is seeded with random
# data whose sha256 is left in $RSHA (the guest reads and checks it).
mk_image() {
    mkdir -p "$(dirname "$1")"
    dd if=/dev/zero of="$1" bs=1M count=$((DATA_MB * 2)) 2>/dev/null
    dd if=/dev/urandom of="$1" bs=1M seek="$DATA_MB" count="$DATA_MB" conv=notrunc 2>/dev/null
    RSHA=$(dd if="$1" bs=1M skip="$DATA_MB" count="$DATA_MB" 2>/dev/null | sha256sum | cut -c1-64)
}

# image_sha PATH: sha256 of the first DATA_MB MiB (what the guest wrote).
image_sha() { dd if="$1" bs=1M count="$DATA_MB" 2>/dev/null | sha256sum | cut -c1-64; }

# wait_sock PATH TIMEOUT_S [PID]: also gives up when PID (the process
# that is to create it) has exited.
wait_sock() {
    n=0
    while [ ! -S "$1" ]; do
        n=$((n + 1)); [ $n -gt $(($2 * 10)) ] && return 1
        [ -z "${3:-}" ] || kill -0 "$3" 2>/dev/null || return 1
        sleep 0.1
    done
}

# start_qsd IMG SOCK: qemu-storage-daemon exporting IMG as vhost-user-blk.
# Sets QSD_PID.
start_qsd() {
    prep_sockdir; mkdir -p "$(dirname "$2")"; rm -f "$2"
    ( umask 007; exec qemu-storage-daemon \
        --blockdev "driver=file,node-name=f0,filename=$1" \
        --export "type=vhost-user-blk,id=e0,node-name=f0,addr.type=unix,addr.path=$2,writable=on" ) \
        >>"$XVM_RUN/qsd-$(basename "$2").log" 2>&1 &
    QSD_PID=$!
    wait_sock "$2" 10 || { echo "qemu-storage-daemon did not create $2: $(tail -n 3 "$XVM_RUN/qsd-$(basename "$2").log")"; return 1; }
}

# start_test_blkd IMG SOCK [OPTIONS...]: the project's vhost-user-blk
# backend that maps guest RAM itself (XEN_MMAP). Sets QSD_PID (stopped like
# qemu-storage-daemon).
start_test_blkd() {
    tb_img=$1 tb_sock=$2; shift 2
    prep_sockdir; mkdir -p "$(dirname "$tb_sock")"; rm -f "$tb_sock"
    [ -x /xvm/bin/xvm-test-blkd ] || { echo "/xvm/bin/xvm-test-blkd missing (not cross-built?)"; return 1; }
    ( umask 007; exec /xvm/bin/xvm-test-blkd --socket "$tb_sock" --image "$tb_img" --xen-mmap "$@" ) \
        >>"$XVM_RUN/blkd-$(basename "$tb_sock").log" 2>&1 &
    QSD_PID=$!
    wait_sock "$tb_sock" 10 || { echo "xvm-test-blkd did not create $tb_sock: $(tail -n 3 "$XVM_RUN/blkd-$(basename "$tb_sock").log")"; return 1; }
}

# start_virtiofsd DIR SOCK: sets FSD_PID. C virtiofsd (bookworm) or Rust (trixie).
# Its socket gets the workers' group (--socket-group), as in a real setup.
start_virtiofsd() {
    prep_sockdir; mkdir -p "$(dirname "$2")" "$1"; rm -f "$2"
    if [ -e /usr/libexec/virtiofsd ]; then
        virtiofsd --socket-path="$2" --socket-group="$XVM_USER" --shared-dir="$1" \
            --sandbox=none --cache=never >>"$XVM_RUN/virtiofsd.log" 2>&1 &
    else
        virtiofsd --socket-path="$2" --socket-group="$XVM_USER" -o source="$1" \
            -o sandbox=chroot -o cache=none >>"$XVM_RUN/virtiofsd.log" 2>&1 &
    fi
    FSD_PID=$!
    wait_sock "$2" 10 || { echo "virtiofsd did not create $2: $(tail -n 3 "$XVM_RUN/virtiofsd.log")"; return 1; }
}

# start_testpmd SOCK: DPDK's testpmd as a vhost-user net server on SOCK
# (one queue pair, no hugepages, 128 MiB, IOVA as virtual addresses: a
# dom0 process sees pseudo-physical ones), answering ARP and ICMP echo
# requests (forward mode icmpecho).  --stats-period keeps it running
# without a terminal.  Sets PMD_PID.  EAL loads its PMD plugins only from
# a path no part of which is world-writable: the initramfs root directory
# is (tmpfs, 1777) until this makes it 0755.
start_testpmd() {
    prep_sockdir; rm -f "$1"
    chmod 0755 /
    dpdk-testpmd --no-huge -m 128 --no-pci --no-shconf --no-telemetry \
        --iova-mode=va --file-prefix=xvm -l 0,1 --vdev "net_vhost0,iface=$1,queues=1" -- \
        --no-mlockall --total-num-mbufs=2048 --forward-mode=icmpecho \
        --disable-link-check --auto-start --stats-period=3600 \
        </dev/null >>"$XVM_RUN/testpmd.log" 2>&1 &
    PMD_PID=$!
    wait_sock "$1" 60 "$PMD_PID" || {
        echo "testpmd did not create $1; its log:"; head -n 60 "$XVM_RUN/testpmd.log"; return 1
    }
}

# start_daemon NAME [args...]: the dom0 service, started before any guest,
# with the defaults for privilege (workers drop to $XVM_USER). Sets
# DAEMON_PID; on failure reports FAIL NAME and returns 1.
start_daemon() {
    dn=$1; shift
    prep_sockdir
    DAEMON_LOG=$XVM_RUN/daemon-$dn.log
    WORKERS=$XVM_RUN/workers-$dn BACKENDS=$XVM_RUN/backends-$dn
    : >"$WORKERS"; : >"$BACKENDS"
    "$XVM_DAEMON" --service --backend-dir="$XVM_SOCKDIR" "$@" >>"$DAEMON_LOG" 2>&1 &
    DAEMON_PID=$!
    watch_workers >/dev/null 2>&1 &
    sleep 1
    if ! kill -0 "$DAEMON_PID" 2>/dev/null; then
        wait "$DAEMON_PID"; drc=$?
        cat "$DAEMON_LOG" >&2
        fail "$dn" "xen-vhost-master --service exited at once (rc=$drc): $(tail -n 3 "$DAEMON_LOG" | tr '\n' ' ')"
        return 1
    fi
}

daemon_alive() { kill -0 "$DAEMON_PID" 2>/dev/null; }

# watch_workers (background, while the service runs): for each worker that
# logged "worker PID serving" (which it does after its privilege drop),
# record "PID Uid-line-of-/proc/PID/status" (real, effective, saved, fs)
# in $WORKERS, once; the same in $BACKENDS for each qemu-storage-daemon the
# service started, once it runs the backend's binary (after its drop).
watch_workers() {
    while kill -0 "$DAEMON_PID" 2>/dev/null; do
        for w in $(sed -n 's/.*worker \([0-9]*\) serving.*/\1/p' "$DAEMON_LOG"); do
            record_uid "$w" "$WORKERS"
        done
        for b in $(sed -n 's/.*: started .* (pid \([0-9]*\), uid .*/\1/p' "$DAEMON_LOG"); do
            case $(readlink /proc/"$b"/exe 2>/dev/null) in
            *qemu-storage-daemon*) record_uid "$b" "$BACKENDS" ;;
            esac
        done
        sleep 0.2
    done
}

# record_uid PID FILE: append "PID ruid euid suid fsuid" once.
record_uid() {
    grep -q "^$1 " "$2" && return 0
    u=$(awk '/^Uid:/ { print $2, $3, $4, $5 }' /proc/"$1"/status 2>/dev/null)
    [ -n "$u" ] && echo "$1 $u" >>"$2"
}

# workers_deprivileged NAME: print every worker's uids; FAIL NAME (and
# return 1) when none was seen or any ran with uid 0.
workers_deprivileged() {
    n=0 bad=""
    while read -r w r e s f; do
        n=$((n + 1))
        note "worker $w uid $r (euid $e suid $s fsuid $f)"
        for x in $r $e $s $f; do [ "$x" != 0 ] || bad="worker $w runs as uid 0"; done
    done <"$WORKERS"
    [ $n -gt 0 ] || bad="no worker was seen serving (daemon log: $(grep -m2 'worker' "$DAEMON_LOG" | tr '\n' ' '))"
    while read -r b r e s f; do
        note "backend started by the service: pid $b uid $r (euid $e suid $s fsuid $f)"
        for x in $r $e $s $f; do [ "$x" != 0 ] || bad="backend $b runs as uid 0"; done
    done <"$BACKENDS"
    [ -z "$bad" ] || { fail "$1" "$bad"; return 1; }
}

# stop_pid PID: TERM, then KILL after 5 s.
stop_pid() {
    [ -n "$1" ] || return 0
    kill "$1" 2>/dev/null || return 0
    n=0
    while kill -0 "$1" 2>/dev/null; do
        n=$((n + 1)); [ $n -gt 50 ] && { kill -9 "$1" 2>/dev/null; break; }
        sleep 0.1
    done
    wait "$1" 2>/dev/null; true
}

# dev_config FILE GUEST SOCK [DEVID]: daemon config naming the backend socket
# of one guest's device (appends, so several guests can share one file).
dev_config() {
    printf '[device %s:%s]\nsocket = %s\n' "$2" "${4:-$VIRTIO_DISK_DEVID}" "$3" >>"$1"
}

# virtio_disk_line IMG: the xl disk entry for a service-mode virtio disk.
virtio_disk_line() {
    echo "disk = [ \"$1,vdev=xvda,backendtype=standalone,specification=virtio\" ]"
}

# relay_mode_facts SCENARIO: one FACT per device the daemon served in this
# scenario, with the relay mode it ran in and why (from the daemon's log).
relay_mode_facts() {
    sed -n 's/.*: \(dom[0-9]*\/[a-z_]*[0-9]*\): \([a-z-]*\) mode (\(.*\))$/\1|\2|\3/p' \
        "$DAEMON_LOG" 2>/dev/null | sort -u |
        while IFS='|' read -r dev mode why; do fact mode "$1 $dev: $mode ($why)"; done
}

# relay_guest_facts NAME: re-print the guest's XVM-GUEST-FACT lines as FACTs.
relay_guest_facts() {
    sed -n 's/.*XVM-GUEST-FACT \(.*\)/\1/p' "$(guest_log "$1")" | tr -d '\r' |
        while read -r l; do fact $l; done
}

# run_guest NAME GUEST_SCEN TIMEOUT_S [cfg lines...]: create, wait for power
# off. Prints the reason and returns 1 on failure (destroying the guest).
run_guest() {
    rg=$1 rs=$2 rt=$3; shift 3
    guest_cfg "$rg" "$rs" "$@" >"$XVM_RUN/$rg.cfg"
    rm -f "$(guest_log "$rg")"
    RG_T0=$(now_ms)
    if ! xl create "$XVM_RUN/$rg.cfg" >"$XVM_RUN/$rg.create" 2>&1; then
        { echo "---- xl create $rg ----"; cat "$XVM_RUN/$rg.create"; echo "----"; } >&2
        echo "xl create failed: $(grep -v '^Parsing' "$XVM_RUN/$rg.create" | grep -m 2 -i 'error' | tr '\n' ' ')"
        return 1
    fi
    RG_T1=$(now_ms)
    if ! wait_guest_gone "$rg" "$rt"; then
        show_guest_log "$rg" >&2
        guest_diag "$rg" >&2
        t=$(now_ms); xl destroy "$rg" >/dev/null 2>&1
        echo "guest did not power off within $rt s (xl destroy then took $(( $(now_ms) - t )) ms)"
        return 1
    fi
    RG_T2=$(now_ms)
    # Callers run this in $(...): keep the times where they can read them.
    echo "RG_T0=$RG_T0 RG_T1=$RG_T1 RG_T2=$RG_T2" >"$XVM_RUN/$rg.times"
    guest_verdict "$rg" || { show_guest_log "$rg" >&2; return 1; }
}

# run_declared_guest NAME GUEST_SCEN TIMEOUT_S CONFIG DTB [cfg lines...]:
# run_guest for a guest whose devices the daemon's CONFIG declares: the
# daemon is its xl-spawned device model (which serves declared devices
# before the guest runs, with debug logging), DTB (written by the host's
# daemon with --device-tree) is its partial device tree, vuart gives it
# SPIs.
run_declared_guest() {
    rdg=$1 rds=$2 rdt=$3 rdc=$4 rdd=$5; shift 5
    run_guest "$rdg" "$rds" "$rdt" \
        "device_model_override = \"$XVM_DAEMON\"" \
        'device_model_version = "qemu-xen"' \
        'vfb = [ "vnc=0,sdl=0" ]' \
        'vuart = "sbsa_uart"' \
        "device_tree = \"$rdd\"" \
        "device_model_args = [ \"--config=$rdc\", \"--backend-dir=$XVM_SOCKDIR\", \"--log-level=debug\" ]" \
        "$@"
}

# release_guest NAME: a line on the guest's console ends its wait
# (guest/hold.sh, guest/blk-fio.sh).
release_guest() {
    rd=$(xl domid "$1" 2>/dev/null) || return 0
    tty=$(xenstore-read "/local/domain/$rd/console/tty" 2>/dev/null)
    [ -n "$tty" ] && echo go >"$tty" 2>/dev/null
    true
}

# status_guest NAME GUEST_SCEN MARK STATUS_OUT [cfg lines...]: run_guest
# in the background; once the guest's console shows MARK (the guest then
# holds its devices until a line reaches its console, release_guest), save
# the daemon's `--status --json` in STATUS_OUT (none when STATUS_OUT is
# empty) and print `--status` as NOTE lines, then release the guest and
# wait for it.  With STATUS_TICK set, that function is called with NAME
# at every look while waiting and once after.  Sets rc and why like
# run_guest.
status_guest() {
    sg=$1 ss=$2 smark=$3 sst=$4; shift 4
    rm -f "$XVM_RUN/$sg.rc"
    ( run_guest "$sg" "$ss" 600 "$@" >"$XVM_RUN/$sg.why"
      echo $? >"$XVM_RUN/$sg.rc" ) &
    spid=$!
    n=0
    while ! grep -q "$smark" "$(guest_log "$sg")" 2>/dev/null && [ ! -f "$XVM_RUN/$sg.rc" ]; do
        [ -z "${STATUS_TICK:-}" ] || "$STATUS_TICK" "$sg"
        n=$((n + 1))
        if [ $n -gt 3000 ]; then
            # A guest normally gets there in 1-2 minutes: show where it
            # is and end it, so run_guest returns now, not after its bound.
            show_guest_log "$sg"
            xl destroy "$sg" >/dev/null 2>&1
            break
        fi
        sleep 0.1
    done
    [ -z "${STATUS_TICK:-}" ] || "$STATUS_TICK" "$sg"
    if [ -n "$sst" ] && [ ! -f "$XVM_RUN/$sg.rc" ]; then
        "$XVM_DAEMON" --status --json --backend-dir="$XVM_SOCKDIR" >"$sst" 2>"$sst.err" ||
            note "${N:-$sg}: --status failed: $(cat "$sst.err")"
        "$XVM_DAEMON" --status --backend-dir="$XVM_SOCKDIR" 2>&1 | sed "s/^/NOTE ${N:-$sg} status: /"
    fi
    release_guest "$sg"
    wait $spid
    rc=$(cat "$XVM_RUN/$sg.rc" 2>/dev/null || echo 1)
    why=$(cat "$XVM_RUN/$sg.why")
}

# counter JSON NAME: the device total of one counter in a `--status
# --json` answer (the first occurrence: device totals come before the
# per-queue ones).
counter() {
    tr ',{}' '\n\n\n' <"$1" | sed -n "s/^ *\"$2\": *\([0-9]*\).*/\1/p" | head -n1
}

# queue_requests JSON: "INDEX REQUESTS" for each queue of the devices in
# a `--status --json` answer (device totals, which come first, skipped).
queue_requests() {
    tr ',{}' '\n\n\n' <"$1" | awk -F': *' '
        /"index":/ { q = $2 }
        /"requests":/ && q != "" { print q, $2 + 0; q = "" }'
}

# guest_times NAME: set RG_T0/1/2 from the last run_guest of NAME.
guest_times() {
    RG_T0=0 RG_T1=0 RG_T2=0
    [ -f "$XVM_RUN/$1.times" ] && eval "$(cat "$XVM_RUN/$1.times")"
}

# check_written NAME IMG: the guest's XVM-GUEST-SHA equals the image's.
check_written() {
    gsha=$(sed -n 's/.*XVM-GUEST-SHA \([0-9a-f]*\).*/\1/p' "$(guest_log "$1")" | head -n1)
    isha=$(image_sha "$2")
    [ -n "$gsha" ] || { echo "guest printed no XVM-GUEST-SHA"; return 1; }
    [ "$gsha" = "$isha" ] || { echo "image checksum after shutdown $isha != guest's $gsha"; return 1; }
}

# no_dying_domains: true when xl list shows only Domain-0 (no (null) zombies).
no_dying_domains() {
    [ "$(xl list | awk 'NR > 1 && $1 != "Domain-0"' | wc -l)" -eq 0 ]
}

# run_guest_declared NAME GUEST_SCEN TIMEOUT_S DEVIDS [cfg lines...]: like
# run_guest, for a guest whose devices the service serves from its config
# alone (declared devices): created paused, unpaused only once the service
# wrote /local/domain/0/xen-vhost-master/DOMID/DEVID = ready for each of
# DEVIDS (space separated), so the guest never probes a device nobody
# serves yet (the order the man page documents).
run_guest_declared() {
    rg=$1 rs=$2 rt=$3 rd=$4; shift 4
    guest_cfg "$rg" "$rs" "$@" >"$XVM_RUN/$rg.cfg"
    rm -f "$(guest_log "$rg")"
    RG_T0=$(now_ms)
    if ! xl create -p "$XVM_RUN/$rg.cfg" >"$XVM_RUN/$rg.create" 2>&1; then
        cat "$XVM_RUN/$rg.create" >&2
        echo "xl create -p failed: $(grep -v '^Parsing' "$XVM_RUN/$rg.create" | grep -m 2 -i 'error' | tr '\n' ' ')"
        return 1
    fi
    did=$(xl domid "$rg")
    for dv in $rd; do
        n=0
        until [ "$(xenstore-read "/local/domain/0/xen-vhost-master/$did/$dv" 2>/dev/null)" = ready ]; do
            n=$((n + 1))
            if [ $n -gt 300 ]; then
                xl destroy "$rg" >/dev/null 2>&1
                echo "the service did not report declared device $dv of dom$did ready within 30 s"
                return 1
            fi
            sleep 0.1
        done
    done
    RG_T1=$(now_ms)
    xl unpause "$rg"
    if ! wait_guest_gone "$rg" "$rt"; then
        show_guest_log "$rg" >&2
        guest_diag "$rg" >&2
        xl destroy "$rg" >/dev/null 2>&1
        echo "guest did not power off within $rt s"
        return 1
    fi
    RG_T2=$(now_ms)
    echo "RG_T0=$RG_T0 RG_T1=$RG_T1 RG_T2=$RG_T2" >"$XVM_RUN/$rg.times"
    guest_verdict "$rg" || { show_guest_log "$rg" >&2; return 1; }
}

# grant_guest N CONF: for scenario N, the grant kernel and the partial
# device tree the harness wrote from tests/integration/CONF.conf; sets
# GUEST_KERNEL, DTB and CFG.  FAIL N (and return 1) when one is missing.
grant_guest() {
    GUEST_KERNEL=/xvm/guest/Image-grants DTB=/xvm/guest/$2.dtb CFG=/xvm/tests/$2.conf
    [ -f "$GUEST_KERNEL" ] || { fail "$1" "grant guest kernel missing (tools/arm64/build-guest-kernel.sh did not run)"; return 1; }
    [ -f "$DTB" ] || { fail "$1" "partial device tree missing (no host daemon with libfdt to write it)"; return 1; }
}

# grant_served N GUEST LOG DEV: the guest negotiated ACCESS_PLATFORM and
# LOG (the daemon's) shows device DEV (e.g. declared0) in grant mode with
# grant copies; prints that device's grant statistics.  FAIL N otherwise.
grant_served() {
    feat=$(sed -n 's/.*XVM-GUEST-FACT virtio_features \([01]*\).*/\1/p' "$(guest_log "$2")" | head -n1)
    [ "$(echo "$feat" | cut -c34)" = 1 ] ||
        { fail "$1" "the guest did not negotiate ACCESS_PLATFORM (features $feat): no grant DMA"; return 1; }
    grep -q "$4: .*grant device: guest memory by grant copy" "$3" ||
        { tail -n 20 "$3" >&2; fail "$1" "the daemon did not serve $4 in grant mode"; return 1; }
    gs=$(grep -m1 "$4: grant device: .* grant copies" "$3")
    case "$gs" in
    *" 0 grant copies"*|"") tail -n 20 "$3" >&2; fail "$1" "no grant copies logged for $4: $gs"; return 1 ;;
    esac
    echo "${gs#*grant device: }"
}
