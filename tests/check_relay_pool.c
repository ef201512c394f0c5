/*
 * relay_pool: the shadow relay's bounce-pool allocator.  Out-of-order
 * frees, coalescing, limits, and a seeded random run checked against a
 * byte map of the pool (no overlap; an allocation fails only when no
 * free run of that size exists).  Then how the shadow relay lays a
 * chain out in the space it gets (shadow_bounce_layout).
 */
#include <config.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "check_common.h"
#include "relay_pool.h"
#include "relay_shadow.h"

#define GRAIN RELAY_POOL_GRAIN

/* One allocation held for ever while thousands of others come and go. */
START_TEST(test_pool_held_allocation)
{
    struct relay_pool p;
    uint32_t held, off[8];

    ck_assert_int_eq(relay_pool_init(&p, 64 * GRAIN, 16), 0);
    ck_assert_int_eq(relay_pool_alloc(&p, 3 * GRAIN, &held), 0);
    for (unsigned round = 0; round < 10000; round++) {
        for (unsigned i = 0; i < 8; i++) {
            ck_assert_int_eq(relay_pool_alloc(&p, 7 * GRAIN - 1, &off[i]), 0);
            ck_assert(off[i] >= held + 3 * GRAIN || off[i] + 7 * GRAIN <= held);
        }
        for (unsigned i = 0; i < 8; i++) {
            relay_pool_free(&p, off[(i * 3 + round) % 8], 7 * GRAIN - 1);
        }
    }
    ck_assert_uint_eq(p.free_len, 61 * GRAIN);
    ck_assert_uint_eq(p.n, 1);
    relay_pool_free(&p, held, 3 * GRAIN);
    ck_assert_uint_eq(p.free_len, 64 * GRAIN);
    relay_pool_fini(&p);
}
END_TEST

/* Frees in any order coalesce back into one extent covering the pool. */
START_TEST(test_pool_coalesce)
{
    static const unsigned order[4] = { 1, 3, 0, 2 };
    struct relay_pool p;
    uint32_t off[4], all;

    ck_assert_int_eq(relay_pool_init(&p, 16 * GRAIN, 4), 0);
    for (unsigned i = 0; i < 4; i++) {
        ck_assert_int_eq(relay_pool_alloc(&p, 4 * GRAIN, &off[i]), 0);
        ck_assert_uint_eq(off[i], i * 4 * GRAIN);
    }
    ck_assert_int_eq(relay_pool_alloc(&p, 1, &all), -EAGAIN);
    for (unsigned i = 0; i < 4; i++) {
        relay_pool_free(&p, off[order[i]], 4 * GRAIN);
    }
    ck_assert_uint_eq(p.n, 1);
    ck_assert_int_eq(relay_pool_alloc(&p, 16 * GRAIN, &all), 0);
    ck_assert_uint_eq(all, 0);
    relay_pool_free(&p, all, 16 * GRAIN);
    relay_pool_fini(&p);
}
END_TEST

START_TEST(test_pool_limits)
{
    struct relay_pool p;
    uint32_t off[3];

    ck_assert_int_eq(relay_pool_init(&p, 0, 4), -EINVAL);
    ck_assert_int_eq(relay_pool_init(&p, GRAIN - 1, 4), -EINVAL);
    ck_assert_int_eq(relay_pool_init(&p, 8 * GRAIN, 0), -EINVAL);
    ck_assert_int_eq(relay_pool_init(&p, 8 * GRAIN + 100, 2), 0);
    ck_assert_uint_eq(p.len, 8 * GRAIN);
    ck_assert_int_eq(relay_pool_alloc(&p, 0, &off[0]), -E2BIG);
    ck_assert_int_eq(relay_pool_alloc(&p, 8 * GRAIN + 1, &off[0]), -E2BIG);
    ck_assert_int_eq(relay_pool_alloc(&p, 1, &off[0]), 0);
    ck_assert_int_eq(relay_pool_alloc(&p, GRAIN + 1, &off[1]), 0);
    ck_assert_uint_eq(off[1] % GRAIN, 0);
    /* max_allocs live: wait, although bytes are free */
    ck_assert_int_eq(relay_pool_alloc(&p, 1, &off[2]), -EAGAIN);
    relay_pool_free(&p, off[0], 1);
    ck_assert_int_eq(relay_pool_alloc(&p, 1, &off[2]), 0);
    relay_pool_free(&p, off[1], GRAIN + 1);
    relay_pool_free(&p, off[2], 1);
    ck_assert_uint_eq(p.free_len, 8 * GRAIN);
    relay_pool_fini(&p);
}
END_TEST

/* Longest run of free grains in the map. */
static unsigned
longest_free(const unsigned char *map, unsigned grains)
{
    unsigned best = 0, run = 0;

    for (unsigned i = 0; i < grains; i++) {
        run = map[i] ? 0 : run + 1;
        best = run > best ? run : best;
    }
    return best;
}

