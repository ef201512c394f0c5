/*
 * Unit tests for hv_xen's ioreq intake: the decision table (which
 * requests reach a window's callback, which are refused and how), the
 * slot protocol with Xen (read once, always completed) and the kernel
 * ioeventfd's ownership of QueueNotify (checklist 31).  Part of the
 * check_hv_xen program (add_ioreq_tests).
 */
#include <config.h>

#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "check_common.h"
#include "hv_xen_ioreq.h"
#include "hv_xen_priv.h"

void add_ioreq_tests(Suite *s);

/* ---- ioreq decision table ---- */

struct rec {
    unsigned calls;
    uint64_t off;
    unsigned size;
    bool is_write;
    uint64_t val_in;
    uint64_t reply;
    struct ioreq *slot;   /* when set, the callback scribbles on it */
};

static void
rec_fn(void *opaque, uint64_t off, unsigned size, bool is_write, uint64_t *val)
{
    struct rec *r = opaque;

    r->calls++;
    r->off = off;
    r->size = size;
    r->is_write = is_write;
    r->val_in = *val;
    if (!is_write) {
        *val = r->reply;
    }
    if (r->slot != NULL) {
        /* The guest (or a racing vcpu) rewrites the slot mid-handling. */
        r->slot->addr = 0xdead0000;
        r->slot->size = 16;
        r->slot->count = 7;
        r->slot->data_is_ptr = 1;
        r->slot->type = IOREQ_TYPE_PIO;
        r->slot->dir = r->slot->dir ? IOREQ_WRITE : IOREQ_READ;
        r->slot->data = 0x1111111111111111ULL;
    }
}

static unsigned invalidations;

static void
count_invalidate(void *opaque)
{
    (void)opaque;
    invalidations++;
}

#define WBASE 0x02000000ULL
#define WLEN 0x200ULL

struct fixture {
    struct hv_xen_window win[HV_XEN_MAX_WINDOWS];
    struct hv_xen_ioreq_ctx ctx;
    struct rec rec;
};

static void
fx_init(struct fixture *fx)
{
    memset(fx, 0, sizeof(*fx));
    invalidations = 0;
    hv_xen_ioreq_ctx_init(&fx->ctx, "dom9", fx->win, count_invalidate, NULL);
    ck_assert_int_eq(hv_xen_window_add(fx->win, WBASE, WLEN, rec_fn, &fx->rec),
                     0);
}

static struct ioreq
mk_req(uint8_t type, uint64_t addr, uint32_t size, uint32_t count,
       unsigned dir, unsigned data_is_ptr, uint64_t data)
{
    struct ioreq r;

    memset(&r, 0, sizeof(r));
    r.type = type;
    r.addr = addr;
    r.size = size;
    r.count = count;
    r.dir = dir & 1;
    r.data_is_ptr = data_is_ptr & 1;
    r.data = data;
    r.state = STATE_IOREQ_READY;
    return r;
}

/* A rejected request: no callback, read -> all-ones, write -> untouched. */
static void
expect_rejected(struct fixture *fx, struct ioreq r,
                enum hv_xen_ioreq_verdict want)
{
    struct ioreq w = r;

    r.dir = IOREQ_READ;
    r.data = 0x42;
    ck_assert_int_eq(hv_xen_ioreq_handle(&fx->ctx, &r), want);
    ck_assert_uint_eq(r.data, UINT64_MAX);

    w.dir = IOREQ_WRITE;
    w.data = 0x42;
    ck_assert_int_eq(hv_xen_ioreq_handle(&fx->ctx, &w), want);
    ck_assert_uint_eq(w.data, 0x42);
    ck_assert_uint_eq(fx->rec.calls, 0);
}

