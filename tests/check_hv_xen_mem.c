/*
 * Mapping-cache tests for hv_xen_mem, driven by a fake mapper that hands
 * out a private heap copy of each bucket and frees it on unmap, so any use
 * of a pointer after eviction or invalidation is caught by ASan.
 */
#include <config.h>

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check_common.h"
#include "hv_xen_mem.h"

void add_mem_tests(Suite *s);

#define FAKE_BASE 0x40000000ULL
#define FAKE_LEN (8ULL << 20)

struct fake {
    uint8_t *ram;             /* the "guest" RAM, FAKE_LEN bytes */
    unsigned live;            /* buckets currently mapped */
    unsigned peak;
    unsigned maps;
    unsigned fail_maps;       /* fail the next n map calls */
    uint64_t bad_gpa;         /* one page that fails to map (0: none) */
    struct hv_xen_mapcache *invalidate_on_map; /* reentrancy probe */
    unsigned invalidate_at;   /* ...on this map call (1-based) */
};

static void *
fake_map(void *opaque, uint64_t gpa, unsigned pages, int *page_err, int *rc)
{
    struct fake *f = opaque;
    size_t len = (size_t)pages << HV_XEN_PAGE_SHIFT;
    uint8_t *va;

    f->maps++;
    if (f->invalidate_on_map != NULL && f->maps == f->invalidate_at) {
        hv_xen_mapcache_invalidate(f->invalidate_on_map);
    }
    if (f->fail_maps > 0) {
        f->fail_maps--;
        *rc = -ENOMEM;
        return NULL;
    }
    va = malloc(len);
    ck_assert_ptr_nonnull(va);
    for (unsigned p = 0; p < pages; p++) {
        uint64_t pg = gpa + ((uint64_t)p << HV_XEN_PAGE_SHIFT);

        if (pg < FAKE_BASE || pg - FAKE_BASE >= FAKE_LEN ||
            pg == f->bad_gpa) {
            page_err[p] = -EFAULT;
            memset(va + ((size_t)p << HV_XEN_PAGE_SHIFT), 0xee,
                   HV_XEN_PAGE_SIZE);
            continue;
        }
        memcpy(va + ((size_t)p << HV_XEN_PAGE_SHIFT),
               f->ram + (pg - FAKE_BASE), HV_XEN_PAGE_SIZE);
    }
    f->live++;
    if (f->live > f->peak) {
        f->peak = f->live;
    }
    *rc = 0;
    return va;
}

/* Which gpa each live copy came from, so unmap can write it back. */
static struct {
    uint8_t *va;
    uint64_t gpa;
} fake_tab[64];

static void *
fake_map_tracked(void *opaque, uint64_t gpa, unsigned pages, int *page_err,
                 int *rc)
{
    void *va = fake_map(opaque, gpa, pages, page_err, rc);

    if (va != NULL) {
        for (unsigned i = 0; i < 64; i++) {
            if (fake_tab[i].va == NULL) {
                fake_tab[i].va = va;
                fake_tab[i].gpa = gpa;
                break;
            }
        }
    }
    return va;
}

static void
fake_unmap(void *opaque, void *va, unsigned pages)
{
    struct fake *f = opaque;

    for (unsigned i = 0; i < 64; i++) {
        if (fake_tab[i].va != va) {
            continue;
        }
        for (unsigned p = 0; p < pages; p++) {
            uint64_t pg = fake_tab[i].gpa + ((uint64_t)p << HV_XEN_PAGE_SHIFT);

            if (pg >= FAKE_BASE && pg - FAKE_BASE < FAKE_LEN &&
                pg != f->bad_gpa) {
                memcpy(f->ram + (pg - FAKE_BASE),
                       (uint8_t *)va + ((size_t)p << HV_XEN_PAGE_SHIFT),
                       HV_XEN_PAGE_SIZE);
            }
        }
        fake_tab[i].va = NULL;
        break;
    }
    free(va);
    f->live--;
}

