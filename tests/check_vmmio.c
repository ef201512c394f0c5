/*
 * Unit tests: the virtio-mmio register model.  A Linux-style probe, then
 * one test per rejection rule; each refusal is shown to leave the state
 * alone and to produce a (rate-limited) log line.
 */
#include <config.h>

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "check_common.h"
#include "vmmio.h"

#define FEAT_DEV0 (1ULL << 0)
#define FEAT_V1 (1ULL << VIRTIO_F_VERSION_1)
#define FEAT_EVIDX (1ULL << VIRTIO_F_EVENT_IDX)
#define DEV_FEATURES (FEAT_DEV0 | FEAT_EVIDX | FEAT_V1)
#define NUM_MAX 256

static const uint8_t test_config[12] = {
    0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c,
};

static void
dev_init(struct vmmio_dev *d)
{
    ck_assert_int_eq(vmmio_init(d, "test/virtio0", 2, 0x554d4551,
                                DEV_FEATURES, 2, NUM_MAX, test_config,
                                sizeof(test_config)),
                     0);
    for (unsigned k = 0; k < VMMIO_LOG_KINDS; k++) {
        d->rl[k].interval_ms = 3600 * 1000; /* no refill: lines countable */
    }
}

/* Log lines attempted through the device's rate limiter so far. */
static uint64_t
logs(const struct vmmio_dev *d)
{
    uint64_t n = 0;

    for (unsigned k = 0; k < VMMIO_LOG_KINDS; k++) {
        n += (uint64_t)(d->rl[k].burst - d->rl[k].tokens) + d->rl[k].suppressed;
    }
    return n;
}

static uint32_t
rd(struct vmmio_dev *d, uint64_t off)
{
    uint64_t v = 0xdeadbeefcafeULL;
    struct vmmio_event ev = vmmio_access(d, off, 4, false, &v);

    ck_assert_int_eq(ev.type, VMMIO_EV_NONE);
    ck_assert_uint_le(v, UINT32_MAX);
    return (uint32_t)v;
}

static struct vmmio_event
wr(struct vmmio_dev *d, uint64_t off, uint32_t val)
{
    uint64_t v = val;

    return vmmio_access(d, off, 4, true, &v);
}

static void
wr_none(struct vmmio_dev *d, uint64_t off, uint32_t val)
{
    ck_assert_int_eq(wr(d, off, val).type, VMMIO_EV_NONE);
}

/* A write the model must refuse, with a log line. */
static void
wr_refused(struct vmmio_dev *d, uint64_t off, uint32_t val)
{
    uint64_t before = logs(d);

    ck_assert_int_eq(wr(d, off, val).type, VMMIO_EV_NONE);
    ck_assert_uint_gt(logs(d), before);
}

