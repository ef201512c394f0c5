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
#include "hv_xen_priv.h"
#include "vq.h"

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

/* ---- pins: direct ring pointers ---- */

/* Read and write through a pinned pointer as vq does (ASan sees an
 * unmapped bucket: the fake frees it). */
static void
poke(uint8_t *p, uint64_t gpa)
{
    ck_assert_uint_eq(p[0], expect_byte(gpa));
    p[1] = (uint8_t)~p[1];
    p[1] = (uint8_t)~p[1];
}

START_TEST(test_pin_basic)
{
    struct fake f;
    struct hv_xen_mapcache mc;
    uint64_t gpa = FAKE_BASE + 2 * HV_XEN_BUCKET_SIZE + 0x1006;
    uint8_t *p, *q, x;

    fake_setup(&f, &mc, 4);
    p = hv_xen_mapcache_pin(&mc, gpa, 518);
    ck_assert_ptr_nonnull(p);
    ck_assert_uint_eq((uintptr_t)p % 8, gpa % 8);
    poke(p, gpa);
    ck_assert_uint_eq(mc.pinned, 1);
    /* A second ring in the same bucket shares it. */
    q = hv_xen_mapcache_pin(&mc, gpa + 0x2000, 4096);
    ck_assert_ptr_eq(q, p + 0x2000);
    ck_assert_uint_eq(mc.pinned, 1);
    ck_assert_uint_eq(mc.st.maps, 1);
    /* Copies see what the pointer wrote, and the other way round. */
    p[4] = 0x5a;
    ck_assert_int_eq(hv_xen_mapcache_read(&mc, gpa + 4, &x, 1), 0);
    ck_assert_uint_eq(x, 0x5a);
    x = 0xa5;
    ck_assert_int_eq(hv_xen_mapcache_write(&mc, gpa + 5, &x, 1), 0);
    ck_assert_uint_eq(p[5], 0xa5);
    hv_xen_mapcache_unpin(&mc, q);
    ck_assert_uint_eq(mc.pinned, 1);
    hv_xen_mapcache_unpin(&mc, p + 517); /* any byte of the range */
    ck_assert_uint_eq(mc.pinned, 0);
    ck_assert_uint_eq(f.live, 1);        /* cached, now evictable */
    fake_teardown(&f, &mc);
}
END_TEST

/*
 * Copies all over guest RAM while a ring is pinned, in a cache of 4
 * buckets: the pinned bucket is never the victim, the pointer stays good,
 * the bound holds, and once unpinned the bucket is evicted like any.
 */
START_TEST(test_pin_eviction_pressure)
{
    struct fake f;
    struct hv_xen_mapcache mc;
    uint64_t ring = FAKE_BASE + 3 * HV_XEN_BUCKET_SIZE + 0x40;
    uint8_t *p, x;
    uint64_t maps;

    fake_setup(&f, &mc, 4);
    p = hv_xen_mapcache_pin(&mc, ring, 2054);
    ck_assert_ptr_nonnull(p);
    for (unsigned round = 0; round < 5; round++) {
        for (unsigned i = 0; i < FAKE_LEN / HV_XEN_BUCKET_SIZE; i++) {
            uint64_t gpa = FAKE_BASE + i * HV_XEN_BUCKET_SIZE + 77;

            ck_assert_int_eq(hv_xen_mapcache_read(&mc, gpa, &x, 1), 0);
            ck_assert_uint_eq(x, expect_byte(gpa));
            ck_assert_uint_le(f.live, 4);
            poke(p, ring);
        }
    }
    ck_assert_uint_ge(mc.st.evictions, 5 * 4);
    ck_assert_uint_eq(f.peak, 4);
    /* The ring's bucket was mapped once, for the pin; the 7 others took
     * turns in the 3 slots left. */
    ck_assert_uint_eq(mc.st.maps, 1 + 5 * 7);
    hv_xen_mapcache_unpin(&mc, p);
    /* Cached now: 3 (the oldest use), 5, 6, 7.  Four others evict all. */
    maps = mc.st.maps;
    for (unsigned i = 0; i < 5; i++) {
        uint64_t gpa = FAKE_BASE + i * HV_XEN_BUCKET_SIZE;

        if (i != 3) {
            ck_assert_int_eq(hv_xen_mapcache_read(&mc, gpa, &x, 1), 0);
        }
    }
    ck_assert_int_eq(hv_xen_mapcache_read(&mc, ring, &x, 1), 0);
    ck_assert_uint_eq(mc.st.maps, maps + 4 + 1); /* evicted after all */
    fake_teardown(&f, &mc);
}
END_TEST

