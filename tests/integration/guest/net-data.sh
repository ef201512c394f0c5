#!/bin/sh
# Guest side of `net`: bring the virtio-net interface up and ping a
# made-up neighbour; dom0's testpmd (icmpecho) answers the ARP request and
# echoes every ICMP request, so each size must come back complete.
# Frames of 60 (payload 18) to 1514 bytes (payload 1472); the kernel
# checks each reply's ICMP checksum, which covers the payload.  Holds
# before it ends, pass or fail, like fs-data.sh.
exec 3>&1
hold() {
    echo "XVM-GUEST-HOLD" >&3
    read -r -t "${XVM_HOLD:-30}" _ || true
}
gfail() {
    echo "XVM-GUEST-FAIL net-data: $* [dmesg: $(dmesg | grep -i -e virtio -e net | tail -n 6 | tr '\n' '|')]" >&3
    hold; exit 1
}
dev=
for d in /sys/class/net/*; do
    case $(readlink "$d/device/driver" 2>/dev/null) in *virtio_net) dev=${d##*/} ;; esac
done
[ -n "$dev" ] || gfail "no virtio-net interface ($(ls /sys/class/net | tr '\n' ' '))"
echo "XVM-GUEST-FACT net_device $dev mac $(cat /sys/class/net/"$dev"/address) features $(cat /sys/class/net/"$dev"/device/features 2>/dev/null)"
ifconfig "$dev" 10.9.0.1 netmask 255.255.255.0 up || gfail "ifconfig $dev failed"
tx0=$(cat /sys/class/net/"$dev"/statistics/tx_packets)
for s in 18 100 600 1000 1472; do
    out=$(ping -c 3 -W 10 -s "$s" 10.9.0.2 2>&1)
    echo "$out" | grep -q ' 3 packets received' ||
        gfail "ping -s $s: $(echo "$out" | tail -n 2 | tr '\n' ' ')"
    echo "XVM-GUEST-FACT ping frame $((s + 42)) bytes: $(echo "$out" | tail -n 1)"
done
echo "XVM-GUEST-FACT net_packets tx $(( $(cat /sys/class/net/"$dev"/statistics/tx_packets) - tx0 )) rx $(cat /sys/class/net/"$dev"/statistics/rx_packets)"
hold
