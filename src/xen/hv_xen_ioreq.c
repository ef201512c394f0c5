/*
 * hv_xen_ioreq: the decision table for Xen ioreqs and the shared-slot
 * protocol, kept free of hypercalls so it runs under tests and fuzzers.
 *
 * Trust boundary: `slot` points into the ioreq page the hypervisor shares
 * with us; the guest influences every field.  hv_xen_ioreq_serve_slot()
 * reads the state, then copies the whole request once; the decision and
 * the callback see only that copy, so a slot rewritten meanwhile changes
 * nothing (no double fetch).  Every request is answered: valid MMIO goes
 * to its window, everything else reads all-ones or is dropped, with a
 * rate-limited line saying exactly why.
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "hv_xen_ioreq.h"

void
hv_xen_ioreq_ctx_init(struct hv_xen_ioreq_ctx *ctx, const char *name,
                      struct hv_xen_window *win, void (*invalidate)(void *),
                      void *opaque)
{
    struct log_ratelimit rl = LOG_RATELIMIT_INIT;

    memset(ctx, 0, sizeof(*ctx));
    ctx->name = name;
    ctx->win = win;
    ctx->invalidate = invalidate;
    ctx->invalidate_opaque = opaque;
    ctx->rl = rl;
}

const char *
hv_xen_ioreq_verdict_str(enum hv_xen_ioreq_verdict v)
{
    switch (v) {
    case HV_XEN_IOREQ_DISPATCHED:
        return "dispatched";
    case HV_XEN_IOREQ_INVALIDATED:
        return "mapcache invalidated";
    case HV_XEN_IOREQ_BAD_TYPE:
        return "type is not MMIO (IOREQ_TYPE_COPY)";
    case HV_XEN_IOREQ_BAD_SIZE:
        return "size not in {1,2,4,8}";
    case HV_XEN_IOREQ_DATA_PTR:
        return "data_is_ptr set (indirect data unsupported)";
    case HV_XEN_IOREQ_BAD_COUNT:
        return "count != 1 (rep access unsupported)";
    case HV_XEN_IOREQ_NO_WINDOW:
        return "no trapped window holds the access";
    case HV_XEN_IOREQ_VERDICT_COUNT:
        break;
    }
    return "?";
}

static uint64_t
size_mask(uint32_t size)
{
    return size >= 8 ? UINT64_MAX : (UINT64_C(1) << (size * 8)) - 1;
}

static bool
size_ok(uint32_t size)
{
    return size == 1 || size == 2 || size == 4 || size == 8;
}

/* The window wholly holding [addr, addr+size), or NULL (overflow-safe). */
static struct hv_xen_window *
window_find(struct hv_xen_window *win, uint64_t addr, uint32_t size)
{
    for (unsigned i = 0; i < HV_XEN_MAX_WINDOWS; i++) {
        struct hv_xen_window *w = &win[i];

        if (w->used && addr >= w->base && addr - w->base < w->len &&
            size <= w->len - (addr - w->base)) {
            return w;
        }
    }
    return NULL;
}

static enum hv_xen_ioreq_verdict
ioreq_classify(const struct ioreq *req)
{
    if (req->type == IOREQ_TYPE_INVALIDATE) {
        return HV_XEN_IOREQ_INVALIDATED;
    }
    if (req->type != IOREQ_TYPE_COPY) {
        return HV_XEN_IOREQ_BAD_TYPE;
    }
    if (!size_ok(req->size)) {
        return HV_XEN_IOREQ_BAD_SIZE;
    }
    if (req->data_is_ptr) {
        return HV_XEN_IOREQ_DATA_PTR;
    }
    if (req->count != 1) {
        return HV_XEN_IOREQ_BAD_COUNT;
    }
    return HV_XEN_IOREQ_DISPATCHED;
}