/* Status up to and including FEATURES_OK, with features `feat`. */
static void
negotiate(struct vmmio_dev *d, uint64_t feat)
{
    ck_assert_int_eq(wr(d, VMMIO_STATUS, 0).type, VMMIO_EV_RESET);
    wr_none(d, VMMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
    wr_none(d, VMMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    wr_none(d, VMMIO_DRIVER_FEATURES_SEL, 0);
    wr_none(d, VMMIO_DRIVER_FEATURES, (uint32_t)feat);
    wr_none(d, VMMIO_DRIVER_FEATURES_SEL, 1);
    wr_none(d, VMMIO_DRIVER_FEATURES, (uint32_t)(feat >> 32));
    ck_assert_int_eq(wr(d, VMMIO_STATUS, 0x0b).type, VMMIO_EV_FEATURES_OK);
}

static void
setup_queue(struct vmmio_dev *d, uint32_t sel, uint32_t num)
{
    wr_none(d, VMMIO_QUEUE_SEL, sel);
    wr_none(d, VMMIO_QUEUE_NUM, num);
    wr_none(d, VMMIO_QUEUE_DESC_LOW, 0x40001000);
    wr_none(d, VMMIO_QUEUE_DESC_HIGH, 0);
    wr_none(d, VMMIO_QUEUE_AVAIL_LOW, 0x40002000);
    wr_none(d, VMMIO_QUEUE_AVAIL_HIGH, 0);
    wr_none(d, VMMIO_QUEUE_USED_LOW, 0x40003000);
    wr_none(d, VMMIO_QUEUE_USED_HIGH, 0x2);
}

/* Probe, negotiate, set up a queue, DRIVER_OK: the whole live device. */
static void
bring_up(struct vmmio_dev *d)
{
    dev_init(d);
    negotiate(d, FEAT_V1 | FEAT_EVIDX);
    setup_queue(d, 0, 128);
    wr_none(d, VMMIO_QUEUE_READY, 1);
    ck_assert_int_eq(wr(d, VMMIO_STATUS, 0x0f).type, VMMIO_EV_DRIVER_OK);
}

START_TEST(test_linux_probe)
{
    struct vmmio_dev d;
    struct vmmio_event ev;

    dev_init(&d);
    ck_assert_uint_eq(rd(&d, VMMIO_MAGIC_VALUE), 0x74726976);
    ck_assert_uint_eq(rd(&d, VMMIO_VERSION_REG), 2);
    ck_assert_uint_eq(rd(&d, VMMIO_DEVICE_ID), 2);
    ck_assert_uint_eq(rd(&d, VMMIO_VENDOR_ID), 0x554d4551);
    ck_assert_int_eq(wr(&d, VMMIO_STATUS, 0).type, VMMIO_EV_RESET);
    wr_none(&d, VMMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
    wr_none(&d, VMMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    wr_none(&d, VMMIO_DEVICE_FEATURES_SEL, 1);
    ck_assert_uint_eq(rd(&d, VMMIO_DEVICE_FEATURES), DEV_FEATURES >> 32);
    wr_none(&d, VMMIO_DEVICE_FEATURES_SEL, 0);
    ck_assert_uint_eq(rd(&d, VMMIO_DEVICE_FEATURES), (uint32_t)DEV_FEATURES);
    wr_none(&d, VMMIO_DRIVER_FEATURES_SEL, 1);
    wr_none(&d, VMMIO_DRIVER_FEATURES, 1); /* VERSION_1 */
    wr_none(&d, VMMIO_DRIVER_FEATURES_SEL, 0);
    wr_none(&d, VMMIO_DRIVER_FEATURES, (uint32_t)FEAT_EVIDX);
    ck_assert_uint_eq(d.driver_features, FEAT_V1 | FEAT_EVIDX);
    ev = wr(&d, VMMIO_STATUS, 0x0b);
    ck_assert_int_eq(ev.type, VMMIO_EV_FEATURES_OK);
    ck_assert_uint_eq(rd(&d, VMMIO_STATUS), 0x0b);

    /* Queue 0: discover, size, addresses, ready (before DRIVER_OK). */
    wr_none(&d, VMMIO_QUEUE_SEL, 0);
    ck_assert_uint_eq(rd(&d, VMMIO_QUEUE_READY), 0);
    ck_assert_uint_eq(rd(&d, VMMIO_QUEUE_NUM_MAX), NUM_MAX);
    setup_queue(&d, 0, 128);
    ck_assert_uint_eq(d.q[0].num, 128);
    ck_assert_uint_eq(d.q[0].desc_gpa, 0x40001000);
    ck_assert_uint_eq(d.q[0].avail_gpa, 0x40002000);
    ck_assert_uint_eq(d.q[0].used_gpa, 0x240003000ULL);
    ck_assert_uint_eq(rd(&d, VMMIO_QUEUE_USED_HIGH), 2);
    wr_none(&d, VMMIO_QUEUE_READY, 1); /* the relay starts it at DRIVER_OK */
    ck_assert(d.q[0].ready);
    ck_assert_uint_eq(rd(&d, VMMIO_QUEUE_READY), 1);
    ev = wr(&d, VMMIO_STATUS, 0x0f);
    ck_assert_int_eq(ev.type, VMMIO_EV_DRIVER_OK);

    /* Queue 1 made ready after DRIVER_OK: its own event. */
    setup_queue(&d, 1, 64);
    ev = wr(&d, VMMIO_QUEUE_READY, 1);
    ck_assert_int_eq(ev.type, VMMIO_EV_QUEUE_READY);
    ck_assert_uint_eq(ev.queue, 1);

    ev = wr(&d, VMMIO_QUEUE_NOTIFY, 1);
    ck_assert_int_eq(ev.type, VMMIO_EV_NOTIFY);
    ck_assert_uint_eq(ev.queue, 1);

    /* Completion: raise, the driver reads and acknowledges. */
    ck_assert(vmmio_raise(&d, VMMIO_INT_VRING));
    ck_assert(vmmio_line(&d));
    ck_assert_uint_eq(rd(&d, VMMIO_INTERRUPT_STATUS), VMMIO_INT_VRING);
    ck_assert_int_eq(wr(&d, VMMIO_INTERRUPT_ACK, VMMIO_INT_VRING).type,
                     VMMIO_EV_IRQ_ACK);
    ck_assert(!vmmio_line(&d));
    ck_assert_uint_eq(rd(&d, VMMIO_INTERRUPT_STATUS), 0);
}
END_TEST

START_TEST(test_init_rejects)
{
    struct vmmio_dev d;

    ck_assert_int_eq(vmmio_init(&d, "t", 1, 0, 0, VMMIO_MAX_QUEUES + 1, 8,
                                NULL, 0),
                     -EINVAL);
    ck_assert_int_eq(vmmio_init(&d, "t", 1, 0, 0, 1, 0, NULL, 0), -EINVAL);
    ck_assert_int_eq(vmmio_init(&d, "t", 1, 0, 0, 1, 24, NULL, 0), -EINVAL);
    ck_assert_int_eq(vmmio_init(&d, "t", 1, 0, 0, 1, 8, test_config,
                                VMMIO_CONFIG_MAX + 1),
                     -EINVAL);
    ck_assert_int_eq(vmmio_init(&d, "t", 1, 0, 0, 1, 8, NULL, 4), -EINVAL);
    ck_assert_int_eq(vmmio_init(&d, "t", 1, 0, 0, 1, 32768, NULL, 0), 0);
    for (unsigned k = 0; k < VMMIO_LOG_KINDS; k++) {
        ck_assert_uint_eq(d.rl[k].burst, 10);
        ck_assert_uint_eq(d.rl[k].interval_ms, 1000);
    }
}
END_TEST

/* Checklist 32: a flood of one kind of bad access hides no other kind. */
START_TEST(test_log_kinds_apart)
{
    struct vmmio_dev d;
    uint64_t v = 0;

    dev_init(&d);
    for (int i = 0; i < 1000; i++) {
        vmmio_access(&d, VMMIO_STATUS, 2, false, &v); /* bad width */
    }
    ck_assert_uint_eq(d.rl[VMMIO_LOG_ACCESS].tokens, 0);
    ck_assert_uint_eq(d.rl[VMMIO_LOG_ACCESS].suppressed, 990);
    /* Each other kind still gets its lines. */
    ck_assert_uint_eq(rd(&d, 0x0f0), 0);                  /* unknown */
    ck_assert_uint_eq(d.rl[VMMIO_LOG_REGISTER].tokens, 9);
    vmmio_access(&d, VMMIO_CONFIG_OFF + 0x40, 4, false, &v); /* past end */
    ck_assert_uint_eq(d.rl[VMMIO_LOG_CONFIG].tokens, 9);
    wr_none(&d, VMMIO_QUEUE_NOTIFY, 0);                   /* before DRIVER_OK */
    ck_assert_uint_eq(d.rl[VMMIO_LOG_NOTIFY].tokens, 9);
    for (unsigned k = 0; k < VMMIO_LOG_KINDS; k++) {
        ck_assert_uint_eq(d.rl[k].suppressed, k == VMMIO_LOG_ACCESS ? 990 : 0);
    }
}
END_TEST

START_TEST(test_feature_selectors)
{
    struct vmmio_dev d;

    dev_init(&d);
    wr_none(&d, VMMIO_DEVICE_FEATURES_SEL, 2);
    ck_assert_uint_eq(rd(&d, VMMIO_DEVICE_FEATURES), 0);
    wr_none(&d, VMMIO_DEVICE_FEATURES_SEL, 0xffffffff);
    ck_assert_uint_eq(rd(&d, VMMIO_DEVICE_FEATURES), 0);
    wr_none(&d, VMMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
    wr_none(&d, VMMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    wr_none(&d, VMMIO_DRIVER_FEATURES_SEL, 5);
    wr_refused(&d, VMMIO_DRIVER_FEATURES, 0xffffffff);
    ck_assert_uint_eq(d.driver_features, 0);
    ck_assert_uint_eq(rd(&d, VMMIO_DRIVER_FEATURES), 0);
}
END_TEST

/* DriverFeatures is writable only between DRIVER and FEATURES_OK. */
START_TEST(test_driver_features_state)
{
    struct vmmio_dev d;

    dev_init(&d);
    wr_refused(&d, VMMIO_DRIVER_FEATURES, 1); /* status 0 */
    wr_none(&d, VMMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
    wr_refused(&d, VMMIO_DRIVER_FEATURES, 1); /* no DRIVER yet */
    ck_assert_uint_eq(d.driver_features, 0);
    negotiate(&d, FEAT_V1);
    wr_none(&d, VMMIO_DRIVER_FEATURES_SEL, 0);
    wr_refused(&d, VMMIO_DRIVER_FEATURES, (uint32_t)FEAT_EVIDX);
    ck_assert_uint_eq(d.driver_features, FEAT_V1);
}
END_TEST

/* Checklist 1: QueueSel beyond the queue count, every queue register. */
START_TEST(test_queue_sel_out_of_range)
{
    static const uint64_t regs[] = {
        VMMIO_QUEUE_NUM_MAX,    VMMIO_QUEUE_NUM,        VMMIO_QUEUE_READY,
        VMMIO_QUEUE_DESC_LOW,   VMMIO_QUEUE_DESC_HIGH,  VMMIO_QUEUE_AVAIL_LOW,
        VMMIO_QUEUE_AVAIL_HIGH, VMMIO_QUEUE_USED_LOW,   VMMIO_QUEUE_USED_HIGH,
    };
    static const uint32_t sels[] = { 2, 3, VMMIO_MAX_QUEUES, 0xffffffffu };
    struct vmmio_dev d, before;

    dev_init(&d);
    negotiate(&d, FEAT_V1);
    for (unsigned s = 0; s < sizeof(sels) / sizeof(sels[0]); s++) {
        wr_none(&d, VMMIO_QUEUE_SEL, sels[s]);
        ck_assert_uint_eq(rd(&d, VMMIO_QUEUE_SEL), sels[s]);
        for (unsigned r = 0; r < sizeof(regs) / sizeof(regs[0]); r++) {
            uint64_t n = logs(&d);

            ck_assert_uint_eq(rd(&d, regs[r]), 0);
            ck_assert_uint_gt(logs(&d), n);
            memcpy(&before, &d, sizeof(d));
            if (regs[r] != VMMIO_QUEUE_NUM_MAX) {
                wr_refused(&d, regs[r], 1);
            }
            ck_assert_mem_eq(before.q, d.q, sizeof(d.q));
        }
    }
    /* The rate limiter kept the flood to its burst. */
    ck_assert_uint_gt(d.rl[VMMIO_LOG_QUEUE].suppressed, 0);
    ck_assert_uint_eq(d.rl[VMMIO_LOG_QUEUE].tokens, 0);
}
END_TEST

/* Checklist 2: QueueNum 0, above QueueNumMax, not a power of two. */
START_TEST(test_queue_num_invalid)
{
    static const uint32_t bad[] = { 0, 3, 100, NUM_MAX * 2, 0x10000,
                                    0x10080 };
    struct vmmio_dev d;

    dev_init(&d);
    negotiate(&d, FEAT_V1);
    for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        setup_queue(&d, 0, bad[i]);
        wr_refused(&d, VMMIO_QUEUE_READY, 1);
        ck_assert(!d.q[0].ready);
        ck_assert_uint_eq(rd(&d, VMMIO_QUEUE_READY), 0);
    }
    setup_queue(&d, 0, NUM_MAX);
    wr_none(&d, VMMIO_QUEUE_READY, 1);
    ck_assert(d.q[0].ready);
}
END_TEST

START_TEST(test_queue_locked_while_ready)
{
    struct vmmio_dev d;
    struct vmmio_event ev;

    bring_up(&d);
    wr_none(&d, VMMIO_QUEUE_SEL, 0);
    wr_refused(&d, VMMIO_QUEUE_NUM, 64);
    wr_refused(&d, VMMIO_QUEUE_DESC_LOW, 0x50000000);
    wr_refused(&d, VMMIO_QUEUE_DESC_HIGH, 1);
    wr_refused(&d, VMMIO_QUEUE_AVAIL_LOW, 0x50000000);
    wr_refused(&d, VMMIO_QUEUE_AVAIL_HIGH, 1);
    wr_refused(&d, VMMIO_QUEUE_USED_LOW, 0x50000000);
    wr_refused(&d, VMMIO_QUEUE_USED_HIGH, 1);
    ck_assert_uint_eq(d.q[0].num, 128);
    ck_assert_uint_eq(d.q[0].desc_gpa, 0x40001000);
    ck_assert_uint_eq(d.q[0].avail_gpa, 0x40002000);
    ck_assert_uint_eq(d.q[0].used_gpa, 0x240003000ULL);
    /* QueueReady values other than 0 and 1. */
    wr_refused(&d, VMMIO_QUEUE_READY, 2);
    ck_assert(d.q[0].ready);
    /* Ready twice: nothing new. */
    wr_none(&d, VMMIO_QUEUE_READY, 1);
    /* Disable, then the registers are writable again. */
    ev = wr(&d, VMMIO_QUEUE_READY, 0);
    ck_assert_int_eq(ev.type, VMMIO_EV_QUEUE_DISABLE);
    ck_assert_uint_eq(ev.queue, 0);
    ck_assert(!d.q[0].ready);
    wr_none(&d, VMMIO_QUEUE_READY, 0); /* already off: no event */
    wr_none(&d, VMMIO_QUEUE_NUM, 64);
    ck_assert_uint_eq(d.q[0].num, 64);
}
END_TEST

/* Checklist 7: kicks before DRIVER_OK, after FAILED, after a reset. */
START_TEST(test_notify_rejects)
{
    struct vmmio_dev d;

    dev_init(&d);
    wr_refused(&d, VMMIO_QUEUE_NOTIFY, 0); /* status 0 */
    negotiate(&d, FEAT_V1);
    setup_queue(&d, 0, 16);
    wr_none(&d, VMMIO_QUEUE_READY, 1);
    wr_refused(&d, VMMIO_QUEUE_NOTIFY, 0); /* before DRIVER_OK */
    ck_assert_int_eq(wr(&d, VMMIO_STATUS, 0x0f).type, VMMIO_EV_DRIVER_OK);
    ck_assert_int_eq(wr(&d, VMMIO_QUEUE_NOTIFY, 0).type, VMMIO_EV_NOTIFY);
    wr_refused(&d, VMMIO_QUEUE_NOTIFY, 1);          /* not ready */
    wr_refused(&d, VMMIO_QUEUE_NOTIFY, 2);          /* no such queue */
    wr_refused(&d, VMMIO_QUEUE_NOTIFY, 0xffffffff); /* no such queue */

    /* NEEDS_RESET set by the device. */
    ck_assert(vmmio_set_needs_reset(&d));
    ck_assert_uint_eq(rd(&d, VMMIO_STATUS), 0x4f);
    ck_assert_uint_eq(rd(&d, VMMIO_INTERRUPT_STATUS), VMMIO_INT_CONFIG);
    wr_refused(&d, VMMIO_QUEUE_NOTIFY, 0);

    /* FAILED. */
    ck_assert_int_eq(wr(&d, VMMIO_STATUS, 0xcf).type, VMMIO_EV_FAILED);
    wr_refused(&d, VMMIO_QUEUE_NOTIFY, 0);

    /* After a reset the queue is gone until set up again. */
    ck_assert_int_eq(wr(&d, VMMIO_STATUS, 0).type, VMMIO_EV_RESET);
    wr_refused(&d, VMMIO_QUEUE_NOTIFY, 0);
}
END_TEST

START_TEST(test_interrupt_ack)
{
    struct vmmio_dev d;

    bring_up(&d);
    ck_assert(vmmio_raise(&d, VMMIO_INT_VRING));
    ck_assert(!vmmio_raise(&d, VMMIO_INT_VRING));  /* already high */
    ck_assert(!vmmio_raise(&d, VMMIO_INT_CONFIG)); /* line already high */
    ck_assert(!vmmio_raise(&d, 0));
    /* Acking bits that are not set changes nothing. */
    wr_none(&d, VMMIO_INTERRUPT_ACK, 0);
    wr_none(&d, VMMIO_INTERRUPT_ACK, 0xfffffffc);
    ck_assert_uint_eq(d.interrupt_status, 3);
    ck_assert_int_eq(wr(&d, VMMIO_INTERRUPT_ACK, VMMIO_INT_VRING).type,
                     VMMIO_EV_IRQ_ACK);
    ck_assert(vmmio_line(&d));
    ck_assert_int_eq(wr(&d, VMMIO_INTERRUPT_ACK, 0xffffffff).type,
                     VMMIO_EV_IRQ_ACK);
    ck_assert(!vmmio_line(&d));
    ck_assert(vmmio_raise(&d, VMMIO_INT_VRING)); /* a new edge */
    /* InterruptStatus is read-only. */
    wr_refused(&d, VMMIO_INTERRUPT_STATUS, 0);
    ck_assert_uint_eq(d.interrupt_status, VMMIO_INT_VRING);
}
END_TEST

START_TEST(test_reset_clears_state)
{
    struct vmmio_dev d;

    bring_up(&d);
    vmmio_raise(&d, VMMIO_INT_VRING);
    wr_none(&d, VMMIO_DEVICE_FEATURES_SEL, 1);
    wr_none(&d, VMMIO_QUEUE_SEL, 1);
    ck_assert_int_eq(wr(&d, VMMIO_STATUS, 0).type, VMMIO_EV_RESET);
    ck_assert_uint_eq(d.status, 0);
    ck_assert_uint_eq(d.driver_features, 0);
    ck_assert_uint_eq(d.device_features_sel, 0);
    ck_assert_uint_eq(d.driver_features_sel, 0);
    ck_assert_uint_eq(d.queue_sel, 0);
    ck_assert_uint_eq(d.interrupt_status, 0);
    ck_assert(!vmmio_line(&d));
    for (unsigned i = 0; i < 2; i++) {
        ck_assert(!d.q[i].ready);
        ck_assert_uint_eq(d.q[i].num, NUM_MAX);
        ck_assert_uint_eq(d.q[i].num_max, NUM_MAX);
        ck_assert_uint_eq(d.q[i].desc_gpa, 0);
        ck_assert_uint_eq(d.q[i].avail_gpa, 0);
        ck_assert_uint_eq(d.q[i].used_gpa, 0);
    }
    ck_assert_uint_eq(d.q[2].num_max, 0);
    /* Config space belongs to the device and survives. */
    ck_assert_uint_eq(d.config_len, sizeof(test_config));
}
END_TEST

/* Checklist 7: status writes that skip states or clear bits. */
START_TEST(test_status_order)
{
    struct vmmio_dev d;

    dev_init(&d);
    wr_refused(&d, VMMIO_STATUS, VIRTIO_STATUS_DRIVER); /* no ACK */
    wr_refused(&d, VMMIO_STATUS, 0x09);                 /* FEATURES_OK, no DRIVER */
    wr_refused(&d, VMMIO_STATUS, 0x05);                 /* DRIVER_OK, no FEATURES_OK */
    wr_refused(&d, VMMIO_STATUS, 0x07);
    wr_refused(&d, VMMIO_STATUS, 0x10); /* unknown bit */
    wr_refused(&d, VMMIO_STATUS, 0x101);
    wr_refused(&d, VMMIO_STATUS, VIRTIO_STATUS_NEEDS_RESET);
    ck_assert_uint_eq(d.status, 0);
    wr_none(&d, VMMIO_STATUS, 0x03); /* ACK and DRIVER together is fine */
    wr_refused(&d, VMMIO_STATUS, 0x01); /* clears DRIVER */
    wr_refused(&d, VMMIO_STATUS, 0x43); /* driver sets NEEDS_RESET */
    wr_refused(&d, VMMIO_STATUS, 0x07); /* DRIVER_OK skipping FEATURES_OK */
    ck_assert_uint_eq(d.status, 0x03);
    wr_none(&d, VMMIO_DRIVER_FEATURES_SEL, 1);
    wr_none(&d, VMMIO_DRIVER_FEATURES, 1);
    /* FEATURES_OK and DRIVER_OK in one write: two steps at once. */
    wr_refused(&d, VMMIO_STATUS, 0x0f);
    ck_assert_uint_eq(d.status, 0x03);
    ck_assert_int_eq(wr(&d, VMMIO_STATUS, 0x0b).type, VMMIO_EV_FEATURES_OK);
    wr_none(&d, VMMIO_STATUS, 0x0b); /* same value again: no event */
    wr_refused(&d, VMMIO_STATUS, 0x03); /* clears FEATURES_OK */
    wr_refused(&d, VMMIO_STATUS, 0x8f); /* DRIVER_OK and FAILED at once */
    ck_assert_int_eq(wr(&d, VMMIO_STATUS, 0x0f).type, VMMIO_EV_DRIVER_OK);
    wr_refused(&d, VMMIO_STATUS, 0x0b); /* clears DRIVER_OK */
    ck_assert_int_eq(wr(&d, VMMIO_STATUS, 0x8f).type, VMMIO_EV_FAILED);
    ck_assert_uint_eq(d.status, 0x8f);
    wr_refused(&d, VMMIO_STATUS, 0x0f); /* clears FAILED */
    ck_assert_uint_eq(d.status, 0x8f);
}
END_TEST

/* Checklist 7: FEATURES_OK with features the device never offered. */
START_TEST(test_features_ok_refused)
{
    struct vmmio_dev d;
    uint64_t n;

    dev_init(&d);
    wr_none(&d, VMMIO_STATUS, 0x03);
    wr_none(&d, VMMIO_DRIVER_FEATURES_SEL, 1);
    wr_none(&d, VMMIO_DRIVER_FEATURES, 1);
    wr_none(&d, VMMIO_DRIVER_FEATURES_SEL, 0);
    wr_none(&d, VMMIO_DRIVER_FEATURES, 1u << VIRTIO_F_INDIRECT_DESC);
    n = logs(&d);
    ck_assert_int_eq(wr(&d, VMMIO_STATUS, 0x0b).type, VMMIO_EV_NONE);
    ck_assert_uint_gt(logs(&d), n);
    ck_assert_uint_eq(rd(&d, VMMIO_STATUS), 0x03); /* the driver sees it failed */

    /* Offered features but no VERSION_1. */
    wr_none(&d, VMMIO_DRIVER_FEATURES, 1);
    wr_none(&d, VMMIO_DRIVER_FEATURES_SEL, 1);
    wr_none(&d, VMMIO_DRIVER_FEATURES, 0);
    n = logs(&d);
    ck_assert_int_eq(wr(&d, VMMIO_STATUS, 0x0b).type, VMMIO_EV_NONE);
    ck_assert_uint_gt(logs(&d), n);
    ck_assert_uint_eq(rd(&d, VMMIO_STATUS), 0x03);

    /* FAILED is always allowed. */
    ck_assert_int_eq(wr(&d, VMMIO_STATUS, 0x83).type, VMMIO_EV_FAILED);
}
END_TEST

/* Checklist 4: widths other than 4, misaligned, read-only, unknown. */
START_TEST(test_register_access_rules)
{
    static const unsigned sizes[] = { 1, 2, 8, 0, 3, 16 };
    static const uint64_t unknown[] = { 0x018, 0x01c, 0x028, 0x03c, 0x040,
                                        0x048, 0x04c, 0x054, 0x068, 0x074,
                                        0x088, 0x0a8, 0x0c0, 0x0f8 };
    static const uint64_t read_only[] = {
        VMMIO_MAGIC_VALUE,      VMMIO_VERSION_REG,      VMMIO_DEVICE_ID,
        VMMIO_VENDOR_ID,        VMMIO_DEVICE_FEATURES,  VMMIO_QUEUE_NUM_MAX,
        VMMIO_INTERRUPT_STATUS, VMMIO_SHM_LEN_LOW,      VMMIO_SHM_LEN_HIGH,
        VMMIO_SHM_BASE_LOW,     VMMIO_SHM_BASE_HIGH,    VMMIO_CONFIG_GENERATION,
    };
    struct vmmio_dev d, before;
    uint64_t v, n;

    bring_up(&d);
    for (unsigned i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        n = logs(&d);
        v = 0x1234;
        vmmio_access(&d, VMMIO_MAGIC_VALUE, sizes[i], false, &v);
        ck_assert_uint_eq(v, 0);
        ck_assert_uint_gt(logs(&d), n);
        memcpy(&before, &d, sizeof(d));
        v = 0;
        ck_assert_int_eq(
            vmmio_access(&d, VMMIO_STATUS, sizes[i], true, &v).type,
            VMMIO_EV_NONE);
        ck_assert_uint_eq(d.status, before.status);
        v = 0;
        ck_assert_int_eq(
            vmmio_access(&d, VMMIO_QUEUE_NOTIFY, sizes[i], true, &v).type,
            VMMIO_EV_NONE);
    }
    /* Misaligned 4-byte accesses. */
    for (uint64_t off = 0x071; off < 0x074; off++) {
        v = 0x1234;
        vmmio_access(&d, off, 4, false, &v);
        ck_assert_uint_eq(v, 0);
        v = 0;
        ck_assert_int_eq(vmmio_access(&d, off, 4, true, &v).type,
                         VMMIO_EV_NONE);
        ck_assert_uint_eq(d.status, 0x0f);
    }
    for (unsigned i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
        n = logs(&d);
        ck_assert_uint_eq(rd(&d, unknown[i]), 0);
        ck_assert_uint_gt(logs(&d), n);
        memcpy(&before, &d, sizeof(d));
        wr_refused(&d, unknown[i], 0xffffffff);
        ck_assert_mem_eq(&before, &d, offsetof(struct vmmio_dev, rl));
    }
    for (unsigned i = 0; i < sizeof(read_only) / sizeof(read_only[0]); i++) {
        uint32_t old = rd(&d, read_only[i]);

        memcpy(&before, &d, sizeof(d));
        wr_refused(&d, read_only[i], old ^ 0x5a5a5a5a);
        ck_assert_uint_eq(rd(&d, read_only[i]), old);
        ck_assert_mem_eq(&before, &d, offsetof(struct vmmio_dev, rl));
    }
    /* Write-only registers read 0. */
    ck_assert_uint_eq(rd(&d, VMMIO_QUEUE_NOTIFY), 0);
    ck_assert_uint_eq(rd(&d, VMMIO_INTERRUPT_ACK), 0);
    /* Beyond the window. */
    v = 0x1234;
    vmmio_access(&d, VMMIO_WINDOW_LEN, 4, false, &v);
    ck_assert_uint_eq(v, 0);
    v = 0x1234;
    vmmio_access(&d, UINT64_MAX, 4, false, &v);
    ck_assert_uint_eq(v, 0);
    v = 0;
    ck_assert_int_eq(vmmio_access(&d, UINT64_MAX - 3, 4, true, &v).type,
                     VMMIO_EV_NONE);
}
END_TEST

START_TEST(test_shm_and_generation)
{
    struct vmmio_dev d;
    uint8_t cfg[4] = { 9, 9, 9, 9 };

    dev_init(&d);
    for (uint32_t sel = 0; sel < 3; sel++) {
        wr_none(&d, VMMIO_SHM_SEL, sel);
        ck_assert_uint_eq(rd(&d, VMMIO_SHM_LEN_LOW), 0xffffffff);
        ck_assert_uint_eq(rd(&d, VMMIO_SHM_LEN_HIGH), 0xffffffff);
        ck_assert_uint_eq(rd(&d, VMMIO_SHM_BASE_LOW), 0xffffffff);
        ck_assert_uint_eq(rd(&d, VMMIO_SHM_BASE_HIGH), 0xffffffff);
    }
    ck_assert_uint_eq(rd(&d, VMMIO_CONFIG_GENERATION), 0);
    ck_assert(vmmio_update_config(&d, cfg, sizeof(cfg)));
    ck_assert_uint_eq(rd(&d, VMMIO_CONFIG_GENERATION), 1);
    ck_assert_uint_eq(d.config_len, 4);
    /* The same contents again: no change, no new generation. */
    ck_assert(!vmmio_update_config(&d, cfg, sizeof(cfg)));
    ck_assert_uint_eq(rd(&d, VMMIO_CONFIG_GENERATION), 1);
    cfg[3] = 8;
    ck_assert(vmmio_update_config(&d, cfg, sizeof(cfg)));
    ck_assert_uint_eq(rd(&d, VMMIO_CONFIG_GENERATION), 2);
    ck_assert(vmmio_update_config(&d, cfg, 3)); /* shorter */
    ck_assert_uint_eq(rd(&d, VMMIO_CONFIG_GENERATION), 3);
}
END_TEST

START_TEST(test_config_space)
{
    struct vmmio_dev d;
    struct vmmio_event ev;
    uint64_t v;

    dev_init(&d);
    v = 0;
    vmmio_access(&d, 0x100, 1, false, &v);
    ck_assert_uint_eq(v, 0x01);
    vmmio_access(&d, 0x101, 2, false, &v);
    ck_assert_uint_eq(v, 0x0302);
    vmmio_access(&d, 0x104, 4, false, &v);
    ck_assert_uint_eq(v, 0x08070605);
    vmmio_access(&d, 0x104, 8, false, &v);
    ck_assert_uint_eq(v, 0x0c0b0a0908070605ULL);
    vmmio_access(&d, 0x10b, 1, false, &v); /* last byte */
    ck_assert_uint_eq(v, 0x0c);

    v = 0xa1b2;
    ev = vmmio_access(&d, 0x10a, 2, true, &v);
    ck_assert_int_eq(ev.type, VMMIO_EV_CONFIG_WRITE);
    ck_assert_uint_eq(ev.off, 0x0a);
    ck_assert_uint_eq(ev.len, 2);
    ck_assert_uint_eq(ev.val, 0xa1b2);
    /* Reported, not stored: the device decides. */
    ck_assert_uint_eq(d.config[0x0a], 0x0b);
    ck_assert_uint_eq(d.config[0x0b], 0x0c);
    vmmio_config_store(&d, ev.off, ev.len, ev.val);
    ck_assert_uint_eq(d.config[0x0a], 0xb2);
    ck_assert_uint_eq(d.config[0x0b], 0xa1);
    vmmio_config_store(&d, 0x0b, 2, 0xffff); /* crosses the end: ignored */
    ck_assert_uint_eq(d.config[0x0b], 0xa1);
}
END_TEST

/* Checklist 4: reads past the config space, crossing its end, bad sizes. */
START_TEST(test_config_space_rejects)
{
    struct vmmio_dev d, before;
    uint64_t v, n;

    dev_init(&d);
    memcpy(&before, &d, sizeof(d));
    /* crossing config_len (12): 8 bytes at 8, 2 at 11, 4 at 10 */
    const struct {
        uint64_t off;
        unsigned size;
    } bad[] = {
        { 0x108, 8 }, { 0x10b, 2 }, { 0x10a, 4 }, { 0x10c, 1 },
        { 0x1ff, 1 }, { 0x1f8, 8 }, { 0x1fc, 8 }, { 0x100, 3 },
        { 0x100, 0 }, { 0x100, 16 },
    };
    for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        n = logs(&d);
        v = 0x1234;
        vmmio_access(&d, bad[i].off, bad[i].size, false, &v);
        ck_assert_uint_eq(v, 0);
        ck_assert_uint_gt(logs(&d), n);
        v = UINT64_MAX;
        ck_assert_int_eq(
            vmmio_access(&d, bad[i].off, bad[i].size, true, &v).type,
            VMMIO_EV_NONE);
    }
    ck_assert_mem_eq(before.config, d.config, sizeof(d.config));

    /* A device with no config space at all. */
    ck_assert_int_eq(vmmio_init(&d, "t", 4, 0, FEAT_V1, 1, 8, NULL, 0), 0);
    v = 0x1234;
    vmmio_access(&d, 0x100, 1, false, &v);
    ck_assert_uint_eq(v, 0);
}
END_TEST

START_TEST(test_needs_reset)
{
    struct vmmio_dev d;

    dev_init(&d);
    /* No driver yet: nothing to signal. */
    ck_assert(!vmmio_set_needs_reset(&d));
    ck_assert_uint_eq(d.status, 0);
    ck_assert(!vmmio_line(&d));

    bring_up(&d);
    vmmio_raise(&d, VMMIO_INT_VRING);
    ck_assert(!vmmio_set_needs_reset(&d)); /* line already high */
    ck_assert_uint_eq(d.status & VIRTIO_STATUS_NEEDS_RESET,
                      VIRTIO_STATUS_NEEDS_RESET);
    ck_assert_uint_eq(d.interrupt_status, 3);
    /* The driver may keep the bit, not clear it; reset clears it. */
    wr_none(&d, VMMIO_STATUS, 0x4f);
    wr_refused(&d, VMMIO_STATUS, 0x0f);
    ck_assert_int_eq(wr(&d, VMMIO_STATUS, 0xcf).type, VMMIO_EV_FAILED);
    ck_assert_int_eq(wr(&d, VMMIO_STATUS, 0).type, VMMIO_EV_RESET);
    ck_assert_uint_eq(d.status, 0);
}
END_TEST

static Suite *
make_suite(void)
{
    Suite *s = suite_create("vmmio");

    CHECK_ADD(s, test_linux_probe, 10);
    CHECK_ADD(s, test_init_rejects, 10);
    CHECK_ADD(s, test_log_kinds_apart, 5);
    CHECK_ADD(s, test_feature_selectors, 10);
    CHECK_ADD(s, test_driver_features_state, 10);
    CHECK_ADD(s, test_queue_sel_out_of_range, 10);
    CHECK_ADD(s, test_queue_num_invalid, 10);
    CHECK_ADD(s, test_queue_locked_while_ready, 10);
    CHECK_ADD(s, test_notify_rejects, 10);
    CHECK_ADD(s, test_interrupt_ack, 10);
    CHECK_ADD(s, test_reset_clears_state, 10);
    CHECK_ADD(s, test_status_order, 10);
    CHECK_ADD(s, test_features_ok_refused, 10);
    CHECK_ADD(s, test_register_access_rules, 10);
    CHECK_ADD(s, test_shm_and_generation, 10);
    CHECK_ADD(s, test_config_space, 10);
    CHECK_ADD(s, test_config_space_rejects, 10);
    CHECK_ADD(s, test_needs_reset, 10);
    return s;
}

CHECK_MAIN(make_suite)
