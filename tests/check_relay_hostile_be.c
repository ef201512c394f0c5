/*
 * Hostile backend, end to end (bad-input checklist items 14, 17, 18 at
 * the relay level): device A is served in shadow mode by a vhost-user
 * backend that completes the setup properly and then lies on the ring or
 * misbehaves on the socket; device B, on the same guest and the same
 * loop, is served by a real qemu-storage-daemon and must keep doing I/O
 * throughout.
 *
 * Each test asserts: a log line naming the fault; the guest's accesses
 * answered; no byte of guest RAM changed outside A's offered writable
 * buffers, A's used ring and B's own area; device A reporting
 * DEVICE_NEEDS_RESET, clamping, or recovering by reconnect; and both
 * devices serving I/O afterwards.
 */
#include <config.h>

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "check_common.h"
#include "hguest.h"
#include "hostile_backend.h"
#include "vhu_wire.h"
#include "vmmio.h"
#include "vq.h"

#define DISK (8u << 20)
#define WANT (1ULL << VIRTIO_F_VERSION_1)
#define FILL 0xe7
#define LATE_FILL 0x3c
#define TIMEOUT_MS 400
#define ST_OK                                                                  \
    (VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |                        \
     VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK)

struct env {
    struct hguest g;
    struct hostile *hb;
    struct hdev a, b;
    struct logcap lc;
    struct ramguard ram0, ram1;
    char sock[300];
    unsigned b_lba;
    /* what A may see written: used ring, writable buffers of chains */
    struct ram_range allow[8];
    unsigned nallow;
};

static void
rearm(struct env *e)
{
    ramguard_free(&e->ram0);
    ramguard_free(&e->ram1);
    ramguard_take(&e->ram0, e->g.sim, HV_ARM_RAM0_GPA, HGUEST_RAM0);
    ramguard_take(&e->ram1, e->g.sim, HV_ARM_RAM1_GPA, HGUEST_RAM1);
}

static void
assert_ram(struct env *e, unsigned nchains_allowed)
{
    struct ram_range allow[10];
    unsigned n = 0;
    uint64_t bad0, bad1;

    allow[n++] = (struct ram_range){ e->b.drv.area, e->b.drv.area_len };
    allow[n++] = (struct ram_range){ e->a.drv.area + RAWDRV_USED_OFF, 0x1000 };
    for (unsigned i = 0; i < 2 * nchains_allowed && i < e->nallow; i++) {
        allow[n++] = e->allow[i];
    }
    bad0 = ramguard_check(&e->ram0, e->g.sim, allow, n);
    bad1 = ramguard_check(&e->ram1, e->g.sim, allow, n);
    ck_assert_msg(bad0 == 0 && bad1 == 0,
                  "guest RAM changed outside the offered buffers at 0x%llx",
                  (unsigned long long)(bad0 ? bad0 : bad1));
}

static void
assert_log(struct env *e, const char *needle)
{
    if (!logcap_has(&e->lc, needle)) {
        logcap_stop(&e->lc);
        ck_abort_msg("no log line with \"%s\"", needle);
    }
}

/* Device B: a write and a read-back through qemu-storage-daemon. */
static void
b_io(struct env *e)
{
    unsigned lba = 8 * (e->b_lba++ % 64);

    ck_assert_int_eq(rawdrv_blk_verify(&e->b.drv, lba, e->b_lba), 0);
}

