/*
 * Hostile guest, end to end: a simulated guest that breaks every rule of
 * virtio-mmio and of the split ring (bad-input checklist items 1-8),
 * talking through the relay to a real qemu-storage-daemon.
 *
 * Every test asserts four things: the relay logged a line naming the
 * problem; each access was answered (reads return a defined value and the
 * trap callback returned); no byte of guest RAM changed outside what the
 * guest offered as writable (a snapshot of all guest RAM, pre-filled with
 * canary bytes, is compared after each hostile step); and the device
 * serves I/O again afterwards (after the reset the virtio spec demands
 * when the device reported DEVICE_NEEDS_RESET).
 */
#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "check_common.h"
#include "blkdrv.h"
#include "hguest.h"
#include "vmmio.h"
#include "vq.h"

#define DISK (8u << 20)
#define WANT (1ULL << VIRTIO_F_VERSION_1)
#define WANT_IND (WANT | (1ULL << VIRTIO_F_INDIRECT_DESC))
#define ST_OK                                                                  \
    (VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |                        \
     VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK)

static const enum relay_mode modes[] = { RELAY_MODE_SHADOW,
                                         RELAY_MODE_ZEROCOPY };

struct env {
    struct hguest g;
    struct hdev d;
    struct rawdrv *drv;
    struct logcap lc;
    struct ramguard ram0, ram1;
    uint64_t area;
};

static void
rearm(struct env *e)
{
    ramguard_free(&e->ram0);
    ramguard_free(&e->ram1);
    ramguard_take(&e->ram0, e->g.sim, HV_ARM_RAM0_GPA, HGUEST_RAM0);
    ramguard_take(&e->ram1, e->g.sim, HV_ARM_RAM1_GPA, HGUEST_RAM1);
}

/* Nothing changed in guest RAM since rearm() outside `allow`. */
static void
assert_ram(struct env *e, const struct ram_range *allow, unsigned n)
{
    uint64_t bad0 = ramguard_check(&e->ram0, e->g.sim, allow, n);
    uint64_t bad1 = ramguard_check(&e->ram1, e->g.sim, allow, n);

    ck_assert_msg(bad0 == 0 && bad1 == 0,
                  "guest RAM changed outside the offered buffers at 0x%llx",
                  (unsigned long long)(bad0 ? bad0 : bad1));
}

static void
assert_log(struct env *e, const char *needle)
{
    if (!logcap_has(&e->lc, needle)) {
        logcap_stop(&e->lc); /* replay what was logged */
        ck_abort_msg("no log line with \"%s\"", needle);
    }
    logcap_mark(&e->lc);
}

static void
env_up(struct env *e, enum relay_mode mode)
{
    memset(e, 0, sizeof(*e));
    logcap_start(&e->lc);
    ck_assert_int_eq(hguest_new(&e->g, DISK), 0);
    ck_assert_int_eq(hdev_open(&e->d, &e->g, 0, NULL, mode, NULL), 0);
    e->drv = &e->d.drv;
    e->area = e->drv->area;
    ck_assert_uint_eq(rawdrv_init(e->drv, WANT, 64), ST_OK);
    rearm(e);
    logcap_mark(&e->lc);
}

static void
env_down(struct env *e)
{
    hdev_close(&e->d);
    hguest_free(&e->g);
    ramguard_free(&e->ram0);
    ramguard_free(&e->ram1);
    logcap_stop(&e->lc);
}

/* Re-initialise, then a write and a read-back of seeded data. */
static void
serves_io(struct env *e, uint64_t want)
{
    uint8_t out[4096], in[4096], st = 0xff;

    ck_assert_uint_eq(rawdrv_init(e->drv, want, 64), ST_OK);
    for (unsigned i = 0; i < sizeof(out); i++) {
        out[i] = (uint8_t)(i * 7 + e->drv->irq);
    }
    ck_assert_int_eq(rawdrv_blk(e->drv, 1, 16, out, sizeof(out), &st), 0);
    ck_assert_uint_eq(st, 0);
    memset(in, 0, sizeof(in));
    ck_assert_int_eq(rawdrv_blk(e->drv, 0, 16, in, sizeof(in), &st), 0);
    ck_assert_uint_eq(st, 0);
    ck_assert_mem_eq(in, out, sizeof(in));
    rearm(e);
}

