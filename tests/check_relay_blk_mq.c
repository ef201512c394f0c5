/*
 * End to end, multi-queue virtio-blk: simulated guest -> relay -> real
 * qemu-storage-daemon exporting several queues, in both modes.  How many
 * queues a device gets (the blk profile): the `queues` setting, else one
 * per guest vCPU, never more than the backend offers nor than the relay
 * serves; in shadow mode each with its own shadow ring and bounce pool.
 */
#include <config.h>

#include <stdint.h>
#include <string.h>

#include "backend_proc.h"
#include "blkdrv.h"
#include "check_common.h"
#include "devtype.h"
#include "vmmio.h"

#define DISK_BYTES (64ULL << 20)
#define SEED 0x5eed1234abcdULL
#define WANT_ALL (~0ULL)

static const enum relay_mode modes[] = { RELAY_MODE_SHADOW,
                                         RELAY_MODE_ZEROCOPY };

#define MQ_QUEUES 4u
#define MQ_DEPTH 8u                       /* requests in flight per queue */
#define MQ_LEN 16384u
#define MQ_SECTORS (MQ_LEN / 512u)
#define MQ_REGION (MQ_DEPTH * MQ_SECTORS) /* sectors of one queue's part */

/*
 * One pass over the disk's first MQ_QUEUES regions: queue q posts
 * MQ_DEPTH requests on region (q + shift) % MQ_QUEUES, all queues at
 * once; every completion must come back on the queue it was posted on,
 * reads must find the pattern.
 */
static void
mq_pass(struct blkdrv *b, uint32_t type, unsigned shift, uint64_t seed)
{
    unsigned per_q[MQ_QUEUES] = { 0 };
    uint8_t want[512];

    for (unsigned q = 0; q < MQ_QUEUES; q++) {
        uint64_t base = (uint64_t)((q + shift) % MQ_QUEUES) * MQ_REGION;

        for (unsigned k = 0; k < MQ_DEPTH; k++) {
            uint64_t lba = base + (uint64_t)k * MQ_SECTORS;
            struct blkreq *r = blkdrv_next_slot(b);

            ck_assert_ptr_nonnull(r);
            for (unsigned s = 0; type == VIRTIO_BLK_T_OUT && s < MQ_SECTORS;
                 s++) {
                blkdrv_pattern(seed, lba + s, r->data + 512 * s);
            }
            ck_assert_int_eq(blkdrv_submit_q(b, q, type, lba, MQ_LEN, 1,
                                             false, NULL), 0);
        }
        blkdrv_kick_q(b, q);
    }
    for (unsigned n = 0; n < MQ_QUEUES * MQ_DEPTH; n++) {
        struct blkreq *r;

        ck_assert_int_eq(blkdrv_wait(b, &r, 10000), 0);
        ck_assert_uint_eq(blkdrv_status(b, r), VIRTIO_BLK_S_OK);
        ck_assert_uint_eq(r->lba / MQ_REGION, (r->q + shift) % MQ_QUEUES);
        for (unsigned s = 0; type == VIRTIO_BLK_T_IN && s < MQ_SECTORS; s++) {
            blkdrv_pattern(seed, r->lba + s, want);
            ck_assert_mem_eq(r->data + 512 * s, want, 512);
        }
        per_q[r->q]++;
        blkdrv_release(b, r);
    }
    for (unsigned q = 0; q < MQ_QUEUES; q++) {
        ck_assert_uint_eq(per_q[q], MQ_DEPTH);
    }
}

/*
 * Multi-queue virtio-blk: qemu-storage-daemon exports 4 queues, the relay
 * serves all of them to a 4-vCPU guest (in shadow mode each with its own
 * shadow ring and bounce pool), the guest sees VIRTIO_BLK_F_MQ and
 * num_queues 4.  Every
 * queue writes its own part of the disk with 8 requests in flight, then
 * each part is read back through another queue and checked; both modes.
 */
START_TEST(test_blk_multiqueue)
{
    const struct blkdrv_opts o = { .queues = MQ_QUEUES, .vcpus = MQ_QUEUES,
                                   .blk_profile = true };
    struct backend_disk f;

    ck_assert_int_eq(backend_disk_up(&f, DISK_BYTES, MQ_QUEUES), 0);
    for (unsigned m = 0; m < 2; m++) {
        struct blkdrv b;
        uint16_t nq = 0;

        ck_assert_int_eq(blkdrv_open_opts(&b, f.qsd.sock, modes[m], WANT_ALL,
                                          MQ_QUEUES * MQ_DEPTH, &o), 0);
        ck_assert_uint_eq(relay_nr_queues(b.relay), MQ_QUEUES);
        ck_assert(simdrv_features(b.drv) & (1ULL << 12)); /* BLK_F_MQ */
        simdrv_config(b.drv, 34, &nq, 2);
        ck_assert_uint_eq(nq, MQ_QUEUES);
        mq_pass(&b, VIRTIO_BLK_T_OUT, 0, SEED + m);
        mq_pass(&b, VIRTIO_BLK_T_IN, 1, SEED + m);
        blkdrv_close(&b);
    }
    backend_disk_down(&f);
}
END_TEST

