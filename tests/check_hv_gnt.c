/*
 * Unit tests: hv_gnt (a grant device's address space) over hv_sim's
 * simulated grant table: address decoding, batched copies across
 * non-contiguous granted pages, ring mappings, and every refusal.
 */
#include <config.h>

#include <errno.h>
#include <string.h>

#include "check_common.h"
#include "hv_gnt.h"
#include "hv_sim.h"

#define RAM0 HV_ARM_RAM0_GPA
#define PAGE 4096u

static uint64_t
gaddr(uint32_t ref, uint32_t off)
{
    return HV_GNT_ADDR_BIT | ((uint64_t)ref << HV_GNT_PAGE_SHIFT) | off;
}

struct fx {
    struct hv_sim *sim;
    struct hv *gnt;
};

static void
fx_init(struct fx *f)
{
    struct hv_sim_config c = { .name = "gnt", .ram0_len = 1u << 20 };

    ck_assert_int_eq(hv_sim_new(&f->sim, &c), 0);
    ck_assert_int_eq(hv_gnt_new(&f->gnt, hv_sim_hv(f->sim)), 0);
}

static void
fx_fini(struct fx *f)
{
    hv_free(f->gnt);
    ck_assert_uint_eq(hv_sim_gnt_mapped(f->sim), 0);
    hv_sim_free(f->sim);
}

START_TEST(test_decode)
{
    uint32_t ref = 0, off = 0;

    ck_assert_int_eq(hv_gnt_decode(gaddr(9, 0x123), &ref, &off), 0);
    ck_assert_uint_eq(ref, 9);
    ck_assert_uint_eq(off, 0x123);
    ck_assert_int_eq(hv_gnt_decode(0x40001000, &ref, &off), -EINVAL);
    ck_assert_int_eq(hv_gnt_decode(gaddr(HV_GNT_MAX_REFS - 1, 0), &ref, &off),
                     0);
    ck_assert_uint_eq(ref, HV_GNT_MAX_REFS - 1);
    ck_assert_int_eq(hv_gnt_decode(HV_GNT_ADDR_BIT |
                                   ((uint64_t)HV_GNT_MAX_REFS << 12),
                                   &ref, &off), -EINVAL);
    ck_assert_int_eq(hv_gnt_decode(~0ULL, &ref, &off), -EINVAL);
}
END_TEST

/* A buffer over consecutive refs whose guest pages are far apart. */
START_TEST(test_copy_across_pages)
{
    struct fx f;
    uint8_t out[200], in[200];
    struct hv_gnt_stats st;

    fx_init(&f);
    ck_assert_int_eq(hv_sim_grant(f.sim, 10, RAM0 + 5 * PAGE, false), 0);
    ck_assert_int_eq(hv_sim_grant(f.sim, 11, RAM0 + 2 * PAGE, false), 0);
    for (unsigned i = 0; i < sizeof(out); i++) {
        out[i] = (uint8_t)(i * 7 + 1);
    }
    ck_assert_int_eq(hv_mem_write(f.gnt, gaddr(10, PAGE - 100), out,
                                  sizeof(out)), 0);
    ck_assert_int_eq(memcmp(hv_sim_ram(f.sim, RAM0 + 6 * PAGE - 100, 100),
                            out, 100), 0);
    ck_assert_int_eq(memcmp(hv_sim_ram(f.sim, RAM0 + 2 * PAGE, 100),
                            out + 100, 100), 0);
    ck_assert_int_eq(hv_mem_read(f.gnt, gaddr(10, PAGE - 100), in,
                                 sizeof(in)), 0);
    ck_assert_int_eq(memcmp(in, out, sizeof(in)), 0);
    hv_gnt_get_stats(f.gnt, &st);
    ck_assert_uint_eq(st.copies, 2);    /* one batch per access */
    ck_assert_uint_eq(st.copy_bytes, 400);
    ck_assert_uint_eq(st.live_maps, 0);
    fx_fini(&f);
}
END_TEST

