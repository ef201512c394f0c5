/*
 * Unit tests: the split virtqueue walker against a hostile guest on an
 * hv_sim guest.  Each validation rule has a negative test showing the
 * queue breaks for good; then memory faults, chains rewritten while in
 * flight, and every guest value fetched exactly once.
 */
#include <config.h>

#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "check_common.h"
#include "vqdrv.h"

/* Checklist 6: avail idx jumping by more than the queue size. */
START_TEST(test_avail_idx_jump)
{
    struct vqdrv d;

    vqdrv_open(&d, 8, 0);
    vqdrv_put(&d, AVAIL_GPA + 2, 9, 2);
    vqdrv_expect_broken(&d);
    vqdrv_open(&d, 8, 0);
    /* "behind": as u16 it is 65535 ahead */
    vqdrv_put(&d, AVAIL_GPA + 2, 0xffff, 2);
    ck_assert_int_eq(vq_pop(&d.vq, &d.chain), -EIO);
    ck_assert(d.vq.broken);
    vqdrv_close(&d);
}
END_TEST

START_TEST(test_head_out_of_range)
{
    struct vqdrv d;

    vqdrv_open(&d, 8, 0);
    vqdrv_publish(&d, 8);
    vqdrv_expect_broken(&d);
}
END_TEST

START_TEST(test_next_out_of_range)
{
    struct vqdrv d;

    vqdrv_open(&d, 8, 0);
    vqdrv_desc(&d, 0, BUF_GPA, 8, VQ_DESC_F_NEXT, 8);
    vqdrv_publish(&d, 0);
    vqdrv_expect_broken(&d);
}
END_TEST

/* Checklist 5: a chain that loops (so is longer than the queue). */
START_TEST(test_chain_loop)
{
    struct vqdrv d;

    vqdrv_open(&d, 4, 0);
    vqdrv_desc(&d, 0, BUF_GPA, 8, VQ_DESC_F_NEXT, 1);
    vqdrv_desc(&d, 1, BUF_GPA, 8, VQ_DESC_F_NEXT, 2);
    vqdrv_desc(&d, 2, BUF_GPA, 8, VQ_DESC_F_NEXT, 1);
    vqdrv_publish(&d, 0);
    vqdrv_expect_broken(&d);
    /* The longest legal chain uses every entry once. */
    vqdrv_open(&d, 4, 0);
    for (uint16_t i = 0; i < 4; i++) {
        vqdrv_desc(&d, i, BUF_GPA, 8, i < 3 ? VQ_DESC_F_NEXT : 0, i + 1);
    }
    vqdrv_publish(&d, 0);
    ck_assert_int_eq(vq_pop(&d.vq, &d.chain), 1);
    ck_assert_uint_eq(d.chain.nseg, 4);
    vqdrv_close(&d);
}
END_TEST

START_TEST(test_too_many_segments)
{
    struct vqdrv d;

    vqdrv_open(&d, 2048, 0);
    for (uint32_t i = 0; i <= VQ_MAX_SEGS; i++) {
        vqdrv_desc(&d, i, BUF_GPA, 1, i < VQ_MAX_SEGS ? VQ_DESC_F_NEXT : 0,
                   (uint16_t)(i + 1));
    }
    vqdrv_publish(&d, 0);
    vqdrv_expect_broken(&d);
}
END_TEST

START_TEST(test_zero_length)
{
    struct vqdrv d;

    vqdrv_open(&d, 8, 0);
    vqdrv_desc(&d, 0, BUF_GPA, 8, VQ_DESC_F_NEXT, 1);
    vqdrv_desc(&d, 1, BUF_GPA, 0, VQ_DESC_F_WRITE, 0);
    vqdrv_publish(&d, 0);
    vqdrv_expect_broken(&d);
    /* also inside an indirect table */
    vqdrv_open(&d, 8, F_INDIRECT);
    vqdrv_desc(&d, 0, TABLE_GPA, 32, VQ_DESC_F_INDIRECT, 0);
    vqdrv_desc_at(&d, TABLE_GPA, 0, BUF_GPA, 8, VQ_DESC_F_NEXT, 1);
    vqdrv_desc_at(&d, TABLE_GPA, 1, BUF_GPA, 0, 0, 0);
    vqdrv_publish(&d, 0);
    vqdrv_expect_broken(&d);
}
END_TEST

