#!/bin/sh
# net: a virtio-net device backed by DPDK's testpmd in dom0 (net_vhost PMD,
# forward mode icmpecho: it answers ARP and ICMP echo requests).  The
# device is declared in tests/integration/net.conf and reaches the guest
# through the partial device tree the host's daemon wrote with
# --device-tree (xl's device_tree=; any Xen version); no grants, so
# Debian's stock kernel drives it.  The daemon is the guest's xl-spawned
# device model, in shadow mode (testpmd maps no Xen guest memory), and
# serves the control queue and config space itself.  The guest pings
# through it with frames of 60 to 1514 bytes (guest/net-data.sh); every
# echo must come back.  dom0 reports testpmd's memory and CPU time.
. /xvm/env; . /xvm/tests/lib.sh
N=net G=xvm-net
require_daemon $N || exit 0
CFG=/xvm/tests/net.conf DTB=/xvm/guest/net.dtb SOCK=$XVM_SOCKDIR/net.sock ST=$XVM_RUN/net-status
command -v dpdk-testpmd >/dev/null || { fail $N "dpdk-testpmd missing (tools/arm64/fetch-dpdk.sh did not run)"; exit 0; }
[ -f "$DTB" ] || { fail $N "partial device tree missing (no host daemon with libfdt to write it)"; exit 0; }
rm -f "$ST" "$(guest_log $G)"
free0=$(awk '/^MemAvailable/ { print int($2 / 1024) }' /proc/meminfo)
start_testpmd "$SOCK" || { fail $N "testpmd did not start (its log is above)"; stop_pid "$PMD_PID"; exit 0; }
pmd_rss=$(awk '/^VmRSS/ { print int($2 / 1024) }' /proc/"$PMD_PID"/status 2>/dev/null)
free1=$(awk '/^MemAvailable/ { print int($2 / 1024) }' /proc/meminfo)
( wait_log $G 'XVM-GUEST-HOLD' 300 &&
      "$XVM_DAEMON" --status --backend-dir="$XVM_SOCKDIR" >"$ST" 2>&1
  release_guest $G ) &
WATCH=$!
why=$(run_declared_guest $G net-data 300 "$CFG" "$DTB")
rc=$?
pmd_cpu=$(awk '{ printf "%.1f", ($14 + $15) / 100 }' /proc/"$PMD_PID"/stat 2>/dev/null)
stop_pid "$WATCH"; stop_pid "$PMD_PID"
dmlog=/var/log/xen/qemu-dm-$G.log
note "$N: testpmd RSS ${pmd_rss:-?} MiB, dom0 MemAvailable $free0 -> $free1 MiB at its start, ${pmd_cpu:-?} s CPU over the run"
sed "s/^/NOTE $N status: /" "$ST" 2>/dev/null
[ $rc -eq 0 ] || {
    echo "---- daemon log ----"; tail -n 40 "$dmlog" 2>/dev/null
    echo "---- testpmd log ----"; tail -n 20 "$XVM_RUN/testpmd.log" 2>/dev/null
    fail $N "$why"; exit 0
}
no_dying_domains || { fail $N "domain left behind: $(xl list | tail -n +2 | tr '\n' ' ')"; exit 0; }
fact testpmd "rss ${pmd_rss:-?} MiB, cpu ${pmd_cpu:-?} s"
relay_guest_facts $G
pass $N
