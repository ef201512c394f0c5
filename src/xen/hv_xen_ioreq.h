/*
 * hv_xen_ioreq: intake of Xen ioreqs, as pure logic (no hypercalls), so
 * the decision table and the shared-slot protocol are tested and fuzzed
 * on any host.
 *
 * Trust boundary: the ioreq slot lives in a page the hypervisor shares
 * with us on behalf of the guest; every field of it is guest-influenced.
 * The slot is copied once, after its state says READY, and only the copy
 * is inspected.  Nothing here asserts on slot content.
 */
#ifndef XVM_HV_XEN_IOREQ_H
#define XVM_HV_XEN_IOREQ_H

#include <stdbool.h>
#include <stdint.h>

#include <xen/hvm/ioreq.h>

#include "hv.h"
#include "log.h"

#define HV_XEN_MAX_WINDOWS 32

/* One trapped MMIO window, as registered by hv_mmio_add(). */
struct hv_xen_window {
    uint64_t base;
    uint64_t len;
    hv_mmio_fn fn;
    void *opaque;
    bool used;
};

/* What the intake decided for one request. */
enum hv_xen_ioreq_verdict {
    HV_XEN_IOREQ_DISPATCHED = 0, /* went to a window callback */
    HV_XEN_IOREQ_INVALIDATED,    /* INVALIDATE: mapping cache dropped */
    HV_XEN_IOREQ_BAD_TYPE,       /* PIO, PCI config, unknown type */
    HV_XEN_IOREQ_BAD_SIZE,       /* size not 1, 2, 4 or 8 */
    HV_XEN_IOREQ_DATA_PTR,       /* data_is_ptr set */
    HV_XEN_IOREQ_BAD_COUNT,      /* count != 1 (rep) */
    HV_XEN_IOREQ_NO_WINDOW,      /* no window holds [addr, addr+size) */
    HV_XEN_IOREQ_VERDICT_COUNT,
};

/*
 * A QueueNotify address a kernel ioeventfd (privcmd) answers for one queue.
 * The kernel claims a write when type is COPY, dir WRITE, addr equal,
 * size 4 and (data & 0xffff) equal to vq; the intake leaves exactly those
 * requests to it, so one ioreq is never answered twice.
 */
#define HV_XEN_MAX_KERNEL_KICKS 64
#define HV_XEN_KERNEL_KICK_SIZE 4u
#define HV_XEN_KERNEL_KICK_VQ_MASK 0xffffu

struct hv_xen_kernel_kick {
    uint64_t addr;
    uint32_t vq;
    bool used;
};

/* What hv_xen_ioreq_serve_slot() did with a slot. */
enum hv_xen_slot_result {
    HV_XEN_SLOT_IDLE = 0,  /* no request (NONE or IORESP_READY): untouched */
    HV_XEN_SLOT_ANSWERED,  /* answered: the caller notifies the vcpu */
    HV_XEN_SLOT_KERNEL,    /* a kernel ioeventfd's request: untouched */
    HV_XEN_SLOT_BUSY,      /* INPROCESS: the kernel is examining it; retry */
};

/* Everything the decision needs; owned by the caller. */
struct hv_xen_ioreq_ctx {
    const char *name;                   /* guest name for log lines */
    struct hv_xen_window *win;          /* HV_XEN_MAX_WINDOWS entries */
    void (*invalidate)(void *opaque);   /* drop the mapping cache */
    void *invalidate_opaque;
    struct log_ratelimit rl;            /* for rejected requests */
    uint64_t count[HV_XEN_IOREQ_VERDICT_COUNT];
    struct hv_xen_kernel_kick kernel[HV_XEN_MAX_KERNEL_KICKS];
    uint64_t kernel_left;               /* requests left to the kernel */
};

/* Initialise ctx (rate limit, counters) over a caller-owned window table. */
void hv_xen_ioreq_ctx_init(struct hv_xen_ioreq_ctx *ctx, const char *name,
                           struct hv_xen_window *win,
                           void (*invalidate)(void *), void *opaque);