START_TEST(test_readable_after_writable)
{
    struct vqdrv d;

    vqdrv_open(&d, 8, 0);
    vqdrv_desc(&d, 0, BUF_GPA, 8, VQ_DESC_F_NEXT | VQ_DESC_F_WRITE, 1);
    vqdrv_desc(&d, 1, BUF_GPA, 8, 0, 0);
    vqdrv_publish(&d, 0);
    vqdrv_expect_broken(&d);
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
        struct vqdrv d;

        vqdrv_open(&d, 8, 0);
        vqdrv_desc(&d, 0, BUF_GPA, 8, VQ_DESC_F_NEXT, 1);
        vqdrv_desc(&d, 1, bad[i].gpa, bad[i].len, 0, 0);
        vqdrv_publish(&d, 0);
        vqdrv_expect_broken(&d);
    }
}
END_TEST

START_TEST(test_total_over_4g)
{
    struct vqdrv d;
    const uint32_t n = 513; /* 513 x 8 MiB > 4 GiB */

    vqdrv_open(&d, 8, F_INDIRECT);
    for (uint32_t i = 0; i < n; i++) {
        vqdrv_desc_at(&d, TABLE_GPA, i, RAM1, (uint32_t)RAM1_LEN,
                      VQ_DESC_F_WRITE | (i + 1 < n ? VQ_DESC_F_NEXT : 0),
                      (uint16_t)(i + 1));
    }
    vqdrv_desc(&d, 0, TABLE_GPA, 16 * n, VQ_DESC_F_INDIRECT, 0);
    vqdrv_publish(&d, 0);
    vqdrv_expect_broken(&d);
}
END_TEST