START_TEST(test_ioreq_read_sizes)
{
    struct fixture fx;
    static const uint32_t sizes[] = { 1, 2, 4, 8 };

    fx_init(&fx);
    fx.rec.reply = 0x8877665544332211ULL;
    for (unsigned i = 0; i < 4; i++) {
        struct ioreq r = mk_req(IOREQ_TYPE_COPY, WBASE + 0x70, sizes[i], 1,
                                IOREQ_READ, 0, 0);

        ck_assert_int_eq(hv_xen_ioreq_handle(&fx.ctx, &r),
                         HV_XEN_IOREQ_DISPATCHED);
        ck_assert_uint_eq(fx.rec.off, 0x70);
        ck_assert_uint_eq(fx.rec.size, sizes[i]);
        ck_assert(!fx.rec.is_write);
        if (sizes[i] == 8) {
            ck_assert_uint_eq(r.data, fx.rec.reply);
        } else {
            ck_assert_uint_eq(r.data, fx.rec.reply &
                                          ((1ULL << (sizes[i] * 8)) - 1));
        }
    }
    ck_assert_uint_eq(fx.rec.calls, 4);
    ck_assert_uint_eq(fx.ctx.count[HV_XEN_IOREQ_DISPATCHED], 4);
}
END_TEST

START_TEST(test_ioreq_write_masked)
{
    struct fixture fx;
    struct ioreq r;

    fx_init(&fx);
    r = mk_req(IOREQ_TYPE_COPY, WBASE + 0x50, 2, 1, IOREQ_WRITE, 0,
               0xffffffffffff1234ULL);
    ck_assert_int_eq(hv_xen_ioreq_handle(&fx.ctx, &r), HV_XEN_IOREQ_DISPATCHED);
    ck_assert(fx.rec.is_write);
    ck_assert_uint_eq(fx.rec.val_in, 0x1234);
    ck_assert_uint_eq(fx.rec.off, 0x50);
}
END_TEST

START_TEST(test_ioreq_invalidate)
{
    struct fixture fx;
    /* The address of an INVALIDATE is meaningless; nothing else matters. */
    struct ioreq r = mk_req(IOREQ_TYPE_INVALIDATE, 0xfffffffffffff000ULL, 0,
                            0, IOREQ_WRITE, 1, 0);

    fx_init(&fx);
    ck_assert_int_eq(hv_xen_ioreq_handle(&fx.ctx, &r),
                     HV_XEN_IOREQ_INVALIDATED);
    ck_assert_uint_eq(invalidations, 1);
    ck_assert_uint_eq(fx.rec.calls, 0);
}
END_TEST

START_TEST(test_ioreq_reject_pio)
{
    struct fixture fx;

    fx_init(&fx);
    expect_rejected(&fx, mk_req(IOREQ_TYPE_PIO, WBASE, 4, 1, 0, 0, 0),
                    HV_XEN_IOREQ_BAD_TYPE);
}
END_TEST

START_TEST(test_ioreq_reject_unknown_types)
{
    struct fixture fx;
    static const uint8_t types[] = { IOREQ_TYPE_PCI_CONFIG,
                                     IOREQ_TYPE_TIMEOFFSET, 3, 9, 0x7f, 0xff };

    fx_init(&fx);
    for (unsigned i = 0; i < sizeof(types); i++) {
        expect_rejected(&fx, mk_req(types[i], WBASE, 4, 1, 0, 0, 0),
                        HV_XEN_IOREQ_BAD_TYPE);
    }
    ck_assert_uint_eq(invalidations, 0);
}
END_TEST

START_TEST(test_ioreq_reject_size_zero)
{
    struct fixture fx;

    fx_init(&fx);
    expect_rejected(&fx, mk_req(IOREQ_TYPE_COPY, WBASE, 0, 1, 0, 0, 0),
                    HV_XEN_IOREQ_BAD_SIZE);
}
END_TEST

START_TEST(test_ioreq_reject_size_odd)
{
    struct fixture fx;
    static const uint32_t sizes[] = { 3, 5, 6, 7 };

    fx_init(&fx);
    for (unsigned i = 0; i < 4; i++) {
        expect_rejected(&fx, mk_req(IOREQ_TYPE_COPY, WBASE, sizes[i], 1, 0, 0,
                                    0),
                        HV_XEN_IOREQ_BAD_SIZE);
    }
}
END_TEST

START_TEST(test_ioreq_reject_size_above_8)
{
    struct fixture fx;
    static const uint32_t sizes[] = { 9, 16, 0x200, UINT32_MAX };

    fx_init(&fx);
    for (unsigned i = 0; i < 4; i++) {
        expect_rejected(&fx, mk_req(IOREQ_TYPE_COPY, WBASE, sizes[i], 1, 0, 0,
                                    0),
                        HV_XEN_IOREQ_BAD_SIZE);
    }
}
END_TEST

