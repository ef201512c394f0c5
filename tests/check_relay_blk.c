/*
 * End to end: simulated guest -> virtio-mmio -> relay -> real
 * qemu-storage-daemon, in zero-copy and in shadow mode, and for a grant
 * device (shadow mode, grant addresses only).
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backend_proc.h"
#include "blkdrv.h"
#include "check_common.h"
#include "devtype.h"
#include "grantcheck.h"
#include "linuxdrv.h"
#include "vmmio.h"

#define DISK_BYTES (64ULL << 20)
#define SEED 0x5eed1234abcdULL
#define WANT_ALL (~0ULL)

static const enum relay_mode modes[] = { RELAY_MODE_SHADOW,
                                         RELAY_MODE_ZEROCOPY };

/*
 * Write the whole disk with seeded data in requests of 512 B .. 1 MiB,
 * as single, multi-descriptor and indirect chains, up to 8 in flight;
 * read it all back the same way; flush; compare the image from outside.
 */
static void
data_roundtrip(enum relay_mode mode)
{
    struct backend_disk f;
    struct blkdrv b;
    struct relay_stats st;
    struct relay_queue_stats sum;
    char err[160];

    ck_assert_int_eq(backend_disk_up(&f, DISK_BYTES, 1), 0);
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
    backend_disk_down(&f);
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
    struct backend_disk f;
    char err[160];

    ck_assert_int_eq(backend_disk_up(&f, DISK_BYTES, 1), 0);
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
    backend_disk_down(&f);
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
    struct backend_disk f;
    static uint8_t buf[4096];

    ck_assert_int_eq(backend_disk_up(&f, DISK_BYTES, 1), 0);
    for (unsigned m = 0; m < 2; m++) {
        struct relay_stats a, z;
        struct relay_queue_stats *q = &z.q[0];
        struct blkdrv b;

        ck_assert_int_eq(blkdrv_open(&b, f.qsd.sock, modes[m], WANT_ALL, 4), 0);
        /* An interrupt still pending from the setup (a backend may signal
         * when its ring starts) keeps the line up, and a level line raises
         * no new edge until the driver acknowledges: take it first. */
        while (simdrv_wait_irq(b.drv, 0) >= 0) {
        }
        relay_get_stats(b.relay, &a);
        unsigned isr0 = simdrv_isr_reads(b.drv);
        for (unsigned i = 0; i < N; i++) {
            ck_assert_int_eq(blkdrv_sync(&b, i % 2 ? VIRTIO_BLK_T_IN
                                                   : VIRTIO_BLK_T_OUT,
                                         8 * i, buf, sizeof(buf)), 0);
        }
        /* A driver that found every completion without waiting never ran
         * the loop after the backend's last call: let it take the calls
         * (bounded; the backend signals, used_event asks for each). */
        for (unsigned i = 0; i < 500; i++) {
            relay_get_stats(b.relay, &z);
            if (z.q[0].calls > a.q[0].calls && z.irqs > a.irqs) {
                break;
            }
            loop_run_once(b.loop, 10);
        }
        relay_get_stats(b.relay, &z);
        ck_assert_uint_eq(z.nr_queues, 1);
        ck_assert_uint_eq(q->requests - a.q[0].requests, N);
        ck_assert_uint_eq(q->kicks_trapped - a.q[0].kicks_trapped, N);
        ck_assert_uint_eq(z.reg_queue_notify - a.reg_queue_notify, N);
        ck_assert_uint_eq(q->kicks_eventfd, 0);
        ck_assert_uint_ge(z.reg_reads - a.reg_reads,
                          z.reg_interrupt_status - a.reg_interrupt_status);
        /* exactly the reads the driver made: it skips InterruptStatus
         * when a completion is already in the used ring, which a fast
         * backend makes the common case in zero-copy mode */
        ck_assert_uint_eq(z.reg_interrupt_status - a.reg_interrupt_status,
                          simdrv_isr_reads(b.drv) - isr0);
        ck_assert_uint_eq(z.reg_interrupt_ack - a.reg_interrupt_ack,
                          simdrv_isr_reads(b.drv) - isr0);
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
    backend_disk_down(&f);
}
END_TEST

/*
 * Notification suppression (EVENT_IDX) in shadow mode.  The bounce pool
 * holds 3 of the 16 KiB reads, so the daemon stops taking chains from the
 * guest ring after the 4th (back-pressure) and, as it is already working
 * through the ring, does not ask for another kick (avail_event stays).
 * The guest posts 32 reads and asks to kick after each, as Linux's
 * virtqueue_kick_prepare does: only the first 4 reach the daemon.  All 32
 * then complete (the rest resumed from completions) with the right data.
 */
START_TEST(test_blk_event_idx_kicks)
{
    const struct blkdrv_opts o = { .bounce_kib = 64 };
    const uint32_t len = 16384, sectors = len / 512;
    struct relay_stats st0, st;
    struct backend_disk f;
    struct blkdrv b;
    uint8_t buf[16384], want[512];
    unsigned kicks = 0, done = 0;

    ck_assert_int_eq(backend_disk_up(&f, DISK_BYTES, 1), 0);
    ck_assert_int_eq(blkdrv_open_opts(&b, f.qsd.sock, RELAY_MODE_SHADOW,
                                      WANT_ALL, 32, &o), 0);
    ck_assert(simdrv_features(b.drv) & (1ULL << VIRTIO_F_EVENT_IDX));
    for (uint32_t i = 0; i < 32; i++) {
        for (uint32_t s = 0; s < sectors; s++) {
            blkdrv_pattern(SEED, i * sectors + s, buf + 512 * s);
        }
        ck_assert_int_eq(blkdrv_sync(&b, VIRTIO_BLK_T_OUT, i * sectors, buf,
                                     len), 0);
    }
    relay_get_stats(b.relay, &st0);
    for (uint32_t i = 0; i < 32; i++) {
        ck_assert_int_eq(blkdrv_submit(&b, VIRTIO_BLK_T_IN, i * sectors, len,
                                       1, false, NULL), 0);
        kicks += blkdrv_kick(&b);
    }
    relay_get_stats(b.relay, &st);
    ck_assert_uint_eq(st.q[0].kicks_trapped - st0.q[0].kicks_trapped, kicks);
    ck_assert_uint_gt(st.q[0].backpressure, st0.q[0].backpressure);
    ck_assert_uint_eq(kicks, 4);
    while (done < 32) {
        struct blkreq *r;

        ck_assert_int_eq(blkdrv_wait(&b, &r, 10000), 0);
        ck_assert_uint_eq(blkdrv_status(&b, r), VIRTIO_BLK_S_OK);
        for (uint32_t s = 0; s < sectors; s++) {
            blkdrv_pattern(SEED, r->lba + s, want);
            ck_assert_mem_eq(r->data + 512 * s, want, 512);
        }
        blkdrv_release(&b, r);
        done++;
    }
    relay_get_stats(b.relay, &st);
    ck_assert_uint_eq(st.q[0].kicks_trapped - st0.q[0].kicks_trapped, 4);
    ck_assert_uint_le(st.irqs - st0.irqs, 32);
    blkdrv_close(&b);
    backend_disk_down(&f);
}
END_TEST

/*
 * The daemon, as the shadow ring's driver, kicks the backend only when it
 * asks for it (EVENT_IDX avail_event, as Linux's virtqueue_kick_prepare).
 * After one read qemu-storage-daemon wants a kick for avail entry 1.  It
 * is then stopped (SIGSTOP, confirmed), so it cannot move avail_event,
 * and the guest posts 3 reads, kicking after each: every kick reaches the
 * daemon, which publishes each read on its own, but only the first steps
 * over avail_event and is passed on.  Continued, the backend finds all 3;
 * the next read is kicked again.
 */
START_TEST(test_blk_backend_kick_suppressed)
{
    struct relay_stats st0, st;
    struct backend_disk f;
    struct blkdrv b;
    uint8_t buf[4096];
    unsigned kicks = 0;
    int ws;

    ck_assert_int_eq(backend_disk_up(&f, DISK_BYTES, 1), 0);
    ck_assert_int_eq(blkdrv_open(&b, f.qsd.sock, RELAY_MODE_SHADOW, WANT_ALL,
                                 4), 0);
    ck_assert(simdrv_features(b.drv) & (1ULL << VIRTIO_F_EVENT_IDX));
    ck_assert_int_eq(blkdrv_sync(&b, VIRTIO_BLK_T_IN, 0, buf, 4096), 0);
    ck_assert_int_eq(kill(f.qsd.pid, SIGSTOP), 0);
    ck_assert_int_eq(waitpid(f.qsd.pid, &ws, WUNTRACED), f.qsd.pid);
    ck_assert(WIFSTOPPED(ws));
    relay_get_stats(b.relay, &st0);
    for (uint32_t i = 0; i < 3; i++) {
        ck_assert_int_eq(blkdrv_submit(&b, VIRTIO_BLK_T_IN, 8 * i, 4096, 1,
                                       false, NULL), 0);
        kicks += blkdrv_kick(&b);
    }
    relay_get_stats(b.relay, &st);
    ck_assert_uint_eq(kicks, 3);
    ck_assert_uint_eq(st.q[0].kicks_trapped - st0.q[0].kicks_trapped, 3);
    ck_assert_uint_eq(st.q[0].backend_kicks - st0.q[0].backend_kicks, 1);
    ck_assert_int_eq(kill(f.qsd.pid, SIGCONT), 0);
    for (unsigned i = 0; i < 3; i++) {
        struct blkreq *r;

        ck_assert_int_eq(blkdrv_wait(&b, &r, 10000), 0);
        ck_assert_uint_eq(blkdrv_status(&b, r), VIRTIO_BLK_S_OK);
        blkdrv_release(&b, r);
    }
    relay_get_stats(b.relay, &st0);
    ck_assert_int_eq(blkdrv_sync(&b, VIRTIO_BLK_T_IN, 0, buf, 4096), 0);
    relay_get_stats(b.relay, &st);
    ck_assert_uint_eq(st.q[0].backend_kicks - st0.q[0].backend_kicks, 1);
    blkdrv_close(&b);
    backend_disk_down(&f);
}
END_TEST

/* Reset and re-initialisation with I/O before and after, both modes. */
START_TEST(test_blk_reset_reinit)
{
    struct backend_disk f;
    uint8_t buf[4096], back[4096];

    ck_assert_int_eq(backend_disk_up(&f, DISK_BYTES, 1), 0);
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
    backend_disk_down(&f);
}
END_TEST

#define RI_REQS 16
#define RI_LEN (128 * 1024)

/*
 * Reset with writes in flight, in both modes: the guest reuses its
 * buffers at once, then writes other data to the same sectors.  Nothing
 * completes into the reused buffers, and the disk holds the new data
 * (read back through the device and from the image): an old write must
 * never land after a new one.  No sleep: the test waits for the old
 * session to be over (blkdrv_wait_old_session).
 */
START_TEST(test_blk_reset_inflight)
{
    struct backend_disk f;
    static uint8_t buf[RI_LEN], disk[RI_LEN];
    int fd;

    ck_assert_int_eq(backend_disk_up(&f, DISK_BYTES, 1), 0);
    for (unsigned m = 0; m < 2; m++) {
        struct blkdrv b;

        ck_assert_int_eq(blkdrv_open(&b, f.qsd.sock, modes[m], WANT_ALL,
                                     RI_REQS), 0);
        for (int i = 0; i < RI_REQS; i++) {
            struct blkreq *r = blkdrv_next_slot(&b);

            memset(r->data, 0x41 + i, RI_LEN);
            ck_assert_int_eq(blkdrv_submit(&b, VIRTIO_BLK_T_OUT,
                                           (uint64_t)i * 256, RI_LEN, 4, false,
                                           &r), 0);
        }
        blkdrv_kick(&b);
        simdrv_reset(b.drv);
        for (int i = 0; i < RI_REQS; i++) {
            memset(b.slot[i].data, 0xa5, RI_LEN);
        }
        ck_assert_int_eq(blkdrv_wait_old_session(b.relay, b.loop, 10000), 0);
        for (int i = 0; i < RI_REQS; i++) {
            for (unsigned j = 0; j < RI_LEN; j++) {
                if (b.slot[i].data[j] != 0xa5) {
                    ck_abort_msg("byte %u of buffer %d written after reset", j,
                                 i);
                }
            }
            b.slot[i].busy = false;
        }
        b.inflight = 0;
        ck_assert_int_eq(simdrv_init(b.drv, WANT_ALL, 1, 0), 0);
        for (int i = 0; i < RI_REQS; i++) {
            memset(buf, 0x61 + i + (int)m, RI_LEN);
            ck_assert_int_eq(blkdrv_sync(&b, VIRTIO_BLK_T_OUT,
                                         (uint64_t)i * 256, buf, RI_LEN), 0);
        }
        for (int i = 0; i < RI_REQS; i++) {
            ck_assert_int_eq(blkdrv_sync(&b, VIRTIO_BLK_T_IN, (uint64_t)i * 256,
                                         buf, RI_LEN), 0);
            ck_assert_uint_eq(buf[0], 0x61 + i + (int)m);
            ck_assert_uint_eq(buf[RI_LEN - 1], 0x61 + i + (int)m);
        }
        blkdrv_close(&b);
        fd = open(f.image, O_RDONLY);
        ck_assert_int_ge(fd, 0);
        for (int i = 0; i < RI_REQS; i++) {
            memset(buf, 0x61 + i + (int)m, RI_LEN);
            ck_assert_int_eq(pread(fd, disk, RI_LEN, (off_t)i * 256 * 512),
                             RI_LEN);
            ck_assert_msg(memcmp(disk, buf, RI_LEN) == 0,
                          "%s: sectors of write %d hold stale data",
                          relay_mode_name(modes[m]), i);
        }
        close(fd);
    }
    backend_disk_down(&f);
}
END_TEST

/*
 * A guest buffer that cannot be mapped (ballooned out) while a request is
 * relayed: the device reports NEEDS_RESET, the access is answered, no
 * other request is harmed, and after a reset the device serves again.
 */
START_TEST(test_blk_unmappable_buffer)
{
    struct backend_disk f;
    struct blkdrv b;
    struct blkreq *r;
    uint8_t buf[4096];

    ck_assert_int_eq(backend_disk_up(&f, DISK_BYTES, 1), 0);
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
    backend_disk_down(&f);
}
END_TEST

/*
 * Issue 14: the device as the daemon sets it up (blk profile: the
 * backend's queue count, config and features cut to 60 bytes), probed as
 * Linux 6.1 and 6.12 do, then sector 1 read back as the test wrote it.
 */
static void
profile_probe(enum relay_mode mode)
{
    struct hv_sim_config hc = { .ram0_len = 16u << 20 };
    struct relay_config rc = {
        .name = "sim/blk0", .mode = mode, .mmio_base = 0x02000000ULL,
        .irq = 33, .device_id = DEVTYPE_BLK,
    };
    uint8_t pattern[512];
    struct devtype_config st;
    struct backend_disk f;
    const char *why;
    int fd;

    for (unsigned i = 0; i < sizeof(pattern); i++) {
        pattern[i] = (uint8_t)(i * 13 + 1);
    }
    ck_assert_int_eq(backend_disk_up(&f, DISK_BYTES, 1), 0);
    fd = open(f.image, O_WRONLY);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(pwrite(fd, pattern, 512, 512), 512);
    close(fd);
    ck_assert_int_eq(devtype_fill(&rc, DEVTYPE_BLK, NULL, &st, &why), 0);
    rc.socket_path = f.qsd.sock;
    for (int k = LINUX_6_1; k <= LINUX_6_12; k++) {
        struct hv_sim *sim;
        struct loop *loop = loop_new();
        struct relay *relay;
        struct simdrv *drv;
        struct simdrv_buf b[3];
        uint64_t cap = 0, gpa;
        uint8_t *p;
        uint16_t head;
        uint32_t used;
        unsigned nq = 0;
        char err[200];

        ck_assert_int_eq(hv_sim_new(&sim, &hc), 0);
        ck_assert_int_eq(relay_new(&relay, hv_sim_hv(sim), loop, &rc), 0);
        ck_assert_int_eq(simdrv_new(&drv, sim, loop, rc.mmio_base, rc.irq), 0);
        if (linuxdrv_probe(drv, (enum linuxdrv_kernel)k, &nq, err,
                           sizeof(err)) < 0) {
            ck_abort_msg("Linux %s probe: %s", k == LINUX_6_1 ? "6.1" : "6.12",
                         err);
        }
        ck_assert_uint_eq(nq, 1);
        /* no feature whose config fields lie beyond the 60 bytes */
        ck_assert_uint_eq(simdrv_features(drv) & ((1ULL << 16) | (1ULL << 17)),
                          0);
        simdrv_config(drv, 0, &cap, 8);
        ck_assert_uint_eq(cap, DISK_BYTES / 512);
        gpa = simdrv_alloc(drv, 4096, 4096);
        p = simdrv_ptr(drv, gpa, 4096);
        memset(p, 0, 4096);
        p[8] = 1; /* VIRTIO_BLK_T_IN, sector 1 */
        p[2048 + 512] = 0xff;
        b[0] = (struct simdrv_buf){ gpa, 16, false };
        b[1] = (struct simdrv_buf){ gpa + 2048, 512, true };
        b[2] = (struct simdrv_buf){ gpa + 2048 + 512, 1, true };
        ck_assert_int_eq(simdrv_submit(drv, 0, b, 3, false, &head), 0);
        simdrv_kick(drv, 0);
        while (simdrv_poll(drv, 0, &head, &used) == 0) {
            ck_assert_int_ge(simdrv_wait_irq(drv, 5000), 0);
        }
        ck_assert_uint_eq(p[2048 + 512], 0); /* VIRTIO_BLK_S_OK */
        ck_assert_mem_eq(p + 2048, pattern, 512);
        simdrv_free(drv);
        relay_free(relay);
        hv_sim_free(sim);
        loop_free(loop);
    }
    backend_disk_down(&f);
}

START_TEST(test_blk_profile_shadow)
{
    profile_probe(RELAY_MODE_SHADOW);
}
END_TEST

START_TEST(test_blk_profile_zerocopy)
{
    profile_probe(RELAY_MODE_ZEROCOPY);
}
END_TEST

/*
 * Grant mode (hv_gnt): the simulated guest hands out only grant
 * addresses; the whole disk round trip goes by grant copy, the rings by
 * grant map, and the guest's RAM is never touched by guest-physical
 * address.  Refs are reused from request to request (first fit), so a
 * mapping or lookup kept by ref beyond its request would misplace data.
 */
START_TEST(test_blk_grant_data)
{
    const enum relay_mode grant_modes[] = { RELAY_MODE_SHADOW, RELAY_MODE_AUTO };
    struct backend_disk f;
    struct blkdrv b;
    char err[160];

    ck_assert_int_eq(backend_disk_up(&f, DISK_BYTES, 1), 0);
    for (unsigned m = 0; m < 2; m++) {
        ck_assert_int_eq(blkdrv_open_grants(&b, f.qsd.sock, grant_modes[m],
                                            WANT_ALL, 8), 0);
        ck_assert_int_eq(relay_mode(b.relay), RELAY_MODE_SHADOW);
        ck_assert(simdrv_features(b.drv) &
                  (1ULL << VIRTIO_F_ACCESS_PLATFORM));
        ck_assert_uint_eq(hv_sim_gnt_mapped(b.sim), 3); /* desc, avail, used */
        if (blkdrv_roundtrip(&b, DISK_BYTES, SEED + m, 8, err,
                             sizeof(err)) < 0) {
            ck_abort_msg("grant mode: %s", err);
        }
        if (grantcheck_clean_reset(b.sim, b.drv, b.relay, 3, err,
                                   sizeof(err)) < 0) {
            ck_abort_msg("grant mode: %s", err);
        }
        blkdrv_close(&b);
        ck_assert_uint_eq(blkdrv_file_hash(f.image),
                          blkdrv_pattern_hash(SEED + m, DISK_BYTES));
    }
    /* A backend without XEN_MMAP cannot map grants: zero-copy is
     * refused, not faked. */
    ck_assert_int_eq(blkdrv_open_grants(&b, f.qsd.sock, RELAY_MODE_ZEROCOPY,
                                        WANT_ALL, 1), -ENOTSUP);
    blkdrv_close(&b);
    backend_disk_down(&f);
}
END_TEST

/* The device must need a reset, answer, and serve again after one. */
static void
expect_needs_reset_then_serves(struct blkdrv *b, struct blkreq *r,
                               bool grants)
{
    uint8_t buf[4096];

    if (r) {
        blkdrv_kick(b);
        ck_assert_int_eq(blkdrv_wait(b, &r, 1000), -EIO);
        blkdrv_release(b, r);
    }
    /* A setup queued behind the last reset's stop starts from the loop. */
    ck_assert_int_eq(blkdrv_settle(b->relay, b->loop, 3000), 0);
    ck_assert(simdrv_status(b->drv) & VIRTIO_STATUS_NEEDS_RESET);
    simdrv_set_grants(b->drv, grants);
    ck_assert_int_eq(simdrv_init(b->drv, WANT_ALL, 1, 0), 0);
    memset(buf, 0x5a, sizeof(buf));
    ck_assert_int_eq(blkdrv_sync(b, VIRTIO_BLK_T_OUT, 8, buf, 4096), 0);
    memset(buf, 0, sizeof(buf));
    ck_assert_int_eq(blkdrv_sync(b, VIRTIO_BLK_T_IN, 8, buf, 4096), 0);
    ck_assert_uint_eq(buf[4095], 0x5a);
}

/*
 * Hostile grant use, each answered with DEVICE_NEEDS_RESET while the
 * device keeps serving: a buffer ref revoked before the device reads it,
 * a device-writable buffer granted read-only, a buffer running into an
 * ungranted ref, guest-physical rings on a grant device, grant addresses
 * on a foreign-mapping device, and a driver refusing ACCESS_PLATFORM.
 * No refusal reaches guest RAM by guest-physical address.
 */
START_TEST(test_blk_grant_hostile)
{
    struct backend_disk f;
    struct blkdrv b;
    struct blkreq *r;
    uint32_t ref;

    ck_assert_int_eq(backend_disk_up(&f, DISK_BYTES, 1), 0);
    ck_assert_int_eq(blkdrv_open_grants(&b, f.qsd.sock, RELAY_MODE_SHADOW,
                                        WANT_ALL, 4), 0);
    /* Revoked before the device copies it. */
    ck_assert_int_eq(blkdrv_submit(&b, VIRTIO_BLK_T_OUT, 0, 4096, 1, false,
                                   &r), 0);
    ck_assert_int_eq(simdrv_buf_ref(b.drv, 0, r->head, 1, &ref), 0);
    ck_assert_int_eq(hv_sim_revoke(b.sim, ref), 0);
    expect_needs_reset_then_serves(&b, r, true);
    /* Device-writable data granted read-only. */
    ck_assert_int_eq(blkdrv_submit(&b, VIRTIO_BLK_T_IN, 8, 4096, 1, false,
                                   &r), 0);
    ck_assert_int_eq(simdrv_buf_ref(b.drv, 0, r->head, 1, &ref), 0);
    ck_assert_int_eq(hv_sim_revoke(b.sim, ref), 0);
    ck_assert_int_eq(hv_sim_grant(b.sim, ref, r->data_gpa, true), 0);
    expect_needs_reset_then_serves(&b, r, true);
    /* 16 KiB over four refs, the third not granted. */
    ck_assert_int_eq(blkdrv_submit(&b, VIRTIO_BLK_T_OUT, 0, 16384, 1, false,
                                   &r), 0);
    ck_assert_int_eq(simdrv_buf_ref(b.drv, 0, r->head, 1, &ref), 0);
    ck_assert_int_eq(hv_sim_revoke(b.sim, ref + 2), 0);
    expect_needs_reset_then_serves(&b, r, true);
    /* Guest-physical rings on a grant device (ACCESS_PLATFORM acked). */
    simdrv_set_grants(b.drv, false);
    simdrv_init(b.drv, WANT_ALL, 1, 0);
    expect_needs_reset_then_serves(&b, NULL, true);
    /* A driver that does not accept ACCESS_PLATFORM never gets FEATURES_OK. */
    simdrv_set_grants(b.drv, false);
    ck_assert_int_eq(simdrv_init(b.drv, WANT_ALL &
                                 ~(1ULL << VIRTIO_F_ACCESS_PLATFORM), 1, 0),
                     -ENOTSUP);
    ck_assert_uint_eq(hv_sim_mem_accesses(b.sim), 0);
    blkdrv_close(&b);
    /* Grant addresses on a foreign-mapping device: not guest RAM. */
    ck_assert_int_eq(blkdrv_open(&b, f.qsd.sock, RELAY_MODE_SHADOW, WANT_ALL,
                                 4), 0);
    ck_assert(!(simdrv_features(b.drv) & (1ULL << VIRTIO_F_ACCESS_PLATFORM)));
    simdrv_set_grants(b.drv, true);
    simdrv_init(b.drv, WANT_ALL, 1, 0);
    expect_needs_reset_then_serves(&b, NULL, false);
    blkdrv_close(&b);
    backend_disk_down(&f);
}
END_TEST

static Suite *
make_suite(void)
{
    Suite *s = suite_create("relay_blk");

    CHECK_ADD(s, test_blk_data_shadow, 120);
    CHECK_ADD(s, test_blk_data_zerocopy, 120);
    CHECK_ADD(s, test_blk_ioeventfd_kicks, 60);
    CHECK_ADD(s, test_blk_event_idx_kicks, 60);
    CHECK_ADD(s, test_blk_counters, 60);
    CHECK_ADD(s, test_blk_backend_kick_suppressed, 60);
    CHECK_ADD(s, test_blk_reset_reinit, 60);
    CHECK_ADD(s, test_blk_reset_inflight, 60);
    CHECK_ADD(s, test_blk_unmappable_buffer, 60);
    CHECK_ADD(s, test_blk_profile_shadow, 60);
    CHECK_ADD(s, test_blk_profile_zerocopy, 60);
    CHECK_ADD(s, test_blk_grant_data, 120);
    CHECK_ADD(s, test_blk_grant_hostile, 60);
    return s;
}

CHECK_MAIN(make_suite)