/* Each indirect rule, one queue per case. */
START_TEST(test_indirect_rejects)
{
    struct vqdrv d;

    /* not negotiated */
    vqdrv_open(&d, 8, 0);
    vqdrv_desc_at(&d, TABLE_GPA, 0, BUF_GPA, 8, 0, 0);
    vqdrv_desc(&d, 0, TABLE_GPA, 16, VQ_DESC_F_INDIRECT, 0);
    vqdrv_publish(&d, 0);
    vqdrv_expect_broken(&d);

    /* combined with NEXT */
    vqdrv_open(&d, 8, F_INDIRECT);
    vqdrv_desc_at(&d, TABLE_GPA, 0, BUF_GPA, 8, 0, 0);
    vqdrv_desc(&d, 0, TABLE_GPA, 16, VQ_DESC_F_INDIRECT | VQ_DESC_F_NEXT, 1);
    vqdrv_desc(&d, 1, BUF_GPA, 8, VQ_DESC_F_WRITE, 0);
    vqdrv_publish(&d, 0);
    vqdrv_expect_broken(&d);

    /* Checklist 5: lengths not a multiple of 16, zero, short */
    static const uint32_t bad_len[] = { 0, 8, 24, 33 };
    for (unsigned i = 0; i < sizeof(bad_len) / sizeof(bad_len[0]); i++) {
        vqdrv_open(&d, 8, F_INDIRECT);
        vqdrv_desc_at(&d, TABLE_GPA, 0, BUF_GPA, 8, 0, 0);
        vqdrv_desc(&d, 0, TABLE_GPA, bad_len[i], VQ_DESC_F_INDIRECT, 0);
        vqdrv_publish(&d, 0);
        vqdrv_expect_broken(&d);
    }

    /* more entries than VQ_MAX_SEGS */
    vqdrv_open(&d, 8, F_INDIRECT);
    vqdrv_desc_at(&d, TABLE_GPA, 0, BUF_GPA, 8, 0, 0);
    vqdrv_desc(&d, 0, TABLE_GPA, 16 * (VQ_MAX_SEGS + 1), VQ_DESC_F_INDIRECT, 0);
    vqdrv_publish(&d, 0);
    vqdrv_expect_broken(&d);

    /* table straddling the end of RAM, and in the bank gap */
    vqdrv_open(&d, 8, F_INDIRECT);
    vqdrv_desc(&d, 0, RAM0 + RAM0_LEN - 16, 32, VQ_DESC_F_INDIRECT, 0);
    vqdrv_publish(&d, 0);
    vqdrv_expect_broken(&d);
    vqdrv_open(&d, 8, F_INDIRECT);
    vqdrv_desc(&d, 0, 0x100000000ULL, 16, VQ_DESC_F_INDIRECT, 0);
    vqdrv_publish(&d, 0);
    vqdrv_expect_broken(&d);

    /* Checklist 5: an indirect table inside an indirect table */
    vqdrv_open(&d, 8, F_INDIRECT);
    vqdrv_desc_at(&d, TABLE_GPA, 0, TABLE_GPA + 0x1000, 16,
                  VQ_DESC_F_INDIRECT, 0);
    vqdrv_desc_at(&d, TABLE_GPA + 0x1000, 0, BUF_GPA, 8, 0, 0);
    vqdrv_desc(&d, 0, TABLE_GPA, 16, VQ_DESC_F_INDIRECT, 0);
    vqdrv_publish(&d, 0);
    vqdrv_expect_broken(&d);

    /* next beyond the table's entries (though < num) */
    vqdrv_open(&d, 8, F_INDIRECT);
    vqdrv_desc_at(&d, TABLE_GPA, 0, BUF_GPA, 8, VQ_DESC_F_NEXT, 2);
    vqdrv_desc_at(&d, TABLE_GPA, 2, BUF_GPA, 8, 0, 0);
    vqdrv_desc(&d, 0, TABLE_GPA, 32, VQ_DESC_F_INDIRECT, 0);
    vqdrv_publish(&d, 0);
    vqdrv_expect_broken(&d);

    /* a loop inside the table */
    vqdrv_open(&d, 8, F_INDIRECT);
    vqdrv_desc_at(&d, TABLE_GPA, 0, BUF_GPA, 8, VQ_DESC_F_NEXT, 1);
    vqdrv_desc_at(&d, TABLE_GPA, 1, BUF_GPA, 8, VQ_DESC_F_NEXT, 0);
    vqdrv_desc(&d, 0, TABLE_GPA, 32, VQ_DESC_F_INDIRECT, 0);
    vqdrv_publish(&d, 0);
    vqdrv_expect_broken(&d);
}
END_TEST

