/*
 * Unit tests: the split virtqueue walker on an hv_sim guest, as a
 * well-behaved driver uses it: direct, mixed and indirect chains, event
 * index and interrupt suppression, batched completions, index wrap.  The
 * hostile guest's side (each validation rule breaking the queue for good,
 * faults, rewrites in flight, read-once) is in check_vq_guest.c.
 */
#include <config.h>

#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "check_common.h"
#include "vqdrv.h"

START_TEST(test_init_rejects)
{
    struct vqdrv d;
    struct vq vq;
    const uint64_t end0 = RAM0 + RAM0_LEN;

    vqdrv_open(&d, 8, 0);
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
    vqdrv_close(&d);
}
END_TEST

START_TEST(test_pop_direct)
{
    struct vqdrv d;

    vqdrv_open(&d, 8, 0);
    ck_assert_int_eq(vq_pop(&d.vq, &d.chain), 0);
    vqdrv_desc(&d, 3, BUF_GPA, 100, 0, 0);
    vqdrv_publish(&d, 3);
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
    ck_assert_uint_eq(vqdrv_get(&d, USED_GPA + 2, 2), 1);
    ck_assert_uint_eq(vqdrv_get(&d, USED_GPA + 4, 4), 3);
    ck_assert_uint_eq(vqdrv_get(&d, USED_GPA + 8, 4), 0);
    ck_assert(vq_need_notify(&d.vq));
    /* Without EVENT_IDX avail_event is never written. */
    ck_assert_uint_eq(vqdrv_get(&d, USED_GPA + 4 + 8 * 8, 2), 0);
    /* A caller bug does not break the queue. */
    ck_assert_int_eq(vq_push(&d.vq, 8, 0), -EINVAL);
    ck_assert(!d.vq.broken);
    vqdrv_close(&d);
}
END_TEST

/*
 * Direct ring pointers pin what maps the rings (under Xen, a foreign
 * mapping): taken at the first access, renewed (not added to) when
 * map_gen moves, given back once by vq_fini(), never taken after it.
 */
START_TEST(test_ring_pointers_given_back)
{
    struct vqdrv d;

    vqdrv_open(&d, 8, 0);
    ck_assert_int_eq(hv_sim_ptrs_held(d.sim), 0);
    ck_assert_int_eq(vq_pop(&d.vq, &d.chain), 0);
    ck_assert_int_eq(hv_sim_ptrs_held(d.sim), 3); /* desc, avail, used */
    d.hv->map_gen++;
    vqdrv_desc(&d, 1, BUF_GPA, 64, 0, 0);
    vqdrv_publish(&d, 1);
    ck_assert_int_eq(vq_pop(&d.vq, &d.chain), 1);
    ck_assert_int_eq(hv_sim_ptrs_held(d.sim), 3);
    /* One ring out of reach: all three go by copies, none is held. */
    hv_sim_set_hole(d.sim, USED_GPA, 8);
    ck_assert_int_eq(vq_pop(&d.vq, &d.chain), 0);
    ck_assert(!d.vq.map.ok);
    ck_assert_int_eq(hv_sim_ptrs_held(d.sim), 0);
    hv_sim_set_hole(d.sim, 0, 0);
    ck_assert_int_eq(vq_pop(&d.vq, &d.chain), 0);
    ck_assert_int_eq(hv_sim_ptrs_held(d.sim), 3);
    vq_fini(&d.vq);
    ck_assert_int_eq(hv_sim_ptrs_held(d.sim), 0);
    /* The queue still works, by copies. */
    ck_assert_int_eq(vq_push(&d.vq, 1, 0), 0);
    ck_assert_uint_eq(vqdrv_get(&d, USED_GPA + 2, 2), 1);
    ck_assert_int_eq(vq_pop(&d.vq, &d.chain), 0);
    ck_assert_int_eq(hv_sim_ptrs_held(d.sim), 0);
    vq_fini(&d.vq);
    ck_assert_int_eq(hv_sim_ptrs_held(d.sim), 0);
    vqdrv_close(&d);
}
END_TEST

