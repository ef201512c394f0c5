#!/bin/sh
# perf: fio in the guest (guest/blk-fio.sh: 4 KiB random read and write at
# queue depth 1 and 32, 1 MiB sequential read and write at depth 8, O_DIRECT,
# libaio, a fixed time each) against four disks in one boot, all on images
# in dom0's RAM: Xen's PV block device (blkback on a loop device), virtio
# through the daemon in shadow mode (qemu-storage-daemon), in zero-copy
# mode (xvm-test-blkd, which maps guest RAM itself; once with its
# notification options ZC_OPTS, once without), and, as a control, in
# shadow mode with xvm-test-blkd. After each virtio run,
# while the guest still holds the disk, the daemon's counters are read with
# `xen-vhost-master --status --json`: guest register traps and interrupts
# per request. Per job, the guest's fio latencies and interrupts per request
# and xvm-test-blkd's own counters (kicks, wakeups, calls, busy time) say
# where a request's time goes. A measurement, not a gate: TCG makes
# absolute numbers meaningless, only ratios within one boot mean something.
. /xvm/env; . /xvm/tests/lib.sh
N=perf
JOBS="randread-qd1 randread-qd32 randwrite-qd1 randwrite-qd32 seqread-1m seqwrite-1m"
export XVM_GUEST_MEM=${XVM_PERF_GUEST_MEM:-256}

# stats_tick GUEST: send SIGUSR1 to $STATS_PID (xvm-test-blkd: it logs its
# counters) once per fio job the guest finished since the last call
# ($stats_done counts them); each job's counters are the difference of two
# lines.  status_guest calls it while it waits and once after.
stats_tick() {
    [ -n "${STATS_PID:-}" ] || return 0
    sj=$(grep -c "XVM-GUEST-FACT fio " "$(guest_log "$1")" 2>/dev/null)
    while [ "$stats_done" -lt "${sj:-0}" ]; do
        kill -USR1 "$STATS_PID" 2>/dev/null
        stats_done=$((stats_done + 1))
    done
}

# fio_guest NAME DEV STATUS_OUT DISK_LINE: run blk-fio in a guest; when fio
# is done (and STATUS_OUT is set) save the daemon's --status --json there.
# With STATS_PID set (xvm-test-blkd's pid), it gets a SIGUSR1 after each job.
# Sets rc and why like run_guest.
fio_guest() {
    stats_done=0 STATUS_TICK=stats_tick GUEST_EXTRA="xvm.dev=$2"
    status_guest "$1" blk-fio XVM-GUEST-FIO-DONE "$3" "$4"
    STATUS_TICK=
}

# fio_of NAME JOB: "IOPS KiB/s" of one job in the guest's log.
fio_of() {
    sed -n "s/.*XVM-GUEST-FACT fio $2 iops \([0-9]*\) kibps \([0-9]*\).*/\1 \2/p" \
        "$(guest_log "$1")" | head -n1
}

# kernel_path JSON KEY: "yes" when the kernel serves that path (ioeventfd:
# QueueNotify, irqfd: interrupts) for a queue of the device, else "no".
kernel_path() {
    if tr ',{}' '\n\n\n' <"$1" | grep -q "\"$2\": *true"; then echo yes; else echo no; fi
}

# per_req JSON: "traps/request irqs/request (N requests)" for the fact
# line, then who answered the QueueNotify writes and who raised the
# interrupts: with the kernel's ioeventfd and irqfd, the daemon answers
# none of those writes (trapped 0) and reads no completion (calls 0).
per_req() {
    req=$(counter "$1" requests); [ -n "$req" ] || { echo "no counters"; return; }
    traps=$(counter "$1" reg_reads); tw=$(counter "$1" reg_writes)
    irqs=$(counter "$1" irqs); tk=$(counter "$1" kicks_trapped)
    ke=$(counter "$1" kicks_eventfd); calls=$(counter "$1" calls)
    bk=$(counter "$1" backend_kicks)
    bp=$(counter "$1" backpressure)
    maps=$(counter "$1" maps); hits=$(counter "$1" hits)
    pinned=$(counter "$1" pinned)
    awk -v r="$req" -v t="$((traps + tw))" -v i="$irqs" -v k="$tk" -v b="$bp" \
        -v m="${maps:-0}" -v h="${hits:-0}" -v p="${pinned:-0}" 'BEGIN {
        if (r == 0) r = 1
        printf "%.2f register traps/request (%.2f of them QueueNotify), %.2f interrupts/request, %.2f guest mappings made/request (%d hits, %.1f/request; %d held for ring pointers), %d requests, %d waits for bounce space", t / r, k / r, i / r, m / r, h, h / r, p, r, b }'
    printf '; QueueNotify: %s answered by the daemon, %s through its eventfd, %s backend kicks it wrote, kernel ioeventfd %s; completions read by the daemon %s, interrupts it raised %s, kernel irqfd %s\n' \
        "$tk" "$ke" "$bk" "$(kernel_path "$1" kernel_ioeventfd)" "$calls" "$irqs" \
        "$(kernel_path "$1" kernel_irqfd)"
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0) ? a / b : 0 }'; }