/* Pins take at most half the cache; copies keep the rest. */
START_TEST(test_pin_bound)
{
    struct fake f;
    struct hv_xen_mapcache mc;
    uint8_t *a, *b, x;

    fake_setup(&f, &mc, 4);
    a = hv_xen_mapcache_pin(&mc, FAKE_BASE, 64);
    b = hv_xen_mapcache_pin(&mc, FAKE_BASE + HV_XEN_BUCKET_SIZE, 64);
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    ck_assert_ptr_null(hv_xen_mapcache_pin(&mc, FAKE_BASE +
                                                    2 * HV_XEN_BUCKET_SIZE,
                                           64));
    ck_assert_uint_eq(mc.pinned, 2);
    /* More rings in buckets already pinned are fine. */
    ck_assert_ptr_nonnull(hv_xen_mapcache_pin(&mc, FAKE_BASE + 4096, 64));
    for (unsigned i = 2; i < 8; i++) {
        ck_assert_int_eq(hv_xen_mapcache_read(
                             &mc, FAKE_BASE + i * HV_XEN_BUCKET_SIZE, &x, 1),
                         0);
    }
    ck_assert_uint_le(f.peak, 4);
    /* A cache of one bucket pins nothing. */
    hv_xen_mapcache_unpin(&mc, a);
    hv_xen_mapcache_unpin(&mc, a + 4096);
    hv_xen_mapcache_unpin(&mc, b);
    ck_assert_uint_eq(mc.pinned, 0);
    fake_teardown(&f, &mc);
    fake_setup(&f, &mc, 1);
    ck_assert_ptr_null(hv_xen_mapcache_pin(&mc, FAKE_BASE, 64));
    ck_assert_int_eq(hv_xen_mapcache_read(&mc, FAKE_BASE, &x, 1), 0);
    fake_teardown(&f, &mc);
}
END_TEST

/* A range one mapping does not cover: refused, nothing pinned. */
START_TEST(test_pin_crossing)
{
    struct fake f;
    struct hv_xen_mapcache mc;
    uint64_t edge = FAKE_BASE + 2 * HV_XEN_BUCKET_SIZE;
    uint8_t *p;

    fake_setup(&f, &mc, 4);
    ck_assert_ptr_null(hv_xen_mapcache_pin(&mc, edge - 2, 4));
    ck_assert_ptr_null(hv_xen_mapcache_pin(&mc, edge - 4096, 4097));
    ck_assert_ptr_null(hv_xen_mapcache_pin(&mc, FAKE_BASE, 0));
    ck_assert_ptr_null(hv_xen_mapcache_pin(&mc, FAKE_BASE,
                                           HV_XEN_BUCKET_SIZE + 1));
    ck_assert_ptr_null(hv_xen_mapcache_pin(&mc, UINT64_MAX - 3, 8));
    ck_assert_ptr_null(hv_xen_mapcache_pin(&mc, FAKE_BASE + 1, SIZE_MAX));
    ck_assert_uint_eq(mc.pinned, 0);
    ck_assert_uint_eq(f.maps, 0);
    /* Up to the boundary, and a whole bucket, are fine. */
    p = hv_xen_mapcache_pin(&mc, edge - 4096, 4096);
    ck_assert_ptr_nonnull(p);
    poke(p + 4095, edge - 1);
    hv_xen_mapcache_unpin(&mc, p);
    p = hv_xen_mapcache_pin(&mc, edge, HV_XEN_BUCKET_SIZE);
    ck_assert_ptr_nonnull(p);
    hv_xen_mapcache_unpin(&mc, p);
    ck_assert_uint_eq(mc.pinned, 0);
    fake_teardown(&f, &mc);
}
END_TEST

/*
 * A ring over a page that did not map (ballooned out, or past the end
 * of the guest's RAM): refused; the bucket's good pages pin and copy.
 */
