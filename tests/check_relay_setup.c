/*
 * Device setup off the trap path (checklist 28, issue 12 item 9): the
 * guest's DRIVER_OK and QueueReady=1 are answered at once while the
 * backend is still acknowledging the setup, the guest's other devices
 * keep serving, and the queue starts when the backend is done.
 *
 * Device A is served by the hostile backend, which holds the ack to one
 * chosen request (SET_MEM_TABLE or SET_VRING_ADDR) until the test lets
 * it go, as a zero-copy backend mapping the guest's RAM under Xen would;
 * device B, on the same guest and loop, is served by qemu-storage-daemon
 * and does verified I/O while A's setup is held.  Every access the guest
 * makes to A is timed against the 50 ms bound.
 *
 * The same for the end of a session: the backend holds its reply to
 * GET_VRING_BASE, as a backend slower to stop a ring than a register
 * access may take does, and keeps its connection when it answers.
 */
#include <config.h>

#include <errno.h>
#include <signal.h>
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
#define FILL 0xa5
#define ACCESS_BOUND_US 50000u
#define ST_OK                                                                  \
    (VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |                        \
     VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK)

static const enum relay_mode modes[] = { RELAY_MODE_ZEROCOPY,
                                         RELAY_MODE_SHADOW };

struct env {
    struct hguest g;
    struct hostile *hb;
    struct hdev a, b;
    struct logcap lc;
    char sock[300];
    unsigned b_ios;
    unsigned a_done;   /* chains A completed so far */
    uint64_t worst_us; /* longest access to A */
};

/* Device B: a write and a read-back through qemu-storage-daemon. */
static void
b_io(struct env *e)
{
    unsigned lba = 8 * (e->b_ios++ % 64);

    ck_assert_int_eq(rawdrv_blk_verify(&e->b.drv, lba, e->b_ios), 0);
}

/*
 * A on the hostile backend (setup bounded by timeout_ms), B on qsd; B set
 * up and serving.  A's driver does not wait for A's setup.
 */
static void
env_up(struct env *e, enum relay_mode mode, unsigned timeout_ms)
{
    struct hostile_config hc = { .fill = FILL };
    struct relay_config rc = { .timeout_ms = timeout_ms };

    memset(e, 0, sizeof(*e));
    signal(SIGPIPE, SIG_DFL); /* an unguarded send would kill the test */
    logcap_start(&e->lc);
    ck_assert_int_eq(hguest_new(&e->g, DISK), 0);
    snprintf(e->sock, sizeof(e->sock), "%s/hostile.sock", e->g.dir);
    hc.sock_path = e->sock;
    ck_assert_int_eq(hostile_start(&e->hb, &hc), 0);
    ck_assert_int_eq(hdev_open(&e->a, &e->g, 0, e->sock, mode, &rc), 0);
    ck_assert_int_eq(hdev_open(&e->b, &e->g, 1, NULL, RELAY_MODE_ZEROCOPY,
                               NULL), 0);
    e->a.drv.relay = NULL;
    ck_assert_uint_eq(rawdrv_init(&e->b.drv, WANT, 64), ST_OK);
    b_io(e);
}

static void
env_down(struct env *e)
{
    fprintf(stderr, "longest access to the device under setup: %llu us\n",
            (unsigned long long)e->worst_us);
    hostile_release(e->hb);
    hdev_close(&e->a);
    hdev_close(&e->b);
    hostile_stop(e->hb);
    hguest_free(&e->g);
    logcap_stop(&e->lc);
}

/* Account for one access (or a run of them) to A that took `us`. */
static void
a_timed(struct env *e, uint64_t t0, const char *what)
{
    uint64_t us = (log_now_ns() - t0) / 1000u;

    e->worst_us = us > e->worst_us ? us : e->worst_us;
    ck_assert_msg(us < ACCESS_BOUND_US, "%s took %llu us", what,
                  (unsigned long long)us);
}

static void
a_wr(struct env *e, uint32_t off, uint32_t val)
{
    uint64_t t0 = log_now_ns();
    char what[64];

    rawdrv_wr(&e->a.drv, off, val);
    snprintf(what, sizeof(what), "write of %u to register 0x%x", val, off);
    a_timed(e, t0, what);
}

/* The whole driver init of A, every access timed together. */
static void
a_init(struct env *e)
{
    uint64_t t0 = log_now_ns();

    ck_assert_uint_eq(rawdrv_init(&e->a.drv, WANT, 64), ST_OK);
    a_timed(e, t0, "driver init up to DRIVER_OK");
}