/* Spin the loop for `ms` (the device may act on whatever is pending). */
static void
settle(struct env *e, int ms)
{
    uint64_t end = log_now_ns() + (uint64_t)ms * 1000000ULL;

    while (log_now_ns() < end) {
        loop_run_once(e->g.loop, 5);
    }
}

/* Status up to FEATURES_OK with the given driver features. */
static uint32_t
begin(struct env *e, uint64_t features)
{
    struct rawdrv *d = e->drv;

    rawdrv_wr(d, VMMIO_STATUS, 0);
    rawdrv_wr(d, VMMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
    rawdrv_wr(d, VMMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    rawdrv_wr(d, VMMIO_DRIVER_FEATURES_SEL, 1);
    rawdrv_wr(d, VMMIO_DRIVER_FEATURES, (uint32_t)(features >> 32));
    rawdrv_wr(d, VMMIO_DRIVER_FEATURES_SEL, 0);
    rawdrv_wr(d, VMMIO_DRIVER_FEATURES, (uint32_t)features);
    rawdrv_wr(d, VMMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
                                   VIRTIO_STATUS_FEATURES_OK);
    return rawdrv_rd(d, VMMIO_STATUS);
}

/* Item 1: QueueSel beyond the queues, then every queue register. */
START_TEST(test_queue_sel_beyond)
{
    static const uint32_t regs[] = {
        VMMIO_QUEUE_NUM_MAX, VMMIO_QUEUE_NUM, VMMIO_QUEUE_READY,
        VMMIO_QUEUE_DESC_LOW, VMMIO_QUEUE_DESC_HIGH, VMMIO_QUEUE_AVAIL_LOW,
        VMMIO_QUEUE_AVAIL_HIGH, VMMIO_QUEUE_USED_LOW, VMMIO_QUEUE_USED_HIGH,
    };
    static const uint32_t sels[] = { 1, 31, 32, 0xffffffffu };
    struct env e;

    env_up(&e, modes[_i]);
    for (unsigned s = 0; s < 4; s++) {
        rawdrv_wr(e.drv, VMMIO_QUEUE_SEL, sels[s]);
        for (unsigned r = 0; r < sizeof(regs) / sizeof(regs[0]); r++) {
            ck_assert_uint_eq(rawdrv_rd(e.drv, regs[r]), 0);
            rawdrv_wr(e.drv, regs[r], 0x1000);
            ck_assert_uint_eq(rawdrv_rd(e.drv, regs[r]), 0);
        }
        if (s == 0) {
            assert_log(&e, "with QueueSel 1 beyond 1 queues");
        }
    }
    rawdrv_wr(e.drv, VMMIO_QUEUE_SEL, 0);
    ck_assert_uint_eq(rawdrv_rd(e.drv, VMMIO_QUEUE_READY), 1);
    ck_assert_uint_eq(rawdrv_rd(e.drv, VMMIO_QUEUE_NUM), 64);
    ck_assert_uint_eq(rawdrv_rd(e.drv, VMMIO_QUEUE_DESC_LOW), (uint32_t)e.area);
    ck_assert_uint_eq(rawdrv_rd(e.drv, VMMIO_STATUS), ST_OK);
    assert_ram(&e, NULL, 0);
    serves_io(&e, WANT);
    env_down(&e);
}
END_TEST

/* Item 2: QueueNum 0, above QueueNumMax, not a power of two, > 16 bits. */
START_TEST(test_queue_num_bad)
{
    static const uint32_t nums[] = { 0, 512, 100, 3, 0x10000 };
    struct env e;

    env_up(&e, RELAY_MODE_SHADOW);
    for (unsigned i = 0; i < 5; i++) {
        char want[96];

        ck_assert_uint_eq(begin(&e, WANT) & VIRTIO_STATUS_FEATURES_OK,
                          VIRTIO_STATUS_FEATURES_OK);
        rawdrv_wr(e.drv, VMMIO_QUEUE_SEL, 0);
        ck_assert_uint_eq(rawdrv_rd(e.drv, VMMIO_QUEUE_NUM_MAX), 256);
        rawdrv_wr(e.drv, VMMIO_QUEUE_NUM, nums[i]);
        rawdrv_wr(e.drv, VMMIO_QUEUE_DESC_LOW, (uint32_t)e.area);
        rawdrv_wr(e.drv, VMMIO_QUEUE_AVAIL_LOW, (uint32_t)e.area + 0x1000);
        rawdrv_wr(e.drv, VMMIO_QUEUE_USED_LOW, (uint32_t)e.area + 0x2000);
        rawdrv_wr(e.drv, VMMIO_QUEUE_READY, 1);
        ck_assert_uint_eq(rawdrv_rd(e.drv, VMMIO_QUEUE_READY), 0);
        if (nums[i] > 0xffff) {
            snprintf(want, sizeof(want), "QueueNum %u for queue 0 exceeds 16 bits",
                     nums[i]);
        } else {
            snprintf(want, sizeof(want), "QueueNum %u is not a power of two "
                     "in 1..256", nums[i]);
        }
        assert_log(&e, want);
        /* DRIVER_OK with no usable queue: accepted, and nothing runs. */
        rawdrv_wr(e.drv, VMMIO_STATUS, ST_OK);
        rawdrv_kick(e.drv);
        if (i == 0) {
            assert_log(&e, "ignored: queue not ready");
        }
        settle(&e, 20);
        assert_ram(&e, NULL, 0);
    }
    serves_io(&e, WANT);
    env_down(&e);
}
END_TEST

/* Item 3: rings outside RAM, across the bank gap, misaligned, overflowing. */
START_TEST(test_ring_addr_bad)
{
    const uint64_t end0 = HV_ARM_RAM0_GPA + HGUEST_RAM0;
    struct env e;

    env_up(&e, modes[_i]);
    {
        const uint64_t a = e.area;
        const uint64_t cases[][3] = {
            { 0x1000, a + 0x1000, a + 0x2000 },                 /* below RAM */
            { a, end0 - 4, a + 0x2000 },                 /* avail past end */
            { a, a + 0x1000, end0 - 64 },                 /* used past end */
            { HV_ARM_RAM1_GPA - 512, a + 0x1000, a + 0x2000 }, /* bank gap */
            { 0x80000000ULL, a + 0x1000, a + 0x2000 },     /* inside the gap */
            { a + 8, a + 0x1000, a + 0x2000 },             /* desc misaligned */
            { a, a + 0x1001, a + 0x2000 },                /* avail misaligned */
            { a, a + 0x1000, a + 0x2002 },                 /* used misaligned */
            { a, a + 0x1000, 0xfffffffffffffff8ULL },      /* size overflows */
        };
        const struct ram_range rings = { a, 0x3000 };

        for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
            uint32_t st = rawdrv_init_rings(e.drv, WANT, 64, cases[i][0],
                                            cases[i][1], cases[i][2]);

            ck_assert_msg(st & VIRTIO_STATUS_NEEDS_RESET,
                          "case %u: status 0x%x lacks NEEDS_RESET", i, st);
            ck_assert_int_eq(rawdrv_wait_irq(e.drv, 1000) & VMMIO_INT_CONFIG,
                             VMMIO_INT_CONFIG);
            assert_log(&e, "device needs reset: queue rings rejected");
            rawdrv_kick(e.drv);
            assert_log(&e, "ignored: device FAILED or NEEDS_RESET");
            settle(&e, 10);
            assert_ram(&e, &rings, 1);
        }
    }
    serves_io(&e, WANT);
    env_down(&e);
}
END_TEST

/*
 * Item 4: odd widths, past config space, read-only and unknown registers.
 * The register model rate-limits its lines (10, then one a second), so
 * each kind of access is logged-checked on its first occurrence and the
 * rest only checked for their effect.
 */
START_TEST(test_odd_access)
{
    static const uint32_t ro[] = { VMMIO_MAGIC_VALUE, VMMIO_VERSION_REG,
                                   VMMIO_DEVICE_ID, VMMIO_VENDOR_ID,
                                   VMMIO_DEVICE_FEATURES, VMMIO_QUEUE_NUM_MAX,
                                   VMMIO_INTERRUPT_STATUS,
                                   VMMIO_CONFIG_GENERATION };
    static const uint32_t unknown[] = { 0x018, 0x028, 0x048, 0x054, 0x0c0,
                                        0x0f8 };
    static const unsigned widths[] = { 1, 2, 8, 0, 3, 16 };
    struct env e;
    uint32_t before[8];
    uint64_t cap;

    env_up(&e, RELAY_MODE_SHADOW);
    /* config space: 60 bytes for virtio-blk; beyond it reads 0 */
    cap = rawdrv_access(e.drv, VMMIO_CONFIG_OFF, 8, false, 0);
    ck_assert_uint_eq(cap, DISK / 512);
    ck_assert_uint_eq(rawdrv_access(e.drv, VMMIO_CONFIG_OFF + 60, 4, false, 7), 0);
    assert_log(&e, "beyond config length");
    ck_assert_uint_eq(rawdrv_access(e.drv, 0x1fc, 8, false, 7), 0);
    assert_log(&e, "config read [0xfc, +8) beyond config length 60");
    ck_assert_uint_eq(rawdrv_access(e.drv, VMMIO_CONFIG_OFF, 3, false, 7), 0);
    assert_log(&e, "config read of size 3 at 0x0 refused");
    rawdrv_access(e.drv, VMMIO_CONFIG_OFF + 60, 4, true, 0xdead);
    ck_assert_uint_eq(rawdrv_access(e.drv, VMMIO_CONFIG_OFF, 8, false, 0), cap);
    /* read-only registers keep their value */
    for (unsigned i = 0; i < 8; i++) {
        before[i] = rawdrv_rd(e.drv, ro[i]);
        rawdrv_wr(e.drv, ro[i], 0xffffffffu);
        if (i == 0) {
            assert_log(&e, "read-only register");
        }
    }
    for (unsigned i = 0; i < 8; i++) {
        ck_assert_uint_eq(rawdrv_rd(e.drv, ro[i]), before[i]);
    }
    /* log budget exhausted: wait for the next token */
    settle(&e, 1100);
    ck_assert_uint_eq(rawdrv_rd(e.drv, VMMIO_QUEUE_NOTIFY), 0);
    assert_log(&e, "write-only register");
    settle(&e, 1100);
    for (unsigned i = 0; i < 6; i++) {
        ck_assert_uint_eq(rawdrv_rd(e.drv, unknown[i]), 0);
        if (i == 0) {
            assert_log(&e, "unknown register");
        }
        rawdrv_wr(e.drv, unknown[i], 0xffffffffu);
    }
    settle(&e, 1100);
    for (unsigned w = 0; w < 6; w++) {
        ck_assert_uint_eq(rawdrv_access(e.drv, VMMIO_STATUS, widths[w], false, 7),
                          0);
        if (w == 0) {
            assert_log(&e, "refused: only aligned 4-byte accesses");
        }
        ck_assert_uint_eq(rawdrv_access(e.drv, VMMIO_MAGIC_VALUE, widths[w],
                                        false, 7), 0);
        rawdrv_access(e.drv, VMMIO_STATUS, widths[w], true, 0); /* no reset */
        rawdrv_access(e.drv, VMMIO_QUEUE_NOTIFY, widths[w], true, 0);
    }
    ck_assert_uint_eq(rawdrv_rd(e.drv, VMMIO_STATUS), ST_OK);
    ck_assert_uint_eq(rawdrv_rd(e.drv, VMMIO_MAGIC_VALUE), VMMIO_MAGIC);
    settle(&e, 10);
    assert_ram(&e, NULL, 0);
    serves_io(&e, WANT);
    env_down(&e);
}
END_TEST

enum chain_case {
    CH_LOOP, CH_ZERO_LEN, CH_NESTED_IND, CH_IND_LEN, CH_HEAD_RANGE,
    CH_READ_AFTER_WRITE, CH_OUTSIDE_RAM, CH_AVAIL_JUMP, CH_NCASES
};

static const char *const chain_log[CH_NCASES] = {
    [CH_LOOP] = "chain 0: longer than",
    [CH_ZERO_LEN] = "chain 0: zero-length descriptor",
    [CH_NESTED_IND] = "indirect table inside an indirect",
    [CH_IND_LEN] = "is not a non-zero multiple of 16",
    [CH_HEAD_RANGE] = "beyond queue size",
    [CH_READ_AFTER_WRITE] = "readable descriptor after a writable",
    [CH_OUTSIDE_RAM] = "not wholly in",
    [CH_AVAIL_JUMP] = "ahead of",
};

/* Build one broken chain (header, 4 KiB writable data, status). */
static void
bad_chain(struct env *e, enum chain_case c)
{
    struct rawdrv *d = e->drv;
    uint64_t hdr = rawdrv_buf(d, 0), st = rawdrv_buf(d, 0x200);
    uint64_t buf = rawdrv_buf(d, 0x1000), tbl = rawdrv_buf(d, 0x400);
    uint8_t *h = rawdrv_ptr(d, hdr, 16);
    uint8_t *t = rawdrv_ptr(d, tbl, 64);
    uint16_t W = VQ_DESC_F_WRITE, N = VQ_DESC_F_NEXT;

    memset(h, 0, 16); /* VIRTIO_BLK_T_IN, sector 0 */
    rawdrv_desc(d, 0, hdr, 16, N, 1);
    rawdrv_desc(d, 1, buf, 4096, W | N, 2);
    rawdrv_desc(d, 2, st, 1, W, 0);
    switch (c) {
    case CH_LOOP:
        rawdrv_desc(d, 2, st, 1, W | N, 1);
        break;
    case CH_ZERO_LEN:
        rawdrv_desc(d, 1, buf, 0, W | N, 2);
        break;
    case CH_NESTED_IND:
        /* entry 0: header; entry 1: another indirect table */
        memset(t, 0, 64);
        memcpy(t, &hdr, 8);
        t[8] = 16;
        t[12] = VQ_DESC_F_NEXT;
        t[14] = 1;
        memcpy(t + 16, &tbl, 8);
        t[24] = 32;
        t[28] = VQ_DESC_F_INDIRECT;
        rawdrv_desc(d, 0, tbl, 32, VQ_DESC_F_INDIRECT, 0);
        break;
    case CH_IND_LEN:
        rawdrv_desc(d, 0, tbl, 24, VQ_DESC_F_INDIRECT, 0);
        break;
    case CH_HEAD_RANGE:
        rawdrv_publish(d, 64 + 5);
        return;
    case CH_READ_AFTER_WRITE:
        rawdrv_desc(d, 0, buf, 4096, W | N, 1);
        rawdrv_desc(d, 1, hdr, 16, N, 2);
        break;
    case CH_OUTSIDE_RAM:
        rawdrv_desc(d, 1, 0x100000000ULL, 4096, W | N, 2);
        break;
    case CH_AVAIL_JUMP:
        rawdrv_set_avail_idx(d, 65);
        return;
    default:
        break;
    }
    rawdrv_publish(d, 0);
}

/*
 * Items 5 and 6 (shadow mode: the relay walks the guest's chains; in
 * zero-copy mode the backend walks them itself).
 */
START_TEST(test_bad_chains)
{
    struct env e;

    env_up(&e, RELAY_MODE_SHADOW);
    for (unsigned c = 0; c < CH_NCASES; c++) {
        uint32_t st;
        int irq;

        ck_assert_uint_eq(rawdrv_init(e.drv, WANT_IND, 64), ST_OK);
        ck_assert(e.drv->features & (1ULL << VIRTIO_F_INDIRECT_DESC));
        bad_chain(&e, (enum chain_case)c);
        rearm(&e);
        rawdrv_kick(e.drv);
        irq = rawdrv_wait_irq(e.drv, 2000);
        ck_assert_msg(irq > 0 && (irq & VMMIO_INT_CONFIG),
                      "case %u: no config interrupt (%d)", c, irq);
        st = rawdrv_rd(e.drv, VMMIO_STATUS);
        ck_assert_msg(st & VIRTIO_STATUS_NEEDS_RESET, "case %u: status 0x%x",
                      c, st);
        assert_log(&e, chain_log[c]);
        ck_assert_uint_eq(e.drv->used[2] | e.drv->used[3], 0);
        settle(&e, 10);
        assert_ram(&e, NULL, 0);
        /* reset, then the guest reuses everything */
        rawdrv_wr(e.drv, VMMIO_STATUS, 0);
        memset(rawdrv_ptr(e.drv, e.area, 0x10000), 0xa5, 0x10000);
        rearm(&e);
        settle(&e, 10);
        assert_ram(&e, NULL, 0);
    }
    serves_io(&e, WANT_IND);
    env_down(&e);
}
END_TEST

/* Item 7: kicks before DRIVER_OK, after FAILED, after reset; bad status. */
START_TEST(test_kick_ignored)
{
    struct env e;
    struct rawdrv *d;

    env_up(&e, modes[_i]);
    d = e.drv;
    /* queue ready, a read posted, but no DRIVER_OK */
    ck_assert_uint_eq(begin(&e, WANT), ST_OK & ~VIRTIO_STATUS_DRIVER_OK);
    rawdrv_wr(d, VMMIO_QUEUE_SEL, 0);
    rawdrv_wr(d, VMMIO_QUEUE_NUM, 64);
    rawdrv_wr(d, VMMIO_QUEUE_DESC_LOW, (uint32_t)e.area);
    rawdrv_wr(d, VMMIO_QUEUE_AVAIL_LOW, (uint32_t)e.area + 0x1000);
    rawdrv_wr(d, VMMIO_QUEUE_USED_LOW, (uint32_t)e.area + 0x2000);
    rawdrv_wr(d, VMMIO_QUEUE_READY, 1);
    d->num = 64;
    d->avail_idx = 0;
    memset(d->avail, 0, 0x1000);
    memset(d->used, 0, 0x1000);
    bad_chain(&e, CH_NCASES); /* a valid read chain */
    rearm(&e);
    rawdrv_kick(d);
    assert_log(&e, "ignored: before DRIVER_OK");
    /* FAILED instead of DRIVER_OK */
    rawdrv_wr(d, VMMIO_STATUS, (ST_OK & ~VIRTIO_STATUS_DRIVER_OK) |
                                   VIRTIO_STATUS_FAILED);
    rawdrv_kick(d);
    settle(&e, 50);
    assert_ram(&e, NULL, 0);
    /* a live device, then FAILED, then a kick */
    ck_assert_uint_eq(rawdrv_init(d, WANT, 64), ST_OK);
    rawdrv_wr(d, VMMIO_STATUS, ST_OK | VIRTIO_STATUS_FAILED);
    bad_chain(&e, CH_NCASES);
    rearm(&e);
    rawdrv_kick(d);
    assert_log(&e, "ignored: device FAILED or NEEDS_RESET");
    settle(&e, 50);
    assert_ram(&e, NULL, 0);
    /* after a reset */
    rawdrv_wr(d, VMMIO_STATUS, 0);
    rawdrv_kick(d);
    assert_log(&e, "ignored: queue not ready");
    /* status writes that skip states or clear bits */
    rawdrv_wr(d, VMMIO_STATUS, VIRTIO_STATUS_DRIVER);
    ck_assert_uint_eq(rawdrv_rd(d, VMMIO_STATUS), 0);
    assert_log(&e, "ignored: DRIVER without ACKNOWLEDGE");
    rawdrv_wr(d, VMMIO_STATUS, ST_OK);
    ck_assert_uint_eq(rawdrv_rd(d, VMMIO_STATUS), 0);
    assert_log(&e, "DRIVER_OK before FEATURES_OK was accepted");
    rawdrv_wr(d, VMMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    rawdrv_wr(d, VMMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
    assert_log(&e, "clears bits without a reset");
    rawdrv_wr(d, VMMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
                                   VIRTIO_STATUS_DRIVER_OK);
    ck_assert_uint_eq(rawdrv_rd(d, VMMIO_STATUS),
                      VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    settle(&e, 50);
    assert_ram(&e, NULL, 0);
    serves_io(&e, WANT);
    env_down(&e);
}
END_TEST

/* Item 7: FEATURES_OK with features the device never offered. */
START_TEST(test_features_unoffered)
{
    struct env e;
    uint64_t offered;

    env_up(&e, RELAY_MODE_SHADOW);
    rawdrv_wr(e.drv, VMMIO_DEVICE_FEATURES_SEL, 1);
    offered = (uint64_t)rawdrv_rd(e.drv, VMMIO_DEVICE_FEATURES) << 32;
    rawdrv_wr(e.drv, VMMIO_DEVICE_FEATURES_SEL, 0);
    offered |= rawdrv_rd(e.drv, VMMIO_DEVICE_FEATURES);
    ck_assert(!(offered & (1ULL << VIRTIO_F_RING_PACKED)));
    ck_assert_uint_eq(begin(&e, WANT | (1ULL << VIRTIO_F_RING_PACKED)),
                      VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    assert_log(&e, "FEATURES_OK refused");
    ck_assert_uint_eq(begin(&e, WANT | (1ULL << 63)),
                      VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    assert_log(&e, "not offered");
    ck_assert_uint_eq(begin(&e, 0), VIRTIO_STATUS_ACKNOWLEDGE |
                                        VIRTIO_STATUS_DRIVER);
    assert_log(&e, "lack VERSION_1");
    rawdrv_wr(e.drv, VMMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE |
                                       VIRTIO_STATUS_DRIVER |
                                       VIRTIO_STATUS_DRIVER_OK);
    ck_assert_uint_eq(rawdrv_rd(e.drv, VMMIO_STATUS),
                      VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    assert_ram(&e, NULL, 0);
    serves_io(&e, WANT);
    env_down(&e);
}
END_TEST

/* Item 8: reset with reads in flight, then the guest reuses the buffers. */
START_TEST(test_reset_inflight)
{
    struct env e;
    struct rawdrv *d;
    struct relay_stats stats;

    env_up(&e, modes[_i]);
    d = e.drv;
    for (uint16_t i = 0; i < 8; i++) {
        uint64_t hdr = rawdrv_buf(d, 0x100 * i);
        uint64_t st = rawdrv_buf(d, 0x800 + i);
        uint64_t buf = rawdrv_buf(d, 0x10000 + 0x10000ULL * i);
        uint8_t *h = rawdrv_ptr(d, hdr, 16);

        memset(h, 0, 16);
        h[8] = (uint8_t)(i * 128);
        rawdrv_desc(d, (uint16_t)(3 * i), hdr, 16, VQ_DESC_F_NEXT,
                    (uint16_t)(3 * i + 1));
        rawdrv_desc(d, (uint16_t)(3 * i + 1), buf, 0x10000,
                    VQ_DESC_F_WRITE | VQ_DESC_F_NEXT, (uint16_t)(3 * i + 2));
        rawdrv_desc(d, (uint16_t)(3 * i + 2), st, 1, VQ_DESC_F_WRITE, 0);
        rawdrv_publish(d, (uint16_t)(3 * i));
    }
    rawdrv_kick(d);
    rawdrv_wr(d, VMMIO_STATUS, 0);
    ck_assert_uint_eq(rawdrv_rd(d, VMMIO_STATUS), 0);
    /* the guest reuses every byte it had offered, rings included */
    memset(rawdrv_ptr(d, e.area, 0x100000), 0xa5, 0x100000);
    rearm(&e);
    ck_assert_int_eq(blkdrv_wait_old_session(e.d.relay, e.g.loop, 10000), 0);
    relay_get_stats(e.d.relay, &stats);
    /*
     * Zero-copy hands guest RAM to the backend: what it still held when
     * dropped, qsd completes into guest memory (the relay waited for it
     * only up to its step budget; docs/robustness.md, item 23).
     */
    if (modes[_i] == RELAY_MODE_SHADOW || stats.stop_drops == 0) {
        assert_ram(&e, NULL, 0);
    }
    serves_io(&e, WANT);
    env_down(&e);
}
END_TEST

#define CHECK_ADD_MODES(suite, fn, timeout_s)                                  \
    do {                                                                       \
        TCase *tc_ = tcase_create(#fn);                                        \
        tcase_set_timeout(tc_, (timeout_s));                                   \
        tcase_add_loop_test(tc_, fn, 0, 2);                                    \
        suite_add_tcase((suite), tc_);                                         \
    } while (0)

static Suite *
make_suite(void)
{
    Suite *s = suite_create("relay_hostile");

    CHECK_ADD_MODES(s, test_queue_sel_beyond, 30);
    CHECK_ADD(s, test_queue_num_bad, 30);
    CHECK_ADD_MODES(s, test_ring_addr_bad, 30);
    CHECK_ADD(s, test_odd_access, 30);
    CHECK_ADD(s, test_bad_chains, 30);
    CHECK_ADD_MODES(s, test_kick_ignored, 30);
    CHECK_ADD(s, test_features_unoffered, 30);
    CHECK_ADD_MODES(s, test_reset_inflight, 30);
    return s;
}

CHECK_MAIN(make_suite)