START_TEST(test_pin_hole)
{
    struct fake f;
    struct hv_xen_mapcache mc;
    uint64_t bad = FAKE_BASE + HV_XEN_BUCKET_SIZE + 5 * HV_XEN_PAGE_SIZE;
    uint8_t *p, buf[8];

    fake_setup(&f, &mc, 4);
    f.bad_gpa = bad;
    ck_assert_ptr_null(hv_xen_mapcache_pin(&mc, bad - 16, 32));
    ck_assert_ptr_null(hv_xen_mapcache_pin(&mc, bad + 100, 8));
    ck_assert_uint_eq(mc.pinned, 0);
    p = hv_xen_mapcache_pin(&mc, bad + HV_XEN_PAGE_SIZE, 4096);
    ck_assert_ptr_nonnull(p);
    poke(p, bad + HV_XEN_PAGE_SIZE);
    ck_assert_int_eq(hv_xen_mapcache_read(&mc, bad, buf, 1), -EFAULT);
    hv_xen_mapcache_unpin(&mc, p);
    ck_assert_ptr_null(hv_xen_mapcache_pin(&mc, FAKE_BASE + FAKE_LEN, 64));
    f.fail_maps = 1;
    ck_assert_ptr_null(hv_xen_mapcache_pin(&mc, FAKE_BASE + 5 *
                                                    HV_XEN_BUCKET_SIZE,
                                           64));
    ck_assert_uint_eq(mc.pinned, 0);
    fake_teardown(&f, &mc);
}
END_TEST

/*
 * INVALIDATE while a ring is pinned: the pointer stays good (retired
 * bucket), copies and new pins map the guest's pages afresh, and the
 * retired bucket goes with its last pin.
 */
START_TEST(test_pin_invalidate)
{
    struct fake f;
    struct hv_xen_mapcache mc;
    uint64_t ring = FAKE_BASE + 0x3000;
    uint8_t *p, *q, x;

    fake_setup(&f, &mc, 4);
    p = hv_xen_mapcache_pin(&mc, ring, 4096);
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(hv_xen_mapcache_read(&mc, FAKE_BASE + HV_XEN_BUCKET_SIZE,
                                          &x, 1),
                     0);
    hv_xen_mapcache_invalidate(&mc);
    ck_assert_uint_eq(f.live, 1);
    poke(p, ring);
    ck_assert_int_eq(hv_xen_mapcache_read(&mc, ring, &x, 1), 0);
    ck_assert_uint_eq(mc.st.maps, 3); /* not served by the retired one */
    q = hv_xen_mapcache_pin(&mc, ring, 4096);
    ck_assert_ptr_nonnull(q);
    ck_assert_ptr_ne(q, p);
    ck_assert_uint_eq(mc.pinned, 2);
    ck_assert_uint_eq(f.live, 2);
    hv_xen_mapcache_unpin(&mc, p);
    ck_assert_uint_eq(f.live, 1);
    ck_assert_uint_eq(mc.live, 1);
    ck_assert_uint_eq(mc.pinned, 1);
    poke(q, ring);
    hv_xen_mapcache_unpin(&mc, q);
    ck_assert_uint_eq(mc.pinned, 0);
    fake_teardown(&f, &mc);
}
END_TEST

/* ---- hv_mem_ptr under hv_xen, and the vq that uses it ---- */

#define MIB (1ULL << 20)

/*
 * A struct hv_xen whose guest memory is the fake's: bank 0 its first
 * 4 MiB, a hole of 2 MiB, bank 1 its last 2 MiB.
 */
static struct hv_xen *
xen_fx(struct fake *f, unsigned mib)
{
    struct hv_xen *x = calloc(1, sizeof(*x));

    ck_assert_ptr_nonnull(x);
    fake_setup(f, &x->mc, mib);
    x->hv.ops = &hv_xen_ops;
    x->hv.domid = 5;
    strcpy(x->hv.name, "dom5");
    ck_assert_int_eq(hv_layout_add(&x->hv.ram, FAKE_BASE, 4 * MIB), 0);
    ck_assert_int_eq(hv_layout_add(&x->hv.ram, FAKE_BASE + 6 * MIB, 2 * MIB),
                     0);
    return x;
}

static void
xen_fx_free(struct fake *f, struct hv_xen *x)
{
    fake_teardown(f, &x->mc);
    free(x);
}