static void
fake_setup(struct fake *f, struct hv_xen_mapcache *mc, unsigned mib)
{
    struct hv_xen_mapper m = { fake_map_tracked, fake_unmap, f };

    memset(f, 0, sizeof(*f));
    memset(fake_tab, 0, sizeof(fake_tab));
    f->ram = malloc(FAKE_LEN);
    ck_assert_ptr_nonnull(f->ram);
    for (size_t i = 0; i < FAKE_LEN; i++) {
        f->ram[i] = (uint8_t)(i * 7 + (i >> 12));
    }
    ck_assert_int_eq(hv_xen_mapcache_init(mc, &m, mib), 0);
}

static void
fake_teardown(struct fake *f, struct hv_xen_mapcache *mc)
{
    hv_xen_mapcache_fini(mc);
    ck_assert_uint_eq(f->live, 0);
    free(f->ram);
}

static uint8_t
expect_byte(uint64_t gpa)
{
    size_t i = gpa - FAKE_BASE;

    return (uint8_t)(i * 7 + (i >> 12));
}

START_TEST(test_mapcache_bound)
{
    struct fake f;
    struct hv_xen_mapcache mc;
    uint8_t b;

    fake_setup(&f, &mc, 2);
    for (unsigned i = 0; i < 6; i++) {
        uint64_t gpa = FAKE_BASE + i * HV_XEN_BUCKET_SIZE + 5;

        ck_assert_int_eq(hv_xen_mapcache_read(&mc, gpa, &b, 1), 0);
        ck_assert_uint_eq(b, expect_byte(gpa));
        ck_assert_uint_le(f.live, 2);
    }
    ck_assert_uint_eq(f.peak, 2);
    ck_assert_uint_eq(mc.st.maps, 6);
    ck_assert_uint_eq(mc.st.evictions, 4);
    ck_assert_uint_eq(mc.live, 2);
    fake_teardown(&f, &mc);
}
END_TEST

START_TEST(test_mapcache_default_bound)
{
    struct fake f;
    struct hv_xen_mapcache mc;

    fake_setup(&f, &mc, 0);
    ck_assert_uint_eq(mc.max, 64);
    fake_teardown(&f, &mc);
}
END_TEST

START_TEST(test_mapcache_lru)
{
    struct fake f;
    struct hv_xen_mapcache mc;
    uint64_t a = FAKE_BASE, bb = FAKE_BASE + HV_XEN_BUCKET_SIZE;
    uint64_t c = FAKE_BASE + 2 * HV_XEN_BUCKET_SIZE;
    uint8_t x;

    fake_setup(&f, &mc, 2);
    ck_assert_int_eq(hv_xen_mapcache_read(&mc, a, &x, 1), 0);
    ck_assert_int_eq(hv_xen_mapcache_read(&mc, bb, &x, 1), 0);
    ck_assert_int_eq(hv_xen_mapcache_read(&mc, a + 100, &x, 1), 0); /* hit */
    ck_assert_uint_eq(mc.st.hits, 1);
    ck_assert_int_eq(hv_xen_mapcache_read(&mc, c, &x, 1), 0); /* evicts bb */
    ck_assert_uint_eq(mc.st.evictions, 1);
    ck_assert_int_eq(hv_xen_mapcache_read(&mc, a + 200, &x, 1), 0);
    ck_assert_uint_eq(mc.st.hits, 2); /* a survived */
    ck_assert_uint_eq(mc.st.maps, 3);
    ck_assert_int_eq(hv_xen_mapcache_read(&mc, bb, &x, 1), 0);
    ck_assert_uint_eq(mc.st.maps, 4); /* bb had gone */
    fake_teardown(&f, &mc);
}
END_TEST

