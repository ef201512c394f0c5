/*
 * relay_cfg end to end (checklist item 27, issue 12 items 5 and 6): a guest
 * writing every config offset, against the hostile backend made as strict
 * as qemu-storage-daemon and against the real one; config and
 * ConfigGeneration across reconnects; features whose config fields the
 * relay does not carry.  Every device is set up as the daemon does it, from
 * devtype_fill().
 */
#include <config.h>

#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "check_common.h"
#include "devtype.h"
#include "log.h"
#include "loop.h"
#include "hguest.h"
#include "hostile_backend.h"
#include "rawdrv.h"
#include "relay.h"
#include "vmmio.h"
#include "vq.h"

#define DISK (8u << 20)
#define F_WCE 11
#define F_WRITE_ZEROES 14
#define F_SECURE_ERASE 16
#define F_ZONED 17
#define WCE_OFF 32
#define WANT ((1ULL << VIRTIO_F_VERSION_1) | (1ULL << F_WCE))
#define ST_OK                                                                  \
    (VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |                        \
     VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK)

struct env {
    struct hguest g;
    struct hostile *hb;
    struct hdev d;
    struct logcap lc;
    char sock[300];
};

/* A blk device the way worker_guest_add makes one; sock NULL: real qsd. */
static void
env_up(struct env *e, const struct hostile_config *hc, uint64_t disk)
{
    struct relay_config rc = { .timeout_ms = 2000 };
    struct devtype_config st;
    const char *why;

    memset(e, 0, sizeof(*e));
    signal(SIGPIPE, SIG_DFL);
    logcap_start(&e->lc);
    ck_assert_int_eq(hguest_new(&e->g, disk), 0);
    ck_assert_int_eq(devtype_fill(&rc, DEVTYPE_BLK, NULL, &st, &why), 0);
    if (hc) {
        struct hostile_config c = *hc;

        snprintf(e->sock, sizeof(e->sock), "%s/hostile.sock", e->g.dir);
        c.sock_path = e->sock;
        ck_assert_int_eq(hostile_start(&e->hb, &c), 0);
    }
    ck_assert_int_eq(hdev_open(&e->d, &e->g, 0, hc ? e->sock : NULL,
                               RELAY_MODE_SHADOW, &rc), 0);
}

static void
env_down(struct env *e)
{
    hdev_close(&e->d);
    hostile_stop(e->hb);
    hguest_free(&e->g);
    logcap_stop(&e->lc);
}

static uint64_t
cfg_rd(struct env *e, uint32_t off, unsigned size)
{
    return rawdrv_access(&e->d.drv, VMMIO_CONFIG_OFF + off, size, false, 0);
}

static void
cfg_wr(struct env *e, uint32_t off, unsigned size, uint64_t val)
{
    rawdrv_access(&e->d.drv, VMMIO_CONFIG_OFF + off, size, true, val);
}

static uint32_t
generation(struct env *e)
{
    return rawdrv_rd(&e->d.drv, VMMIO_CONFIG_GENERATION);
}

/* Still on the first connection, and the device serving. */
static void
assert_same_connection(struct env *e)
{
    struct relay_stats st;

    ck_assert(!logcap_has(&e->lc, "backend connection lost"));
    ck_assert(!e->hb || hostile_connections(e->hb) == 1);
    relay_get_stats(e->d.relay, &st);
    ck_assert_uint_eq(st.reconnects, 0);
    ck_assert_uint_eq(rawdrv_rd(&e->d.drv, VMMIO_STATUS), ST_OK);
}

/* A config backend: 8 MiB capacity, write cache on, other fields set. */
static void
blk_config(struct hostile_config *hc)
{
    uint64_t sectors = DISK / 512;

    memset(hc, 0, sizeof(*hc));
    hc->fill = 0x3c;
    hc->features = (1ULL << F_WCE) | (1ULL << 6) | (1ULL << F_WRITE_ZEROES);
    hc->config_len = 60;
    for (unsigned i = 8; i < 60; i++) {
        hc->config[i] = (uint8_t)(0x40 + i);
    }
    memcpy(hc->config, &sectors, 8);
    hc->config[WCE_OFF] = 1;
}