START_TEST(test_pool_random_model)
{
    enum { GRAINS = 256, LIVE = 64 };
    struct relay_pool p;
    unsigned char map[GRAINS];
    uint32_t off[LIVE], len[LIVE];
    unsigned n = 0;
    unsigned seed = 12345;

    memset(map, 0, sizeof(map));
    ck_assert_int_eq(relay_pool_init(&p, GRAINS * GRAIN, LIVE), 0);
    for (unsigned step = 0; step < 200000; step++) {
        seed = seed * 1103515245u + 12345u;
        if (n > 0 && ((seed >> 16) & 1)) {
            unsigned k = (seed >> 8) % n;

            relay_pool_free(&p, off[k], len[k]);
            for (unsigned g = 0; g < (len[k] + GRAIN - 1) / GRAIN; g++) {
                map[off[k] / GRAIN + g] = 0;
            }
            off[k] = off[n - 1];
            len[k] = len[n - 1];
            n--;
        } else {
            uint32_t want = 1 + (seed >> 4) % (24 * GRAIN), o;
            unsigned grains = (want + GRAIN - 1) / GRAIN;
            int rc = relay_pool_alloc(&p, want, &o);

            if (n == LIVE) {
                ck_assert_int_eq(rc, -EAGAIN);
                continue;
            }
            if (rc == -EAGAIN) {
                ck_assert_uint_lt(longest_free(map, GRAINS), grains);
                continue;
            }
            ck_assert_int_eq(rc, 0);
            ck_assert_uint_eq(o % GRAIN, 0);
            for (unsigned g = 0; g < grains; g++) {
                ck_assert_uint_eq(map[o / GRAIN + g], 0);
                map[o / GRAIN + g] = 1;
            }
            off[n] = o;
            len[n] = want;
            n++;
        }
        ck_assert_uint_le(p.n, p.live + 1);
    }
    relay_pool_fini(&p);
}
END_TEST

/*
 * Check one chain's bounce layout: page-sized segments on pages, sector-
 * sized ones on sectors, the table 16-aligned, nothing overlapping,
 * everything inside the total.  Returns the offset of segment `want`.
 */
static uint32_t
layout_check(const uint32_t *lens, unsigned n, bool indirect, unsigned want)
{
    static struct vq_chain c;
    uint32_t off[VQ_MAX_SEGS], table;
    uint64_t total;

    memset(&c, 0, sizeof(c));
    c.nseg = (uint16_t)n;
    for (unsigned i = 0; i < n; i++) {
        c.seg[i].len = lens[i];
    }
    total = shadow_bounce_layout(&c, indirect, off, &table);
    ck_assert_uint_eq(table % 16, 0);
    ck_assert_uint_le(table + (indirect ? 16ULL * n : 0), total);
    for (unsigned i = 0; i < n; i++) {
        uint64_t a = off[i], z = a + lens[i];

        ck_assert_uint_le(z, total);
        if (lens[i] >= 4096) {
            ck_assert_msg(a % 4096 == 0, "segment %u (%u bytes) at %llu",
                          i, lens[i], (unsigned long long)a);
        } else if (lens[i] >= 512) {
            ck_assert_uint_eq(a % 512, 0);
        }
        if (indirect) {
            ck_assert(z <= table || a >= table + 16ULL * n);
        }
        for (unsigned j = 0; j < i; j++) {
            ck_assert(z <= off[j] || a >= off[j] + lens[j]);
        }
    }
    return off[want];
}

/*
 * The shadow relay lays a chain's buffers out in its bounce space the
 * way the guest has them: a page-sized buffer on a page of its own (a
 * virtio-blk read's data behind its 16-byte header used to start 512
 * bytes in, across 33 pages for 32), smaller ones sector-aligned, with
 * and without an indirect table.  Bounce space itself starts on a page.
 */
START_TEST(test_bounce_layout)
{
    const uint32_t read128k[] = { 16, 131072, 1 };
    const uint32_t sg[] = { 16, 4096, 4096, 4096, 4096, 1 };
    const uint32_t odd[] = { 16, 600, 5000, 4096, 3, 512 };

    ck_assert_uint_eq(GRAIN % 4096, 0);
    ck_assert_uint_eq(layout_check(read128k, 3, false, 1), 0);
    ck_assert_uint_eq(layout_check(read128k, 3, true, 1), 0);
    ck_assert_uint_eq(layout_check(sg, 6, true, 4), 3 * 4096);
    layout_check(sg, 6, false, 0);
    ck_assert_uint_eq(layout_check(odd, 6, false, 3), 8192);
    layout_check(odd, 6, true, 0);
}
END_TEST

static Suite *
make_suite(void)
{
    Suite *s = suite_create("relay_pool");

    CHECK_ADD(s, test_pool_held_allocation, 10);
    CHECK_ADD(s, test_pool_coalesce, 10);
    CHECK_ADD(s, test_pool_limits, 10);
    CHECK_ADD(s, test_pool_random_model, 30);
    CHECK_ADD(s, test_bounce_layout, 10);
    return s;
}

CHECK_MAIN(make_suite)