/* Two readable then two writable descriptors, one in each RAM bank. */
START_TEST(test_pop_mixed_chain)
{
    struct vqdrv d;

    vqdrv_open(&d, 16, 0);
    vqdrv_desc(&d, 5, BUF_GPA, 16, VQ_DESC_F_NEXT, 9);
    vqdrv_desc(&d, 9, RAM1, 512, VQ_DESC_F_NEXT, 0);
    vqdrv_desc(&d, 0, RAM1 + 0x1000, 4096, VQ_DESC_F_NEXT | VQ_DESC_F_WRITE,
               15);
    vqdrv_desc(&d, 15, BUF_GPA + 0x100, 1, VQ_DESC_F_WRITE, 0);
    vqdrv_publish(&d, 5);
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
    ck_assert_uint_eq(vqdrv_get(&d, USED_GPA + 8, 4), 4097);
    vqdrv_close(&d);
}
END_TEST

START_TEST(test_pop_indirect)
{
    struct vqdrv d;

    vqdrv_open(&d, 8, F_INDIRECT);
    /* table entries linked 2 -> 0 -> 1 */
    vqdrv_desc_at(&d, TABLE_GPA, 2, BUF_GPA, 64, VQ_DESC_F_NEXT, 0);
    vqdrv_desc_at(&d, TABLE_GPA, 0, BUF_GPA + 64, 32,
                  VQ_DESC_F_NEXT | VQ_DESC_F_WRITE, 1);
    vqdrv_desc_at(&d, TABLE_GPA, 1, RAM1, 8, VQ_DESC_F_WRITE, 0);
    /* the walk starts at entry 0 of the table */
    vqdrv_desc_at(&d, TABLE_GPA + 0x1000, 0, BUF_GPA, 64, VQ_DESC_F_NEXT, 1);
    vqdrv_desc_at(&d, TABLE_GPA + 0x1000, 1, BUF_GPA + 64, 32,
                  VQ_DESC_F_WRITE, 0);
    vqdrv_desc(&d, 1, TABLE_GPA + 0x1000, 32, VQ_DESC_F_INDIRECT, 0);
    vqdrv_publish(&d, 1);
    ck_assert_int_eq(vq_pop(&d.vq, &d.chain), 1);
    ck_assert_uint_eq(d.chain.head, 1);
    ck_assert_uint_eq(d.chain.nseg, 2);
    ck_assert_uint_eq(d.chain.nout, 1);
    ck_assert_uint_eq(d.chain.in_bytes, 32);

    /* Direct descriptors first, the indirect one last: allowed. */
    vqdrv_desc(&d, 4, RAM1 + 0x100, 10, VQ_DESC_F_NEXT, 6);
    vqdrv_desc(&d, 6, TABLE_GPA, 48, VQ_DESC_F_INDIRECT | VQ_DESC_F_WRITE, 0);
    vqdrv_desc_at(&d, TABLE_GPA, 0, BUF_GPA + 64, 32, VQ_DESC_F_NEXT, 2);
    vqdrv_desc_at(&d, TABLE_GPA, 2, BUF_GPA + 96, 4,
                  VQ_DESC_F_NEXT | VQ_DESC_F_WRITE, 1);
    vqdrv_desc_at(&d, TABLE_GPA, 1, RAM1, 8, VQ_DESC_F_WRITE, 0);
    vqdrv_publish(&d, 4);
    ck_assert_int_eq(vq_pop(&d.vq, &d.chain), 1);
    ck_assert_uint_eq(d.chain.head, 4);
    ck_assert_uint_eq(d.chain.nseg, 4);
    ck_assert_uint_eq(d.chain.nout, 2);
    ck_assert_uint_eq(d.chain.out_bytes, 42);
    ck_assert_uint_eq(d.chain.in_bytes, 12);
    ck_assert_uint_eq(d.chain.seg[3].gpa, RAM1);
    vqdrv_close(&d);
}
END_TEST