/*
 * Every width at every offset of the 60 bytes, each value different from
 * what is there, except the writeback byte; returns the writes tried.
 */
static unsigned
poke_all(struct env *e)
{
    static const unsigned sizes[] = { 1, 2, 4, 8 };
    unsigned n = 0;

    for (unsigned s = 0; s < 4; s++) {
        for (uint32_t off = 0; off + sizes[s] <= 60; off++) {
            if (sizes[s] == 1 && off == WCE_OFF) {
                continue;
            }
            cfg_wr(e, off, sizes[s], 0xa5a5a5a5a5a5a5a5ULL);
            n++;
        }
    }
    return n;
}

/* The config bytes the guest sees, one by one. */
static void
snapshot(struct env *e, uint8_t *out)
{
    for (uint32_t i = 0; i < 60; i++) {
        out[i] = (uint8_t)cfg_rd(e, i, 1);
    }
}

/* Guest config writes against a backend that hangs up on any refused
 * SET_CONFIG: only the writeback byte reaches it, no disconnect. */
START_TEST(test_cfg_writes_strict_backend)
{
    struct hostile_config hc;
    uint8_t before[60], after[60];
    uint32_t gen;
    struct env e;

    blk_config(&hc);
    hc.strict_config = true;
    env_up(&e, &hc, 0);
    /* Before the driver has negotiated anything, even WCE is refused. */
    cfg_wr(&e, WCE_OFF, 1, 0);
    ck_assert_uint_eq(cfg_rd(&e, WCE_OFF, 1), 1);
    ck_assert_uint_eq(rawdrv_init(&e.d.drv, WANT, 64), ST_OK);
    ck_assert(e.d.drv.features & (1ULL << F_WCE));
    snapshot(&e, before);
    gen = generation(&e);
    ck_assert_uint_gt(poke_all(&e), 200);
    snapshot(&e, after);
    ck_assert_mem_eq(before, after, 60);
    ck_assert_uint_eq(hostile_set_configs(e.hb), 0);
    /* The one driver-writable field goes through and reads back. */
    cfg_wr(&e, WCE_OFF, 1, 0);
    ck_assert_uint_eq(hostile_set_configs(e.hb), 1);
    ck_assert_uint_eq(cfg_rd(&e, WCE_OFF, 1), 0);
    ck_assert_uint_eq(generation(&e), gen);
    ck_assert(logcap_has(&e.lc, "not a driver-writable field"));
    assert_same_connection(&e);
    env_down(&e);
}
END_TEST

/* The same against qemu-storage-daemon: no disconnect, I/O still works. */
START_TEST(test_cfg_writes_qsd)
{
    uint8_t before[60], after[60], out[4096], in[4096], s = 0xff;
    uint32_t gen;
    struct env e;

    env_up(&e, NULL, DISK);
    ck_assert_uint_eq(rawdrv_init(&e.d.drv, WANT, 64), ST_OK);
    ck_assert_msg(e.d.drv.features & (1ULL << F_WCE),
                  "qemu-storage-daemon did not offer CONFIG_WCE");
    ck_assert_uint_eq(cfg_rd(&e, 0, 8), DISK / 512);
    snapshot(&e, before);
    gen = generation(&e);
    poke_all(&e);
    /* qsd refuses all of these; it hung up on the first one before. */
    ck_assert(!logcap_has(&e.lc, "backend connection lost"));
    snapshot(&e, after);
    ck_assert_mem_eq(before, after, 60);
    cfg_wr(&e, WCE_OFF, 1, 0);
    ck_assert_uint_eq(cfg_rd(&e, WCE_OFF, 1), 0);
    cfg_wr(&e, WCE_OFF, 1, 1);
    ck_assert_uint_eq(cfg_rd(&e, WCE_OFF, 1), 1);
    ck_assert_uint_eq(generation(&e), gen);
    memset(out, 0x5e, sizeof(out));
    ck_assert_int_eq(rawdrv_blk(&e.d.drv, 1, 16, out, sizeof(out), &s), 0);
    ck_assert_uint_eq(s, 0);
    ck_assert_int_eq(rawdrv_blk(&e.d.drv, 0, 16, in, sizeof(in), &s), 0);
    ck_assert_uint_eq(s, 0);
    ck_assert_mem_eq(in, out, sizeof(in));
    assert_same_connection(&e);
    env_down(&e);
}
END_TEST

