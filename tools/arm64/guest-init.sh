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
mount -t tmpfs -o size=48m tmpfs /tmp
export PATH=/usr/sbin:/usr/bin:/sbin:/bin

# xvm.KEY=VALUE words on the command line become XVM_KEY=VALUE for the
# scenario (xvm.guest selects it; xvm.nomod=a+b skips loading those modules).
scen=
for w in $(cat /proc/cmdline); do
    case $w in
    xvm.*=*)
        k=${w%%=*}; k=$(echo "${k#xvm.}" | tr 'a-z.-' 'A-Z__')
        export "XVM_$k=${w#*=}" ;;
    esac
done
scen=${XVM_GUEST:-}
# xvm.trace=1: say how far the guest got before its scenario starts (a
# module whose probe hangs on a device is the last one named).
[ -z "${XVM_TRACE:-}" ] || echo "XVM-GUEST-INIT $(cut -d' ' -f1 /proc/uptime) s"
for m in $(cat /lib/modules/xvm/order 2>/dev/null); do
    case "+${XVM_NOMOD:-}+" in *"+$m+"*) continue ;; esac
    [ -z "${XVM_TRACE:-}" ] || echo "XVM-GUEST-INSMOD $m"
    insmod "/lib/modules/xvm/$m.ko" 2>/dev/null || echo "XVM-GUEST-NOTE insmod $m failed"
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