START_TEST(test_ioreq_reject_data_is_ptr)
{
    struct fixture fx;

    fx_init(&fx);
    expect_rejected(&fx, mk_req(IOREQ_TYPE_COPY, WBASE, 4, 1, 0, 1, 0),
                    HV_XEN_IOREQ_DATA_PTR);
}
END_TEST

START_TEST(test_ioreq_reject_count_zero)
{
    struct fixture fx;

    fx_init(&fx);
    expect_rejected(&fx, mk_req(IOREQ_TYPE_COPY, WBASE, 4, 0, 0, 0, 0),
                    HV_XEN_IOREQ_BAD_COUNT);
}
END_TEST

START_TEST(test_ioreq_reject_count_rep)
{
    struct fixture fx;

    fx_init(&fx);
    expect_rejected(&fx, mk_req(IOREQ_TYPE_COPY, WBASE, 4, 2, 0, 0, 0),
                    HV_XEN_IOREQ_BAD_COUNT);
    expect_rejected(&fx, mk_req(IOREQ_TYPE_COPY, WBASE, 4, UINT32_MAX, 0, 0, 0),
                    HV_XEN_IOREQ_BAD_COUNT);
}
END_TEST

START_TEST(test_ioreq_reject_no_window)
{
    struct fixture fx;

    fx_init(&fx);
    expect_rejected(&fx, mk_req(IOREQ_TYPE_COPY, WBASE - 4, 4, 1, 0, 0, 0),
                    HV_XEN_IOREQ_NO_WINDOW);
    expect_rejected(&fx, mk_req(IOREQ_TYPE_COPY, WBASE + WLEN, 4, 1, 0, 0, 0),
                    HV_XEN_IOREQ_NO_WINDOW);
    expect_rejected(&fx, mk_req(IOREQ_TYPE_COPY, 0, 1, 1, 0, 0, 0),
                    HV_XEN_IOREQ_NO_WINDOW);
}
END_TEST

START_TEST(test_ioreq_reject_straddle_window_end)
{
    struct fixture fx;

    fx_init(&fx);
    /* Starts inside the window, ends past it. */
    expect_rejected(&fx, mk_req(IOREQ_TYPE_COPY, WBASE + WLEN - 4, 8, 1, 0, 0,
                                0),
                    HV_XEN_IOREQ_NO_WINDOW);
    /* Address near 2^64: the end computation must not wrap. */
    expect_rejected(&fx, mk_req(IOREQ_TYPE_COPY, UINT64_MAX - 1, 8, 1, 0, 0, 0),
                    HV_XEN_IOREQ_NO_WINDOW);
}
END_TEST

START_TEST(test_ioreq_rejections_ratelimited)
{
    struct fixture fx;

    fx_init(&fx);
    for (unsigned i = 0; i < 1000; i++) {
        struct ioreq r = mk_req(IOREQ_TYPE_PIO, 0, 4, 1, IOREQ_READ, 0, 0);

        hv_xen_ioreq_handle(&fx.ctx, &r);
    }
    ck_assert_uint_eq(fx.ctx.count[HV_XEN_IOREQ_BAD_TYPE], 1000);
    ck_assert_uint_ge(fx.ctx.rl.suppressed, 1000 - 10);
}
END_TEST