START_TEST(test_event_idx)
{
    struct vqdrv d;
    const uint64_t avail_event = USED_GPA + 4 + 8 * 8;
    const uint64_t used_event = AVAIL_GPA + 4 + 2 * 8;

    vqdrv_open(&d, 8, F_EVIDX);
    vqdrv_put(&d, avail_event, 0x5555, 2);
    ck_assert_int_eq(vq_pop(&d.vq, &d.chain), 0);
    /* kick me at entry 0 */
    ck_assert_uint_eq(vqdrv_get(&d, avail_event, 2), 0);
    for (uint16_t i = 0; i < 3; i++) {
        vqdrv_desc(&d, i, BUF_GPA, 8, 0, 0);
        vqdrv_publish(&d, i);
    }
    ck_assert_int_eq(vq_pop(&d.vq, &d.chain), 1);
    ck_assert_int_eq(vq_pop(&d.vq, &d.chain), 1);
    /* busy: not rewritten */
    ck_assert_uint_eq(vqdrv_get(&d, avail_event, 2), 0);
    ck_assert_int_eq(vq_pop(&d.vq, &d.chain), 1);
    ck_assert_int_eq(vq_pop(&d.vq, &d.chain), 0);
    ck_assert_uint_eq(vqdrv_get(&d, avail_event, 2), 3);

    /* Notification suppression through used_event. */
    ck_assert_int_eq(vq_push(&d.vq, 0, 0), 0);
    ck_assert(vq_need_notify(&d.vq)); /* first one always */
    ck_assert(!vq_need_notify(&d.vq)); /* nothing new */
    vqdrv_put(&d, used_event, 4, 2);
    ck_assert_int_eq(vq_push(&d.vq, 1, 0), 0);
    ck_assert(!vq_need_notify(&d.vq)); /* used idx 2: event 4 not passed */
    ck_assert_int_eq(vq_push(&d.vq, 2, 0), 0);
    ck_assert_int_eq(vq_push(&d.vq, 0, 0), 0);
    ck_assert(!vq_need_notify(&d.vq)); /* used idx 4: event 4 not passed */
    ck_assert_int_eq(vq_push(&d.vq, 1, 0), 0);
    ck_assert(vq_need_notify(&d.vq)); /* used idx 5 stepped over 4 */

    /* The flag is ignored with EVENT_IDX. */
    vqdrv_put(&d, AVAIL_GPA, VQ_AVAIL_F_NO_INTERRUPT, 2);
    vqdrv_put(&d, used_event, 5, 2);
    ck_assert_int_eq(vq_push(&d.vq, 2, 0), 0);
    ck_assert(vq_need_notify(&d.vq));

    /* After a reconnect the next check always notifies. */
    vq_set_indices(&d.vq, 3, 6);
    ck_assert(vq_need_notify(&d.vq));
    vqdrv_close(&d);
}
END_TEST

/*
 * vq_avail_pending: the count of chains not yet taken, without asking for
 * a kick (avail_event untouched, unlike vq_pop on an empty ring); an avail
 * idx run ahead by more than the queue size breaks the queue.
 */
START_TEST(test_avail_pending)
{
    struct vqdrv d;
    const uint64_t avail_event = USED_GPA + 4 + 8 * 8;

    vqdrv_open(&d, 8, F_EVIDX);
    vqdrv_put(&d, avail_event, 0x5555, 2);
    ck_assert_int_eq(vq_avail_pending(&d.vq), 0);
    for (uint16_t i = 0; i < 3; i++) {
        vqdrv_desc(&d, i, BUF_GPA, 8, 0, 0);
        vqdrv_publish(&d, i);
    }
    ck_assert_int_eq(vq_avail_pending(&d.vq), 3);
    ck_assert_int_eq(vq_pop(&d.vq, &d.chain), 1);
    ck_assert_int_eq(vq_avail_pending(&d.vq), 2);
    ck_assert_int_eq(vq_pop(&d.vq, &d.chain), 1);
    ck_assert_int_eq(vq_pop(&d.vq, &d.chain), 1);
    ck_assert_int_eq(vq_avail_pending(&d.vq), 0);
    ck_assert_uint_eq(vqdrv_get(&d, avail_event, 2), 0x5555);
    vqdrv_put(&d, AVAIL_GPA + 2, 3 + 9, 2);
    ck_assert_int_eq(vq_avail_pending(&d.vq), -EIO);
    ck_assert(d.vq.broken);
    ck_assert_int_eq(vq_avail_pending(&d.vq), -EIO);
    vqdrv_close(&d);
}
END_TEST

