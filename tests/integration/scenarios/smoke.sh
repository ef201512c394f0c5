#!/bin/sh
# smoke: the dom0 environment itself, without our daemon: Xen device nodes,
# qemu-storage-daemon and virtiofsd start and listen in this initramfs, and
# xl accepts the virtio disk line (a shell stand-in for the backend answers
# state 2 at create and 6 at destroy, as the daemon will).
. /xvm/env; . /xvm/tests/lib.sh
N=smoke G=xvm-smoke
for d in /dev/xen/privcmd /dev/xen/evtchn /dev/xen/gntdev /dev/xen/gntalloc /proc/xen/capabilities; do
    [ -e $d ] || { fail $N "$d missing"; exit 0; }
done
mk_image "$XVM_IMGDIR/smoke.img"
start_qsd "$XVM_IMGDIR/smoke.img" "$XVM_SOCKDIR/smoke.sock" >&2 || { fail $N "qemu-storage-daemon does not start"; exit 0; }
stop_pid "$QSD_PID"
start_virtiofsd /tmp/xvm-smoke-share "$XVM_SOCKDIR/smoke-fs.sock" >&2 || { fail $N "virtiofsd does not start: $(tail -n 3 "$XVM_RUN/virtiofsd.log" | tr '\n' ' ')"; exit 0; }
stop_pid "$FSD_PID"
note "qemu-storage-daemon and virtiofsd start and listen in dom0"

# Stand-in backend: 1 -> 2 at create, 5 -> 6 at destroy.
(
    end=$(( $(now_ms) + 60000 ))
    while [ "$(now_ms)" -lt $end ]; do
        for p in $(xenstore-list /local/domain/0/backend/virtio_disk 2>/dev/null); do
            for d in $(xenstore-list /local/domain/0/backend/virtio_disk/$p 2>/dev/null); do
                k=/local/domain/0/backend/virtio_disk/$p/$d
                case $(xenstore-read $k/state 2>/dev/null) in
                1) xenstore-write $k/state 2 ;;
                5) xenstore-write $k/state 6 ;;
                esac
            done
        done
        sleep 0.2
    done
) &
FAKE=$!
guest_cfg $G boot "$(virtio_disk_line "$XVM_IMGDIR/smoke.img")" >"$XVM_RUN/$G.cfg"
t0=$(now_ms)
if ! xl create -p "$XVM_RUN/$G.cfg" >"$XVM_RUN/$G.create" 2>&1; then
    kill $FAKE; cat "$XVM_RUN/$G.create" >&2
    fail $N "xl create -p with the virtio disk line failed: $(grep -m1 -i error "$XVM_RUN/$G.create")"; exit 0
fi
t1=$(now_ms)
domid=$(xl domid $G)
k=/local/domain/0/backend/virtio_disk/$domid/$VIRTIO_DISK_DEVID
note "virtio_disk backend node: $(for f in base irq transport specification type state; do printf '%s=%s ' $f "$(xenstore-read $k/$f 2>/dev/null)"; done)"
base=$(xenstore-read $k/base 2>/dev/null)
t2=$(now_ms); xl destroy $G >/dev/null 2>&1; t3=$(now_ms)
kill $FAKE 2>/dev/null; wait $FAKE 2>/dev/null
note "xl create -p $((t1 - t0)) ms, xl destroy $((t3 - t2)) ms"
[ -n "$base" ] || { fail $N "no $k/base in xenstore"; exit 0; }
[ $((t3 - t2)) -lt 8000 ] || { fail $N "xl destroy took $((t3 - t2)) ms although state 6 was written"; exit 0; }
sleep 1
no_dying_domains || { fail $N "domain left behind: $(xl list | tail -n +2 | tr '\n' ' ')"; exit 0; }
pass $N