mkdir -p "$XVM_IMGDIR"
# 1. Xen's own PV block device (blkfront/blkback) on a loop device.
mk_image "$XVM_IMGDIR/pv.img"
LOOP=$(losetup -f)
losetup "$LOOP" "$XVM_IMGDIR/pv.img" || { fail $N "losetup $LOOP failed"; exit 0; }
fio_guest xvm-pv xvda "" "disk = [ \"format=raw,vdev=xvda,access=rw,script=/xvm/tests/pv-block-hotplug.sh,target=$LOOP\" ]"
losetup -d "$LOOP" 2>/dev/null
rm -f "$XVM_IMGDIR/pv.img"
[ "$rc" -eq 0 ] || { fail $N "PV blkback run failed: $why"; exit 0; }

# 2. and 3. virtio through the daemon: shadow (qemu-storage-daemon) and
# zero-copy (xvm-test-blkd).
require_daemon $N || exit 0
# shadow-blkd: a control, shadow mode with the zero-copy run's backend, so
# the two modes can be compared without also comparing two backends.
# The zero-copy disk's xvm-test-blkd looks at the ring for a while after a
# batch (the guest needs no kick meanwhile) and holds its call until the
# guest stops submitting, so one interrupt covers a burst
# (docs/performance.md). zero-copy-plain, the same backend without those
# options, gets rows of its own after the table.
ZC_OPTS="--poll-us 1000 --coalesce"
VARIANTS="zero-copy-plain"
for m in shadow zero-copy shadow-blkd $VARIANTS; do
    IMG=$XVM_IMGDIR/perf-$m.img SOCK=$XVM_SOCKDIR/perf-$m.sock CFG=$XVM_RUN/perf-$m.conf
    G=xvm-$m
    case $m in shadow*) mode=shadow ;; *) mode=zero-copy ;; esac
    if [ $m = zero-copy ]; then opts=$ZC_OPTS; else opts=; fi
    mk_image "$IMG"
    if [ $m = shadow ]; then start_qsd "$IMG" "$SOCK"; else start_test_blkd "$IMG" "$SOCK" $opts; fi ||
        { fail $N "$m backend did not start"; exit 0; }
    : >"$CFG"; dev_config "$CFG" $G "$SOCK"
    start_daemon $N --config="$CFG" --mode=$mode || { stop_pid "$QSD_PID"; exit 0; }
    STATS_PID=; [ $m = shadow ] || STATS_PID=$QSD_PID
    fio_guest $G vda "$XVM_RUN/status-$m.json" "$(virtio_disk_line "$IMG")"
    STATS_PID=
    stop_pid "$DAEMON_PID"; stop_pid "$QSD_PID"
    rm -f "$IMG"
    relay_mode_facts $N
    [ "$rc" -eq 0 ] || { fail $N "virtio $m run failed: $why"; exit 0; }
done

# val GUEST JOB: the job's IOPS (random) or MiB/s (sequential).
val() {
    v=$(fio_of "$1" "$2"); [ -n "$v" ] || v="0 0"
    case $2 in
    seq*) echo "$v" | awk '{ printf "%.1f\n", $2 / 1024 }' ;;
    *) echo "${v%% *}" ;;
    esac
}

