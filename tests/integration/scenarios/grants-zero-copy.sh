#!/bin/sh
# grants-zero-copy: the grants scenario's guest and declared device
# (grant kernel, partial device tree with `iommus`, so its driver hands
# out grant addresses only), served in zero-copy mode: the backend is the
# project's xvm-test-blkd, which receives the grant space as one XEN_MMAP
# GRANT | NO_ADVANCE_MAP region with a gntdev of the guest's and maps
# each request's refs itself (IOCTL_GNTDEV_MAP_GRANT_REF + mmap), unmapping
# them before the completion.  The daemon is the guest's xl-spawned device
# model, unrestricted (a restricted process has no gntdev).  Checked: the
# usual data round trip, ACCESS_PLATFORM negotiated, the daemon chose
# zero-copy for a grant device and made no grant copy and no foreign
# mapping, and the backend mapped grant regions (its map count and cost
# per map are reported), and what its gntdev fd permits beyond the
# guest's buffers (--probe-gntdev: SET_MAX_GRANTS, a map of the guest's
# xenstore ring and of another domid).
. /xvm/env; . /xvm/tests/lib.sh
N=grants-zero-copy G=xvm-grants
require_daemon $N || exit 0
GUEST_KERNEL=/xvm/guest/Image-grants DTB=/xvm/guest/grants.dtb
[ -f "$GUEST_KERNEL" ] || { fail $N "grant guest kernel missing (tools/arm64/build-guest-kernel.sh did not run)"; exit 0; }
[ -f "$DTB" ] || { fail $N "partial device tree missing (no host daemon with libfdt to write it)"; exit 0; }
IMG=$XVM_IMGDIR/grants-zc.img SOCK=$XVM_SOCKDIR/grants-zc.sock CFG=$XVM_RUN/grants-zc.conf
# grants.conf's device (the partial device tree is written from it), in
# zero-copy mode from xvm-test-blkd.
sed -e "s|^mode = .*|mode = zero-copy|" -e "s|^socket = .*|socket = $SOCK|" \
    /xvm/tests/grants.conf >"$CFG"
mk_image "$IMG"
why=$(start_test_blkd "$IMG" "$SOCK" --probe-gntdev) || { fail $N "$why"; exit 0; }
blog=$XVM_RUN/blkd-$(basename "$SOCK").log
GUEST_EXTRA="xvm.rsha=$RSHA" why=$(run_declared_guest $G blk-data 300 "$CFG" "$DTB")
rc=$?
sleep 2
stop_pid "$QSD_PID"
dmlog=/var/log/xen/qemu-dm-$G.log
[ $rc -eq 0 ] || { tail -n 30 "$dmlog" 2>/dev/null; tail -n 10 "$blog"; fail $N "$why"; exit 0; }
why=$(check_written $G "$IMG") || { fail $N "$why"; exit 0; }
feat=$(sed -n 's/.*XVM-GUEST-FACT virtio_features \([01]*\).*/\1/p' "$(guest_log $G)" | head -n1)
[ "$(echo "$feat" | cut -c34)" = 1 ] ||
    { fail $N "the guest did not negotiate ACCESS_PLATFORM (features $feat): no grant DMA"; exit 0; }
mode=$(grep -m1 -o 'zero-copy mode ([^)]*)' "$dmlog")
case "$mode" in
*"grant device: the backend maps the granted pages"*) ;;
*) tail -n 20 "$dmlog"; fail $N "the daemon did not serve the grant device in zero-copy mode: $mode"; exit 0 ;;
esac
stats=$(grep -m1 'grant copies' "$dmlog")
case "$stats" in
*" 0 grant copies"*) ;;
*) fail $N "the daemon copied grants in zero-copy mode: $stats"; exit 0 ;;
esac
grep -q 'xen grant' "$blog" || { tail -n 5 "$blog"; fail $N "the backend did not get a GRANT region"; exit 0; }
maps=$(grep -m1 'blkd: grant maps:' "$blog")
[ -n "$maps" ] || { tail -n 5 "$blog"; fail $N "the backend mapped no grants"; exit 0; }
note "daemon: $mode"
note "daemon: ${stats#*grant device: }"
note "backend: ${maps#*blkd: }"
# What the gntdev fd the backend received can do beyond the guest's
# virtio buffers (docs/grants.md): reported, not judged.
grep 'blkd: gntdev probe:' "$blog" | while read -r l; do note "backend ${l#*blkd: }"; done
# The guest's pages are freed once nobody maps its grants: the backend
# has exited, so this must happen; bounded poll.
n=0
until no_dying_domains || [ $n -ge 20 ]; do sleep 0.5; n=$((n + 1)); done
no_dying_domains || { tail -n 8 "$blog"; ps -o pid,stat,args | grep -E 'xen-vhost|blkd' | grep -v grep; fail $N "domain left behind 10 s after the backend exited: $(xl list | tail -n +2 | tr '\n' ' ')"; exit 0; }
guest_times $G
fact grant_zc_maps "${maps#*blkd: grant maps: }"
relay_guest_facts $G
pass $N