/*
 * Bounded poll: the backend reached the held request.  The loop runs
 * meanwhile, as the daemon's does: a setup queued behind a stop is sent
 * from there.
 */
static void
wait_holding(struct env *e)
{
    uint64_t end = log_now_ns() + 3000000000ULL;

    while (!hostile_holding(e->hb)) {
        ck_assert_msg(log_now_ns() < end, "the backend never got the request "
                      "whose reply it is to hold");
        (void)loop_run_once(e->g.loop, 1);
    }
}

/* One chain on A: 16 readable bytes, 4096 writable; kicked (timed). */
static void
a_post(struct env *e)
{
    struct rawdrv *d = &e->a.drv;
    uint64_t hdr = rawdrv_buf(d, 0), w = rawdrv_buf(d, 0x1000);
    uint64_t t0;

    memset(rawdrv_ptr(d, hdr, 16), 0x11, 16);
    memset(rawdrv_ptr(d, w, 4097), RAWDRV_CANARY, 4097);
    rawdrv_desc(d, 0, hdr, 16, VQ_DESC_F_NEXT, 1);
    rawdrv_desc(d, 1, w, 4096, VQ_DESC_F_WRITE, 0);
    rawdrv_publish(d, 0);
    t0 = log_now_ns();
    rawdrv_kick(d);
    a_timed(e, t0, "QueueNotify");
}

/* A's chain came back once, its buffer filled, nothing past it. */
static void
a_completes(struct env *e)
{
    const uint8_t *p = rawdrv_ptr(&e->a.drv, rawdrv_buf(&e->a.drv, 0x1000),
                                  4097);
    uint32_t id = UINT32_MAX, len = 0;
    int irq = 0;

    for (int i = 0; i < 300 && irq <= 0; i++) {
        irq = rawdrv_wait_irq(&e->a.drv, 10);
    }
    ck_assert_msg(irq > 0 && !(irq & VMMIO_INT_CONFIG), "irq %d", irq);
    ck_assert_int_eq(rawdrv_poll(&e->a.drv, &id, &len), 1);
    ck_assert_uint_eq(id, 0);
    ck_assert_uint_eq(len, 4096);
    for (unsigned i = 0; i < 4096; i++) {
        ck_assert_uint_eq(p[i], FILL);
    }
    ck_assert_uint_eq(p[4096], RAWDRV_CANARY);
    ck_assert_int_eq(rawdrv_poll(&e->a.drv, &id, &len), 0);
    ck_assert_uint_eq(rawdrv_rd(&e->a.drv, VMMIO_STATUS), ST_OK);
    e->a_done++;
}

/*
 * While A's setup is held: what the guest reads is what it wrote, and B
 * does verified I/O (its interrupts come through the shared loop) while
 * A's chain stays with the relay.
 */
static void
b_serves_while_held(struct env *e)
{
    uint32_t id, len;

    ck_assert_uint_eq(rawdrv_rd(&e->a.drv, VMMIO_STATUS), ST_OK);
    rawdrv_wr(&e->a.drv, VMMIO_QUEUE_SEL, 0);
    ck_assert_uint_eq(rawdrv_rd(&e->a.drv, VMMIO_QUEUE_READY), 1);
    for (unsigned i = 0; i < 20; i++) {
        b_io(e);
    }
    ck_assert(hostile_holding(e->hb));
    ck_assert_uint_eq(hostile_chains_seen(e->hb), e->a_done);
    ck_assert_int_eq(rawdrv_poll(&e->a.drv, &id, &len), 0);
}

/* QueueReady=0, fresh rings, the same addresses again (not yet ready). */
static void
a_requeue(struct env *e)
{
    struct rawdrv *d = &e->a.drv;
    uint64_t desc = d->area + RAWDRV_DESC_OFF;
    uint64_t avail = d->area + RAWDRV_AVAIL_OFF;
    uint64_t used = d->area + RAWDRV_USED_OFF;

    rawdrv_wr(d, VMMIO_QUEUE_SEL, 0);
    a_wr(e, VMMIO_QUEUE_READY, 0);
    ck_assert_uint_eq(rawdrv_rd(d, VMMIO_QUEUE_READY), 0);
    memset(d->desc, 0, 0x1000);
    memset(d->avail, 0, 0x1000);
    memset(d->used, 0, 0x1000);
    d->avail_idx = d->last_used = 0;
    rawdrv_wr(d, VMMIO_QUEUE_NUM, d->num);
    rawdrv_wr(d, VMMIO_QUEUE_DESC_LOW, (uint32_t)desc);
    rawdrv_wr(d, VMMIO_QUEUE_DESC_HIGH, (uint32_t)(desc >> 32));
    rawdrv_wr(d, VMMIO_QUEUE_AVAIL_LOW, (uint32_t)avail);
    rawdrv_wr(d, VMMIO_QUEUE_AVAIL_HIGH, (uint32_t)(avail >> 32));
    rawdrv_wr(d, VMMIO_QUEUE_USED_LOW, (uint32_t)used);
    rawdrv_wr(d, VMMIO_QUEUE_USED_HIGH, (uint32_t)(used >> 32));
}

