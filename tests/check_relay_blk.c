/*
 * End to end: simulated guest -> virtio-mmio -> relay -> real
 * qemu-storage-daemon, in zero-copy and in shadow mode.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend_proc.h"
#include "blkdrv.h"
#include "check_common.h"
#include "vmmio.h"

#define DISK_BYTES (64ULL << 20)
#define SEED 0x5eed1234abcdULL
#define WANT_ALL (~0ULL)

struct fixture {
    char dir[256];
    char image[300];
    struct backend_proc qsd;
};

static void
fixture_up(struct fixture *f)
{
    int fd;

    if (!backend_qsd_path()) {
        ck_abort_msg("qemu-storage-daemon is not installed "
                     "(package qemu-system-common)");
    }
    ck_assert_int_eq(backend_tmpdir(f->dir, sizeof(f->dir)), 0);
    snprintf(f->image, sizeof(f->image), "%s/disk.img", f->dir);
    fd = open(f->image, O_CREAT | O_RDWR | O_TRUNC, 0600);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(ftruncate(fd, (off_t)DISK_BYTES), 0);
    close(fd);
    ck_assert_int_eq(backend_start_qsd(&f->qsd, f->dir, "blk", f->image), 0);
}

static void
fixture_down(struct fixture *f)
{
    backend_stop(&f->qsd);
    backend_rmtree(f->dir);
}

/*
 * Write the whole disk with seeded data in requests of 512 B .. 1 MiB,
 * as single, multi-descriptor and indirect chains, up to 8 in flight;
 * read it all back the same way; flush; compare the image from outside.
 */
static void
data_roundtrip(enum relay_mode mode)
{
    struct fixture f;
    struct blkdrv b;
    struct relay_stats st;
    struct relay_queue_stats sum;
    char err[160];

    fixture_up(&f);
    ck_assert_int_eq(blkdrv_open(&b, f.qsd.sock, mode, WANT_ALL, 8), 0);
    ck_assert_int_eq(relay_mode(b.relay), mode);
    ck_assert_uint_eq(b.capacity, DISK_BYTES / 512);
    ck_assert(simdrv_features(b.drv) & (1ULL << VIRTIO_F_VERSION_1));

    if (blkdrv_roundtrip(&b, DISK_BYTES, SEED, 8, err, sizeof(err)) < 0) {
        ck_abort_msg("%s mode: %s", relay_mode_name(mode), err);
    }
    relay_get_stats(b.relay, &st);
    relay_stats_sum(&st, &sum);
    if (mode == RELAY_MODE_SHADOW) {
        ck_assert_uint_ge(sum.bytes_in, DISK_BYTES);
        ck_assert_uint_ge(sum.bytes_out, DISK_BYTES);
    }
    ck_assert_uint_gt(st.irqs, 0);
    ck_assert_uint_gt(st.reg_queue_notify, 0);
    blkdrv_close(&b);
    ck_assert_uint_eq(blkdrv_file_hash(f.image), blkdrv_pattern_hash(SEED, DISK_BYTES));
    fixture_down(&f);
}

START_TEST(test_blk_data_shadow)
{
    data_roundtrip(RELAY_MODE_SHADOW);
}
END_TEST

START_TEST(test_blk_data_zerocopy)
{
    data_roundtrip(RELAY_MODE_ZEROCOPY);
}
END_TEST

/*
 * Kicks delivered by (simulated) kernel ioeventfds instead of traps: to the
 * backend directly in zero-copy mode, through the relay's loop in shadow
 * mode.  Same data round trip, and no QueueNotify reaches the trap.
 */
START_TEST(test_blk_ioeventfd_kicks)
{
    static const enum relay_mode modes[] = { RELAY_MODE_SHADOW,
                                             RELAY_MODE_ZEROCOPY };
    struct fixture f;
    char err[160];

    fixture_up(&f);
    for (unsigned m = 0; m < 2; m++) {
        struct blkdrv b;

        ck_assert_int_eq(blkdrv_open_ioeventfd(&b, f.qsd.sock, modes[m],
                                               WANT_ALL, 8), 0);
        struct relay_stats st;

        if (blkdrv_roundtrip(&b, 16ULL << 20, SEED + m, 8, err,
                             sizeof(err)) < 0) {
            ck_abort_msg("%s mode: %s", relay_mode_name(modes[m]), err);
        }
        relay_get_stats(b.relay, &st);
        ck_assert_uint_eq(st.reg_queue_notify, 0);
        ck_assert_uint_eq(st.q[0].kicks_trapped, 0);
        /* shadow: the relay watches the eventfd; zero-copy: it never sees
         * the kick, the kernel signals the backend directly */
        if (modes[m] == RELAY_MODE_SHADOW) {
            ck_assert_uint_gt(st.q[0].kicks_eventfd, 0);
        } else {
            ck_assert_uint_eq(st.q[0].kicks_eventfd, 0);
        }
        blkdrv_close(&b);
    }
    fixture_down(&f);
}
END_TEST