START_TEST(test_window_table)
{
    struct hv_xen_window win[HV_XEN_MAX_WINDOWS];
    struct hv_xen_window gone;
    struct rec rec;

    memset(win, 0, sizeof(win));
    ck_assert_int_eq(hv_xen_window_add(win, 0x1000, 0, rec_fn, &rec), -EINVAL);
    ck_assert_int_eq(hv_xen_window_add(win, UINT64_MAX, 2, rec_fn, &rec),
                     -EINVAL);
    ck_assert_int_eq(hv_xen_window_add(win, 0x1000, 0x200, NULL, &rec),
                     -EINVAL);
    ck_assert_int_eq(hv_xen_window_add(win, 0x1000, 0x200, rec_fn, &rec), 0);
    ck_assert_int_eq(hv_xen_window_add(win, 0x11ff, 0x200, rec_fn, &rec),
                     -EEXIST);
    ck_assert_int_eq(hv_xen_window_add(win, 0x0e01, 0x200, rec_fn, &rec),
                     -EEXIST);
    ck_assert_int_eq(hv_xen_window_add(win, 0x1200, 0x200, rec_fn, &rec), 0);
    for (unsigned i = 2; i < HV_XEN_MAX_WINDOWS; i++) {
        ck_assert_int_eq(hv_xen_window_add(win, 0x100000 * (i + 1), 0x200,
                                           rec_fn, &rec),
                         0);
    }
    ck_assert_int_eq(hv_xen_window_add(win, 0x9000000, 0x200, rec_fn, &rec),
                     -ENOSPC);
    ck_assert_int_ge(hv_xen_window_del(win, 0x1200, &gone), 0);
    ck_assert_uint_eq(gone.len, 0x200);
    ck_assert_int_eq(hv_xen_window_del(win, 0x1200, NULL), -ENOENT);
    ck_assert_int_eq(hv_xen_window_add(win, 0x9000000, 0x200, rec_fn, &rec), 0);
}
END_TEST

/* ---- slot protocol ---- */

START_TEST(test_slot_not_ready)
{
    struct fixture fx;
    struct ioreq slot = mk_req(IOREQ_TYPE_COPY, WBASE, 4, 1, IOREQ_READ, 0, 5);
    static const uint8_t states[] = { STATE_IOREQ_NONE, STATE_IOREQ_INPROCESS,
                                      STATE_IORESP_READY, 0xf };

    fx_init(&fx);
    for (unsigned i = 0; i < sizeof(states); i++) {
        slot.state = states[i] & 0xf;
        ck_assert_int_eq(hv_xen_ioreq_serve_slot(&fx.ctx, &slot, NULL),
                         states[i] == STATE_IOREQ_INPROCESS ? HV_XEN_SLOT_BUSY
                                                            : HV_XEN_SLOT_IDLE);
        ck_assert_uint_eq(slot.state, states[i] & 0xf);
        ck_assert_uint_eq(slot.data, 5);
    }
    ck_assert_uint_eq(fx.rec.calls, 0);
}
END_TEST

START_TEST(test_slot_read_completes)
{
    struct fixture fx;
    struct ioreq slot = mk_req(IOREQ_TYPE_COPY, WBASE + 4, 4, 1, IOREQ_READ, 0,
                               0);
    enum hv_xen_ioreq_verdict v;

    fx_init(&fx);
    fx.rec.reply = 0x74726976;
    ck_assert_int_eq(hv_xen_ioreq_serve_slot(&fx.ctx, &slot, &v), HV_XEN_SLOT_ANSWERED);
    ck_assert_int_eq(v, HV_XEN_IOREQ_DISPATCHED);
    ck_assert_uint_eq(slot.state, STATE_IORESP_READY);
    ck_assert_uint_eq(slot.data, 0x74726976);
    /* Answered once: a second pass finds nothing to do. */
    ck_assert_int_eq(hv_xen_ioreq_serve_slot(&fx.ctx, &slot, NULL), HV_XEN_SLOT_IDLE);
    ck_assert_uint_eq(fx.rec.calls, 1);
}
END_TEST

START_TEST(test_slot_rejected_still_completes)
{
    struct fixture fx;
    struct ioreq slot = mk_req(IOREQ_TYPE_COPY, WBASE, 16, 1, IOREQ_READ, 0, 0);
    enum hv_xen_ioreq_verdict v;

    fx_init(&fx);
    ck_assert_int_eq(hv_xen_ioreq_serve_slot(&fx.ctx, &slot, &v), HV_XEN_SLOT_ANSWERED);
    ck_assert_int_eq(v, HV_XEN_IOREQ_BAD_SIZE);
    ck_assert_uint_eq(slot.state, STATE_IORESP_READY);
    ck_assert_uint_eq(slot.data, UINT64_MAX);

    slot = mk_req(IOREQ_TYPE_INVALIDATE, 0, 0, 0, IOREQ_WRITE, 0, 0);
    ck_assert_int_eq(hv_xen_ioreq_serve_slot(&fx.ctx, &slot, &v), HV_XEN_SLOT_ANSWERED);
    ck_assert_int_eq(v, HV_XEN_IOREQ_INVALIDATED);
    ck_assert_uint_eq(slot.state, STATE_IORESP_READY);
    ck_assert_uint_eq(invalidations, 1);
}
END_TEST