START_TEST(test_mapcache_span_buckets)
{
    struct fake f;
    struct hv_xen_mapcache mc;
    uint64_t gpa = FAKE_BASE + HV_XEN_BUCKET_SIZE - 4;
    uint8_t buf[8];
    size_t big = 2 * HV_XEN_BUCKET_SIZE + 100;
    uint8_t *bigbuf = malloc(big);

    fake_setup(&f, &mc, 1);
    ck_assert_int_eq(hv_xen_mapcache_read(&mc, gpa, buf, sizeof(buf)), 0);
    for (unsigned i = 0; i < sizeof(buf); i++) {
        ck_assert_uint_eq(buf[i], expect_byte(gpa + i));
    }
    ck_assert_uint_eq(mc.st.maps, 2);
    /* A copy over three buckets with room for only one at a time. */
    ck_assert_ptr_nonnull(bigbuf);
    ck_assert_int_eq(hv_xen_mapcache_read(&mc, FAKE_BASE + 50, bigbuf, big),
                     0);
    for (size_t i = 0; i < big; i += 4093) {
        ck_assert_uint_eq(bigbuf[i], expect_byte(FAKE_BASE + 50 + i));
    }
    ck_assert_uint_le(f.peak, 1);
    free(bigbuf);
    fake_teardown(&f, &mc);
}
END_TEST

START_TEST(test_mapcache_write_roundtrip)
{
    struct fake f;
    struct hv_xen_mapcache mc;
    uint64_t gpa = FAKE_BASE + 3 * HV_XEN_BUCKET_SIZE - 3;
    const uint8_t pat[6] = { 1, 2, 3, 4, 5, 6 };
    uint8_t back[6];

    fake_setup(&f, &mc, 4);
    ck_assert_int_eq(hv_xen_mapcache_write(&mc, gpa, pat, sizeof(pat)), 0);
    ck_assert_int_eq(hv_xen_mapcache_read(&mc, gpa, back, sizeof(back)), 0);
    ck_assert_mem_eq(back, pat, sizeof(pat));
    hv_xen_mapcache_invalidate(&mc); /* writes the fake's copies back */
    ck_assert_mem_eq(f.ram + (gpa - FAKE_BASE), pat, sizeof(pat));
    fake_teardown(&f, &mc);
}
END_TEST

START_TEST(test_mapcache_invalidate_drops)
{
    struct fake f;
    struct hv_xen_mapcache mc;
    uint8_t x;

    fake_setup(&f, &mc, 4);
    for (unsigned i = 0; i < 3; i++) {
        ck_assert_int_eq(hv_xen_mapcache_read(
                             &mc, FAKE_BASE + i * HV_XEN_BUCKET_SIZE, &x, 1),
                         0);
    }
    ck_assert_uint_eq(f.live, 3);
    hv_xen_mapcache_invalidate(&mc);
    ck_assert_uint_eq(f.live, 0);
    ck_assert_uint_eq(mc.live, 0);
    ck_assert_uint_eq(mc.st.unmaps, 3);
    ck_assert_int_eq(hv_xen_mapcache_read(&mc, FAKE_BASE, &x, 1), 0);
    ck_assert_uint_eq(mc.st.maps, 4); /* mapped again, not a stale hit */
    fake_teardown(&f, &mc);
}
END_TEST

START_TEST(test_mapcache_invalidate_mid_copy)
{
    struct fake f;
    struct hv_xen_mapcache mc;
    size_t len = 3 * HV_XEN_BUCKET_SIZE;
    uint8_t *buf = malloc(len);

    ck_assert_ptr_nonnull(buf);
    fake_setup(&f, &mc, 4);
    /* INVALIDATE lands while the second bucket of the copy is mapped. */
    f.invalidate_on_map = &mc;
    f.invalidate_at = 2;
    ck_assert_int_eq(hv_xen_mapcache_read(&mc, FAKE_BASE + 10, buf, len - 20),
                     0);
    for (size_t i = 0; i < len - 20; i += 997) {
        ck_assert_uint_eq(buf[i], expect_byte(FAKE_BASE + 10 + i));
    }
    ck_assert_uint_eq(mc.st.invalidations, 1);
    /* The bucket from before the invalidate is gone; only later ones live. */
    ck_assert_uint_eq(f.live, 2);
    ck_assert_uint_eq(mc.live, 2);
    free(buf);
    fake_teardown(&f, &mc);
}
END_TEST