/*
 * Counters match what the guest did: N requests, each with one trapped
 * QueueNotify; bytes copied only in shadow mode (4 KiB of data each way
 * for half the requests, plus 16-byte headers in, status bytes out).
 */
START_TEST(test_blk_counters)
{
    enum { N = 20 };
    static const enum relay_mode modes[] = { RELAY_MODE_SHADOW,
                                             RELAY_MODE_ZEROCOPY };
    struct fixture f;
    static uint8_t buf[4096];

    fixture_up(&f);
    for (unsigned m = 0; m < 2; m++) {
        struct relay_stats a, z;
        struct relay_queue_stats *q = &z.q[0];
        struct blkdrv b;

        ck_assert_int_eq(blkdrv_open(&b, f.qsd.sock, modes[m], WANT_ALL, 4), 0);
        relay_get_stats(b.relay, &a);
        for (unsigned i = 0; i < N; i++) {
            ck_assert_int_eq(blkdrv_sync(&b, i % 2 ? VIRTIO_BLK_T_IN
                                                   : VIRTIO_BLK_T_OUT,
                                         8 * i, buf, sizeof(buf)), 0);
        }
        relay_get_stats(b.relay, &z);
        ck_assert_uint_eq(z.nr_queues, 1);
        ck_assert_uint_eq(q->requests - a.q[0].requests, N);
        ck_assert_uint_eq(q->kicks_trapped - a.q[0].kicks_trapped, N);
        ck_assert_uint_eq(z.reg_queue_notify - a.reg_queue_notify, N);
        ck_assert_uint_eq(q->kicks_eventfd, 0);
        ck_assert_uint_ge(z.reg_reads - a.reg_reads,
                          z.reg_interrupt_status - a.reg_interrupt_status);
        ck_assert_uint_ge(z.reg_interrupt_status - a.reg_interrupt_status, 1);
        ck_assert_uint_ge(z.reg_interrupt_ack - a.reg_interrupt_ack, 1);
        ck_assert_uint_ge(z.irqs - a.irqs, 1);
        ck_assert_uint_le(z.irqs, q->notifies);
        ck_assert_uint_ge(q->calls - a.q[0].calls, 1);
        ck_assert_uint_ge(z.vhu_msgs, a.vhu_msgs);
        ck_assert_uint_gt(a.vhu_msgs, 5); /* handshake, tables, rings */
        ck_assert_uint_eq(z.err_device + z.err_backend + z.err_host, 0);
        if (modes[m] == RELAY_MODE_SHADOW) {
            ck_assert_uint_eq(q->bytes_in - a.q[0].bytes_in,
                              N / 2 * sizeof(buf) + N * 16);
            ck_assert_uint_eq(q->bytes_out - a.q[0].bytes_out,
                              N / 2 * sizeof(buf) + N);
        } else {
            ck_assert_uint_eq(q->bytes_in + q->bytes_out, 0);
            /* every trapped kick goes straight on to the backend */
            ck_assert_uint_eq(q->backend_kicks - a.q[0].backend_kicks, N);
        }
        blkdrv_close(&b);
    }
    fixture_down(&f);
}
END_TEST

/* Reset and re-initialisation with I/O before and after, both modes. */
START_TEST(test_blk_reset_reinit)
{
    static const enum relay_mode modes[] = { RELAY_MODE_SHADOW,
                                             RELAY_MODE_ZEROCOPY };
    struct fixture f;
    uint8_t buf[4096], back[4096];

    fixture_up(&f);
    for (unsigned m = 0; m < 2; m++) {
        struct blkdrv b;

        ck_assert_int_eq(blkdrv_open(&b, f.qsd.sock, modes[m], WANT_ALL, 4), 0);
        for (int round = 0; round < 3; round++) {
            memset(buf, 0x40 + round + (int)m * 8, sizeof(buf));
            ck_assert_int_eq(blkdrv_sync(&b, VIRTIO_BLK_T_OUT, 8, buf, 4096), 0);
            ck_assert_int_eq(blkdrv_sync(&b, VIRTIO_BLK_T_IN, 8, back, 4096), 0);
            ck_assert_mem_eq(buf, back, sizeof(buf));
            ck_assert_int_eq(simdrv_init(b.drv, WANT_ALL, 1, 0), 0);
        }
        blkdrv_close(&b);
    }
    fixture_down(&f);
}
END_TEST