START_TEST(test_refusals)
{
    struct fx f;
    uint8_t b[64] = { 0 };

    fx_init(&f);
    ck_assert_int_eq(hv_sim_grant(f.sim, 3, RAM0, true), 0);
    ck_assert_int_eq(hv_sim_grant(f.sim, 4, RAM0 + PAGE, false), 0);
    /* Never granted. */
    ck_assert_int_eq(hv_mem_read(f.gnt, gaddr(7, 0), b, 8), -EFAULT);
    /* Read-only: reads work, writes do not. */
    ck_assert_int_eq(hv_mem_read(f.gnt, gaddr(3, 8), b, 8), 0);
    ck_assert_int_eq(hv_mem_write(f.gnt, gaddr(3, 8), b, 8), -EFAULT);
    /* Revoked. */
    ck_assert_int_eq(hv_sim_revoke(f.sim, 4), 0);
    ck_assert_int_eq(hv_mem_read(f.gnt, gaddr(4, 0), b, 8), -EFAULT);
    ck_assert_int_eq(hv_sim_revoke(f.sim, 4), -ENOENT);
    /* A range running from a granted ref into an ungranted one. */
    ck_assert_int_eq(hv_mem_read(f.gnt, gaddr(3, PAGE - 8), b, 16), -EFAULT);
    /* Guest-physical addresses in grant mode, grant addresses in foreign
     * mode: both outside the address space. */
    ck_assert_int_eq(hv_mem_read(f.gnt, RAM0, b, 8), -EFAULT);
    ck_assert(!hv_mem_valid(f.gnt, RAM0, 8));
    ck_assert_int_eq(hv_mem_read(hv_sim_hv(f.sim), gaddr(3, 0), b, 8),
                     -EFAULT);
    /* Huge lengths and refs beyond the space. */
    ck_assert(!hv_mem_valid(f.gnt, gaddr(3, 0), UINT64_MAX));
    ck_assert(!hv_mem_valid(f.gnt, gaddr(HV_GNT_MAX_REFS - 1, 0), 2 * PAGE));
    ck_assert(hv_mem_valid(f.gnt, gaddr(HV_GNT_MAX_REFS - 1, 0), PAGE));
    ck_assert_int_eq(hv_mem_read(f.gnt, gaddr(HV_SIM_MAX_GREFS, 0), b, 8),
                     -EFAULT);
    /* The simulated table refuses what Xen would. */
    ck_assert_int_eq(hv_sim_grant(f.sim, 3, RAM0, false), -EBUSY);
    ck_assert_int_eq(hv_sim_grant(f.sim, 5, RAM0 + 1, false), -EINVAL);
    ck_assert_int_eq(hv_sim_grant(f.sim, HV_SIM_MAX_GREFS, RAM0, false),
                     -EINVAL);
    ck_assert_int_eq(hv_sim_grant(f.sim, 5, RAM0 + (1u << 20), false),
                     -EINVAL);
    fx_fini(&f);
}
END_TEST