/*
 * The backend holds the ack to SET_MEM_TABLE: DRIVER_OK (and the whole
 * init) is answered within the bound, a kick made meanwhile is kept, B
 * serves; once released, A's queue starts and the kick is delivered.
 * Then the same for a queue the guest re-enables (QueueReady=1) while
 * the ack to SET_VRING_ADDR is held.  Both modes.
 */
START_TEST(test_setup_held_then_released)
{
    for (unsigned m = 0; m < 2; m++) {
        struct env e;

        env_up(&e, modes[m], 2000);
        hostile_hold_reply(e.hb, VHU_REQ_SET_MEM_TABLE);
        a_init(&e);
        wait_holding(&e);
        a_post(&e);
        b_serves_while_held(&e);
        hostile_release(e.hb);
        a_completes(&e);
        b_io(&e);

        a_requeue(&e);
        hostile_hold_reply(e.hb, VHU_REQ_SET_VRING_ADDR);
        a_wr(&e, VMMIO_QUEUE_READY, 1);
        wait_holding(&e);
        a_post(&e);
        b_serves_while_held(&e);
        hostile_release(e.hb);
        a_completes(&e);
        b_io(&e);
        ck_assert_uint_eq(hostile_connections(e.hb), 1);
        env_down(&e);
    }
}
END_TEST

/*
 * The ack to SET_MEM_TABLE never comes: every access is still answered
 * within the bound, B serves throughout, and A reports NEEDS_RESET
 * (config interrupt) once timeout_ms passed without progress, with a log
 * line saying so; its kick was never delivered.  After the backend
 * recovers, a guest reset brings A back.
 */
START_TEST(test_setup_reply_never_comes)
{
    for (unsigned m = 0; m < 2; m++) {
        struct env e;
        uint64_t t0, ms;
        uint32_t id, len;
        int irq = 0;

        env_up(&e, modes[m], 400);
        hostile_hold_reply(e.hb, VHU_REQ_SET_MEM_TABLE);
        t0 = log_now_ns();
        a_init(&e);
        wait_holding(&e);
        a_post(&e);
        b_serves_while_held(&e);
        while (irq <= 0) {
            ck_assert_msg(log_now_ns() - t0 < 3000000000ULL,
                          "no NEEDS_RESET 3 s after DRIVER_OK");
            irq = rawdrv_wait_irq(&e.a.drv, 10);
            b_io(&e);
        }
        ms = (log_now_ns() - t0) / 1000000u;
        ck_assert_msg(irq & VMMIO_INT_CONFIG, "irq %d", irq);
        ck_assert(rawdrv_rd(&e.a.drv, VMMIO_STATUS) &
                  VIRTIO_STATUS_NEEDS_RESET);
        ck_assert_msg(ms >= 400 && ms < 1500, "NEEDS_RESET after %llu ms",
                      (unsigned long long)ms);
        ck_assert(logcap_has(&e.lc, "did not answer the device setup within "
                                    "400 ms"));
        ck_assert_int_eq(rawdrv_poll(&e.a.drv, &id, &len), 0);
        ck_assert_uint_eq(hostile_chains_seen(e.hb), e.a_done);
        b_io(&e);

        hostile_release(e.hb);
        a_init(&e);
        a_post(&e);
        a_completes(&e);
        b_io(&e);
        env_down(&e);
    }
}
END_TEST

/*
 * The guest resets A while the ack to SET_MEM_TABLE is held, then, in a
 * later session, disables the queue while the ack to its SET_VRING_ADDR
 * is held: each access is answered within the bound, reads back what
 * the guest wrote, and nothing of the abandoned setup survives (no
 * completion, no NEEDS_RESET); the next setup serves.
 */
