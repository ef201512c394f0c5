#!/bin/sh
# boot: xl create a small busybox guest (same kernel as dom0); it prints a
# marker and powers itself off.
. /xvm/env; . /xvm/tests/lib.sh
N=boot G=xvm-boot
guest_cfg $G boot >"$XVM_RUN/$G.cfg"
t0=$(now_ms)
if ! xl create "$XVM_RUN/$G.cfg" >"$XVM_RUN/$G.create" 2>&1; then
    fail $N "xl create failed: $(tail -n 3 "$XVM_RUN/$G.create" | tr '\n' ' ')"; exit 0
fi
t1=$(now_ms)
if ! wait_guest_gone $G 120; then
    show_guest_log $G; cleanup_guest $G
    fail $N "guest did not power off within 120 s"; exit 0
fi
t2=$(now_ms)
if ! grep -q 'XVM-GUEST-MARKER hello-from-domU' "$(guest_log $G)"; then
    show_guest_log $G
    fail $N "no marker in the guest console"; exit 0
fi
if why=$(guest_verdict $G); then
    fact boot_create_ms $((t1 - t0)); fact boot_guest_ms $((t2 - t0))
    note "xl create took $((t1 - t0)) ms; guest ran and powered off in $((t2 - t0)) ms"
    pass $N
else
    show_guest_log $G; fail $N "$why"
fi
