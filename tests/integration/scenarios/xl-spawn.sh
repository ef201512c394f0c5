#!/bin/sh
# xl-spawn: the daemon started by xl itself as the guest's device model
# (device_model_override, device_model_version="qemu-xen", a vfb as the
# trigger, device_model_args with our options), on any Xen. It must pass
# libxl's capability probe and its QMP conversation (xl create fails
# otherwise), write state=running, and leave no process or dying domain
# behind when the guest powers off (libxl sends SIGHUP). Serving devices this
# way needs virtio= (Xen >= 4.18, scenario virtio-xl): libxl adds virtio
# disks, and waits for their InitWait, before it starts the device model, so
# disk= virtio disks are the service's job. While the guest runs (held by
# guest/hold.sh), `xen-vhost-master --status --json` must find the instance
# on its control socket; once it is gone, --status must say nothing runs.
. /xvm/env; . /xvm/tests/lib.sh
N=xl-spawn G=xvm-xls
require_daemon $N || exit 0
# The guest's console log goes before run_guest runs in the background:
# wait_log below must not find the HOLD of an earlier run of this scenario
# in the same dom0.
rm -f "$XVM_RUN/$G.rc" "$(guest_log $G)"
( run_guest $G hold 120 \
    "device_model_override = \"$XVM_DAEMON\"" \
    'device_model_version = "qemu-xen"' \
    'vfb = [ "vnc=0,sdl=0" ]' \
    "device_model_args = [ \"--backend-dir=$XVM_SOCKDIR\", \"--log-level=debug\" ]" >"$XVM_RUN/$G.why"
  echo $? >"$XVM_RUN/$G.rc" ) &
RGPID=$!
st=none
if wait_log $G XVM-GUEST-HOLD 120; then
    "$XVM_DAEMON" --status --json --backend-dir="$XVM_SOCKDIR" >"$XVM_RUN/$G.status" 2>&1
    st=$?
    "$XVM_DAEMON" --status --backend-dir="$XVM_SOCKDIR" 2>&1 | sed "s/^/NOTE $N status: /"
fi
release_guest $G
wait $RGPID
rc=$(cat "$XVM_RUN/$G.rc" 2>/dev/null || echo 1); why=$(cat "$XVM_RUN/$G.why")
sleep 2
dmlog=/var/log/xen/qemu-dm-$G.log
[ $rc -eq 0 ] || { tail -n 20 "$dmlog" 2>/dev/null; fail $N "$why"; exit 0; }
no_dying_domains || { fail $N "domain left behind: $(xl list | tail -n +2 | tr '\n' ' ')"; exit 0; }
left=$(ps -o pid,args 2>/dev/null | grep -v grep | grep -c "$XVM_DAEMON")
[ "$left" -eq 0 ] || { tail -n 10 "$dmlog"; fail $N "$left daemon process(es) left after the guest powered off"; exit 0; }
[ "$st" = 0 ] && grep -q "\"instance\": \"xl-spawned dom" "$XVM_RUN/$G.status" ||
    { fail $N "--status did not reach the xl-spawned instance (exit $st): $(head -c 300 "$XVM_RUN/$G.status" | tr '\n' ' ')"; exit 0; }
"$XVM_DAEMON" --status --backend-dir="$XVM_SOCKDIR" >"$XVM_RUN/$G.status2" 2>&1
st2=$?
[ $st2 -eq 1 ] && grep -q "nothing running" "$XVM_RUN/$G.status2" ||
    { fail $N "--status after the instance exited: exit $st2, $(head -c 200 "$XVM_RUN/$G.status2")"; exit 0; }
guest_times $G
note "xl create with the daemon as device model took $((RG_T1 - RG_T0)) ms; device model log: $(grep -m1 -iE 'qmp|running' "$dmlog" 2>/dev/null | cut -c1-120)"
pass $N