/*
 * A batch of completions: the elements are written as they come, the
 * guest sees used->idx move once, by the whole batch, and one interrupt
 * decision covers it (used_event just behind the batch's end).
 */
START_TEST(test_used_batch)
{
    struct vqdrv d;
    const uint64_t used_event = AVAIL_GPA + 4 + 2 * 8;

    vqdrv_open(&d, 8, F_EVIDX);
    for (uint16_t i = 0; i < 4; i++) {
        vqdrv_desc(&d, i, BUF_GPA, 8, VQ_DESC_F_WRITE, 0);
        vqdrv_publish(&d, i);
        ck_assert_int_eq(vq_pop(&d.vq, &d.chain), 1);
    }
    ck_assert(vq_need_notify(&d.vq)); /* the first check always notifies */
    vqdrv_put(&d, used_event, 0, 2);
    for (uint16_t i = 0; i < 4; i++) {
        ck_assert_int_eq(vq_add_used(&d.vq, i, 8u * i), 0);
        ck_assert_uint_eq(vqdrv_get(&d, USED_GPA + 4 + 8 * i, 4), i);
        ck_assert_uint_eq(vqdrv_get(&d, USED_GPA + 8 + 8 * i, 4), 8u * i);
        /* not shown yet */
        ck_assert_uint_eq(vqdrv_get(&d, USED_GPA + 2, 2), 0);
    }
    ck_assert(vq_need_notify(&d.vq)); /* one decision for all four */
    ck_assert_uint_eq(vqdrv_get(&d, USED_GPA + 2, 2), 4);
    ck_assert(!vq_need_notify(&d.vq));
    ck_assert_int_eq(vq_flush_used(&d.vq), 0); /* nothing new: no write */
    ck_assert_int_eq(vq_add_used(&d.vq, 8, 0), -EINVAL);
    ck_assert_int_eq(vq_flush_used(&d.vq), 0);
    ck_assert_uint_eq(vqdrv_get(&d, USED_GPA + 2, 2), 4);
    vqdrv_close(&d);
}
END_TEST

START_TEST(test_no_interrupt_flag)
{
    struct vqdrv d;

    vqdrv_open_popped(&d);
    ck_assert_int_eq(vq_push(&d.vq, 0, 0), 0);
    vqdrv_put(&d, AVAIL_GPA, VQ_AVAIL_F_NO_INTERRUPT, 2);
    ck_assert(!vq_need_notify(&d.vq));
    vqdrv_put(&d, AVAIL_GPA, 0, 2);
    ck_assert(vq_need_notify(&d.vq));
    vqdrv_close(&d);
}
END_TEST

/* Indices wrap at 2^16; resume at given indices. */
START_TEST(test_wrap_and_resume)
{
    struct vqdrv d;

    vqdrv_open(&d, 4, 0);
    vq_set_indices(&d.vq, 65534, 65534);
    d.avail_idx = 65534;
    for (uint16_t i = 0; i < 4; i++) {
        vqdrv_desc(&d, i, BUF_GPA, 8, 0, 0);
        vqdrv_publish(&d, i);
    }
    for (uint16_t i = 0; i < 4; i++) {
        ck_assert_int_eq(vq_pop(&d.vq, &d.chain), 1);
        ck_assert_uint_eq(d.chain.head, i);
        ck_assert_int_eq(vq_push(&d.vq, d.chain.head, 0), 0);
    }
    ck_assert_uint_eq(d.vq.last_avail, 2);
    ck_assert_uint_eq(vqdrv_get(&d, USED_GPA + 2, 2), 2);
    /* slot 65534 % 4 = 2 got the first element */
    ck_assert_uint_eq(vqdrv_get(&d, USED_GPA + 4 + 8 * 2, 4), 0);
    ck_assert_int_eq(vq_pop(&d.vq, &d.chain), 0);
    vqdrv_close(&d);
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
    CHECK_ADD(s, test_avail_pending, 10);
    CHECK_ADD(s, test_used_batch, 10);
    CHECK_ADD(s, test_no_interrupt_flag, 10);
    CHECK_ADD(s, test_wrap_and_resume, 10);
    CHECK_ADD(s, test_ring_pointers_given_back, 10);
    return s;
}

CHECK_MAIN(make_suite)
