#!/bin/sh
# grants: grant-based virtio on real Xen.  The guest (xvm-grants) runs the
# grant kernel (tools/arm64/build-guest-kernel.sh: Debian's 6.12 source
# with CONFIG_XEN_VIRTIO) and has one virtio-blk device that only the
# daemon's config declares (tests/integration/grants.conf); it learns of
# it from the partial device tree the host's daemon wrote with
# --device-tree (xl's device_tree=), whose node carries `iommus`, so its
# driver hands out grant addresses only.  The daemon is the guest's
# xl-spawned device model, unrestricted (a restricted process has no
# gntdev), serving in shadow mode from qemu-storage-daemon.  vuart gives
# the guest SPIs.  Checked: the usual data round trip, the guest
# negotiated VIRTIO_F_ACCESS_PLATFORM, and the daemon's log shows grant
# copies and ring maps and no foreign mapping.
. /xvm/env; . /xvm/tests/lib.sh
N=grants G=xvm-grants
require_daemon $N || exit 0
GUEST_KERNEL=/xvm/guest/Image-grants DTB=/xvm/guest/grants.dtb CFG=/xvm/tests/grants.conf
[ -f "$GUEST_KERNEL" ] || { fail $N "grant guest kernel missing (tools/arm64/build-guest-kernel.sh did not run)"; exit 0; }
[ -f "$DTB" ] || { fail $N "partial device tree missing (no host daemon with libfdt to write it)"; exit 0; }
IMG=$XVM_IMGDIR/grants.img SOCK=$XVM_SOCKDIR/grants.sock
mk_image "$IMG"
start_qsd "$IMG" "$SOCK" || { fail $N "backend did not start"; exit 0; }
GUEST_EXTRA="xvm.rsha=$RSHA" why=$(run_declared_guest $G blk-data 300 "$CFG" "$DTB")
rc=$?
sleep 2
stop_pid "$QSD_PID"
dmlog=/var/log/xen/qemu-dm-$G.log
[ $rc -eq 0 ] || { tail -n 30 "$dmlog" 2>/dev/null; fail $N "$why"; exit 0; }
why=$(check_written $G "$IMG") || { fail $N "$why"; exit 0; }
feat=$(sed -n 's/.*XVM-GUEST-FACT virtio_features \([01]*\).*/\1/p' "$(guest_log $G)" | head -n1)
[ "$(echo "$feat" | cut -c34)" = 1 ] ||
    { fail $N "the guest did not negotiate ACCESS_PLATFORM (features $feat): no grant DMA"; exit 0; }
grep -q 'grant device: guest memory by grant copy' "$dmlog" ||
    { tail -n 20 "$dmlog"; fail $N "the daemon did not serve the device in grant mode"; exit 0; }
stats=$(grep -m1 'grant copies' "$dmlog")
case "$stats" in
*" 0 grant copies"*|"") tail -n 20 "$dmlog"; fail $N "no grant copies logged: $stats"; exit 0 ;;
esac
no_dying_domains || { fail $N "domain left behind: $(xl list | tail -n +2 | tr '\n' ' ')"; exit 0; }
guest_times $G
note "grant device: ${stats#*grant device: }"
fact grant_stats "${stats#*grant device: }"
relay_guest_facts $G
pass $N