enum hv_xen_ioreq_verdict
hv_xen_ioreq_handle(struct hv_xen_ioreq_ctx *ctx, struct ioreq *req)
{
    enum hv_xen_ioreq_verdict v = ioreq_classify(req);
    bool is_read = req->dir == IOREQ_READ;
    struct hv_xen_window *w = NULL;

    if (v == HV_XEN_IOREQ_DISPATCHED) {
        w = window_find(ctx->win, req->addr, req->size);
        if (w == NULL) {
            v = HV_XEN_IOREQ_NO_WINDOW;
        }
    }
    ctx->count[v]++;

    switch (v) {
    case HV_XEN_IOREQ_INVALIDATED:
        if (ctx->invalidate != NULL) {
            ctx->invalidate(ctx->invalidate_opaque);
        }
        return v;
    case HV_XEN_IOREQ_DISPATCHED: {
        uint64_t mask = size_mask(req->size);
        uint64_t val = is_read ? 0 : req->data & mask;

        w->fn(w->opaque, req->addr - w->base, req->size, !is_read, &val);
        if (is_read) {
            req->data = val & mask;
        }
        return v;
    }
    default:
        break;
    }

    log_rl(&ctx->rl, LOG_LVL_WARN,
           "%s: ioreq %s: %s (type %u addr 0x%" PRIx64 " size %" PRIu32
           " count %" PRIu32 " data_is_ptr %u); %s",
           ctx->name, is_read ? "read" : "write", hv_xen_ioreq_verdict_str(v),
           (unsigned)req->type, req->addr, req->size, req->count,
           (unsigned)req->data_is_ptr,
           is_read ? "answered all-ones" : "write dropped");
    if (is_read) {
        req->data = UINT64_MAX;
    }
    return v;
}

static struct hv_xen_kernel_kick *
kernel_find(struct hv_xen_ioreq_ctx *ctx, uint64_t addr, uint32_t vq)
{
    for (unsigned i = 0; i < HV_XEN_MAX_KERNEL_KICKS; i++) {
        struct hv_xen_kernel_kick *k = &ctx->kernel[i];

        if (k->used && k->addr == addr && k->vq == vq) {
            return k;
        }
    }
    return NULL;
}

int
hv_xen_ioreq_kernel_add(struct hv_xen_ioreq_ctx *ctx, uint64_t addr,
                        uint32_t vq)
{
    if (kernel_find(ctx, addr, vq) != NULL) {
        return -EEXIST;
    }
    for (unsigned i = 0; i < HV_XEN_MAX_KERNEL_KICKS; i++) {
        struct hv_xen_kernel_kick *k = &ctx->kernel[i];

        if (!k->used) {
            *k = (struct hv_xen_kernel_kick){ addr, vq, true };
            return 0;
        }
    }
    return -ENOSPC;
}

int
hv_xen_ioreq_kernel_del(struct hv_xen_ioreq_ctx *ctx, uint64_t addr,
                        uint32_t vq)
{
    struct hv_xen_kernel_kick *k = kernel_find(ctx, addr, vq);

    if (k == NULL) {
        return -ENOENT;
    }
    memset(k, 0, sizeof(*k));
    return 0;
}

bool
hv_xen_ioreq_kernel_owns(const struct hv_xen_ioreq_ctx *ctx,
                         const struct ioreq *req)
{
    if (req->type != IOREQ_TYPE_COPY || req->dir != IOREQ_WRITE ||
        req->size != HV_XEN_KERNEL_KICK_SIZE) {
        return false;
    }
    for (unsigned i = 0; i < HV_XEN_MAX_KERNEL_KICKS; i++) {
        const struct hv_xen_kernel_kick *k = &ctx->kernel[i];

        if (k->used && k->addr == req->addr &&
            (req->data & HV_XEN_KERNEL_KICK_VQ_MASK) == k->vq) {
            return true;
        }
    }
    return false;
}

enum hv_xen_slot_result
hv_xen_ioreq_serve_slot(struct hv_xen_ioreq_ctx *ctx, struct ioreq *slot,
                        enum hv_xen_ioreq_verdict *verdict)
{
    volatile struct ioreq *vs = slot;
    struct ioreq copy;
    enum hv_xen_ioreq_verdict v;
    uint8_t state = vs->state;

