#!/bin/sh
# /init of the dom0 initramfs: bring up a minimal Xen dom0 (xenstored,
# xen-init-dom0, xenconsoled), then hand over to the scenario runner in
# /xvm/tests/run-dom0.sh, which prints PASS/FAIL/SKIP lines; power off.
/bin/busybox mkdir -p /proc /sys /dev
/bin/busybox mount -t proc proc /proc
/bin/busybox --install -s
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /dev/shm
. /xvm/env
export PATH=$XEN_BIN:/xvm/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root

echo "XVM-DOM0-UP $(uname -r) xen=$XEN_VERSION"
# The modules are the stock kernel's; a kernel without module support (the
# eventfd one, build-guest-kernel.sh --dom0) has all of them built in.
if [ -e /proc/modules ]; then
    for m in $(cat /lib/modules/xvm/order); do
        insmod "/lib/modules/xvm/$m.ko" || echo "XVM-DOM0-NOTE insmod $m failed"
    done
fi
mount -t xenfs xenfs /proc/xen
mkdir -p /run/xen /run/lock /var/lib/xen /var/lib/xenstored /var/log/xen/console /var/lock /run/xvm
xenstored --pid-file=/run/xen/xenstored.pid
i=0
while ! xenstore-read /tool >/dev/null 2>&1 && ! xenstore-ls / >/dev/null 2>&1; do
    i=$((i + 1)); [ $i -gt 50 ] && { echo "XVM-DOM0-NOTE xenstored did not come up"; break; }
    sleep 0.1
done
xen-init-dom0 >/var/log/xen/xen-init-dom0.log 2>&1 || echo "XVM-DOM0-NOTE xen-init-dom0 failed: $(cat /var/log/xen/xen-init-dom0.log)"
xenconsoled --pid-file=/run/xen/xenconsoled.pid --log=guest --log-dir=/var/log/xen/console
echo "XVM-DOM0-READY"

sh /xvm/tests/run-dom0.sh
sync
echo "XVM-POWEROFF"
poweroff -f