/*
 * On each of the driver's first nq queues: a 4 KiB write of the queue's
 * own pattern at its own sectors, then a read of them on the same queue;
 * both must complete on that queue and the read must find the pattern.
 */
static void
queues_io(struct blkdrv *b, unsigned nq, int tag)
{
    uint8_t buf[4096];

    for (unsigned q = 0; q < nq; q++) {
        for (unsigned dir = 0; dir < 2; dir++) {
            uint32_t type = dir ? VIRTIO_BLK_T_IN : VIRTIO_BLK_T_OUT;
            struct blkreq *r = blkdrv_next_slot(b);

            ck_assert_ptr_nonnull(r);
            memset(buf, tag + (int)q, sizeof(buf));
            memcpy(r->data, buf, sizeof(buf));
            if (dir) {
                memset(r->data, 0, sizeof(buf));
            }
            ck_assert_int_eq(blkdrv_submit_q(b, q, type, 8 * q, 4096, 1,
                                             false, NULL), 0);
            blkdrv_kick_q(b, q);
            ck_assert_int_eq(blkdrv_wait(b, &r, 10000), 0);
            ck_assert_uint_eq(r->q, q);
            ck_assert_uint_eq(blkdrv_status(b, r), VIRTIO_BLK_S_OK);
            if (dir) {
                ck_assert_mem_eq(r->data, buf, sizeof(buf));
            }
            blkdrv_release(b, r);
        }
    }
}

/*
 * The blk profile's queue count (issue 15 item 4), from the device
 * profile as the daemon sets it up, against qemu-storage-daemon exporting
 * `offered` queues: one per guest vCPU by default, the `queues` setting
 * when there is one, never more than the backend offers nor than the
 * relay serves (VMMIO_MAX_QUEUES).  The guest's config space says the
 * same count (a Linux guest with more vCPUs would otherwise set up queues
 * whose QueueNumMax reads 0); the driver uses up to SIMDRV_MAX_QUEUES of
 * them, as Linux uses at most one per CPU, and every one it uses moves
 * data.
 */
START_TEST(test_blk_mq_per_vcpu)
{
    static const struct {
        unsigned vcpus, setting, offered, want;
        const char *what;
    } rows[] = {
        { 2, 0, 4, 2, "a 2-vCPU guest: 2 of the backend's 4 queues" },
        { 2, 3, 4, 3, "the queues setting wins over the vCPU count" },
        { 4, 2, 4, 2, "a setting below the vCPUs and the backend's count" },
        { 4, 0, 2, 2, "a backend offering fewer caps it" },
        { 40, 0, 40, VMMIO_MAX_QUEUES, "the relay's limit caps it" },
        { 1, 0, 4, 1, "one vCPU, one queue" },
    };

    for (unsigned i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        unsigned use = rows[i].want < SIMDRV_MAX_QUEUES ? rows[i].want
                                                         : SIMDRV_MAX_QUEUES;
        const struct blkdrv_opts o = { .queues = use,
                                       .relay_queues = rows[i].setting,
                                       .vcpus = rows[i].vcpus,
                                       .blk_profile = true,
                                       .bounce_kib = 1024 };
        struct backend_disk f;

        ck_assert_int_eq(backend_disk_up(&f, DISK_BYTES, rows[i].offered),
                         0);
        for (unsigned m = 0; m < 2; m++) {
            struct blkdrv b;
            uint16_t nq = 0;

            ck_assert_msg(blkdrv_open_opts(&b, f.qsd.sock, modes[m], WANT_ALL,
                                           8, &o) == 0,
                          "%s: device not set up", rows[i].what);
            ck_assert_msg(relay_nr_queues(b.relay) == rows[i].want,
                          "%s (%s): %u queues, want %u", rows[i].what,
                          relay_mode_name(modes[m]),
                          relay_nr_queues(b.relay), rows[i].want);
            simdrv_config(b.drv, DEVTYPE_BLK_NUM_QUEUES_OFF, &nq, 2);
            ck_assert_uint_eq(nq, rows[i].want);
            queues_io(&b, use, 0x20 + 8 * (int)i + (int)m);
            blkdrv_close(&b);
        }
        backend_disk_down(&f);
    }
}
END_TEST

static Suite *
make_suite(void)
{
    Suite *s = suite_create("relay_blk_mq");

    CHECK_ADD(s, test_blk_multiqueue, 60);
    CHECK_ADD(s, test_blk_mq_per_vcpu, 120);
    return s;
}

CHECK_MAIN(make_suite)