START_TEST(test_slot_double_fetch_read)
{
    struct fixture fx;
    struct ioreq slot = mk_req(IOREQ_TYPE_COPY, WBASE + 8, 2, 1, IOREQ_READ, 0,
                               0);
    enum hv_xen_ioreq_verdict v;

    fx_init(&fx);
    fx.rec.reply = 0xabcdef;
    fx.rec.slot = &slot;
    ck_assert_int_eq(hv_xen_ioreq_serve_slot(&fx.ctx, &slot, &v), HV_XEN_SLOT_ANSWERED);
    /* The decision and the answer follow the copy, not the rewritten slot. */
    ck_assert_int_eq(v, HV_XEN_IOREQ_DISPATCHED);
    ck_assert_uint_eq(fx.rec.off, 8);
    ck_assert_uint_eq(fx.rec.size, 2);
    ck_assert(!fx.rec.is_write);
    ck_assert_uint_eq(slot.data, 0xcdef);
    ck_assert_uint_eq(slot.state, STATE_IORESP_READY);
    ck_assert_uint_eq(fx.rec.calls, 1);
}
END_TEST

START_TEST(test_slot_double_fetch_write)
{
    struct fixture fx;
    struct ioreq slot = mk_req(IOREQ_TYPE_COPY, WBASE + 0x50, 4, 1,
                               IOREQ_WRITE, 0, 3);

    fx_init(&fx);
    fx.rec.slot = &slot;
    ck_assert_int_eq(hv_xen_ioreq_serve_slot(&fx.ctx, &slot, NULL), HV_XEN_SLOT_ANSWERED);
    ck_assert(fx.rec.is_write);
    ck_assert_uint_eq(fx.rec.val_in, 3);
    /* The slot now claims to be a read: the copy said write, so no data. */
    ck_assert_uint_eq(slot.data, 0x1111111111111111ULL);
    ck_assert_uint_eq(slot.state, STATE_IORESP_READY);
}
END_TEST

/* ---- kernel ioeventfd ownership (checklist 31) ---- */

/* A QueueNotify the kernel's privcmd ioeventfd matches is never answered
 * here: both answering would leave a stale IORESP_READY on the slot. */
START_TEST(test_slot_kernel_owned)
{
    struct fixture fx;
    /* Xen 4.17 on Arm forwards the whole register: junk above bit 31. */
    struct ioreq slot = mk_req(IOREQ_TYPE_COPY, WBASE + 0x50, 4, 1,
                               IOREQ_WRITE, 0, 0x8000000000000001ULL);
    struct ioreq before = slot;

    fx_init(&fx);
    ck_assert_int_eq(hv_xen_ioreq_kernel_add(&fx.ctx, WBASE + 0x50, 1), 0);
    ck_assert_int_eq(hv_xen_ioreq_serve_slot(&fx.ctx, &slot, NULL),
                     HV_XEN_SLOT_KERNEL);
    ck_assert_mem_eq(&slot, &before, sizeof(slot));
    ck_assert_uint_eq(fx.rec.calls, 0);
    ck_assert_uint_eq(fx.ctx.kernel_left, 1);

    /* What the kernel's rule does not match stays ours. */
    slot = mk_req(IOREQ_TYPE_COPY, WBASE + 0x50, 4, 1, IOREQ_WRITE, 0, 2);
    ck_assert_int_eq(hv_xen_ioreq_serve_slot(&fx.ctx, &slot, NULL),
                     HV_XEN_SLOT_ANSWERED);
    slot = mk_req(IOREQ_TYPE_COPY, WBASE + 0x50, 2, 1, IOREQ_WRITE, 0, 1);
    ck_assert_int_eq(hv_xen_ioreq_serve_slot(&fx.ctx, &slot, NULL),
                     HV_XEN_SLOT_ANSWERED);
    slot = mk_req(IOREQ_TYPE_COPY, WBASE + 0x50, 4, 1, IOREQ_READ, 0, 1);
    ck_assert_int_eq(hv_xen_ioreq_serve_slot(&fx.ctx, &slot, NULL),
                     HV_XEN_SLOT_ANSWERED);
    ck_assert_uint_eq(fx.rec.calls, 3);

    /* Deassigned: the daemon answers that queue's kicks again. */
    ck_assert_int_eq(hv_xen_ioreq_kernel_del(&fx.ctx, WBASE + 0x50, 1), 0);
    slot = before;
    ck_assert_int_eq(hv_xen_ioreq_serve_slot(&fx.ctx, &slot, NULL),
                     HV_XEN_SLOT_ANSWERED);
    ck_assert_uint_eq(fx.rec.calls, 4);
}
END_TEST