START_TEST(test_xen_mem_ptr)
{
    struct fake f;
    struct hv_xen *x = xen_fx(&f, 4);
    struct hv_mem_stats st;
    uint64_t gen = x->hv.map_gen;
    uint64_t a = FAKE_BASE + 0x1008, b = FAKE_BASE + 6 * MIB + 0x40;
    uint8_t *p, *q;

    p = hv_mem_ptr(&x->hv, a, 4096);
    ck_assert_ptr_nonnull(p);
    poke(p, a);
    q = hv_mem_ptr(&x->hv, b, 2054);
    ck_assert_ptr_nonnull(q);
    poke(q, b);
    /* A ring in the bank hole or over a bank's end: refused before any
     * mapping is made. */
    ck_assert_ptr_null(hv_mem_ptr(&x->hv, FAKE_BASE + 5 * MIB, 64));
    ck_assert_ptr_null(hv_mem_ptr(&x->hv, FAKE_BASE + 4 * MIB - 8, 16));
    ck_assert_ptr_null(hv_mem_ptr(&x->hv, FAKE_BASE + 8 * MIB - 8, 16));
    ck_assert_uint_eq(f.maps, 2);
    hv_mem_stats(&x->hv, &st);
    ck_assert_uint_eq(st.pinned, 2);
    /* INVALIDATE: map_gen moves; the pointers stay good until given back. */
    hv_xen_invalidate(x);
    ck_assert_uint_gt(x->hv.map_gen, gen);
    poke(p, a);
    hv_mem_ptr_put(&x->hv, p);
    hv_mem_ptr_put(&x->hv, NULL);
    ck_assert_uint_eq(f.live, 1);
    poke(q, b);
    hv_mem_ptr_put(&x->hv, q);
    hv_mem_stats(&x->hv, &st);
    ck_assert_uint_eq(st.pinned, 0);
    ck_assert_uint_eq(f.live, 0);
    xen_fx_free(&f, x);
}
END_TEST

/*
 * A virtqueue under hv_xen reads its rings through the pinned pointers
 * while copies sweep the rest of guest RAM through a cache of 4 buckets
 * (the ring's bucket would be the first victim without its pin: ASan
 * sees the fake free it), and gives them back at vq_fini.
 */
START_TEST(test_xen_vq_rings_pinned)
{
    struct fake f;
    struct hv_xen *x = xen_fx(&f, 4);
    struct hv *hv = &x->hv;
    const uint64_t desc = FAKE_BASE + 0x10000, avail = desc + 0x1000;
    const uint64_t used = desc + 0x2000, buf = FAKE_BASE + 6 * MIB;
    static const uint8_t zero[256];
    struct vq_chain c;
    struct vq vq;
    uint8_t d[16], x8;
    uint16_t idx = 0;

    ck_assert_int_eq(hv_mem_write(hv, avail, zero, sizeof(zero)), 0);
    ck_assert_int_eq(hv_mem_write(hv, used, zero, sizeof(zero)), 0);
    ck_assert_int_eq(vq_init(&vq, hv, "q", 8, desc, avail, used, 0), 0);
    for (uint16_t round = 0; round < 20; round++) {
        uint16_t head = round % 8;

        memset(d, 0, sizeof(d));
        d[0] = (uint8_t)buf;
        for (unsigned i = 1; i < 8; i++) {
            d[i] = (uint8_t)(buf >> (8 * i));
        }
        d[8] = 64;
        ck_assert_int_eq(hv_mem_write(hv, desc + 16u * head, d, sizeof(d)),
                         0);
        ck_assert_int_eq(hv_write_le16(hv, avail + 4 + 2u * head, head), 0);
        ck_assert_int_eq(hv_write_le16(hv, avail + 2, round + 1), 0);
        ck_assert_int_eq(vq_pop(&vq, &c), 1);
        ck_assert(vq.map.ok);
        ck_assert_uint_eq(c.head, head);
        ck_assert_uint_eq(c.seg[0].gpa, buf);
        for (unsigned i = 1; i < 8; i++) {
            if (i != 4 && i != 5) {
                ck_assert_int_eq(hv_mem_read(hv, FAKE_BASE + i * MIB, &x8, 1),
                                 0);
            }
        }
        ck_assert_int_eq(vq_push(&vq, head, 0), 0);
        ck_assert_int_eq(hv_read_le16(hv, used + 2, &idx), 0);
        ck_assert_uint_eq(idx, round + 1);
    }
    ck_assert_uint_ge(x->mc.st.evictions, 20);
    ck_assert_uint_eq(x->mc.pinned, 1);
    vq_fini(&vq);
    ck_assert_uint_eq(x->mc.pinned, 0);
    xen_fx_free(&f, x);
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
    CHECK_ADD(s, test_pin_basic, 10);
    CHECK_ADD(s, test_pin_eviction_pressure, 10);
    CHECK_ADD(s, test_pin_bound, 10);
    CHECK_ADD(s, test_pin_crossing, 10);
    CHECK_ADD(s, test_pin_hole, 10);
    CHECK_ADD(s, test_pin_invalidate, 10);
    CHECK_ADD(s, test_xen_mem_ptr, 10);
    CHECK_ADD(s, test_xen_vq_rings_pinned, 10);
}
