/*
 * End to end: simulated guest -> virtio-mmio -> relay -> real
 * qemu-storage-daemon, in zero-copy and in shadow mode, and for a grant
 * device (shadow mode, grant addresses only).
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
    if (mode == RELAY_MODE_SHADOW) {
        ck_assert_uint_ge(st.bytes_in, DISK_BYTES);
        ck_assert_uint_ge(st.bytes_out, DISK_BYTES);
    }
    ck_assert_uint_gt(st.irqs, 0);
    ck_assert_uint_gt(st.trapped_kicks, 0);
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
        ck_assert_uint_eq(st.trapped_kicks, 0);
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

/*
 * Grant mode (hv_gnt): the simulated guest hands out only grant
 * addresses; the whole disk round trip goes by grant copy, the rings by
 * grant map, and the guest's RAM is never touched by guest-physical
 * address.  Refs are reused from request to request (first fit), so a
 * mapping or lookup kept by ref beyond its request would misplace data.
 */
START_TEST(test_blk_grant_data)
{
    const enum relay_mode modes[] = { RELAY_MODE_SHADOW, RELAY_MODE_AUTO };
    struct fixture f;
    struct blkdrv b;
    struct relay_stats st;
    char err[160];

    fixture_up(&f);
    for (unsigned m = 0; m < 2; m++) {
        ck_assert_int_eq(blkdrv_open_grants(&b, f.qsd.sock, modes[m],
                                            WANT_ALL, 8), 0);
        ck_assert_int_eq(relay_mode(b.relay), RELAY_MODE_SHADOW);
        ck_assert(simdrv_features(b.drv) &
                  (1ULL << VIRTIO_F_ACCESS_PLATFORM));
        ck_assert_uint_eq(hv_sim_gnt_mapped(b.sim), 3); /* desc, avail, used */
        if (blkdrv_roundtrip(&b, DISK_BYTES, SEED + m, 8, err,
                             sizeof(err)) < 0) {
            ck_abort_msg("grant mode: %s", err);
        }
        relay_get_stats(b.relay, &st);
        ck_assert_uint_gt(st.grant_copies, 0);
        ck_assert_uint_eq(st.grant_maps, 3);
        ck_assert_uint_eq(hv_sim_mem_accesses(b.sim), 0);
        /* Every buffer ref was revocable the moment its chain came back. */
        ck_assert_uint_eq(simdrv_revoke_busy(b.drv), 0);
        ck_assert_uint_eq(hv_sim_gnt_mapped(b.sim), 3);
        /* Reset unmaps the rings before the guest revokes them. */
        simdrv_reset(b.drv);
        ck_assert_uint_eq(hv_sim_gnt_mapped(b.sim), 0);
        ck_assert_uint_eq(simdrv_revoke_busy(b.drv), 0);
        blkdrv_close(&b);
        ck_assert_uint_eq(blkdrv_file_hash(f.image),
                          blkdrv_pattern_hash(SEED + m, DISK_BYTES));
    }
    /* A backend cannot map grants: zero-copy is refused, not faked. */
    ck_assert_int_eq(blkdrv_open_grants(&b, f.qsd.sock, RELAY_MODE_ZEROCOPY,
                                        WANT_ALL, 1), -ENOTSUP);
    blkdrv_close(&b);
    fixture_down(&f);
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
    struct fixture f;
    struct blkdrv b;
    struct blkreq *r;
    uint32_t ref;

    fixture_up(&f);
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
    CHECK_ADD(s, test_blk_reset_reinit, 60);
    CHECK_ADD(s, test_blk_reset_inflight, 60);
    CHECK_ADD(s, test_blk_unmappable_buffer, 60);
    CHECK_ADD(s, test_blk_grant_data, 120);
    CHECK_ADD(s, test_blk_grant_hostile, 60);
    return s;
}

CHECK_MAIN(make_suite)
