#!/bin/sh
# Guest side of grants-hostile (grant kernel, two declared grant-based
# virtio-blk devices).  The device at XVM_HBASE is unbound from
# virtio-mmio, then programmed by hand with busybox devmem: queue
# addresses with bit 63 naming refs this guest never granted, addresses
# without bit 63 (guest-physical, refused on a grant device), a ref beyond
# the grant space, a mix; each time QueueReady=1, DRIVER_OK and a kick.
# Every access must be answered (a lost one hangs this vcpu), the device
# must then show DEVICE_NEEDS_RESET (0x40) and a reset must clear it.
# Afterwards the device at XVM_DBASE must pass the usual data check
# (blk-data.sh).
H=${XVM_HBASE:-0x2000400} D=${XVM_DBASE:-0x2001000}
DRV=/sys/bus/platform/drivers/virtio-mmio
hn=$(printf '%x' $((H))).virtio dn=$(printf '%x' $((D))).virtio
n=0
gfail() {
    echo "XVM-GUEST-FAIL grants-hostile: $* [dmesg: $(dmesg | tail -n 4 | tr '\n' '|')]"
    exit 1
}
w() {
    devmem "$(printf '0x%x' $((H + $1)))" 32 "$2" || gfail "devmem write $1 = $2 failed"
    n=$((n + 1))
}
# r OFF: the register's value in decimal (runs in $(...): a failure is
# reported on stderr, the console, and the caller's test then fails too)
r() {
    v=$(devmem "$(printf '0x%x' $((H + $1)))" 32) ||
        { echo "XVM-GUEST-FAIL grants-hostile: devmem read $1 failed" >&2; exit 1; }
    echo $((v))
}
blk_of() { basename "$(ls -d /sys/bus/platform/devices/$1/virtio*/block/* 2>/dev/null | head -n 1)"; }
wait_blk() {
    i=0
    while [ -z "$(blk_of "$1")" ] && [ $i -lt 150 ]; do sleep 0.1; i=$((i + 1)); done
    blk_of "$1"
}

hb=$(wait_blk "$hn"); db=$(wait_blk "$dn")
[ -n "$hb" ] && [ -n "$db" ] ||
    gfail "both grant devices should have probed (devices: $(ls /sys/bus/platform/devices | tr '\n' ' '))"
echo "XVM-GUEST-FACT grant devices: $hn as $hb, $dn as $db"
echo "$hn" >"$DRV/unbind" || gfail "cannot unbind $hn from virtio-mmio"
[ "$(r 0x0)" -eq $((0x74726976)) ] || gfail "no virtio magic at $H after the unbind"

# program LABEL DESC_LO DESC_HI DRV_LO DRV_HI DEV_LO DEV_HI
program() {
    w 0x70 0
    [ "$(r 0x70)" -eq 0 ] || gfail "$1: reset did not clear the status"
    w 0x70 1; w 0x70 3
    w 0x14 1; f1=$(r 0x10)
    [ $((f1 & 3)) -eq 3 ] || gfail "$1: device offers no VERSION_1 + ACCESS_PLATFORM (high word $f1)"
    w 0x24 0; w 0x20 0
    w 0x24 1; w 0x20 3           # VERSION_1, ACCESS_PLATFORM only
    w 0x70 0xb
    [ $(($(r 0x70) & 8)) -ne 0 ] || gfail "$1: FEATURES_OK refused"
    w 0x30 0
    [ "$(r 0x34)" -ge 8 ] || gfail "$1: queue 0 max below 8"
    w 0x38 8
    w 0x80 "$2"; w 0x84 "$3"; w 0x90 "$4"; w 0x94 "$5"; w 0xa0 "$6"; w 0xa4 "$7"
    w 0x44 1
    w 0x70 0xf
    w 0x50 0
    s=$(r 0x70)
    echo "XVM-GUEST-FACT hostile $1: status after ready+kick $(printf '0x%x' "$s")"
    [ $((s & 0x40)) -ne 0 ] || gfail "$1: status $(printf '0x%x' "$s") lacks DEVICE_NEEDS_RESET"
    w 0x70 0
    [ "$(r 0x70)" -eq 0 ] || gfail "$1: reset after NEEDS_RESET did not clear the status"
}
# refs 0x3f00.. (never granted: the guest's grants start low)
program ungranted 0x03f00000 0x80000000 0x03f01000 0x80000000 0x03f02000 0x80000000
# guest-physical addresses (guest RAM starts at 0x40000000) on a grant device
program no-bit63 0x40000000 0 0x40001000 0 0x40002000 0
# ref 1 << 20, past the grant space
program ref-too-big 0 0x80000001 0x1000 0x80000001 0x2000 0x80000001
# grant descriptors, guest-physical driver area
program mixed 0x03f00000 0x80000000 0x40001000 0 0x03f02000 0x80000000
echo "XVM-GUEST-FACT hostile_writes $n"

# Bind it again, reported only: Linux 6.12's grant-dma-ops keeps the
# unbound device's entry in its table (drivers/xen/grant-dma-ops.c), so
# the new probe says "Xen grant DMA data is already created" and fails;
# the daemon's log still shows the device initialized again.
if echo "$hn" >"$DRV/bind" 2>/dev/null && [ -n "$(wait_blk "$hn")" ]; then
    echo "XVM-GUEST-FACT hostile_rebind ok ($(blk_of "$hn"))"
else
    echo "XVM-GUEST-FACT hostile_rebind failed: $(dmesg | tail -n 3 | tr '\n' '|')"
fi
XVM_DEV=$(blk_of "$dn") sh /scenarios/blk-data.sh