START_TEST(test_setup_stopped_while_held)
{
    for (unsigned m = 0; m < 2; m++) {
        struct env e;
        uint32_t id, len;

        env_up(&e, modes[m], 2000);
        hostile_hold_reply(e.hb, VHU_REQ_SET_MEM_TABLE);
        a_init(&e);
        wait_holding(&e);
        a_post(&e);
        a_wr(&e, VMMIO_STATUS, 0);
        ck_assert_uint_eq(rawdrv_rd(&e.a.drv, VMMIO_STATUS), 0);
        ck_assert(logcap_has(&e.lc, "reset the device before the backend "
                                    "finished setting it up"));
        b_io(&e);
        hostile_release(e.hb);
        a_init(&e);
        a_post(&e);
        a_completes(&e);

        a_requeue(&e);
        hostile_hold_reply(e.hb, VHU_REQ_SET_VRING_ADDR);
        a_wr(&e, VMMIO_QUEUE_READY, 1);
        wait_holding(&e);
        a_post(&e);
        a_wr(&e, VMMIO_QUEUE_READY, 0);
        ck_assert_uint_eq(rawdrv_rd(&e.a.drv, VMMIO_QUEUE_READY), 0);
        b_io(&e);
        hostile_release(e.hb);
        ck_assert_int_eq(rawdrv_wait_irq(&e.a.drv, 200), -ETIMEDOUT);
        ck_assert_int_eq(rawdrv_poll(&e.a.drv, &id, &len), 0);
        ck_assert_uint_eq(rawdrv_rd(&e.a.drv, VMMIO_STATUS), ST_OK);

        a_requeue(&e);
        a_wr(&e, VMMIO_QUEUE_READY, 1);
        a_post(&e);
        a_completes(&e);
        b_io(&e);
        env_down(&e);
    }
}
END_TEST

/* A serves one session: init, one chain, its completion. */
static void
a_serves(struct env *e)
{
    a_init(e);
    a_post(e);
    a_completes(e);
}

/*
 * The backend holds its reply to GET_VRING_BASE and the guest resets A:
 * the reset is answered within the bound and reads back 0 while the
 * backend still stops the ring.
 */
static void
a_reset_while_stop_held(struct env *e)
{
    hostile_hold_reply(e->hb, VHU_REQ_GET_VRING_BASE);
    a_wr(e, VMMIO_STATUS, 0);
    ck_assert_uint_eq(rawdrv_rd(&e->a.drv, VMMIO_STATUS), 0);
    wait_holding(e);
}

/* Position of the last request `req` the backend received, or -1. */
static int
last_request(struct env *e, uint32_t req)
{
    uint32_t seen[256];
    unsigned n = hostile_requests(e->hb, seen, 256);
    int at = -1;

    for (unsigned i = 0; i < n; i++) {
        if (seen[i] == req) {
            at = (int)i;
        }
    }
    return at;
}

/*
 * A backend slower to stop a ring than a register access may take (the
 * C virtiofsd under emulation) keeps its connection (checklist 28, issue
 * 12 items 3/9): the guest's reset is answered at once, B serves while
 * the reply is held, and once the backend answers, the next session
 * serves on the same connection.  Shadow mode: a zero-copy backend must
 * give the rings back before the guest's access is answered
 * (test_stop_zerocopy_within_step).
 */
START_TEST(test_stop_held_then_released)
{
    struct env e;

    env_up(&e, RELAY_MODE_SHADOW, 2000);
    a_serves(&e);
    a_reset_while_stop_held(&e);
    for (unsigned i = 0; i < 10; i++) {
        b_io(&e);
    }
    ck_assert(hostile_holding(e.hb));
    hostile_release(e.hb);
    a_serves(&e);
    b_io(&e);
    ck_assert_uint_eq(hostile_connections(e.hb), 1);
    ck_assert(!logcap_has(&e.lc, "connection lost"));
    env_down(&e);
}
END_TEST

/*
 * The reply to GET_VRING_BASE never comes: the reset is answered at
 * once, the connection is dropped after timeout_ms (not before) with a
 * line saying so, B serves throughout, and once the backend is back the
 * guest's next init serves again.
 */
