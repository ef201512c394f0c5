#!/bin/sh
# mq: multi-queue virtio-blk, one queue per vCPU, under Xen.  A guest with
# 2 vCPUs (xl vcpus=2) gets a virtio disk in shadow mode whose
# qemu-storage-daemon the service starts itself (the disk names no
# socket) with num-queues = the guest's vCPU count; the device then has 2
# queues.  In the guest (guest/blk-mq.sh): /sys/block/vda/mq/0 and /1, and
# O_DIRECT writes and reads from each CPU (taskset), checked.  While the
# guest still holds the disk, `xen-vhost-master --status --json` must
# count requests on both queues; after power-off the image must hold what
# each CPU wrote.
. /xvm/env; . /xvm/tests/lib.sh
N=mq G=xvm-mq
MB=4
require_daemon $N || exit 0
IMG=$XVM_IMGDIR/mq.img ST=$XVM_RUN/status-mq.json
mk_image "$IMG"
# No socket of its own nor a shared blk.sock (left by another scenario):
# the service starts qemu-storage-daemon, as the workers' user.
rm -f "$XVM_SOCKDIR/blk.sock" "$XVM_SOCKDIR"/*-"$VIRTIO_DISK_DEVID".sock
chgrp "$XVM_USER" "$IMG" && chmod 0660 "$IMG"
start_daemon $N --mode=shadow || exit 0
XVM_GUEST_VCPUS=2 GUEST_EXTRA="xvm.mb=$MB"
status_guest $G blk-mq XVM-GUEST-MQ-DONE "$ST" "$(virtio_disk_line "$IMG")"
alive=yes; daemon_alive || alive=no
stop_pid "$DAEMON_PID"
[ "$rc" -eq 0 ] || { fail $N "$why"; exit 0; }
[ $alive = yes ] || { fail $N "the daemon died during the run"; exit 0; }
note "$(grep -m1 -o 'started [^ ]*qemu-storage-daemon .*' "$DAEMON_LOG")"
note "$(grep -m1 -o 'serving device id.*' "$DAEMON_LOG")"
sed -n 's/.*XVM-GUEST-FACT \(mq_[a-z_]* .*\)/\1/p' "$(guest_log $G)" | tr -d '\r' |
    while read -r l; do note "guest: $l"; done
# What each CPU wrote is in the image.
cpu=0
for sha in $(sed -n 's/.*XVM-GUEST-FACT mq_sha [0-9]* \([0-9a-f]*\).*/\1/p' "$(guest_log $G)"); do
    isha=$(dd if="$IMG" bs=1M skip=$((cpu * MB)) count=$MB 2>/dev/null | sha256sum | cut -c1-64)
    [ "$isha" = "$sha" ] || { fail $N "image region of CPU $cpu: $isha, the guest wrote $sha"; exit 0; }
    cpu=$((cpu + 1))
done
[ $cpu -eq 2 ] || { fail $N "the guest reported data from $cpu CPU(s), 2 wanted"; exit 0; }
[ -s "$ST" ] || { fail $N "no --status --json answer while the guest held the disk"; exit 0; }
reqs=$(queue_requests "$ST" | tr '\n' ' ')
note "requests per queue (index count): $reqs"
fact mq_requests "$reqs"
busy=$(queue_requests "$ST" | awk '$2 > 0 { n++ } END { print n + 0 }')
nq=$(queue_requests "$ST" | wc -l)
[ "$nq" -eq 2 ] || { fail $N "the device has $nq queue(s), 2 wanted: $(tr -d '\n' <"$ST" | cut -c1-400)"; exit 0; }
[ "$busy" -eq 2 ] || { fail $N "requests on $busy of 2 queues ($reqs)"; exit 0; }
# Guest memory reached through the mapping cache (the rings, when the
# daemon has no direct pointer to them, and every data copy).
req=$(counter "$ST" requests) hits=$(counter "$ST" hits)
note "$(awk -v r="$req" -v h="$hits" -v m="$(counter "$ST" maps)" -v p="$(counter "$ST" pinned)" 'BEGIN {
    if (r == 0) r = 1
    printf "%d requests, mapping cache: %d hits (%.1f/request), %d maps, %d mappings held for ring pointers", r, h, h / r, m, p }')"
fact mq_mapcache "hits $hits requests $req"
relay_guest_facts $G
relay_mode_facts $N
pass $N
