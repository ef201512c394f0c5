#!/bin/sh
# Guest side of `hostile`: virtio_mmio is not loaded (xvm.nomod), so the
# device's window is free for busybox devmem. Every access traps to the
# dom0 daemon; the point is that it validates all of them and survives.
B=${XVM_BASE:-0x2000000}
n=0
w() { devmem $(printf '0x%x' $((B + $1))) "${3:-32}" "$2" 2>/dev/null; n=$((n + 1)); }
r() { v=$(devmem $(printf '0x%x' $((B + $1))) "${2:-32}" 2>/dev/null); n=$((n + 1)); echo "$v"; }
magic=$(r 0x0); ver=$(r 0x4); id=$(r 0x8)
echo "XVM-GUEST-FACT device hostile view of $B: magic=$magic version=$ver device_id=$id"
w 0x70 0                      # reset
w 0x70 1; w 0x70 3            # ACKNOWLEDGE, DRIVER
w 0x24 0; w 0x20 0xffffffff   # every feature bit, including unknown ones
w 0x24 1; w 0x20 0xffffffff
w 0x24 7; w 0x20 0xffffffff   # a feature word that does not exist
w 0x70 0xb                    # FEATURES_OK after garbage
w 0x30 0; w 0x38 0xffff       # queue size above QueueNumMax
w 0x38 3                      # not a power of two
w 0x38 0
w 0x80 0xfffff000; w 0x84 0xffffffff   # descriptors outside guest RAM
w 0x90 0x00000001; w 0x94 0            # unaligned driver area
w 0xa0 0x40000000; w 0xa4 0x1          # device area in a hole
w 0x44 1                      # QueueReady with all of that
w 0x70 0xf                    # DRIVER_OK
i=0
while [ $i -lt 50 ]; do w 0x50 0; w 0x50 0xffff; i=$((i + 1)); done  # notifies, bad queue index
w 0x30 1000; w 0x44 1         # select a queue that does not exist
w 0x0 0x12345678              # write read-only registers
w 0x8 0; w 0x34 0xffffffff
w 0x64 0xffffffff             # ACK interrupts never raised
w 0x70 1                      # status regression without reset
w 0x100 0xffffffff; w 0x1fc 0xffffffff   # config space writes, last word of the window
w 0x71 0xff 8; w 0x72 0xffff 16          # narrow and unaligned accesses
r 0x13 8 >/dev/null; r 0x1fe 16 >/dev/null
w 0x70 0                      # reset at the end
echo "XVM-GUEST-FACT hostile_accesses $n"
