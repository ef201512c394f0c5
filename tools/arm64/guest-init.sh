#!/bin/sh
# /init of the guest initramfs (busybox only). Loads the virtio modules,
# runs the guest scenario named by xvm.guest=NAME on the kernel command line
# (/scenarios/NAME.sh), prints markers on the console and powers off.
/bin/busybox mkdir -p /proc /sys /dev /tmp /run
/bin/busybox mount -t proc proc /proc
/bin/busybox --install -s
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mount -t tmpfs tmpfs /run
export PATH=/usr/sbin:/usr/bin:/sbin:/bin

for m in $(cat /lib/modules/xvm/order 2>/dev/null); do
    insmod "/lib/modules/xvm/$m.ko" 2>/dev/null || echo "XVM-GUEST-NOTE insmod $m failed"
done

scen=
for w in $(cat /proc/cmdline); do
    case $w in xvm.guest=*) scen=${w#xvm.guest=} ;; esac
done
echo "XVM-GUEST-UP $(uname -r) scenario=${scen:-none}"
rc=0
if [ -n "$scen" ]; then
    if [ -f "/scenarios/$scen.sh" ]; then
        sh "/scenarios/$scen.sh"; rc=$?
    else
        echo "XVM-GUEST-FAIL $scen: no /scenarios/$scen.sh in the guest initramfs"; rc=1
    fi
fi
echo "XVM-GUEST-DONE rc=$rc"
sync
poweroff -f