/*
 * Make the backend drop the connection (on the next request), wait until
 * the relay is back and the request completed; InterruptStatus bits seen.
 */
static uint32_t
reconnect(struct env *e, unsigned want_connections)
{
    struct rawdrv *d = &e->d.drv;
    uint64_t hdr = rawdrv_buf(d, 0), buf = rawdrv_buf(d, 0x1000);
    uint16_t head = (uint16_t)(2 * (d->avail_idx % 32));
    uint32_t bits = 0, id, len;
    int rc;

    hostile_set_fault(e->hb, HOSTILE_CLOSE_ON_KICK);
    rawdrv_desc(d, head, hdr, 16, VQ_DESC_F_NEXT, (uint16_t)(head + 1));
    rawdrv_desc(d, (uint16_t)(head + 1), buf, 512, VQ_DESC_F_WRITE, 0);
    rawdrv_publish(d, head);
    rawdrv_kick(d);
    while ((rc = rawdrv_poll(d, &id, &len)) == 0) {
        int st = rawdrv_wait_irq(d, 3000);

        ck_assert_int_ge(st, 0);
        bits |= (uint32_t)st;
    }
    ck_assert_uint_eq(id, head);
    ck_assert_uint_eq(hostile_connections(e->hb), want_connections);
    return bits;
}

/* What the guest wrote survives a backend restart; ConfigGeneration and
 * the config interrupt come exactly when the backend's config changed. */
START_TEST(test_cfg_generation_across_reconnects)
{
    struct hostile_config hc;
    uint64_t bigger = 2 * (DISK / 512);
    uint32_t gen, bits;
    struct env e;

    blk_config(&hc);
    env_up(&e, &hc, 0);
    ck_assert_uint_eq(rawdrv_init(&e.d.drv, WANT, 64), ST_OK);
    gen = generation(&e);
    cfg_wr(&e, WCE_OFF, 1, 0);             /* the backend starts with 1 */
    ck_assert_uint_eq(hostile_set_configs(e.hb), 1);

    bits = reconnect(&e, 2);
    ck_assert_uint_eq(hostile_set_configs(e.hb), 2); /* written again */
    ck_assert_uint_eq(cfg_rd(&e, WCE_OFF, 1), 0);
    ck_assert_uint_eq(generation(&e), gen);
    ck_assert_uint_eq(bits & VMMIO_INT_CONFIG, 0);

    /* The backend comes back with a bigger disk. */
    hostile_set_config(e.hb, 0, &bigger, 8);
    bits = reconnect(&e, 3);
    ck_assert_uint_eq(cfg_rd(&e, 0, 8), bigger);
    ck_assert_uint_eq(cfg_rd(&e, WCE_OFF, 1), 0);
    ck_assert_uint_eq(generation(&e), gen + 1);
    ck_assert_uint_ne(bits & VMMIO_INT_CONFIG, 0);
    ck_assert(logcap_has(&e.lc, "config space changed"));
    ck_assert_uint_eq(rawdrv_rd(&e.d.drv, VMMIO_STATUS), ST_OK);
    env_down(&e);
}
END_TEST

/* The backend announces a change on its request channel: the guest gets
 * it with a new generation and a config interrupt, the connection stays;
 * an announcement that changes nothing changes nothing. */