# The table (NOTE lines: make check-arm64 shows them), and FACT lines for
# the demo's summary.
row() { note "$(printf '%-15s %-13s %-13s %-13s %-9s %-12s %-13s %s' "$@")"; }
row workload "shadow" "zero-copy" "Xen PV" shadow/PV zero-copy/PV "shadow(blkd)" "shadow(blkd)/zero-copy"
for j in $JOBS; do
    case $j in seq*) u="MiB/s" ;; *) u=IOPS ;; esac
    s=$(val xvm-shadow "$j") z=$(val xvm-zero-copy "$j") p=$(val xvm-pv "$j")
    b=$(val xvm-shadow-blkd "$j")
    set -- "$j" "$s $u" "$z $u" "$p $u" "$(ratio "$s" "$p")" "$(ratio "$z" "$p")" \
        "$b $u" "$(ratio "$b" "$z")"
    row "$@"
    fact perf_row "$1|$2|$3|$4|$5|$6|$7|$8"
done
for v in $VARIANTS; do
    for j in $JOBS; do
        x=$(val xvm-$v "$j") z=$(val xvm-zero-copy "$j") p=$(val xvm-pv "$j")
        note "variant $v: $(printf '%-15s %-9s %s / PV, %s / zero-copy' "$j" "$x" \
            "$(ratio "$x" "$p")" "$(ratio "$x" "$z")")"
    done
done
for m in shadow zero-copy shadow-blkd $VARIANTS; do
    c="$m: $(per_req "$XVM_RUN/status-$m.json")"
    note "daemon counters, $c"
    fact perf_counters "$c"
done

# Per job: what the guest saw (fio's latencies; the disk's interrupts per
# request from the guest kernel) and, for xvm-test-blkd, what serving the
# ring cost (the difference of its SIGUSR1 counter lines around the job).
breakdown() {
    bg=$1 blog=$2
    for j in $JOBS; do
        sed -n "s/.*XVM-GUEST-FACT fio $j \(iops.*\)/\1/p" "$(guest_log "$bg")" | head -n1
    done >"$XVM_RUN/$bg.jobs"
    grep -s "blkd: stats (SIGUSR1)" "$blog" >"$XVM_RUN/$bg.blkd"
    awk -v jobs="$JOBS" '
    function kv(line, a,   n, w, i) { n = split(line, w, " ")
        for (i = 1; i < n; i++) a[w[i]] = w[i + 1] }
    function d(k) { return cur[k] - prev[k] }
    FNR == NR { g[FNR] = $0; next }
    { b[FNR] = $0 }
    END {
        split(jobs, jn, " ")
        for (i = 1; i in jn; i++) {
            delete cur; kv(g[i], cur)
            r = cur["ios"] > 0 ? cur["ios"] : 1
            line = sprintf("%-15s clat mean/p50/p99 %s/%s/%s us, slat %s us, %.2f irqs/request",
                jn[i], cur["clat_us"], cur["p50"], cur["p99"], cur["slat_us"], cur["irqs"] / r)
            if ((i in b) && (i == 1 || (i - 1) in b)) {
                delete prev; if (i > 1) kv(b[i - 1], prev)
                delete cur; kv(b[i], cur)
                rq = d("requests") > 0 ? d("requests") : 1
                wk = d("wakeups") > 0 ? d("wakeups") : 1
                tt = d("wait_us") + d("work_us"); if (tt <= 0) tt = 1
                line = line sprintf("; blkd: %d requests (%d found without a kick), %.2f kicks/request (%d eventfd reads), %.2f requests/wakeup (%d empty), %.2f calls/request, busy %.0f%%, %.0f us service/request (max %d over the run)",
                    d("requests"), d("polled"), d("kicks") / rq, d("kick_reads"), d("requests") / wk, d("empty"),
                    d("calls") / rq, 100 * d("work_us") / tt, d("service_us") / rq, cur["service_max_us"])
            }
            print line
        }
    }' "$XVM_RUN/$bg.jobs" "$XVM_RUN/$bg.blkd"
}
for m in zero-copy $VARIANTS shadow-blkd shadow pv; do
    breakdown xvm-$m "$XVM_RUN/blkd-perf-$m.sock.log" | while read -r l; do
        note "per job, $m: $l"
    done
done
pass $N