/* A in a_mode with a bounce pool and request limit (0: defaults). */
static void
env_up_cfg(struct env *e, enum relay_mode a_mode, uint32_t bounce_kib,
           uint32_t max_request_kib)
{
    struct hostile_config hc = { .fill = FILL, .late_fill = LATE_FILL };
    struct relay_config rc = { .timeout_ms = TIMEOUT_MS,
                               .bounce_kib = bounce_kib,
                               .max_request_kib = max_request_kib };

    memset(e, 0, sizeof(*e));
    signal(SIGPIPE, SIG_DFL); /* an unguarded send would kill the test */
    logcap_start(&e->lc);
    ck_assert_int_eq(hguest_new(&e->g, DISK), 0);
    snprintf(e->sock, sizeof(e->sock), "%s/hostile.sock", e->g.dir);
    hc.sock_path = e->sock;
    ck_assert_int_eq(hostile_start(&e->hb, &hc), 0);
    ck_assert_int_eq(hdev_open(&e->a, &e->g, 0, e->sock, a_mode, &rc), 0);
    ck_assert_int_eq(hdev_open(&e->b, &e->g, 1, NULL, RELAY_MODE_ZEROCOPY, NULL),
                     0);
    ck_assert_uint_eq(rawdrv_init(&e->a.drv, WANT, 64), ST_OK);
    ck_assert_uint_eq(rawdrv_init(&e->b.drv, WANT, 64), ST_OK);
    b_io(e);
}

static void
env_up_mode(struct env *e, enum relay_mode a_mode)
{
    env_up_cfg(e, a_mode, 0, 0);
}

static void
env_up(struct env *e)
{
    env_up_mode(e, RELAY_MODE_SHADOW);
}

static void
env_down(struct env *e)
{
    hdev_close(&e->a);
    hdev_close(&e->b);
    hostile_stop(e->hb);
    hguest_free(&e->g);
    ramguard_free(&e->ram0);
    ramguard_free(&e->ram1);
    logcap_stop(&e->lc);
}

/*
 * Post n chains on A (16 readable bytes, then 4096 + 512 writable, with
 * canary gaps between all buffers), kick, and arm the RAM guard.
 */
static void
a_post(struct env *e, unsigned i)
{
    struct rawdrv *d = &e->a.drv;
    uint64_t hdr = rawdrv_buf(d, 0x100 * i);
    uint64_t w1 = rawdrv_buf(d, 0x10000 + 0x4000ULL * i);
    uint64_t w2 = w1 + 4096 + 64;
    uint16_t h = (uint16_t)(3 * i);

    memset(rawdrv_ptr(d, hdr, 16), 0x11, 16);
    memset(rawdrv_ptr(d, w1, 4096), RAWDRV_CANARY, 4096);
    memset(rawdrv_ptr(d, w2, 512), RAWDRV_CANARY, 512);
    rawdrv_desc(d, h, hdr, 16, VQ_DESC_F_NEXT, (uint16_t)(h + 1));
    rawdrv_desc(d, (uint16_t)(h + 1), w1, 4096,
                VQ_DESC_F_WRITE | VQ_DESC_F_NEXT, (uint16_t)(h + 2));
    rawdrv_desc(d, (uint16_t)(h + 2), w2, 512, VQ_DESC_F_WRITE, 0);
    rawdrv_publish(d, h);
    e->allow[2 * i] = (struct ram_range){ w1, 4096 };
    e->allow[2 * i + 1] = (struct ram_range){ w2, 512 };
}

static void
a_submit(struct env *e, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        a_post(e, i);
    }
    e->nallow = 2 * n;
    rearm(e);
    rawdrv_kick(&e->a.drv);
}

/* n bytes at p all equal to v (one assertion per buffer, not per byte). */
static bool
all_bytes(const uint8_t *p, size_t n, uint8_t v)
{
    for (size_t k = 0; k < n; k++) {
        if (p[k] != v) {
            return false;
        }
    }
    return true;
}

/* Chain i completed with `len` bytes of FILL in its writable buffers. */
static void
a_check_chain(struct env *e, unsigned i, uint32_t len)
{
    const uint8_t *p1 = rawdrv_ptr(&e->a.drv, e->allow[2 * i].gpa, 4096);
    const uint8_t *p2 = rawdrv_ptr(&e->a.drv, e->allow[2 * i + 1].gpa, 512);

    ck_assert_uint_eq(len, 4096 + 512);
    ck_assert_msg(all_bytes(p1, 4096, FILL), "chain %u: first buffer", i);
    ck_assert_msg(all_bytes(p2, 512, FILL), "chain %u: second buffer", i);
    ck_assert_uint_eq(p1[4096], RAWDRV_CANARY); /* gap after the buffer */
    ck_assert_uint_eq(p2[512], RAWDRV_CANARY);
}