/* The kernel's handler holds a slot INPROCESS while it checks its list and
 * puts it back to READY when nothing matched: untouched, then ours. */
START_TEST(test_slot_kernel_inprocess_then_ours)
{
    struct fixture fx;
    struct ioreq slot = mk_req(IOREQ_TYPE_COPY, WBASE + 0x50, 4, 1,
                               IOREQ_WRITE, 0, 3);
    struct ioreq held;

    fx_init(&fx);
    ck_assert_int_eq(hv_xen_ioreq_kernel_add(&fx.ctx, WBASE + 0x50, 1), 0);
    slot.state = STATE_IOREQ_INPROCESS;
    held = slot;
    ck_assert_int_eq(hv_xen_ioreq_serve_slot(&fx.ctx, &slot, NULL),
                     HV_XEN_SLOT_BUSY);
    ck_assert_mem_eq(&slot, &held, sizeof(slot));
    slot.state = STATE_IOREQ_READY;
    ck_assert_int_eq(hv_xen_ioreq_serve_slot(&fx.ctx, &slot, NULL),
                     HV_XEN_SLOT_ANSWERED);
    ck_assert_uint_eq(slot.state, STATE_IORESP_READY);
    ck_assert_uint_eq(fx.rec.calls, 1);
    ck_assert_uint_eq(fx.rec.val_in, 3);
}
END_TEST

START_TEST(test_kernel_table)
{
    struct fixture fx;

    fx_init(&fx);
    ck_assert_int_eq(hv_xen_ioreq_kernel_del(&fx.ctx, WBASE + 0x50, 0),
                     -ENOENT);
    for (unsigned i = 0; i < HV_XEN_MAX_KERNEL_KICKS; i++) {
        ck_assert_int_eq(hv_xen_ioreq_kernel_add(&fx.ctx, WBASE + 0x50, i), 0);
    }
    ck_assert_int_eq(hv_xen_ioreq_kernel_add(&fx.ctx, WBASE + 0x50, 0),
                     -EEXIST);
    ck_assert_int_eq(hv_xen_ioreq_kernel_add(&fx.ctx, WBASE + 0x250, 0),
                     -ENOSPC);
    ck_assert_int_eq(hv_xen_ioreq_kernel_del(&fx.ctx, WBASE + 0x50, 7), 0);
    ck_assert_int_eq(hv_xen_ioreq_kernel_add(&fx.ctx, WBASE + 0x250, 0), 0);
}
END_TEST

/* ---- stuck slots ---- */

/* A request left READY across two looks, nothing answered: no event came. */
START_TEST(test_watch_unseen_request)
{
    struct hv_xen_slot_watch w = { 0 };
    struct ioreq slot = mk_req(IOREQ_TYPE_COPY, WBASE, 4, 1, IOREQ_READ, 0, 0);
    struct ioreq seen;

    /* Posted before the first look: new at that look, stuck at the next. */
    ck_assert_int_eq(hv_xen_slot_look(&w, &slot, &seen), HV_XEN_STALL_NONE);
    ck_assert_int_eq(hv_xen_slot_look(&w, &slot, &seen), HV_XEN_STALL_UNSEEN);
    ck_assert_uint_eq(seen.addr, WBASE);
    ck_assert_uint_eq(seen.state, STATE_IOREQ_READY);
    /* Said once: still stuck at the next look, but not reported again. */
    ck_assert_int_eq(hv_xen_slot_look(&w, &slot, NULL), HV_XEN_STALL_NONE);
    /* Once it moves, the next stuck request is reported again. */
    w.answered++;
    ck_assert_int_eq(hv_xen_slot_look(&w, &slot, NULL), HV_XEN_STALL_NONE);
    ck_assert_int_eq(hv_xen_slot_look(&w, &slot, NULL), HV_XEN_STALL_UNSEEN);
}
END_TEST