START_TEST(test_memory_faults)
{
    struct vqdrv d;

    /* a failing ring read */
    vqdrv_open(&d, 8, 0);
    vqdrv_desc(&d, 0, BUF_GPA, 8, 0, 0);
    vqdrv_publish(&d, 0);
    hv_sim_fail_mem(d.sim, 1);
    vqdrv_expect_broken(&d);

    /* a failing used ring write */
    vqdrv_open_popped(&d);
    hv_sim_fail_mem(d.sim, 1);
    ck_assert_int_eq(vq_push(&d.vq, 0, 8), -EIO);
    ck_assert(d.vq.broken);
    /* idx not published */
    ck_assert_uint_eq(vqdrv_get(&d, USED_GPA + 2, 2), 0);
    ck_assert_int_eq(vq_pop(&d.vq, &d.chain), -EIO);
    vqdrv_close(&d);

    /*
     * Faults injected after the rings were reached through direct
     * pointers (a request already went through): the next access must
     * still see them, a countdown and a ballooned-out used ring alike.
     */
    vqdrv_open_popped(&d);
    ck_assert_int_eq(vq_push(&d.vq, 0, 8), 0);
    ck_assert(d.vq.map.ok);
    vqdrv_publish(&d, 0);
    hv_sim_fail_mem(d.sim, 1);
    vqdrv_expect_broken(&d);

    vqdrv_open_popped(&d);
    hv_sim_set_hole(d.sim, USED_GPA, 8);
    ck_assert_int_eq(vq_push(&d.vq, 0, 8), -EIO);
    ck_assert(d.vq.broken);
    hv_sim_set_hole(d.sim, 0, 0);
    ck_assert_uint_eq(vqdrv_get(&d, USED_GPA + 2, 2), 0);
    vqdrv_close(&d);
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
    struct vqdrv d;
    uint16_t head;

    vqdrv_open(&d, 8, 0);
    vqdrv_desc(&d, 2, BUF_GPA, 100, VQ_DESC_F_NEXT, 3);
    vqdrv_desc(&d, 3, BUF_GPA + 0x100, 200, VQ_DESC_F_WRITE, 0);
    vqdrv_publish(&d, 2);
    ck_assert_int_eq(vq_pop(&d.vq, &d.chain), 1);
    head = d.chain.head;
    ck_assert_uint_eq(head, 2);
    /* the guest rewrites everything the in-flight chain used */
    vqdrv_desc(&d, 2, 0x1000, 0, VQ_DESC_F_NEXT | VQ_DESC_F_INDIRECT, 99);
    vqdrv_desc(&d, 3, UINT64_MAX, 0xffffffff, 0, 7);
    vqdrv_put(&d, AVAIL_GPA + 4, 7, 2);
    /* and posts a new, valid chain */
    vqdrv_desc(&d, 4, BUF_GPA + 0x400, 300, VQ_DESC_F_WRITE, 0);
    vqdrv_publish(&d, 4);
    ck_assert_int_eq(vq_pop(&d.vq, &d.chain), 1);
    ck_assert_uint_eq(d.chain.head, 4);
    ck_assert_uint_eq(d.chain.nseg, 1);
    ck_assert_uint_eq(d.chain.nout, 0);
    ck_assert_uint_eq(d.chain.seg[0].gpa, BUF_GPA + 0x400);
    ck_assert_uint_eq(d.chain.seg[0].len, 300);
    ck_assert_int_eq(vq_pop(&d.vq, &d.chain), 0);
    ck_assert_int_eq(vq_push(&d.vq, head, 200), 0);
    ck_assert_int_eq(vq_push(&d.vq, 4, 300), 0);
    ck_assert_uint_eq(vqdrv_get(&d, USED_GPA + 2, 2), 2);
    ck_assert_uint_eq(vqdrv_get(&d, USED_GPA + 4, 4), 2);
    ck_assert_uint_eq(vqdrv_get(&d, USED_GPA + 8, 4), 200);
    ck_assert_uint_eq(vqdrv_get(&d, USED_GPA + 12, 4), 4);
    ck_assert_uint_eq(vqdrv_get(&d, USED_GPA + 16, 4), 300);
    ck_assert(!d.vq.broken);
    vqdrv_close(&d);
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
    struct vqdrv d;
    struct spy s;
    unsigned idx_reads = 0;

    vqdrv_open(&d, 8, 0);
    memset(&s, 0, sizeof(s));
    s.hv.ops = &spy_ops;
    s.hv.ram = d.hv->ram;
    s.inner = d.hv;
    s.sim = d.sim;
    ck_assert_int_eq(vq_init(&d.vq, &s.hv, "spy/q0", 8, DESC_GPA, AVAIL_GPA,
                             USED_GPA, 0),
                     0);
    vqdrv_desc(&d, 1, BUF_GPA, 10, VQ_DESC_F_NEXT, 4);
    vqdrv_desc(&d, 4, BUF_GPA + 10, 20, VQ_DESC_F_NEXT, 6);
    vqdrv_desc(&d, 6, BUF_GPA + 30, 30, VQ_DESC_F_WRITE, 0);
    vqdrv_publish(&d, 1);
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
    vqdrv_close(&d);
}
END_TEST

static Suite *
make_suite(void)
{
    Suite *s = suite_create("vq_guest");

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