START_TEST(test_mapcache_map_failure)
{
    struct fake f;
    struct hv_xen_mapcache mc;
    uint8_t buf[16];

    fake_setup(&f, &mc, 2);
    f.fail_maps = 1;
    ck_assert_int_eq(hv_xen_mapcache_read(&mc, FAKE_BASE, buf, 4), -EFAULT);
    ck_assert_uint_eq(mc.st.failures, 1);
    ck_assert_uint_eq(mc.live, 0);
    /* Failure mid-copy: the second bucket fails. */
    f.fail_maps = 0;
    ck_assert_int_eq(hv_xen_mapcache_read(&mc, FAKE_BASE, buf, 4), 0);
    f.fail_maps = 1;
    ck_assert_int_eq(hv_xen_mapcache_write(&mc, FAKE_BASE +
                                                    HV_XEN_BUCKET_SIZE - 8,
                                           buf, 16),
                     -EFAULT);
    /* And it recovers once the mapper works again. */
    ck_assert_int_eq(hv_xen_mapcache_read(&mc, FAKE_BASE + HV_XEN_BUCKET_SIZE,
                                          buf, 4),
                     0);
    fake_teardown(&f, &mc);
}
END_TEST

START_TEST(test_mapcache_bad_page)
{
    struct fake f;
    struct hv_xen_mapcache mc;
    uint8_t buf[8];
    uint64_t bad = FAKE_BASE + 5 * HV_XEN_PAGE_SIZE;

    fake_setup(&f, &mc, 2);
    f.bad_gpa = bad; /* ballooned out */
    ck_assert_int_eq(hv_xen_mapcache_read(&mc, bad + 100, buf, 1), -EFAULT);
    ck_assert_int_eq(hv_xen_mapcache_read(&mc, bad - 4, buf, 8), -EFAULT);
    ck_assert_int_eq(hv_xen_mapcache_write(&mc, bad + HV_XEN_PAGE_SIZE - 1,
                                           buf, 1),
                     -EFAULT);
    /* Neighbours in the same bucket are fine. */
    ck_assert_int_eq(hv_xen_mapcache_read(&mc, bad - 8, buf, 8), 0);
    ck_assert_int_eq(hv_xen_mapcache_read(&mc, bad + HV_XEN_PAGE_SIZE, buf, 8),
                     0);
    /* Beyond the end of the fake RAM: every page fails. */
    ck_assert_int_eq(hv_xen_mapcache_read(&mc, FAKE_BASE + FAKE_LEN, buf, 1),
                     -EFAULT);
    fake_teardown(&f, &mc);
}
END_TEST

START_TEST(test_mapcache_wrap)
{
    struct fake f;
    struct hv_xen_mapcache mc;
    uint8_t buf[8];

    fake_setup(&f, &mc, 2);
    ck_assert_int_eq(hv_xen_mapcache_read(&mc, UINT64_MAX - 3, buf, 8),
                     -EFAULT);
    ck_assert_uint_eq(f.maps, 0);
    ck_assert_int_eq(hv_xen_mapcache_read(&mc, FAKE_BASE, buf, 0), 0);
    fake_teardown(&f, &mc);
}
END_TEST

void
add_mem_tests(Suite *s)
{
    CHECK_ADD(s, test_mapcache_bound, 10);
    CHECK_ADD(s, test_mapcache_default_bound, 10);
    CHECK_ADD(s, test_mapcache_lru, 10);
    CHECK_ADD(s, test_mapcache_span_buckets, 10);
    CHECK_ADD(s, test_mapcache_write_roundtrip, 10);
    CHECK_ADD(s, test_mapcache_invalidate_drops, 10);
    CHECK_ADD(s, test_mapcache_invalidate_mid_copy, 10);
    CHECK_ADD(s, test_mapcache_map_failure, 10);
    CHECK_ADD(s, test_mapcache_bad_page, 10);
    CHECK_ADD(s, test_mapcache_wrap, 10);
}