/* Reset with requests in flight: nothing completes into reused memory. */
START_TEST(test_blk_reset_inflight)
{
    struct fixture f;
    struct blkdrv b;
    uint8_t buf[4096];

    fixture_up(&f);
    ck_assert_int_eq(blkdrv_open(&b, f.qsd.sock, RELAY_MODE_SHADOW, WANT_ALL, 16),
                     0);
    for (int i = 0; i < 16; i++) {
        struct blkreq *r;

        ck_assert_int_eq(blkdrv_submit(&b, VIRTIO_BLK_T_IN, (uint64_t)i * 256,
                                       128 * 1024, 4, false, &r), 0);
    }
    blkdrv_kick(&b);
    /* Reset at once, then the "guest" reuses every buffer. */
    simdrv_reset(b.drv);
    for (int i = 0; i < 16; i++) {
        memset(b.slot[i].data, 0xa5, 128 * 1024);
    }
    for (int i = 0; i < 50; i++) {
        loop_run_once(b.loop, 2);
    }
    for (int i = 0; i < 16; i++) {
        for (unsigned j = 0; j < 128 * 1024; j++) {
            if (b.slot[i].data[j] != 0xa5) {
                ck_abort_msg("byte %u of buffer %d written after reset", j, i);
            }
        }
        b.slot[i].busy = false;
    }
    b.inflight = 0;
    ck_assert_int_eq(simdrv_init(b.drv, WANT_ALL, 1, 0), 0);
    memset(buf, 0x77, sizeof(buf));
    ck_assert_int_eq(blkdrv_sync(&b, VIRTIO_BLK_T_OUT, 0, buf, 4096), 0);
    blkdrv_close(&b);
    fixture_down(&f);
}
END_TEST

/*
 * A guest buffer that cannot be mapped (ballooned out) while a request is
 * relayed: the device reports NEEDS_RESET, the access is answered, no
 * other request is harmed, and after a reset the device serves again.
 */
START_TEST(test_blk_unmappable_buffer)
{
    struct fixture f;
    struct blkdrv b;
    struct blkreq *r;
    uint8_t buf[4096];

    fixture_up(&f);
    ck_assert_int_eq(blkdrv_open(&b, f.qsd.sock, RELAY_MODE_SHADOW, WANT_ALL, 4),
                     0);
    r = blkdrv_next_slot(&b);
    hv_sim_set_hole(b.sim, r->data_gpa + 4096, 4096);
    ck_assert_int_eq(blkdrv_submit(&b, VIRTIO_BLK_T_OUT, 0, 16384, 1, false, &r),
                     0);
    blkdrv_kick(&b);
    ck_assert(simdrv_status(b.drv) & VIRTIO_STATUS_NEEDS_RESET);
    ck_assert_int_eq(blkdrv_wait(&b, &r, 1000), -EIO); /* config interrupt */
    blkdrv_release(&b, r);
    hv_sim_set_hole(b.sim, 0, 0);
    ck_assert_int_eq(simdrv_init(b.drv, WANT_ALL, 1, 0), 0);
    memset(buf, 0x3c, sizeof(buf));
    ck_assert_int_eq(blkdrv_sync(&b, VIRTIO_BLK_T_OUT, 0, buf, 4096), 0);
    ck_assert_int_eq(blkdrv_sync(&b, VIRTIO_BLK_T_IN, 0, buf, 4096), 0);
    ck_assert_uint_eq(buf[100], 0x3c);
    blkdrv_close(&b);
    fixture_down(&f);
}
END_TEST

static Suite *
make_suite(void)
{
    Suite *s = suite_create("relay_blk");

    CHECK_ADD(s, test_blk_data_shadow, 120);
    CHECK_ADD(s, test_blk_data_zerocopy, 120);
    CHECK_ADD(s, test_blk_ioeventfd_kicks, 60);
    CHECK_ADD(s, test_blk_counters, 60);
    CHECK_ADD(s, test_blk_reset_reinit, 60);
    CHECK_ADD(s, test_blk_reset_inflight, 60);
    CHECK_ADD(s, test_blk_unmappable_buffer, 60);
    return s;
}

CHECK_MAIN(make_suite)