START_TEST(test_stop_reply_never_comes)
{
    struct env e;
    uint64_t t0, ms;

    env_up(&e, RELAY_MODE_SHADOW, 400);
    a_serves(&e);
    t0 = log_now_ns();
    a_reset_while_stop_held(&e);
    while (!logcap_has(&e.lc, "no reply to GET_VRING_BASE within 400 ms")) {
        ck_assert_msg(log_now_ns() - t0 < 3000000000ULL,
                      "connection not dropped 3 s after the reset");
        b_io(&e);
        (void)rawdrv_wait_irq(&e.a.drv, 10);
    }
    ms = (log_now_ns() - t0) / 1000000u;
    ck_assert_msg(ms >= 400 && ms < 1500, "dropped after %llu ms",
                  (unsigned long long)ms);
    ck_assert_uint_eq(rawdrv_rd(&e.a.drv, VMMIO_STATUS), 0);
    hostile_release(e.hb);
    while (!logcap_has(&e.lc, "backend reconnected")) {
        ck_assert_msg(log_now_ns() - t0 < 8000000000ULL,
                      "no reconnect after the backend was released");
        (void)rawdrv_wait_irq(&e.a.drv, 10);
    }
    a_serves(&e);
    b_io(&e);
    env_down(&e);
}
END_TEST

/*
 * DRIVER_OK while the stop is pending: the whole init and a kick are
 * answered at once, nothing is set up (or completed) until the backend
 * answers GET_VRING_BASE, then the setup follows it on the same
 * connection and the kick made meanwhile is served.
 */
START_TEST(test_stop_then_driver_ok)
{
    struct env e;
    int mem_before;

    env_up(&e, RELAY_MODE_SHADOW, 2000);
    a_serves(&e);
    mem_before = last_request(&e, VHU_REQ_SET_MEM_TABLE);
    a_reset_while_stop_held(&e);
    a_init(&e);
    a_post(&e);
    for (unsigned i = 0; i < 10; i++) {
        b_io(&e);
    }
    ck_assert(hostile_holding(e.hb));
    ck_assert_uint_eq(hostile_chains_seen(e.hb), e.a_done);
    hostile_release(e.hb);
    a_completes(&e);
    ck_assert_int_gt(last_request(&e, VHU_REQ_SET_MEM_TABLE),
                     last_request(&e, VHU_REQ_GET_VRING_BASE));
    ck_assert_int_gt(last_request(&e, VHU_REQ_GET_VRING_BASE),
                     mem_before);
    a_post(&e);
    a_completes(&e);
    b_io(&e);
    ck_assert_uint_eq(hostile_connections(e.hb), 1);
    env_down(&e);
}
END_TEST

/*
 * Zero-copy: the backend reaches the guest's rings itself until it has
 * stopped them (libvhost-user still writes avail_event when it last looks
 * at an empty ring), and the guest may reuse that memory once its reset
 * is answered.  So the reset waits for GET_VRING_BASE within the step
 * budget; a backend holding the reply loses its connection before the
 * access is answered (closing it ends its use of the rings), within the
 * access bound, and the device serves again after the reconnect.  Before,
 * the reset was answered with the backend still holding the ring
 * (test_reset_inflight then found guest RAM written after the reset, about
 * one run in twelve).
 */
START_TEST(test_stop_zerocopy_within_step)
{
    struct env e;
    uint64_t t0;

    env_up(&e, RELAY_MODE_ZEROCOPY, 2000);
    a_serves(&e);
    hostile_hold_reply(e.hb, VHU_REQ_GET_VRING_BASE);
    a_wr(&e, VMMIO_STATUS, 0);
    ck_assert(logcap_has(&e.lc, "backend did not stop the ring"));
    ck_assert_uint_eq(rawdrv_rd(&e.a.drv, VMMIO_STATUS), 0);
    hostile_release(e.hb);
    t0 = log_now_ns();
    while (!logcap_has(&e.lc, "backend reconnected")) {
        ck_assert_msg(log_now_ns() - t0 < 8000000000ULL,
                      "no reconnect after the backend was released");
        b_io(&e);
        (void)rawdrv_wait_irq(&e.a.drv, 10);
    }
    a_serves(&e);
    b_io(&e);
    env_down(&e);
}
END_TEST

static Suite *
make_suite(void)
{
    Suite *s = suite_create("relay_setup");

    CHECK_ADD(s, test_setup_held_then_released, 60);
    CHECK_ADD(s, test_setup_reply_never_comes, 60);
    CHECK_ADD(s, test_setup_stopped_while_held, 60);
    CHECK_ADD(s, test_stop_held_then_released, 60);
    CHECK_ADD(s, test_stop_reply_never_comes, 60);
    CHECK_ADD(s, test_stop_then_driver_ok, 60);
    CHECK_ADD(s, test_stop_zerocopy_within_step, 60);
    return s;
}

CHECK_MAIN(make_suite)