    if (state == STATE_IOREQ_INPROCESS) {
        return HV_XEN_SLOT_BUSY;
    }
    if (state != STATE_IOREQ_READY) {
        return HV_XEN_SLOT_IDLE;
    }
    /*
     * Acquire: pairs with the hypervisor's write barrier between filling
     * the slot and setting state = STATE_IOREQ_READY; no field below may
     * be read before the state we just saw.
     */
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    memcpy(&copy, slot, sizeof(copy));
    /* Keep the copy from being re-read from the slot by the compiler. */
    __atomic_signal_fence(__ATOMIC_SEQ_CST);

    if (hv_xen_ioreq_kernel_owns(ctx, &copy)) {
        /* The kernel's handler answers it: touching the slot would answer
         * twice (a stale IORESP_READY makes Xen crash the domain). */
        ctx->kernel_left++;
        return HV_XEN_SLOT_KERNEL;
    }
    v = hv_xen_ioreq_handle(ctx, &copy);
    if (verdict != NULL) {
        *verdict = v;
    }
    if (copy.dir == IOREQ_READ) {
        vs->data = copy.data;
    }
    /*
     * Release: pairs with the hypervisor's read barrier after it sees
     * state = STATE_IORESP_READY; the data written above must be visible
     * before the state change below.
     */
    __atomic_thread_fence(__ATOMIC_RELEASE);
    vs->state = STATE_IORESP_READY;
    return HV_XEN_SLOT_ANSWERED;
}

enum hv_xen_stall
hv_xen_slot_look(struct hv_xen_slot_watch *w, const struct ioreq *slot,
                 struct ioreq *seen)
{
    const volatile struct ioreq *vs = slot;
    uint8_t state = vs->state;
    bool still = state == w->state_at && w->answered == w->answered_at;
    struct ioreq copy;

    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    memcpy(&copy, slot, sizeof(copy));
    copy.state = state;
    if (seen != NULL) {
        *seen = copy;
    }
    w->state_at = state;
    w->answered_at = w->answered;
    if (!still) {
        w->reported = false;
        return HV_XEN_STALL_NONE;
    }
    if (w->reported ||
        (state != STATE_IOREQ_READY && state != STATE_IORESP_READY)) {
        return HV_XEN_STALL_NONE;
    }
    w->reported = true;
    return state == STATE_IOREQ_READY ? HV_XEN_STALL_UNSEEN
                                      : HV_XEN_STALL_UNTAKEN;
}

int
hv_xen_window_add(struct hv_xen_window *win, uint64_t base, uint64_t len,
                  hv_mmio_fn fn, void *opaque)
{
    struct hv_xen_window *free_slot = NULL;

    if (len == 0 || base + len - 1 < base || fn == NULL) {
        return -EINVAL;
    }
    for (unsigned i = 0; i < HV_XEN_MAX_WINDOWS; i++) {
        struct hv_xen_window *w = &win[i];

        if (!w->used) {
            if (free_slot == NULL) {
                free_slot = w;
            }
            continue;
        }
        /* Overlap of [base, base+len) and [w->base, w->base+w->len). */
        if (base <= w->base + (w->len - 1) && w->base <= base + (len - 1)) {
            return -EEXIST;
        }
    }
    if (free_slot == NULL) {
        return -ENOSPC;
    }
    free_slot->base = base;
    free_slot->len = len;
    free_slot->fn = fn;
    free_slot->opaque = opaque;
    free_slot->used = true;
    return 0;
}

int
hv_xen_window_del(struct hv_xen_window *win, uint64_t base,
                  struct hv_xen_window *removed)
{
    for (unsigned i = 0; i < HV_XEN_MAX_WINDOWS; i++) {
        if (win[i].used && win[i].base == base) {
            if (removed != NULL) {
                *removed = win[i];
            }
            memset(&win[i], 0, sizeof(win[i]));
            return (int)i;
        }
    }
    return -ENOENT;
}
