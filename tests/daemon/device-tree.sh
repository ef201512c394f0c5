#!/bin/sh
# Daemon test: `xen-vhost-master --device-tree=GUEST` writes the partial
# device tree of GUEST's declared devices, and refuses what it cannot do.
# Decompiled with dtc when it is installed (the layout itself is checked
# by check_dtb); skipped (77) in builds without libfdt.
set -eu
bin=${XVM_BIN:-src/xen-vhost-master}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$bin" --help | grep -q -- '--device-tree' || { echo "SKIP: no --device-tree (built without libfdt?)"; exit 77; }
cat >"$tmp/conf" <<'CONF'
[device guest1:0]
declare = yes
device-id = blk
base = 0x2000400
irq = 40
grants = yes
[device guest1:1]
declare = yes
device-id = blk
base = 0x2000600
irq = 41
CONF
set +e
"$bin" -c "$tmp/conf" --device-tree=guest1 >"$tmp/out.dtb" 2>"$tmp/err"
rc=$?
set -e
[ $rc = 0 ] || { echo "FAIL: exit $rc: $(cat "$tmp/err")"; exit 1; }
# FDT magic d00dfeed.
[ "$(od -An -tx1 -N4 "$tmp/out.dtb" | tr -d ' \n')" = d00dfeed ] ||
    { echo "FAIL: output is not a device tree blob"; exit 1; }
if command -v dtc >/dev/null; then
    dtc -q -I dtb -O dts -o "$tmp/out.dts" "$tmp/out.dtb"
    grep -q 'compatible = "xen,grant-dma"' "$tmp/out.dts"
    grep -q 'virtio@2000400' "$tmp/out.dts"
    grep -q 'virtio@2000600' "$tmp/out.dts"
    [ "$(grep -c 'iommus' "$tmp/out.dts")" = 1 ] ||
        { echo "FAIL: want iommus on the grant device only"; cat "$tmp/out.dts"; exit 1; }
fi
# No declared device: exit 1 with a message naming the guest.
if "$bin" -c "$tmp/conf" --device-tree=guest2 >"$tmp/none" 2>"$tmp/err"; then
    echo "FAIL: guest2 has no declared device but got a tree"; exit 1
fi
grep -q "no device is declared for guest 'guest2'" "$tmp/err"
[ ! -s "$tmp/none" ]
# A bad declaration: usage error (2) naming the value.
printf '[device guest1:0]\ndeclare = yes\ndevice-id = blk\nbase = 0x3000000\nirq = 40\n' >"$tmp/bad"
set +e
"$bin" -c "$tmp/bad" --device-tree=guest1 >/dev/null 2>"$tmp/err"
rc=$?
set -e
[ $rc = 2 ] && grep -q "base 0x3000000 is outside" "$tmp/err" ||
    { echo "FAIL: bad base: exit $rc: $(cat "$tmp/err")"; exit 1; }
echo "PASS: --device-tree"
