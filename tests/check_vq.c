/*
 * Unit tests: the split virtqueue walker on an hv_sim guest.  The test
 * plays the driver, building rings in guest RAM through hv_sim_ram(); each
 * validation rule has a negative test showing the queue breaks for good.
 */
#include <config.h>

#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "check_common.h"
#include "hv.h"
#include "hv_sim.h"
#include "vq.h"

#define RAM0 HV_ARM_RAM0_GPA
#define RAM1 HV_ARM_RAM1_GPA
#define RAM0_LEN (1ULL << 20)
#define RAM1_LEN (8ULL << 20)
#define F_INDIRECT (1ULL << VQ_F_INDIRECT_DESC_BIT)
#define F_EVIDX (1ULL << VQ_F_EVENT_IDX_BIT)

#define DESC_GPA (RAM0 + 0x10000)
#define AVAIL_GPA (RAM0 + 0x20000)
#define USED_GPA (RAM0 + 0x30000)
#define TABLE_GPA (RAM0 + 0x40000) /* indirect tables */
#define BUF_GPA (RAM0 + 0x80000)

/* The driver's view of one queue. */
struct drv {
    struct hv_sim *sim;
    struct hv *hv;
    struct vq vq;
    struct vq_chain chain;
    uint16_t num;
    uint16_t avail_idx;
};

