/*
 * Lifecycle leaks (bad-input checklist item 20): 1,000 device cycles of
 * create, initialise, I/O, reset, destroy against one real
 * qemu-storage-daemon, alternating shadow and zero-copy mode, with the
 * whole simulated guest (RAM, loop) destroyed and recreated every tenth
 * cycle (100 guest cycles).  After a warm-up, the process must end with
 * the same number of fds, mappings and threads, and its RSS within a
 * small tolerance.
 */
#include <config.h>

#include <stdio.h>
#include <string.h>

#include "check_common.h"
#include "hguest.h"
#include "vmmio.h"

#define CYCLES 1000
#define WARMUP 20
#define RSS_TOLERANCE_KIB 2048
#define WANT (1ULL << VIRTIO_F_VERSION_1)
#define ST_OK                                                                  \
    (VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |                        \
     VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK)

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#ifndef UNDER_ASAN
#define UNDER_ASAN 0
#endif

/* Replace the guest's RAM and loop (the qsd and directory stay). */
static void
new_guest(struct hguest *g)
{
    struct hv_sim_config hc = { .name = "hguest", .ram0_len = HGUEST_RAM0,
                                .ram1_len = HGUEST_RAM1 };

    hv_sim_free(g->sim);
    loop_free(g->loop);
    ck_assert_int_eq(hv_sim_new(&g->sim, &hc), 0);
    g->loop = loop_new();
    ck_assert_ptr_nonnull(g->loop);
}

static void
one_cycle(struct hguest *g, unsigned i)
{
    struct relay_config rc = { .bounce_kib = 256 };
    enum relay_mode mode = i & 1 ? RELAY_MODE_ZEROCOPY : RELAY_MODE_SHADOW;
    struct hdev d;
    uint8_t buf[512], back[512], st = 0xff;

    ck_assert_int_eq(hdev_open(&d, g, i % 3, NULL, mode, &rc), 0);
    ck_assert_uint_eq(rawdrv_init(&d.drv, WANT, 16), ST_OK);
    memset(buf, (int)(i & 0xff), sizeof(buf));
    ck_assert_int_eq(rawdrv_blk(&d.drv, 1, i % 64, buf, sizeof(buf), &st), 0);
    ck_assert_uint_eq(st, 0);
    ck_assert_int_eq(rawdrv_blk(&d.drv, 0, i % 64, back, sizeof(back), &st), 0);
    ck_assert_uint_eq(st, 0);
    ck_assert_mem_eq(back, buf, sizeof(buf));
    rawdrv_wr(&d.drv, VMMIO_STATUS, 0);
    hdev_close(&d);
    ck_assert_uint_eq(hv_sim_mmio_windows(g->sim), 0);
    ck_assert_int_eq(hv_sim_ptrs_held(g->sim), 0);
}

START_TEST(test_device_cycles)
{
    struct hguest g;
    struct proc_usage before, after;
    uint64_t t0;
    unsigned ms;

    ck_assert_int_eq(hguest_new(&g, 1u << 20), 0);
    for (unsigned i = 0; i < WARMUP; i++) {
        if (i % 10 == 0) {
            new_guest(&g);
        }
        one_cycle(&g, i);
    }
    proc_usage_get(&before);
    t0 = log_now_ns();
    for (unsigned i = WARMUP; i < CYCLES; i++) {
        if (i % 10 == 0) {
            new_guest(&g);
        }
        one_cycle(&g, i);
    }
    ms = (unsigned)((log_now_ns() - t0) / 1000000ULL);
    proc_usage_get(&after);
    fprintf(stderr, "lifecycle: %u cycles in %u ms; fds %d->%d, maps %d->%d, "
            "rss %ld->%ld KiB, threads %d->%d%s\n", CYCLES - WARMUP, ms,
            before.fds, after.fds, before.maps, after.maps, before.rss_kib,
            after.rss_kib, before.threads, after.threads,
            UNDER_ASAN ? " (ASan: maps and RSS not compared)" : "");
    ck_assert_int_eq(after.fds, before.fds);
    ck_assert_int_eq(after.threads, before.threads);
    if (!UNDER_ASAN) {
        ck_assert_int_eq(after.maps, before.maps);
        ck_assert_int_le(after.rss_kib, before.rss_kib + RSS_TOLERANCE_KIB);
    }
    hguest_free(&g);
}
END_TEST

/* Run the loop until the guest holds `want` direct ring pointers. */
static int
ptrs_settle(struct hguest *g, int want)
{
    for (unsigned i = 0; i < 200 && hv_sim_ptrs_held(g->sim) != want; i++) {
        loop_run_once(g->loop, 10);
    }
    return hv_sim_ptrs_held(g->sim);
}

/*
 * Direct ring pointers pin what maps the guest's rings under Xen: held
 * while a shadow queue is live, given back when the queue stops (a reset,
 * QueueReady=0: once the backend answered GET_VRING_BASE) and when the
 * device goes; a new session takes them again, never on top.
 */
START_TEST(test_ring_pointers_released)
{
    struct relay_config rc = { .bounce_kib = 256 };
    struct hguest g;
    struct hdev d;
    uint8_t buf[512], st = 0xff;

    ck_assert_int_eq(hguest_new(&g, 1u << 20), 0);
    ck_assert_int_eq(hdev_open(&d, &g, 0, NULL, RELAY_MODE_SHADOW, &rc), 0);
    for (unsigned round = 0; round < 3; round++) {
        ck_assert_uint_eq(rawdrv_init(&d.drv, WANT, 16), ST_OK);
        ck_assert_int_eq(rawdrv_blk(&d.drv, 0, round, buf, sizeof(buf), &st),
                         0);
        ck_assert_uint_eq(st, 0);
        ck_assert_int_eq(hv_sim_ptrs_held(g.sim), 3); /* desc, avail, used */
        if (round == 1) {
            rawdrv_wr(&d.drv, VMMIO_QUEUE_SEL, 0);
            rawdrv_wr(&d.drv, VMMIO_QUEUE_READY, 0);
        } else {
            rawdrv_wr(&d.drv, VMMIO_STATUS, 0);
        }
        ck_assert_int_eq(ptrs_settle(&g, 0), 0);
        rawdrv_wr(&d.drv, VMMIO_STATUS, 0);
    }
    ck_assert_uint_eq(rawdrv_init(&d.drv, WANT, 16), ST_OK);
    ck_assert_int_eq(rawdrv_blk(&d.drv, 0, 0, buf, sizeof(buf), &st), 0);
    ck_assert_int_eq(hv_sim_ptrs_held(g.sim), 3);
    hdev_close(&d);
    ck_assert_int_eq(hv_sim_ptrs_held(g.sim), 0);
    hguest_free(&g);
}
END_TEST

static Suite *
make_suite(void)
{
    Suite *s = suite_create("relay_lifecycle");

    CHECK_ADD(s, test_device_cycles, 120);
    CHECK_ADD(s, test_ring_pointers_released, 30);
    return s;
}

CHECK_MAIN(make_suite)