START_TEST(test_ring_maps)
{
    struct fx f;
    struct hv_gnt_stats st;
    uint16_t v = 0;
    uint8_t *guest;

    fx_init(&f);
    ck_assert_int_eq(hv_sim_grant(f.sim, 8, RAM0 + 9 * PAGE, false), 0);
    ck_assert_int_eq(hv_sim_grant(f.sim, 9, RAM0 + 4 * PAGE, false), 0);
    ck_assert_int_eq(hv_sim_grant(f.sim, 20, RAM0 + 12 * PAGE, true), 0);
    ck_assert_int_eq(hv_gnt_map(f.gnt, 1, gaddr(8, 0x100), PAGE, true), 0);
    ck_assert_uint_eq(hv_sim_gnt_mapped(f.sim), 2);
    /* The guest writes, we read through the map: no copy. */
    guest = hv_sim_ram(f.sim, RAM0 + 4 * PAGE, 2);
    guest[0] = 0x34;
    guest[1] = 0x12;
    ck_assert_int_eq(hv_read_le16(f.gnt, gaddr(9, 0), &v), 0);
    ck_assert_uint_eq(v, 0x1234);
    ck_assert_int_eq(hv_write_le16(f.gnt, gaddr(8, 0x200), 0xbeef), 0);
    ck_assert_uint_eq(*(uint16_t *)hv_sim_ram(f.sim, RAM0 + 9 * PAGE + 0x200,
                                              2), 0xbeef);
    hv_gnt_get_stats(f.gnt, &st);
    ck_assert_uint_eq(st.copies, 0);
    ck_assert_uint_eq(st.maps, 1);
    ck_assert_uint_eq(st.live_maps, 1);
    /* Mapped refs cannot be revoked (Linux would mark the device broken). */
    ck_assert_int_eq(hv_sim_revoke(f.sim, 8), -EBUSY);
    /* A read-only map serves reads; writes there go by copy and fail on
     * the read-only grant instead of faulting on the mapping. */
    ck_assert_int_eq(hv_gnt_map(f.gnt, 2, gaddr(20, 0), 64, true), -EFAULT);
    ck_assert_int_eq(hv_gnt_map(f.gnt, 2, gaddr(20, 0), 64, false), 0);
    ck_assert_int_eq(hv_read_le16(f.gnt, gaddr(20, 0), &v), 0);
    ck_assert_int_eq(hv_write_le16(f.gnt, gaddr(20, 0), 1), -EFAULT);
    /* Unmapping a key frees its refs; the others stay. */
    hv_gnt_unmap(f.gnt, 1);
    ck_assert_uint_eq(hv_sim_gnt_mapped(f.sim), 1);
    ck_assert_int_eq(hv_sim_revoke(f.sim, 8), 0);
    ck_assert_int_eq(hv_read_le16(f.gnt, gaddr(8, 0), &v), -EFAULT);
    /* Ungranted or out-of-space ranges do not map. */
    ck_assert_int_eq(hv_gnt_map(f.gnt, 3, gaddr(8, 0), 8, false), -EFAULT);
    ck_assert_int_eq(hv_gnt_map(f.gnt, 3, RAM0, 8, false), -EFAULT);
    /* hv_free unmaps what is left (fx_fini checks). */
    fx_fini(&f);
}
END_TEST

START_TEST(test_map_table_full)
{
    struct fx f;

    fx_init(&f);
    ck_assert_int_eq(hv_sim_grant(f.sim, 1, RAM0, false), 0);
    for (unsigned i = 0; i < HV_GNT_MAX_MAPS; i++) {
        ck_assert_int_eq(hv_gnt_map(f.gnt, i, gaddr(1, 0), 16, false), 0);
    }
    ck_assert_int_eq(hv_gnt_map(f.gnt, 0, gaddr(1, 0), 16, false), -ENOSPC);
    fx_fini(&f);
}
END_TEST

static int
nogrant_read(struct hv *hv, unsigned bank, uint64_t off, void *buf,
             size_t len)
{
    return -EFAULT;
}

START_TEST(test_needs_grant_ops)
{
    static const struct hv_ops ops = { .name = "nogrant",
                                       .mem_read = nogrant_read };
    struct hv plain = { .ops = &ops };
    struct hv *g = NULL;

    ck_assert_int_eq(hv_gnt_new(&g, &plain), -EOPNOTSUPP);
    ck_assert_ptr_null(g);
}
END_TEST

static Suite *
make_suite(void)
{
    Suite *s = suite_create("hv_gnt");

    CHECK_ADD(s, test_decode, 5);
    CHECK_ADD(s, test_copy_across_pages, 5);
    CHECK_ADD(s, test_refusals, 5);
    CHECK_ADD(s, test_ring_maps, 5);
    CHECK_ADD(s, test_map_table_full, 5);
    CHECK_ADD(s, test_needs_grant_ops, 5);
    return s;
}

CHECK_MAIN(make_suite)