static void
put(struct drv *d, uint64_t gpa, uint64_t v, unsigned n)
{
    uint8_t *p = hv_sim_ram(d->sim, gpa, n);

    ck_assert_ptr_nonnull(p);
    for (unsigned i = 0; i < n; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

static uint64_t
get(struct drv *d, uint64_t gpa, unsigned n)
{
    const uint8_t *p = hv_sim_ram(d->sim, gpa, n);
    uint64_t v = 0;

    ck_assert_ptr_nonnull(p);
    for (unsigned i = n; i-- > 0;) {
        v = (v << 8) | p[i];
    }
    return v;
}

static void
desc_at(struct drv *d, uint64_t table, uint32_t i, uint64_t addr,
        uint32_t len, uint16_t flags, uint16_t next)
{
    uint64_t gpa = table + 16ULL * i;

    put(d, gpa, addr, 8);
    put(d, gpa + 8, len, 4);
    put(d, gpa + 12, flags, 2);
    put(d, gpa + 14, next, 2);
}

static void
desc(struct drv *d, uint32_t i, uint64_t addr, uint32_t len, uint16_t flags,
     uint16_t next)
{
    desc_at(d, DESC_GPA, i, addr, len, flags, next);
}

/* Make chain `head` available (driver: ring entry, barrier, idx). */
static void
publish(struct drv *d, uint16_t head)
{
    put(d, AVAIL_GPA + 4 + 2ULL * (d->avail_idx % d->num), head, 2);
    d->avail_idx++;
    put(d, AVAIL_GPA + 2, d->avail_idx, 2);
}

static void
drv_open(struct drv *d, uint16_t num, uint64_t features)
{
    struct hv_sim_config cfg = { .name = "vqtest", .ram0_len = RAM0_LEN,
                                 .ram1_len = RAM1_LEN };

    memset(d, 0, sizeof(*d));
    ck_assert_int_eq(hv_sim_new(&d->sim, &cfg), 0);
    d->hv = hv_sim_hv(d->sim);
    d->num = num;
    ck_assert_int_eq(vq_init(&d->vq, d->hv, "vqtest/q0", num, DESC_GPA,
                             AVAIL_GPA, USED_GPA, features),
                     0);
    d->vq.rl.interval_ms = 3600 * 1000; /* no refill: lines are countable */
}

static void
drv_close(struct drv *d)
{
    hv_sim_free(d->sim);
}

static uint64_t
logs(const struct vq *vq)
{
    return (uint64_t)(vq->rl.burst - vq->rl.tokens) + vq->rl.suppressed;
}

/* The next pop must break the queue, with a log line, for good. */
static void
expect_broken(struct drv *d)
{
    uint64_t n = logs(&d->vq);
    uint16_t last = d->vq.last_avail;

    ck_assert_int_eq(vq_pop(&d->vq, &d->chain), -EIO);
    ck_assert(d->vq.broken);
    ck_assert_uint_gt(logs(&d->vq), n);
    ck_assert_uint_eq(d->vq.last_avail, last);
    ck_assert_int_eq(vq_pop(&d->vq, &d->chain), -EIO);
    ck_assert_int_eq(vq_push(&d->vq, 0, 0), -EIO);
    ck_assert(!vq_need_notify(&d->vq));
    drv_close(d);
}

/* A queue of 8 with one chain posted and popped. */
static void
drv_open_popped(struct drv *d)
{
    drv_open(d, 8, 0);
    desc(d, 0, BUF_GPA, 8, 0, 0);
    publish(d, 0);
    ck_assert_int_eq(vq_pop(&d->vq, &d->chain), 1);
}

START_TEST(test_init_rejects)
{
    struct drv d;
    struct vq vq;
    const uint64_t end0 = RAM0 + RAM0_LEN;

    drv_open(&d, 8, 0);
    /* size */
    ck_assert_int_eq(vq_init(&vq, d.hv, "q", 0, DESC_GPA, AVAIL_GPA,
                             USED_GPA, 0),
                     -EINVAL);
    ck_assert_int_eq(vq_pop(&vq, &d.chain), -EIO);
    ck_assert_int_eq(vq_init(&vq, d.hv, "q", 24, DESC_GPA, AVAIL_GPA,
                             USED_GPA, 0),
                     -EINVAL);
    ck_assert_int_eq(vq_init(&vq, d.hv, "q", 0xffff, DESC_GPA, AVAIL_GPA,
                             USED_GPA, 0),
                     -EINVAL);
    /* Checklist 3: misaligned rings */
    ck_assert_int_eq(vq_init(&vq, d.hv, "q", 8, DESC_GPA + 8, AVAIL_GPA,
                             USED_GPA, 0),
                     -EINVAL);
    ck_assert_int_eq(vq_init(&vq, d.hv, "q", 8, DESC_GPA, AVAIL_GPA + 1,
                             USED_GPA, 0),
                     -EINVAL);
    ck_assert_int_eq(vq_init(&vq, d.hv, "q", 8, DESC_GPA, AVAIL_GPA,
                             USED_GPA + 2, 0),
                     -EINVAL);
    /* outside RAM, straddling its end, in the bank gap, wrapping 2^64 */
    ck_assert_int_eq(vq_init(&vq, d.hv, "q", 8, 0x1000, AVAIL_GPA, USED_GPA,
                             0),
                     -EFAULT);
    ck_assert_int_eq(vq_init(&vq, d.hv, "q", 8, end0 - 64, AVAIL_GPA,
                             USED_GPA, 0),
                     -EFAULT);
    ck_assert_int_eq(vq_init(&vq, d.hv, "q", 8, DESC_GPA, end0 - 16,
                             USED_GPA, 0),
                     -EFAULT);
    ck_assert_int_eq(vq_init(&vq, d.hv, "q", 8, DESC_GPA, AVAIL_GPA,
                             end0 - 64, 0),
                     -EFAULT);
    ck_assert_int_eq(vq_init(&vq, d.hv, "q", 8, DESC_GPA, AVAIL_GPA,
                             0x100000000ULL, 0),
                     -EFAULT);
    ck_assert_int_eq(vq_init(&vq, d.hv, "q", 32768, UINT64_MAX - 15,
                             AVAIL_GPA, USED_GPA, 0),
                     -EFAULT); /* 16 * 32768 bytes from there wrap 2^64 */
    ck_assert_int_eq(vq_init(&vq, d.hv, "q", 32768, 0xfffffffffffc0000ULL,
                             AVAIL_GPA, USED_GPA, 0),
                     -EFAULT);
    /* a ring fitting exactly at the end of bank 1 */
    ck_assert_int_eq(vq_init(&vq, d.hv, "q", 8, DESC_GPA, AVAIL_GPA,
                             RAM1 + RAM1_LEN - VQ_USED_BYTES(8) - 2, 0),
                     0);
    ck_assert(!vq.broken);
    drv_close(&d);
}
END_TEST

START_TEST(test_pop_direct)
{
    struct drv d;

    drv_open(&d, 8, 0);
    ck_assert_int_eq(vq_pop(&d.vq, &d.chain), 0);
    desc(&d, 3, BUF_GPA, 100, 0, 0);
    publish(&d, 3);
    ck_assert_int_eq(vq_pop(&d.vq, &d.chain), 1);
    ck_assert_uint_eq(d.chain.head, 3);
    ck_assert_uint_eq(d.chain.nseg, 1);
    ck_assert_uint_eq(d.chain.nout, 1);
    ck_assert_uint_eq(d.chain.out_bytes, 100);
    ck_assert_uint_eq(d.chain.in_bytes, 0);
    ck_assert_uint_eq(d.chain.seg[0].gpa, BUF_GPA);
    ck_assert(!d.chain.seg[0].write);
    ck_assert_int_eq(vq_pop(&d.vq, &d.chain), 0);

    ck_assert_int_eq(vq_push(&d.vq, 3, 0), 0);
    ck_assert_uint_eq(get(&d, USED_GPA + 2, 2), 1);
    ck_assert_uint_eq(get(&d, USED_GPA + 4, 4), 3);
    ck_assert_uint_eq(get(&d, USED_GPA + 8, 4), 0);
    ck_assert(vq_need_notify(&d.vq));
    /* Without EVENT_IDX avail_event is never written. */
    ck_assert_uint_eq(get(&d, USED_GPA + 4 + 8 * 8, 2), 0);
    /* A caller bug does not break the queue. */
    ck_assert_int_eq(vq_push(&d.vq, 8, 0), -EINVAL);
    ck_assert(!d.vq.broken);
    drv_close(&d);
}
END_TEST

/* Two readable then two writable descriptors, one in each RAM bank. */
START_TEST(test_pop_mixed_chain)
{
    struct drv d;

    drv_open(&d, 16, 0);
    desc(&d, 5, BUF_GPA, 16, VQ_DESC_F_NEXT, 9);
    desc(&d, 9, RAM1, 512, VQ_DESC_F_NEXT, 0);
    desc(&d, 0, RAM1 + 0x1000, 4096, VQ_DESC_F_NEXT | VQ_DESC_F_WRITE, 15);
    desc(&d, 15, BUF_GPA + 0x100, 1, VQ_DESC_F_WRITE, 0);
    publish(&d, 5);
    ck_assert_int_eq(vq_pop(&d.vq, &d.chain), 1);
    ck_assert_uint_eq(d.chain.head, 5);
    ck_assert_uint_eq(d.chain.nseg, 4);
    ck_assert_uint_eq(d.chain.nout, 2);
    ck_assert_uint_eq(d.chain.out_bytes, 528);
    ck_assert_uint_eq(d.chain.in_bytes, 4097);
    ck_assert_uint_eq(d.chain.seg[1].gpa, RAM1);
    ck_assert(d.chain.seg[2].write);
    ck_assert(d.chain.seg[3].write);
    ck_assert_uint_eq(d.chain.seg[3].len, 1);
    ck_assert_int_eq(vq_push(&d.vq, 5, 4097), 0);
    ck_assert_uint_eq(get(&d, USED_GPA + 8, 4), 4097);
    drv_close(&d);
}
END_TEST

START_TEST(test_pop_indirect)
{
    struct drv d;

    drv_open(&d, 8, F_INDIRECT);
    /* table entries linked 2 -> 0 -> 1 */
    desc_at(&d, TABLE_GPA, 2, BUF_GPA, 64, VQ_DESC_F_NEXT, 0);
    desc_at(&d, TABLE_GPA, 0, BUF_GPA + 64, 32,
            VQ_DESC_F_NEXT | VQ_DESC_F_WRITE, 1);
    desc_at(&d, TABLE_GPA, 1, RAM1, 8, VQ_DESC_F_WRITE, 0);
    /* the walk starts at entry 0 of the table */
    desc_at(&d, TABLE_GPA + 0x1000, 0, BUF_GPA, 64, VQ_DESC_F_NEXT, 1);
    desc_at(&d, TABLE_GPA + 0x1000, 1, BUF_GPA + 64, 32, VQ_DESC_F_WRITE, 0);
    desc(&d, 1, TABLE_GPA + 0x1000, 32, VQ_DESC_F_INDIRECT, 0);
    publish(&d, 1);
    ck_assert_int_eq(vq_pop(&d.vq, &d.chain), 1);
    ck_assert_uint_eq(d.chain.head, 1);
    ck_assert_uint_eq(d.chain.nseg, 2);
    ck_assert_uint_eq(d.chain.nout, 1);
    ck_assert_uint_eq(d.chain.in_bytes, 32);

    /* Direct descriptors first, the indirect one last: allowed. */
    desc(&d, 4, RAM1 + 0x100, 10, VQ_DESC_F_NEXT, 6);
    desc(&d, 6, TABLE_GPA, 48, VQ_DESC_F_INDIRECT | VQ_DESC_F_WRITE, 0);
    desc_at(&d, TABLE_GPA, 0, BUF_GPA + 64, 32, VQ_DESC_F_NEXT, 2);
    desc_at(&d, TABLE_GPA, 2, BUF_GPA + 96, 4,
            VQ_DESC_F_NEXT | VQ_DESC_F_WRITE, 1);
    desc_at(&d, TABLE_GPA, 1, RAM1, 8, VQ_DESC_F_WRITE, 0);
    publish(&d, 4);
    ck_assert_int_eq(vq_pop(&d.vq, &d.chain), 1);
    ck_assert_uint_eq(d.chain.head, 4);
    ck_assert_uint_eq(d.chain.nseg, 4);
    ck_assert_uint_eq(d.chain.nout, 2);
    ck_assert_uint_eq(d.chain.out_bytes, 42);
    ck_assert_uint_eq(d.chain.in_bytes, 12);
    ck_assert_uint_eq(d.chain.seg[3].gpa, RAM1);
    drv_close(&d);
}
END_TEST

START_TEST(test_event_idx)
{
    struct drv d;
    const uint64_t avail_event = USED_GPA + 4 + 8 * 8;
    const uint64_t used_event = AVAIL_GPA + 4 + 2 * 8;

    drv_open(&d, 8, F_EVIDX);
    put(&d, avail_event, 0x5555, 2);
    ck_assert_int_eq(vq_pop(&d.vq, &d.chain), 0);
    ck_assert_uint_eq(get(&d, avail_event, 2), 0); /* kick me at entry 0 */
    for (uint16_t i = 0; i < 3; i++) {
        desc(&d, i, BUF_GPA, 8, 0, 0);
        publish(&d, i);
    }
    ck_assert_int_eq(vq_pop(&d.vq, &d.chain), 1);
    ck_assert_int_eq(vq_pop(&d.vq, &d.chain), 1);
    ck_assert_uint_eq(get(&d, avail_event, 2), 0); /* busy: not rewritten */
    ck_assert_int_eq(vq_pop(&d.vq, &d.chain), 1);
    ck_assert_int_eq(vq_pop(&d.vq, &d.chain), 0);
    ck_assert_uint_eq(get(&d, avail_event, 2), 3);

    /* Notification suppression through used_event. */
    ck_assert_int_eq(vq_push(&d.vq, 0, 0), 0);
    ck_assert(vq_need_notify(&d.vq)); /* first one always */
    ck_assert(!vq_need_notify(&d.vq)); /* nothing new */
    put(&d, used_event, 4, 2);
    ck_assert_int_eq(vq_push(&d.vq, 1, 0), 0);
    ck_assert(!vq_need_notify(&d.vq)); /* used idx 2: event 4 not passed */
    ck_assert_int_eq(vq_push(&d.vq, 2, 0), 0);
    ck_assert_int_eq(vq_push(&d.vq, 0, 0), 0);
    ck_assert(!vq_need_notify(&d.vq)); /* used idx 4: event 4 not passed */
    ck_assert_int_eq(vq_push(&d.vq, 1, 0), 0);
    ck_assert(vq_need_notify(&d.vq)); /* used idx 5 stepped over 4 */

    /* The flag is ignored with EVENT_IDX. */
    put(&d, AVAIL_GPA, VQ_AVAIL_F_NO_INTERRUPT, 2);
    put(&d, used_event, 5, 2);
    ck_assert_int_eq(vq_push(&d.vq, 2, 0), 0);
    ck_assert(vq_need_notify(&d.vq));

    /* After a reconnect the next check always notifies. */
    vq_set_indices(&d.vq, 3, 6);
    ck_assert(vq_need_notify(&d.vq));
    drv_close(&d);
}
END_TEST

/*
 * A batch of completions: the elements are written as they come, the
 * guest sees used->idx move once, by the whole batch, and one interrupt
 * decision covers it (used_event just behind the batch's end).
 */
START_TEST(test_used_batch)
{
    struct drv d;
    const uint64_t used_event = AVAIL_GPA + 4 + 2 * 8;

    drv_open(&d, 8, F_EVIDX);
    for (uint16_t i = 0; i < 4; i++) {
        desc(&d, i, BUF_GPA, 8, VQ_DESC_F_WRITE, 0);
        publish(&d, i);
        ck_assert_int_eq(vq_pop(&d.vq, &d.chain), 1);
    }
    ck_assert(vq_need_notify(&d.vq)); /* the first check always notifies */
    put(&d, used_event, 0, 2);
    for (uint16_t i = 0; i < 4; i++) {
        ck_assert_int_eq(vq_add_used(&d.vq, i, 8u * i), 0);
        ck_assert_uint_eq(get(&d, USED_GPA + 4 + 8 * i, 4), i);
        ck_assert_uint_eq(get(&d, USED_GPA + 8 + 8 * i, 4), 8u * i);
        ck_assert_uint_eq(get(&d, USED_GPA + 2, 2), 0); /* not shown yet */
    }
    ck_assert(vq_need_notify(&d.vq)); /* one decision for all four */
    ck_assert_uint_eq(get(&d, USED_GPA + 2, 2), 4);
    ck_assert(!vq_need_notify(&d.vq));
    ck_assert_int_eq(vq_flush_used(&d.vq), 0); /* nothing new: no write */
    ck_assert_int_eq(vq_add_used(&d.vq, 8, 0), -EINVAL);
    ck_assert_int_eq(vq_flush_used(&d.vq), 0);
    ck_assert_uint_eq(get(&d, USED_GPA + 2, 2), 4);
    drv_close(&d);
}
END_TEST

START_TEST(test_no_interrupt_flag)
{
    struct drv d;

    drv_open_popped(&d);
    ck_assert_int_eq(vq_push(&d.vq, 0, 0), 0);
    put(&d, AVAIL_GPA, VQ_AVAIL_F_NO_INTERRUPT, 2);
    ck_assert(!vq_need_notify(&d.vq));
    put(&d, AVAIL_GPA, 0, 2);
    ck_assert(vq_need_notify(&d.vq));
    drv_close(&d);
}
END_TEST

/* Indices wrap at 2^16; resume at given indices. */
START_TEST(test_wrap_and_resume)
{
    struct drv d;

    drv_open(&d, 4, 0);
    vq_set_indices(&d.vq, 65534, 65534);
    d.avail_idx = 65534;
    for (uint16_t i = 0; i < 4; i++) {
        desc(&d, i, BUF_GPA, 8, 0, 0);
        publish(&d, i);
    }
    for (uint16_t i = 0; i < 4; i++) {
        ck_assert_int_eq(vq_pop(&d.vq, &d.chain), 1);
        ck_assert_uint_eq(d.chain.head, i);
        ck_assert_int_eq(vq_push(&d.vq, d.chain.head, 0), 0);
    }
    ck_assert_uint_eq(d.vq.last_avail, 2);
    ck_assert_uint_eq(get(&d, USED_GPA + 2, 2), 2);
    /* slot 65534 % 4 = 2 got the first element */
    ck_assert_uint_eq(get(&d, USED_GPA + 4 + 8 * 2, 4), 0);
    ck_assert_int_eq(vq_pop(&d.vq, &d.chain), 0);
    drv_close(&d);
}
END_TEST

/* Checklist 6: avail idx jumping by more than the queue size. */
START_TEST(test_avail_idx_jump)
{
    struct drv d;

    drv_open(&d, 8, 0);
    put(&d, AVAIL_GPA + 2, 9, 2);
    expect_broken(&d);
    drv_open(&d, 8, 0);
    put(&d, AVAIL_GPA + 2, 0xffff, 2); /* "behind": as u16 it is 65535 ahead */
    ck_assert_int_eq(vq_pop(&d.vq, &d.chain), -EIO);
    ck_assert(d.vq.broken);
    drv_close(&d);
}
END_TEST

START_TEST(test_head_out_of_range)
{
    struct drv d;

    drv_open(&d, 8, 0);
    publish(&d, 8);
    expect_broken(&d);
}
END_TEST

START_TEST(test_next_out_of_range)
{
    struct drv d;

    drv_open(&d, 8, 0);
    desc(&d, 0, BUF_GPA, 8, VQ_DESC_F_NEXT, 8);
    publish(&d, 0);
    expect_broken(&d);
}
END_TEST

/* Checklist 5: a chain that loops (so is longer than the queue). */
START_TEST(test_chain_loop)
{
    struct drv d;

    drv_open(&d, 4, 0);
    desc(&d, 0, BUF_GPA, 8, VQ_DESC_F_NEXT, 1);
    desc(&d, 1, BUF_GPA, 8, VQ_DESC_F_NEXT, 2);
    desc(&d, 2, BUF_GPA, 8, VQ_DESC_F_NEXT, 1);
    publish(&d, 0);
    expect_broken(&d);
    /* The longest legal chain uses every entry once. */
    drv_open(&d, 4, 0);
    for (uint16_t i = 0; i < 4; i++) {
        desc(&d, i, BUF_GPA, 8, i < 3 ? VQ_DESC_F_NEXT : 0, i + 1);
    }
    publish(&d, 0);
    ck_assert_int_eq(vq_pop(&d.vq, &d.chain), 1);
    ck_assert_uint_eq(d.chain.nseg, 4);
    drv_close(&d);
}
END_TEST

START_TEST(test_too_many_segments)
{
    struct drv d;

    drv_open(&d, 2048, 0);
    for (uint32_t i = 0; i <= VQ_MAX_SEGS; i++) {
        desc(&d, i, BUF_GPA, 1, i < VQ_MAX_SEGS ? VQ_DESC_F_NEXT : 0,
             (uint16_t)(i + 1));
    }
    publish(&d, 0);
    expect_broken(&d);
}
END_TEST

START_TEST(test_zero_length)
{
    struct drv d;

    drv_open(&d, 8, 0);
    desc(&d, 0, BUF_GPA, 8, VQ_DESC_F_NEXT, 1);
    desc(&d, 1, BUF_GPA, 0, VQ_DESC_F_WRITE, 0);
    publish(&d, 0);
    expect_broken(&d);
    /* also inside an indirect table */
    drv_open(&d, 8, F_INDIRECT);
    desc(&d, 0, TABLE_GPA, 32, VQ_DESC_F_INDIRECT, 0);
    desc_at(&d, TABLE_GPA, 0, BUF_GPA, 8, VQ_DESC_F_NEXT, 1);
    desc_at(&d, TABLE_GPA, 1, BUF_GPA, 0, 0, 0);
    publish(&d, 0);
    expect_broken(&d);
}
END_TEST

START_TEST(test_readable_after_writable)
{
    struct drv d;

    drv_open(&d, 8, 0);
    desc(&d, 0, BUF_GPA, 8, VQ_DESC_F_NEXT | VQ_DESC_F_WRITE, 1);
    desc(&d, 1, BUF_GPA, 8, 0, 0);
    publish(&d, 0);
    expect_broken(&d);
}
END_TEST

/* Checklist 3 for buffers: outside RAM, straddling, in the gap. */
START_TEST(test_buffer_outside_ram)
{
    static const struct {
        uint64_t gpa;
        uint32_t len;
    } bad[] = {
        { 0x1000, 8 },
        { RAM0 + RAM0_LEN - 4, 8 },
        { RAM0 + RAM0_LEN, 1 },
        { 0x100000000ULL, 16 },
        { RAM1 - 1, 2 },
        { RAM1 + RAM1_LEN - 1, 2 },
        { UINT64_MAX, 1 },
        { UINT64_MAX - 7, 0xffffffff },
    };

    for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct drv d;

        drv_open(&d, 8, 0);
        desc(&d, 0, BUF_GPA, 8, VQ_DESC_F_NEXT, 1);
        desc(&d, 1, bad[i].gpa, bad[i].len, 0, 0);
        publish(&d, 0);
        expect_broken(&d);
    }
}
END_TEST

START_TEST(test_total_over_4g)
{
    struct drv d;
    const uint32_t n = 513; /* 513 x 8 MiB > 4 GiB */

    drv_open(&d, 8, F_INDIRECT);
    for (uint32_t i = 0; i < n; i++) {
        desc_at(&d, TABLE_GPA, i, RAM1, (uint32_t)RAM1_LEN,
                VQ_DESC_F_WRITE | (i + 1 < n ? VQ_DESC_F_NEXT : 0),
                (uint16_t)(i + 1));
    }
    desc(&d, 0, TABLE_GPA, 16 * n, VQ_DESC_F_INDIRECT, 0);
    publish(&d, 0);
    expect_broken(&d);
}
END_TEST

/* Each indirect rule, one queue per case. */
START_TEST(test_indirect_rejects)
{
    struct drv d;

    /* not negotiated */
    drv_open(&d, 8, 0);
    desc_at(&d, TABLE_GPA, 0, BUF_GPA, 8, 0, 0);
    desc(&d, 0, TABLE_GPA, 16, VQ_DESC_F_INDIRECT, 0);
    publish(&d, 0);
    expect_broken(&d);

    /* combined with NEXT */
    drv_open(&d, 8, F_INDIRECT);
    desc_at(&d, TABLE_GPA, 0, BUF_GPA, 8, 0, 0);
    desc(&d, 0, TABLE_GPA, 16, VQ_DESC_F_INDIRECT | VQ_DESC_F_NEXT, 1);
    desc(&d, 1, BUF_GPA, 8, VQ_DESC_F_WRITE, 0);
    publish(&d, 0);
    expect_broken(&d);

    /* Checklist 5: lengths not a multiple of 16, zero, short */
    static const uint32_t bad_len[] = { 0, 8, 24, 33 };
    for (unsigned i = 0; i < sizeof(bad_len) / sizeof(bad_len[0]); i++) {
        drv_open(&d, 8, F_INDIRECT);
        desc_at(&d, TABLE_GPA, 0, BUF_GPA, 8, 0, 0);
        desc(&d, 0, TABLE_GPA, bad_len[i], VQ_DESC_F_INDIRECT, 0);
        publish(&d, 0);
        expect_broken(&d);
    }

    /* more entries than VQ_MAX_SEGS */
    drv_open(&d, 8, F_INDIRECT);
    desc_at(&d, TABLE_GPA, 0, BUF_GPA, 8, 0, 0);
    desc(&d, 0, TABLE_GPA, 16 * (VQ_MAX_SEGS + 1), VQ_DESC_F_INDIRECT, 0);
    publish(&d, 0);
    expect_broken(&d);

    /* table straddling the end of RAM, and in the bank gap */
    drv_open(&d, 8, F_INDIRECT);
    desc(&d, 0, RAM0 + RAM0_LEN - 16, 32, VQ_DESC_F_INDIRECT, 0);
    publish(&d, 0);
    expect_broken(&d);
    drv_open(&d, 8, F_INDIRECT);
    desc(&d, 0, 0x100000000ULL, 16, VQ_DESC_F_INDIRECT, 0);
    publish(&d, 0);
    expect_broken(&d);

    /* Checklist 5: an indirect table inside an indirect table */
    drv_open(&d, 8, F_INDIRECT);
    desc_at(&d, TABLE_GPA, 0, TABLE_GPA + 0x1000, 16, VQ_DESC_F_INDIRECT, 0);
    desc_at(&d, TABLE_GPA + 0x1000, 0, BUF_GPA, 8, 0, 0);
    desc(&d, 0, TABLE_GPA, 16, VQ_DESC_F_INDIRECT, 0);
    publish(&d, 0);
    expect_broken(&d);

    /* next beyond the table's entries (though < num) */
    drv_open(&d, 8, F_INDIRECT);
    desc_at(&d, TABLE_GPA, 0, BUF_GPA, 8, VQ_DESC_F_NEXT, 2);
    desc_at(&d, TABLE_GPA, 2, BUF_GPA, 8, 0, 0);
    desc(&d, 0, TABLE_GPA, 32, VQ_DESC_F_INDIRECT, 0);
    publish(&d, 0);
    expect_broken(&d);

    /* a loop inside the table */
    drv_open(&d, 8, F_INDIRECT);
    desc_at(&d, TABLE_GPA, 0, BUF_GPA, 8, VQ_DESC_F_NEXT, 1);
    desc_at(&d, TABLE_GPA, 1, BUF_GPA, 8, VQ_DESC_F_NEXT, 0);
    desc(&d, 0, TABLE_GPA, 32, VQ_DESC_F_INDIRECT, 0);
    publish(&d, 0);
    expect_broken(&d);
}
END_TEST

START_TEST(test_memory_faults)
{
    struct drv d;

    /* a failing ring read */
    drv_open(&d, 8, 0);
    desc(&d, 0, BUF_GPA, 8, 0, 0);
    publish(&d, 0);
    hv_sim_fail_mem(d.sim, 1);
    expect_broken(&d);

    /* a failing used ring write */
    drv_open_popped(&d);
    hv_sim_fail_mem(d.sim, 1);
    ck_assert_int_eq(vq_push(&d.vq, 0, 8), -EIO);
    ck_assert(d.vq.broken);
    ck_assert_uint_eq(get(&d, USED_GPA + 2, 2), 0); /* idx not published */
    ck_assert_int_eq(vq_pop(&d.vq, &d.chain), -EIO);
    drv_close(&d);

    /*
     * Faults injected after the rings were reached through direct
     * pointers (a request already went through): the next access must
     * still see them, a countdown and a ballooned-out used ring alike.
     */
    drv_open_popped(&d);
    ck_assert_int_eq(vq_push(&d.vq, 0, 8), 0);
    ck_assert(d.vq.map.ok);
    publish(&d, 0);
    hv_sim_fail_mem(d.sim, 1);
    expect_broken(&d);

    drv_open_popped(&d);
    hv_sim_set_hole(d.sim, USED_GPA, 8);
    ck_assert_int_eq(vq_push(&d.vq, 0, 8), -EIO);
    ck_assert(d.vq.broken);
    hv_sim_set_hole(d.sim, 0, 0);
    ck_assert_uint_eq(get(&d, USED_GPA + 2, 2), 0);
    drv_close(&d);
}
END_TEST

/*
 * Checklist 6: buffers the guest rewrites while in flight.  After the pop
 * the guest scribbles over the in-flight chain's descriptors and its avail
 * slot, then posts a new chain.  The queue must not look at the old slot
 * or descriptors again: the next pop returns exactly the new chain, the
 * pushes publish what the caller passed, and nothing breaks.
 */
START_TEST(test_rewrite_in_flight)
{
    struct drv d;
    uint16_t head;

    drv_open(&d, 8, 0);
    desc(&d, 2, BUF_GPA, 100, VQ_DESC_F_NEXT, 3);
    desc(&d, 3, BUF_GPA + 0x100, 200, VQ_DESC_F_WRITE, 0);
    publish(&d, 2);
    ck_assert_int_eq(vq_pop(&d.vq, &d.chain), 1);
    head = d.chain.head;
    ck_assert_uint_eq(head, 2);
    /* the guest rewrites everything the in-flight chain used */
    desc(&d, 2, 0x1000, 0, VQ_DESC_F_NEXT | VQ_DESC_F_INDIRECT, 99);
    desc(&d, 3, UINT64_MAX, 0xffffffff, 0, 7);
    put(&d, AVAIL_GPA + 4, 7, 2);
    /* and posts a new, valid chain */
    desc(&d, 4, BUF_GPA + 0x400, 300, VQ_DESC_F_WRITE, 0);
    publish(&d, 4);
    ck_assert_int_eq(vq_pop(&d.vq, &d.chain), 1);
    ck_assert_uint_eq(d.chain.head, 4);
    ck_assert_uint_eq(d.chain.nseg, 1);
    ck_assert_uint_eq(d.chain.nout, 0);
    ck_assert_uint_eq(d.chain.seg[0].gpa, BUF_GPA + 0x400);
    ck_assert_uint_eq(d.chain.seg[0].len, 300);
    ck_assert_int_eq(vq_pop(&d.vq, &d.chain), 0);
    ck_assert_int_eq(vq_push(&d.vq, head, 200), 0);
    ck_assert_int_eq(vq_push(&d.vq, 4, 300), 0);
    ck_assert_uint_eq(get(&d, USED_GPA + 2, 2), 2);
    ck_assert_uint_eq(get(&d, USED_GPA + 4, 4), 2);
    ck_assert_uint_eq(get(&d, USED_GPA + 8, 4), 200);
    ck_assert_uint_eq(get(&d, USED_GPA + 12, 4), 4);
    ck_assert_uint_eq(get(&d, USED_GPA + 16, 4), 300);
    ck_assert(!d.vq.broken);
    drv_close(&d);
}
END_TEST

/*
 * Read-once, measured: an hv wrapper over the sim that records every guest
 * read and rewrites each descriptor right after it has been read, as a
 * racing guest would.  A second fetch would see the poisoned copy.
 */
struct spy {
    struct hv hv;
    struct hv *inner;
    struct hv_sim *sim;
    unsigned nreads;
    uint64_t read_gpa[64];
};

static int
spy_read(struct hv *hv, unsigned bank, uint64_t off, void *buf, size_t len)
{
    struct spy *s = (struct spy *)hv;
    uint64_t gpa = hv->ram.bank[bank].gpa + off;
    int rc = s->inner->ops->mem_read(s->inner, bank, off, buf, len);

    if (s->nreads < 64) {
        s->read_gpa[s->nreads++] = gpa;
    }
    if (len == 16 && gpa >= DESC_GPA && gpa < DESC_GPA + 16 * 8) {
        uint8_t *p = hv_sim_ram(s->sim, gpa, 16);

        memset(p, 0xff, 16); /* addr, len, flags, next all hostile now */
    }
    return rc;
}

static int
spy_write(struct hv *hv, unsigned bank, uint64_t off, const void *buf,
          size_t len)
{
    struct spy *s = (struct spy *)hv;

    return s->inner->ops->mem_write(s->inner, bank, off, buf, len);
}

static const struct hv_ops spy_ops = {
    .name = "spy",
    .mem_read = spy_read,
    .mem_write = spy_write,
};

START_TEST(test_each_value_read_once)
{
    struct drv d;
    struct spy s;
    unsigned idx_reads = 0;

    drv_open(&d, 8, 0);
    memset(&s, 0, sizeof(s));
    s.hv.ops = &spy_ops;
    s.hv.ram = d.hv->ram;
    s.inner = d.hv;
    s.sim = d.sim;
    ck_assert_int_eq(vq_init(&d.vq, &s.hv, "spy/q0", 8, DESC_GPA, AVAIL_GPA,
                             USED_GPA, 0),
                     0);
    desc(&d, 1, BUF_GPA, 10, VQ_DESC_F_NEXT, 4);
    desc(&d, 4, BUF_GPA + 10, 20, VQ_DESC_F_NEXT, 6);
    desc(&d, 6, BUF_GPA + 30, 30, VQ_DESC_F_WRITE, 0);
    publish(&d, 1);
    ck_assert_int_eq(vq_pop(&d.vq, &d.chain), 1);
    ck_assert_uint_eq(d.chain.nseg, 3);
    ck_assert_uint_eq(d.chain.out_bytes, 30);
    ck_assert_uint_eq(d.chain.in_bytes, 30);
    for (unsigned i = 0; i < s.nreads; i++) {
        for (unsigned j = i + 1; j < s.nreads; j++) {
            ck_assert_uint_ne(s.read_gpa[i], s.read_gpa[j]);
        }
        idx_reads += s.read_gpa[i] == AVAIL_GPA + 2;
    }
    ck_assert_uint_eq(idx_reads, 1);
    ck_assert_uint_eq(s.nreads, 5); /* idx, ring entry, three descriptors */
    drv_close(&d);
}
END_TEST

static Suite *
make_suite(void)
{
    Suite *s = suite_create("vq");

    CHECK_ADD(s, test_init_rejects, 10);
    CHECK_ADD(s, test_pop_direct, 10);
    CHECK_ADD(s, test_pop_mixed_chain, 10);
    CHECK_ADD(s, test_pop_indirect, 10);
    CHECK_ADD(s, test_event_idx, 10);
    CHECK_ADD(s, test_used_batch, 10);
    CHECK_ADD(s, test_no_interrupt_flag, 10);
    CHECK_ADD(s, test_wrap_and_resume, 10);
    CHECK_ADD(s, test_avail_idx_jump, 10);
    CHECK_ADD(s, test_head_out_of_range, 10);
    CHECK_ADD(s, test_next_out_of_range, 10);
    CHECK_ADD(s, test_chain_loop, 10);
    CHECK_ADD(s, test_too_many_segments, 10);
    CHECK_ADD(s, test_zero_length, 10);
    CHECK_ADD(s, test_readable_after_writable, 10);
    CHECK_ADD(s, test_buffer_outside_ram, 10);
    CHECK_ADD(s, test_total_over_4g, 10);
    CHECK_ADD(s, test_indirect_rejects, 10);
    CHECK_ADD(s, test_memory_faults, 10);
    CHECK_ADD(s, test_rewrite_in_flight, 10);
    CHECK_ADD(s, test_each_value_read_once, 10);
    return s;
}

CHECK_MAIN(make_suite)