/* A short human reason for a verdict ("size not in {1,2,4,8}", ...). */
const char *hv_xen_ioreq_verdict_str(enum hv_xen_ioreq_verdict v);

/*
 * Decide and act on one request held in private memory.  Reads that are
 * dispatched get the callback's value (masked to size) in req->data;
 * rejected reads get all-ones; writes leave req->data alone.  Rejections
 * are logged, rate-limited, with the exact reason.
 */
enum hv_xen_ioreq_verdict hv_xen_ioreq_handle(struct hv_xen_ioreq_ctx *ctx,
                                              struct ioreq *req);

/*
 * Serve one shared slot if it holds a request: state READY -> acquire ->
 * single copy -> handle the copy -> data back -> release -> IORESP_READY.
 * A request a registered kernel ioeventfd matches is left alone, and so
 * is a slot in INPROCESS (the kernel's handler holds it while it checks
 * its list; it goes back to READY when no ioeventfd matched, so the
 * caller retries BUSY).  *verdict (optional) receives the decision of an
 * answered request.
 */
enum hv_xen_slot_result hv_xen_ioreq_serve_slot(struct hv_xen_ioreq_ctx *ctx,
                                                struct ioreq *slot,
                                                enum hv_xen_ioreq_verdict *verdict);

/*
 * A periodic look at one vcpu's slot, for requests that stay where they
 * are: a request READY at two looks with nothing answered for that vcpu
 * in between reached us by no event (a lost notification); an answer
 * (IORESP_READY) still there at the next look was not taken by Xen (its
 * vcpu did not wake, or is paused).  Either leaves the guest's vcpu
 * blocked in Xen for good, so the caller says so, once per stuck request;
 * it serves nothing itself (a lost event is a fault to find, not to hide).
 */
struct hv_xen_slot_watch {
    uint64_t answered;     /* the caller's count of this slot's requests
                            * answered (by us or the kernel) */
    uint64_t answered_at;  /* answered at the last look */
    uint8_t state_at;      /* the slot's state at the last look */
    bool reported;         /* this stuck request was reported */
};

enum hv_xen_stall {
    HV_XEN_STALL_NONE = 0,
    HV_XEN_STALL_UNSEEN,   /* a request waits that no event brought us */
    HV_XEN_STALL_UNTAKEN,  /* our answer waits for Xen to take it */
};

/* Look at slot (read once) and compare with the last look; a stuck
 * request is reported at the first look that finds it stuck, not again
 * until the slot moves.  *seen (if non-NULL) receives the copy looked at. */
enum hv_xen_stall hv_xen_slot_look(struct hv_xen_slot_watch *w,
                                   const struct ioreq *slot,
                                   struct ioreq *seen);

/*
 * Record that a kernel ioeventfd answers QueueNotify writes of queue vq at
 * addr (0, -EEXIST, -ENOSPC), and forget it again (0 or -ENOENT).
 */
int hv_xen_ioreq_kernel_add(struct hv_xen_ioreq_ctx *ctx, uint64_t addr,
                            uint32_t vq);
int hv_xen_ioreq_kernel_del(struct hv_xen_ioreq_ctx *ctx, uint64_t addr,
                            uint32_t vq);
/* The kernel's own match rule, applied to a private copy of a request. */
bool hv_xen_ioreq_kernel_owns(const struct hv_xen_ioreq_ctx *ctx,
                              const struct ioreq *req);

/*
 * Window table helpers: add fails with -EINVAL (empty, wraps),
 * -EEXIST (overlaps) or -ENOSPC; del returns the removed index or -ENOENT.
 */
int hv_xen_window_add(struct hv_xen_window *win, uint64_t base, uint64_t len,
                      hv_mmio_fn fn, void *opaque);
int hv_xen_window_del(struct hv_xen_window *win, uint64_t base,
                      struct hv_xen_window *removed);

#endif