START_TEST(test_cfg_change_announced)
{
    struct hostile_config hc;
    uint64_t bigger = 4 * (DISK / 512);
    uint32_t gen, bits = 0;
    uint64_t t0;
    struct env e;

    blk_config(&hc);
    env_up(&e, &hc, 0);
    ck_assert_uint_eq(rawdrv_init(&e.d.drv, WANT, 64), ST_OK);
    gen = generation(&e);
    hostile_config_change(e.hb, 0, &bigger, 8);
    while (!(bits & VMMIO_INT_CONFIG)) {
        int r = rawdrv_wait_irq(&e.d.drv, 3000);

        ck_assert_int_ge(r, 0);
        bits |= (uint32_t)r;
    }
    ck_assert_uint_eq(cfg_rd(&e, 0, 8), bigger);
    ck_assert_uint_eq(generation(&e), gen + 1);
    ck_assert_uint_eq(hostile_config_acks(e.hb), 1);

    hostile_config_change(e.hb, 0, &bigger, 8);
    t0 = log_now_ns();
    while (hostile_config_acks(e.hb) < 2) {
        ck_assert_uint_lt(log_now_ns() - t0, 3000000000ULL);
        loop_run_once(e.g.loop, 10);
    }
    /* (the answer and the config read happen in one loop callback) */
    ck_assert_uint_eq(generation(&e), gen + 1);
    ck_assert_uint_eq(rawdrv_rd(&e.d.drv, VMMIO_INTERRUPT_STATUS) &
                          VMMIO_INT_CONFIG, 0);
    assert_same_connection(&e);
    env_down(&e);
}
END_TEST

/* Issue 12 item 6: bits whose config fields lie beyond the 60 bytes. */
START_TEST(test_features_beyond_config_masked)
{
    struct hostile_config hc;
    uint32_t lo;
    struct env e;

    blk_config(&hc);
    hc.features |= (1ULL << F_SECURE_ERASE) | (1ULL << F_ZONED);
    env_up(&e, &hc, 0);
    rawdrv_wr(&e.d.drv, VMMIO_DEVICE_FEATURES_SEL, 0);
    lo = rawdrv_rd(&e.d.drv, VMMIO_DEVICE_FEATURES);
    ck_assert_uint_eq(lo & (1u << F_SECURE_ERASE), 0);
    ck_assert_uint_eq(lo & (1u << F_ZONED), 0);
    ck_assert_uint_ne(lo & (1u << F_WRITE_ZEROES), 0);
    ck_assert_uint_ne(lo & (1u << F_WCE), 0);
    ck_assert_uint_ne(lo & (1u << 6), 0);
    ck_assert(logcap_has(&e.lc, "not offered: the device profile"));
    env_down(&e);
}
END_TEST

/*
 * Checklist 32: a guest cycling reset / DRIVER_OK floods nothing, the
 * lines it loses are counted when logging resumes, and a different kind
 * of problem is still logged meanwhile.
 */
START_TEST(test_reset_cycles_rate_limited)
{
    struct hostile_config hc;
    struct env e;
    uint64_t t0;

    blk_config(&hc);
    env_up(&e, &hc, 0);
    logcap_mark(&e.lc);
    for (int i = 0; i < 100; i++) {
        ck_assert_uint_eq(rawdrv_init(&e.d.drv, WANT, 64), ST_OK);
    }
    /* 100 stops and 100 starts share the kind's burst of 10. */
    ck_assert_uint_le(logcap_count(&e.lc, "driver ready") +
                          logcap_count(&e.lc, "session stopped"),
                      10 + 2); /* 100 of each before the fix */
    cfg_wr(&e, 0, 4, 0);
    ck_assert_uint_eq(logcap_count(&e.lc, "not a driver-writable field"), 1);
    /* Cycles go on until the limiter lets a line through (it refills one
     * line a second): that line says how many it had to drop. */
    t0 = log_now_ns();
    while (!logcap_has(&e.lc, "more like this suppressed]")) {
        ck_assert_uint_lt(log_now_ns() - t0, 3000000000ULL);
        ck_assert_uint_eq(rawdrv_init(&e.d.drv, WANT, 64), ST_OK);
    }
    env_down(&e);
}
END_TEST

static Suite *
make_suite(void)
{
    Suite *s = suite_create("relay_cfg");

    CHECK_ADD(s, test_cfg_writes_strict_backend, 30);
    CHECK_ADD(s, test_cfg_writes_qsd, 30);
    CHECK_ADD(s, test_cfg_generation_across_reconnects, 30);
    CHECK_ADD(s, test_cfg_change_announced, 30);
    CHECK_ADD(s, test_features_beyond_config_masked, 30);
    CHECK_ADD(s, test_reset_cycles_rate_limited, 30);
    return s;
}

CHECK_MAIN(make_suite)
