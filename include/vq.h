/*
 * vq: the device side of a split virtqueue in guest memory.
 *
 * Trust boundary: the rings and descriptors are written by the guest and
 * may change under us at any time.  Every guest-controlled value is read
 * exactly once (copied, then checked, then used); all guest memory goes
 * through hv_mem_read/hv_mem_write, which bound-check against guest RAM,
 * or, for the three rings when the hv offers it, through direct pointers
 * from hv_mem_ptr (the same bank check, once) read by single atomic loads.
 * Any violation (avail index jumping by more than the queue size, head or
 * next out of range, loops, chains longer than the queue or VQ_MAX_SEGS,
 * zero-length descriptors, nested indirect tables, indirect lengths not a
 * multiple of 16, readable after writable descriptors, buffers outside
 * RAM) breaks the queue for good: vq->broken is set, every later call
 * fails with -EIO, and the caller signals DEVICE_NEEDS_RESET.
 */
#ifndef XVM_VQ_H
#define XVM_VQ_H

#include <stdbool.h>
#include <stdint.h>

#include "hv.h"
#include "log.h"

#define VQ_MAX_SIZE 32768u
#define VQ_MAX_SEGS 1024u

/* Split ring flags (little-endian on the wire). */
#define VQ_DESC_F_NEXT 1u
#define VQ_DESC_F_WRITE 2u
#define VQ_DESC_F_INDIRECT 4u
#define VQ_AVAIL_F_NO_INTERRUPT 1u
#define VQ_USED_F_NO_NOTIFY 1u

/* Feature bit numbers vq_init() looks at (same as VIRTIO_F_* in vmmio.h). */
#define VQ_F_INDIRECT_DESC_BIT 28
#define VQ_F_EVENT_IDX_BIT 29

/* Ring sizes in bytes for `num` entries (with the event-idx fields). */
#define VQ_DESC_BYTES(num) (16ULL * (num))
#define VQ_AVAIL_BYTES(num) (6ULL + 2ULL * (num))
#define VQ_USED_BYTES(num) (6ULL + 8ULL * (num))

/* virtio's vring_need_event: did the indices [old, new) step over event? */
static inline bool
vq_need_event(uint16_t event, uint16_t new_idx, uint16_t old_idx)
{
    return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old_idx);
}

struct vq_seg {
    uint64_t gpa;
    uint32_t len;
    bool write; /* device-writable (driver reads it back) */
};

/* One descriptor chain; out segments (readable) precede in (writable). */
struct vq_chain {
    uint16_t head;
    uint16_t nseg;
    uint16_t nout; /* seg[0..nout) readable, seg[nout..nseg) writable */
    uint64_t out_bytes;
    uint64_t in_bytes;
    struct vq_seg seg[VQ_MAX_SEGS];
};

struct vq {
    struct hv *hv;
    const char *name;
    uint16_t num;
    uint64_t desc_gpa, avail_gpa, used_gpa;
    bool event_idx;     /* VIRTIO_F_EVENT_IDX negotiated */
    bool indirect;      /* VIRTIO_F_INDIRECT_DESC negotiated */
    uint16_t last_avail;    /* next avail ring slot to consume */
    uint16_t used_idx;      /* next used slot to fill */
    uint16_t used_shown;    /* used->idx as last written to the guest */
    uint16_t signalled_used;     /* used_idx at the last notification */
    bool signalled_used_valid;
    bool broken;
    struct log_ratelimit rl;
    /* Direct pointers to the rings (hv_mem_ptr), taken for map.gen. */
    struct {
        uint8_t *desc, *avail, *used;
        uint64_t gen;
        bool taken;  /* tried for gen */
        bool ok;     /* all three pointers valid */
        bool done;   /* vq_fini(): none taken any more */
    } map;
};

/*
 * Set up over guest rings.  Checks num (power of two, 1..VQ_MAX_SIZE),
 * alignment (desc 16, avail 2, used 4) and that each ring lies wholly in
 * guest RAM.  Indices start at 0.  0, -EINVAL or -EFAULT (with a log line;
 * the vq is then left broken so every later call fails with -EIO).
 */
int vq_init(struct vq *vq, struct hv *hv, const char *name, uint16_t num,
            uint64_t desc_gpa, uint64_t avail_gpa, uint64_t used_gpa,
            uint64_t features);

/*
 * Give back the direct ring pointers (hv_mem_ptr_put) and take none
 * again; later calls reach the rings by copies.  Call it once the queue
 * is stopped, before vq_init() reuses the struct (vq_init() zeroes it).
 * Idempotent; a zeroed vq holds none.
 */
void vq_fini(struct vq *vq);

/* Resume at given indices (after a backend reconnect). */
void vq_set_indices(struct vq *vq, uint16_t last_avail, uint16_t used_idx);

/*
 * Take the next available chain.  Returns 1 and fills *chain, 0 when the
 * ring is empty (with EVENT_IDX, avail_event is updated and the ring
 * re-checked so no kick is missed), or -EIO when the queue is broken.
 */
int vq_pop(struct vq *vq, struct vq_chain *chain);

/*
 * How many chains the driver has made available beyond the next one to
 * take, read without asking for a kick (vq_pop on an empty ring does ask,
 * with EVENT_IDX): for a device that polls the ring while it is busy.
 * The count, or -EIO (broken; also when avail idx ran ahead by more than
 * the queue size, which breaks it).
 */
int vq_avail_pending(struct vq *vq);

/*
 * Write a used element (head, bytes written) without showing it to the
 * guest yet: a batch of them is published by one used->idx write in
 * vq_flush_used() (or vq_need_notify()).  0, -EIO (broken, or the guest's
 * used ring could not be written), or -EINVAL for a head >= num (a caller
 * bug: logged, the queue stays usable).
 */
int vq_add_used(struct vq *vq, uint16_t head, uint32_t len);
/* Publish the elements added since the last flush: 0 or -EIO. */
int vq_flush_used(struct vq *vq);
/* vq_add_used() and vq_flush_used() of one element. */
int vq_push(struct vq *vq, uint16_t head, uint32_t len);

/*
 * After one or more completions: publish them (vq_flush_used) and say
 * whether the guest should be interrupted, once for the whole batch.
 * Honours VIRTQ_AVAIL_F_NO_INTERRUPT, or used_event with EVENT_IDX.
 */
bool vq_need_notify(struct vq *vq);

#endif