/*
 * Answered between the looks: a new request in the same slot is not stuck;
 * our last answer still there at the next look was not taken by Xen.
 */
START_TEST(test_watch_moving_slot)
{
    struct fixture fx;
    struct hv_xen_slot_watch w = { 0 };
    struct ioreq slot = mk_req(IOREQ_TYPE_COPY, WBASE, 4, 1, IOREQ_READ, 0, 0);

    fx_init(&fx);
    ck_assert_int_eq(hv_xen_slot_look(&w, &slot, NULL), HV_XEN_STALL_NONE);
    for (unsigned i = 0; i < 3; i++) {
        ck_assert_int_eq(hv_xen_ioreq_serve_slot(&fx.ctx, &slot, NULL),
                         HV_XEN_SLOT_ANSWERED);
        w.answered++;
        slot.state = STATE_IOREQ_READY; /* Xen took it; the next one came */
        ck_assert_int_eq(hv_xen_slot_look(&w, &slot, NULL), HV_XEN_STALL_NONE);
    }
    ck_assert_int_eq(hv_xen_ioreq_serve_slot(&fx.ctx, &slot, NULL),
                     HV_XEN_SLOT_ANSWERED);
    w.answered++;
    ck_assert_int_eq(hv_xen_slot_look(&w, &slot, NULL), HV_XEN_STALL_NONE);
    ck_assert_int_eq(hv_xen_slot_look(&w, &slot, NULL), HV_XEN_STALL_UNTAKEN);
    /* An idle slot, or one the kernel is examining, is never reported. */
    slot.state = STATE_IOREQ_NONE;
    ck_assert_int_eq(hv_xen_slot_look(&w, &slot, NULL), HV_XEN_STALL_NONE);
    ck_assert_int_eq(hv_xen_slot_look(&w, &slot, NULL), HV_XEN_STALL_NONE);
    slot.state = STATE_IOREQ_INPROCESS;
    ck_assert_int_eq(hv_xen_slot_look(&w, &slot, NULL), HV_XEN_STALL_NONE);
    ck_assert_int_eq(hv_xen_slot_look(&w, &slot, NULL), HV_XEN_STALL_NONE);
}
END_TEST

void
add_ioreq_tests(Suite *s)
{
    CHECK_ADD(s, test_ioreq_read_sizes, 5);
    CHECK_ADD(s, test_ioreq_write_masked, 5);
    CHECK_ADD(s, test_ioreq_invalidate, 5);
    CHECK_ADD(s, test_ioreq_reject_pio, 5);
    CHECK_ADD(s, test_ioreq_reject_unknown_types, 5);
    CHECK_ADD(s, test_ioreq_reject_size_zero, 5);
    CHECK_ADD(s, test_ioreq_reject_size_odd, 5);
    CHECK_ADD(s, test_ioreq_reject_size_above_8, 5);
    CHECK_ADD(s, test_ioreq_reject_data_is_ptr, 5);
    CHECK_ADD(s, test_ioreq_reject_count_zero, 5);
    CHECK_ADD(s, test_ioreq_reject_count_rep, 5);
    CHECK_ADD(s, test_ioreq_reject_no_window, 5);
    CHECK_ADD(s, test_ioreq_reject_straddle_window_end, 5);
    CHECK_ADD(s, test_ioreq_rejections_ratelimited, 5);
    CHECK_ADD(s, test_window_table, 5);
    CHECK_ADD(s, test_slot_not_ready, 5);
    CHECK_ADD(s, test_slot_read_completes, 5);
    CHECK_ADD(s, test_slot_rejected_still_completes, 5);
    CHECK_ADD(s, test_slot_double_fetch_read, 5);
    CHECK_ADD(s, test_slot_double_fetch_write, 5);
    CHECK_ADD(s, test_slot_kernel_owned, 5);
    CHECK_ADD(s, test_slot_kernel_inprocess_then_ours, 5);
    CHECK_ADD(s, test_kernel_table, 5);
    CHECK_ADD(s, test_watch_unseen_request, 5);
    CHECK_ADD(s, test_watch_moving_slot, 5);
}
