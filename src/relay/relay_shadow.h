/*
 * relay_shadow internals shared by relay_shadow.c (shadow RAM, queue
 * lifecycle, resubmission) and relay_shadow_io.c (the per-request path:
 * copy, submit, reap, complete).  Private to the shadow mode.
 */
#ifndef XVM_RELAY_SHADOW_H
#define XVM_RELAY_SHADOW_H

#include <stdbool.h>
#include <stdint.h>

#include "relay_pool.h"
#include "relay_priv.h"

/* Where the shadow memfd appears in the backend's address space. */
#define SHADOW_GPA 0x100000000ULL
#define SHADOW_ALIGN_MIN 512u   /* segments this large start 512-aligned */
#define SHADOW_PAGE 4096u       /* segments this large start page-aligned */
#define PAGE_ALIGN(x) (((x) + 4095ULL) & ~4095ULL)

struct shadow_seg {
    uint64_t gpa;
    uint32_t len;
    uint32_t off; /* in the bounce pool */
};

struct shadow_slot {
    bool busy;
    bool oversize;     /* bounce space is the oversize window */
    uint16_t guest_head;
    uint16_t ndesc;
    uint16_t nin;
    uint16_t in_cap;
    uint32_t bounce_off;  /* in the pool (or window, past pool_len) */
    uint32_t bounce_len;
    uint64_t seq;         /* submission order, for resubmitting */
    uint64_t in_bytes;
    struct shadow_seg *in;
};

struct shadow_queue {
    uint16_t num;
    bool event_idx, indirect;
    uint8_t *desc, *avail, *used, *pool;
    uint64_t desc_gpa, avail_gpa, used_gpa, pool_gpa;
    uint32_t pool_len;
    uint32_t window_len;     /* oversize window, right after the pool */
    uint64_t window_memfd_off;
    bool window_busy;
    struct shadow_dev *sd;
    uint16_t avail_idx, used_seen;
    uint16_t free_head, nfree;
    uint16_t *next_free;   /* free list links */
    uint16_t *chain_next;  /* private copy of each chain's links */
    uint16_t *order;       /* scratch: heads to resubmit, oldest first */
    struct shadow_slot *slot;
    struct relay_pool alloc;
    uint64_t next_seq;
    unsigned inflight;
    bool has_pending;
    struct vq_chain pending;
};

/*
 * Shadow RAM comes in generations: each connection gets a memfd of its
 * own (SET_MEM_TABLE), so whatever a backend writes through an older
 * connection's mapping (late completions after a reset, a dropped
 * connection still finishing requests) lands in memory the relay no
 * longer reads.
 */
struct shadow_dev {
    int fd;
    uint8_t *base;
    uint64_t len;
    uint64_t per_queue;   /* rings, pool, window */
    uint64_t window;      /* oversize window per queue (0: none) */
    bool handed;   /* this generation was given to a connection */
};

/*
 * Where a chain's buffers go in its bounce space, which starts
 * page-aligned: first the segments of a page or more, each page-aligned
 * as the guest's own buffers are (a backend's buffered read then copies
 * whole pages, and one using O_DIRECT need not bounce them once more);
 * then the indirect table, if `indirect`, at *table_off (16-aligned) and
 * the smaller segments, those of a sector or more 512-aligned.  Fills
 * seg_off[c->nseg]; returns the bytes needed.
 */
uint64_t shadow_bounce_layout(const struct vq_chain *c, bool indirect,
                              uint32_t *seg_off, uint32_t *table_off);

/* relay_shadow.c: give the oversize window's pages back. */
void shadow_window_release(struct shadow_queue *sq);

/* relay_shadow_io.c: the data path. */
/* Guest kick: pop, copy and publish every chain there is room for. */
void shadow_kick(struct relay *r, struct relay_queue *q);
/* Backend call: complete what the backend answered, resume waiting work. */
void shadow_call(struct relay *r, struct relay_queue *q);
/* Consume shadow used entries; copy back into the guest unless draining. */
unsigned shadow_reap(struct relay *r, struct relay_queue *q, bool deliver);

#endif