/* Wait for A's interrupt while B keeps doing I/O on the same loop. */
static int
a_wait(struct env *e, int timeout_ms)
{
    int rc = rawdrv_wait_irq(&e->a.drv, timeout_ms);

    b_io(e);
    return rc;
}

/* The guest resets A; the backend behaves again; A serves one chain. */
static void
a_recovers(struct env *e)
{
    uint32_t id, len;

    hostile_set_fault(e->hb, HOSTILE_NONE);
    ck_assert_uint_eq(rawdrv_init(&e->a.drv, WANT, 64), ST_OK);
    a_submit(e, 1);
    ck_assert_int_gt(a_wait(e, 3000), 0);
    ck_assert_int_eq(rawdrv_poll(&e->a.drv, &id, &len), 1);
    ck_assert_uint_eq(id, 0);
    a_check_chain(e, 0, len);
    assert_ram(e, 1);
    b_io(e);
}

/* A's ring protocol error: NEEDS_RESET, nothing (or `ok` chains) delivered. */
static void
a_fails(struct env *e, unsigned ok, const char *log_needle)
{
    uint32_t id, len;
    int irq = a_wait(e, 3000);

    ck_assert_msg(irq > 0 && (irq & VMMIO_INT_CONFIG), "irq %d", irq);
    ck_assert(rawdrv_rd(&e->a.drv, VMMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET);
    for (unsigned i = 0; i < ok; i++) {
        ck_assert_int_eq(rawdrv_poll(&e->a.drv, &id, &len), 1);
        ck_assert_uint_eq(id, 0);
        a_check_chain(e, 0, len);
    }
    ck_assert_int_eq(rawdrv_poll(&e->a.drv, &id, &len), 0);
    assert_log(e, log_needle);
    assert_ram(e, ok);
}

START_TEST(test_be_used_id_never_available)
{
    struct env e;

    env_up(&e);
    hostile_set_fault(e.hb, HOSTILE_BAD_ID);
    a_submit(&e, 1);
    a_fails(&e, 0, "it does not hold");
    a_recovers(&e);
    env_down(&e);
}
END_TEST

START_TEST(test_be_used_id_twice)
{
    struct env e;

    env_up(&e);
    hostile_set_fault(e.hb, HOSTILE_DUP_ID);
    a_submit(&e, 2);
    a_fails(&e, 1, "it does not hold");
    a_recovers(&e);
    env_down(&e);
}
END_TEST

START_TEST(test_be_used_idx_jump)
{
    struct env e;

    env_up(&e);
    hostile_set_fault(e.hb, HOSTILE_JUMP_IDX);
    a_submit(&e, 1);
    a_fails(&e, 0, "backend used index jumped");
    a_recovers(&e);
    env_down(&e);
}
END_TEST

/* A length beyond the writable bytes is clamped; the device goes on. */
START_TEST(test_be_len_too_large)
{
    struct env e;
    uint32_t id, len;

    env_up(&e);
    hostile_set_fault(e.hb, HOSTILE_BIG_LEN);
    a_submit(&e, 1);
    ck_assert_int_gt(a_wait(&e, 3000), 0);
    ck_assert_int_eq(rawdrv_poll(&e.a.drv, &id, &len), 1);
    ck_assert_uint_eq(id, 0);
    a_check_chain(&e, 0, len); /* len is exactly 4096 + 512 */
    ck_assert_uint_eq(rawdrv_rd(&e.a.drv, VMMIO_STATUS), ST_OK);
    assert_log(&e, "clamped");
    assert_ram(&e, 1);
    hostile_set_fault(e.hb, HOSTILE_NONE);
    a_submit(&e, 1);
    ck_assert_int_gt(a_wait(&e, 3000), 0);
    ck_assert_int_eq(rawdrv_poll(&e.a.drv, &id, &len), 1);
    a_check_chain(&e, 0, len);
    env_down(&e);
}
END_TEST

/*
 * A backend that takes requests and stops answering anything: B keeps
 * serving, the guest's reset of A is answered at once, and the connection
 * is dropped once the request timeout passed without the stop's reply.
 */
START_TEST(test_be_stops_answering)
{
    struct env e;
    uint64_t t0, ms;

    env_up(&e);
    hostile_set_fault(e.hb, HOSTILE_HOLD);
    a_submit(&e, 1);
    for (int i = 0; i < 5; i++) {
        b_io(&e);
    }
    ck_assert_int_eq(rawdrv_wait_irq(&e.a.drv, 300), -ETIMEDOUT);
    assert_ram(&e, 0);
    t0 = log_now_ns();
    rawdrv_wr(&e.a.drv, VMMIO_STATUS, 0);
    ms = (log_now_ns() - t0) / 1000000ULL;
    ck_assert_msg(ms < 50, "reset took %llu ms", (unsigned long long)ms);
    ck_assert_uint_eq(rawdrv_rd(&e.a.drv, VMMIO_STATUS), 0);
    /* The dead connection is dropped once timeout_ms passed without the
     * reply to GET_VRING_BASE, from the loop, not at the next DRIVER_OK. */
    while (!logcap_has(&e.lc, "no reply to GET_VRING_BASE within 400 ms")) {
        ck_assert_msg(log_now_ns() - t0 < 3000000000ULL,
                      "connection not dropped 3 s after the reset");
        (void)a_wait(&e, 10);
    }
    ms = (log_now_ns() - t0) / 1000000ULL;
    ck_assert_msg(ms >= TIMEOUT_MS, "dropped after %llu ms",
                  (unsigned long long)ms);
    assert_log(&e, "backend connection lost");
    b_io(&e);
    a_recovers(&e);
    ck_assert_uint_ge(hostile_connections(e.hb), 2);
    env_down(&e);
}
END_TEST

/* The backend closes the socket with a request in flight: reconnect. */
START_TEST(test_be_close_mid_request)
{
    struct env e;
    struct relay_stats st;
    uint32_t id, len;

    env_up(&e);
    hostile_set_fault(e.hb, HOSTILE_CLOSE_ON_KICK);
    a_submit(&e, 1);
    ck_assert_int_gt(a_wait(&e, 3000), 0);
    ck_assert_int_eq(rawdrv_poll(&e.a.drv, &id, &len), 1);
    ck_assert_uint_eq(id, 0);
    a_check_chain(&e, 0, len);
    ck_assert_int_eq(rawdrv_poll(&e.a.drv, &id, &len), 0); /* exactly once */
    ck_assert_uint_eq(rawdrv_rd(&e.a.drv, VMMIO_STATUS), ST_OK);
    assert_log(&e, "backend connection lost");
    assert_log(&e, "resubmitting 1 requests");
    assert_log(&e, "backend reconnected");
    relay_get_stats(e.a.relay, &st);
    ck_assert_uint_eq(st.reconnects, 1);
    ck_assert_uint_eq(hostile_connections(e.hb), 2);
    assert_ram(&e, 1);
    a_recovers(&e);
    env_down(&e);
}
END_TEST

/* The relay sends on a socket the backend closed: EPIPE, no SIGPIPE. */
START_TEST(test_be_epipe)
{
    struct env e;

    env_up(&e);
    hostile_set_fault(e.hb, HOSTILE_CLOSE_ON_KICK);
    a_submit(&e, 1);
    for (int i = 0; i < 100 && hostile_chains_seen(e.hb) == 0; i++) {
        usleep(10000);
    }
    usleep(50000); /* the backend has closed; the loop has not run */
    rawdrv_wr(&e.a.drv, VMMIO_STATUS, 0);
    assert_log(&e, "Broken pipe");
    assert_ram(&e, 0);
    b_io(&e);
    a_recovers(&e);
    env_down(&e);
}
END_TEST

/* Bounded poll until the backend has taken n chains in all. */
static void
wait_chains(struct env *e, unsigned n)
{
    uint64_t end = log_now_ns() + 3000000000ULL;

    while (hostile_chains_seen(e->hb) < n) {
        ck_assert_msg(log_now_ns() < end, "backend took %u of %u chains",
                      hostile_chains_seen(e->hb), n);
        usleep(1000);
    }
}

/*
 * Reset while the backend holds requests (checklist 23): it answers
 * GET_VRING_BASE at once and completes the old requests, data, used
 * entries and call, after the next session's SET_VRING_ADDR, right after
 * serving that session's first chain.  The guest must see that chain
 * completed once with the new data, nothing else, and no NEEDS_RESET.
 */
START_TEST(test_be_reset_late_completion)
{
    struct env e;
    uint32_t id, len;

    env_up(&e);
    hostile_set_fault(e.hb, HOSTILE_LATE);
    a_submit(&e, 4);
    wait_chains(&e, 4);
    rawdrv_wr(&e.a.drv, VMMIO_STATUS, 0);
    ck_assert_uint_eq(rawdrv_rd(&e.a.drv, VMMIO_STATUS), 0);
    ck_assert_uint_eq(rawdrv_init(&e.a.drv, WANT, 64), ST_OK);
    a_submit(&e, 1);
    ck_assert_int_gt(a_wait(&e, 3000), 0);
    ck_assert_uint_eq(hostile_late_completed(e.hb), 4);
    ck_assert_int_eq(rawdrv_poll(&e.a.drv, &id, &len), 1);
    ck_assert_uint_eq(id, 0);
    a_check_chain(&e, 0, len);
    b_io(&e); /* the loop runs: anything signalled late is seen now */
    ck_assert_int_eq(rawdrv_poll(&e.a.drv, &id, &len), 0);
    ck_assert_uint_eq(rawdrv_rd(&e.a.drv, VMMIO_STATUS), ST_OK);
    assert_ram(&e, 1);
    a_submit(&e, 1);
    ck_assert_int_gt(a_wait(&e, 3000), 0);
    ck_assert_int_eq(rawdrv_poll(&e.a.drv, &id, &len), 1);
    a_check_chain(&e, 0, len);
    ck_assert_uint_eq(rawdrv_rd(&e.a.drv, VMMIO_STATUS), ST_OK);
    env_down(&e);
}
END_TEST

#define ACCESS_BOUND_MS 50u

/* One guest register write on A, timed on the monotonic clock. */
static uint64_t
a_timed_wr(struct env *e, uint32_t off, uint32_t val)
{
    uint64_t t0 = log_now_ns(), us;

    rawdrv_wr(&e->a.drv, off, val);
    us = (log_now_ns() - t0) / 1000u;
    ck_assert_msg(us < ACCESS_BOUND_MS * 1000u, "write of 0x%x to register "
                  "0x%x took %llu us", val, off, (unsigned long long)us);
    return us;
}

/*
 * B does I/O for `ms` while A recovers from the loop; no loop callback
 * (A's reconnect attempts included) may hold the loop, and with it every
 * register access of B, longer than the bound.  Returns the longest one.
 */
static uint64_t
b_serves_while(struct env *e, unsigned ms)
{
    uint64_t end = log_now_ns() + ms * 1000000ULL, worst = 0;

    while (log_now_ns() < end) {
        uint64_t t0 = log_now_ns(), us;

        loop_run_once(e->g.loop, 0);
        us = (log_now_ns() - t0) / 1000u;
        worst = us > worst ? us : worst;
        ck_assert_msg(us < ACCESS_BOUND_MS * 1000u, "one loop step took "
                      "%llu us", (unsigned long long)us);
        b_io(e);
    }
    return worst;
}

/*
 * No guest action blocks the worker (checklist 28), on two devices of one
 * guest sharing a loop: A is zero-copy, B served by qsd.  First the guest
 * scribbles A's used->idx and disables the queue (the relay used to wait
 * for used->idx to catch up); then A's backend goes silent and the guest
 * resets A (the relay used to wait for the reply up to timeout_ms).  Each
 * access is answered within 50 ms and B keeps doing I/O meanwhile.
 */
START_TEST(test_be_access_latency)
{
    struct env e;
    uint32_t id, len;
    uint64_t worst = 0, us;

    env_up_mode(&e, RELAY_MODE_ZEROCOPY);
    a_submit(&e, 1);
    ck_assert_int_gt(a_wait(&e, 3000), 0);
    ck_assert_int_eq(rawdrv_poll(&e.a.drv, &id, &len), 1);
    memset(e.a.drv.used + 2, 0x80, 2); /* used->idx = 0x8080 */
    rawdrv_wr(&e.a.drv, VMMIO_QUEUE_SEL, 0);
    us = a_timed_wr(&e, VMMIO_QUEUE_READY, 0);
    worst = us > worst ? us : worst;
    us = b_serves_while(&e, 200);
    worst = us > worst ? us : worst;

    ck_assert_uint_eq(rawdrv_init(&e.a.drv, WANT, 64), ST_OK);
    a_submit(&e, 1);
    ck_assert_int_gt(a_wait(&e, 3000), 0);
    hostile_set_fault(e.hb, HOSTILE_HOLD);
    a_submit(&e, 1);
    wait_chains(&e, 3);
    us = a_timed_wr(&e, VMMIO_STATUS, 0);
    worst = us > worst ? us : worst;
    ck_assert_uint_eq(rawdrv_rd(&e.a.drv, VMMIO_STATUS), 0);
    us = b_serves_while(&e, 500); /* A's reconnects meet a silent backend */
    worst = us > worst ? us : worst;
    fprintf(stderr, "longest register access or loop step: %llu us\n",
            (unsigned long long)worst);
    a_recovers(&e);
    env_down(&e);
}
END_TEST

/*
 * A backend holds one request for ever and completes the others
 * (checklist 24): thousands of requests pass it, the bounce pool and the
 * shadow ring never stall behind it.
 */
START_TEST(test_be_hold_one_forever)
{
    struct env e;
    uint32_t id, len;

    env_up(&e);
    hostile_set_fault(e.hb, HOSTILE_HOLD_FIRST);
    a_submit(&e, 1);
    wait_chains(&e, 1);
    for (unsigned n = 0; n < 3000; n++) {
        a_post(&e, 1);
        rawdrv_kick(&e.a.drv);
        ck_assert_msg(rawdrv_wait_irq(&e.a.drv, 3000) > 0,
                      "request %u behind the held one never completed", n);
        ck_assert_int_eq(rawdrv_poll(&e.a.drv, &id, &len), 1);
        ck_assert_uint_eq(id, 3);
        a_check_chain(&e, 1, len);
    }
    ck_assert_int_eq(rawdrv_poll(&e.a.drv, &id, &len), 0);
    ck_assert_uint_eq(rawdrv_rd(&e.a.drv, VMMIO_STATUS), ST_OK);
    a_recovers(&e);
    env_down(&e);
}
END_TEST

/*
 * One chain of `out` readable bytes then writable segments w[] (lengths),
 * laid out from scratch offset 0x8000 with canary gaps; e->allow gets them.
 */
static void
a_post_big(struct env *e, const uint32_t *w, unsigned nw)
{
    struct rawdrv *d = &e->a.drv;
    uint64_t hdr = rawdrv_buf(d, 0), at = rawdrv_buf(d, 0x8000);

    memset(rawdrv_ptr(d, hdr, 16), 0x11, 16);
    rawdrv_desc(d, 0, hdr, 16, VQ_DESC_F_NEXT, 1);
    for (unsigned i = 0; i < nw; i++) {
        memset(rawdrv_ptr(d, at, w[i]), RAWDRV_CANARY, w[i]);
        rawdrv_desc(d, (uint16_t)(1 + i), at, w[i],
                    (uint16_t)(VQ_DESC_F_WRITE |
                               (i + 1 < nw ? VQ_DESC_F_NEXT : 0)),
                    (uint16_t)(2 + i));
        e->allow[i] = (struct ram_range){ at, w[i] };
        at += w[i] + 0x1000;
    }
    e->nallow = nw;
    rawdrv_publish(d, 0);
    rearm(e);
    rawdrv_kick(d);
}

/*
 * A request as large as the relay's advertised limit, far larger than
 * the bounce pool (checklist 25): 64 KiB pool, max_request_kib 512; the
 * bounce layout of header + 128 KiB + 128 KiB + 511 sectors is exactly
 * 512 KiB.  It completes, twice (the window is reused), with every byte;
 * one sector more is refused with a line naming the limit.
 */
START_TEST(test_be_max_request)
{
    static const uint32_t w[3] = { 0x20000, 0x20000, 511 * 512 };
    static const uint32_t w_over[3] = { 0x20000, 0x20000, 512 * 512 };
    struct env e;
    uint32_t id, len;

    env_up_cfg(&e, RELAY_MODE_SHADOW, 64, 512);
    for (int round = 0; round < 2; round++) {
        a_post_big(&e, w, 3);
        ck_assert_int_gt(a_wait(&e, 3000), 0);
        ck_assert_int_eq(rawdrv_poll(&e.a.drv, &id, &len), 1);
        ck_assert_uint_eq(id, 0);
        ck_assert_uint_eq(len, w[0] + w[1] + w[2]);
        for (unsigned i = 0; i < 3; i++) {
            const uint8_t *p = rawdrv_ptr(&e.a.drv, e.allow[i].gpa, w[i] + 1);

            ck_assert_msg(all_bytes(p, w[i], FILL), "segment %u", i);
            ck_assert_uint_eq(p[w[i]], RAWDRV_CANARY);
        }
        ck_assert_uint_eq(rawdrv_rd(&e.a.drv, VMMIO_STATUS), ST_OK);
        assert_ram(&e, 2);
    }
    a_post_big(&e, w_over, 3);
    a_fails(&e, 0, "exceeds the 524288-byte limit");
    a_recovers(&e);
    env_down(&e);
}
END_TEST

/*
 * A backend may start a ring on SET_VRING_KICK; it must have its call fd
 * by then, so every KICK follows the ring's CALL (first start, and the
 * re-start after a guest reset).
 */
START_TEST(test_be_call_before_kick)
{
    struct env e;
    uint32_t req[256];
    unsigned n, kicks = 0;
    bool have_call = false;

    env_up(&e);
    ck_assert_uint_eq(rawdrv_init(&e.a.drv, WANT, 64), ST_OK);
    n = hostile_requests(e.hb, req, 256);
    for (unsigned i = 0; i < n; i++) {
        if (req[i] == VHU_REQ_SET_VRING_CALL) {
            have_call = true;
        } else if (req[i] == VHU_REQ_SET_VRING_KICK) {
            ck_assert_msg(have_call, "SET_VRING_KICK (message %u) before "
                          "SET_VRING_CALL", i);
            have_call = false;
            kicks++;
        }
    }
    ck_assert_uint_eq(kicks, 2);
    env_down(&e);
}
END_TEST

static Suite *
make_suite(void)
{
    Suite *s = suite_create("relay_hostile_backend");

    CHECK_ADD(s, test_be_used_id_never_available, 30);
    CHECK_ADD(s, test_be_used_id_twice, 30);
    CHECK_ADD(s, test_be_used_idx_jump, 30);
    CHECK_ADD(s, test_be_len_too_large, 30);
    CHECK_ADD(s, test_be_stops_answering, 30);
    CHECK_ADD(s, test_be_close_mid_request, 30);
    CHECK_ADD(s, test_be_epipe, 30);
    CHECK_ADD(s, test_be_call_before_kick, 30);
    CHECK_ADD(s, test_be_reset_late_completion, 30);
    CHECK_ADD(s, test_be_access_latency, 30);
    CHECK_ADD(s, test_be_hold_one_forever, 60);
    CHECK_ADD(s, test_be_max_request, 30);
    return s;
}

CHECK_MAIN(make_suite)
