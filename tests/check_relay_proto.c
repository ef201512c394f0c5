/*
 * A backend that reconnects with different vhost-user protocol features
 * than before (bad-input checklist item 30).  The guest's RAM looks like
 * Xen's (regions that need XEN_MMAP), so the relay's memory-table layout
 * depends on what was negotiated:
 *  - a shadow device must never negotiate XEN_MMAP, whatever a returning
 *    backend offers: its memory table is the daemon's own memfd, in the
 *    plain layout, and I/O goes on after the reconnect;
 *  - a zero-copy device whose backend comes back without XEN_MMAP cannot
 *    hand it guest RAM any more: DEVICE_NEEDS_RESET with a line naming
 *    the feature, and no memory table is ever sent in the plain layout
 *    (a backend would mmap a privcmd fd as plain memory), not even after
 *    the guest resets and re-initialises the device.
 * The order is forced: the first backend is stopped, the second started
 * with its features, and the test runs the loop until the relay has
 * connected to it.
 */
#include <config.h>

#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "blkdrv.h"
#include "check_common.h"
#include "hguest.h"
#include "hostile_backend.h"
#include "vhu.h"
#include "vmmio.h"
#include "vq.h"

#define WANT (1ULL << VIRTIO_F_VERSION_1)
#define FILL 0x3c
#define ST_OK                                                                  \
    (VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |                        \
     VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK)
#define PF_PLAIN (1ULL << VHU_PF_REPLY_ACK)
#define PF_XEN (PF_PLAIN | (1ULL << VHU_PF_XEN_MMAP))

struct env {
    struct hv_sim *sim;
    struct loop *loop;
    struct hostile *hb;
    struct relay *relay;
    struct rawdrv drv;
    struct logcap lc;
    char dir[256], sock[300];
};

static void
env_backend(struct env *e, uint64_t protocol)
{
    struct hostile_config hc = { .sock_path = e->sock, .fill = FILL,
                                 .protocol = protocol };

    ck_assert_int_eq(hostile_start(&e->hb, &hc), 0);
}

static void
env_up(struct env *e, enum relay_mode mode, uint64_t protocol)
{
    struct hv_sim_config sc = { .name = "xenlike", .ram0_len = HGUEST_RAM0,
                                .ram1_len = HGUEST_RAM1, .xen_mmap = true,
                                .domid = 7 };
    struct relay_config rc = { .name = "dom7/virtio0", .mode = mode,
                               .mmio_base = HGUEST_MMIO, .irq = HGUEST_IRQ,
                               .device_id = 2, .timeout_ms = 1000,
                               .reconnect_giveup_ms = 60000 };

    memset(e, 0, sizeof(*e));
    signal(SIGPIPE, SIG_IGN);
    logcap_start(&e->lc);
    ck_assert_int_eq(hv_sim_new(&e->sim, &sc), 0);
    memset(hv_sim_ram(e->sim, HV_ARM_RAM0_GPA, HGUEST_RAM0), RAWDRV_CANARY,
           HGUEST_RAM0);
    e->loop = loop_new();
    ck_assert_ptr_nonnull(e->loop);
    ck_assert_int_eq(backend_tmpdir(e->dir, sizeof(e->dir)), 0);
    snprintf(e->sock, sizeof(e->sock), "%s/be.sock", e->dir);
    env_backend(e, protocol);
    rc.socket_path = e->sock;
    rawdrv_bind(&e->drv, e->sim, e->loop, HGUEST_MMIO, HGUEST_IRQ,
                HV_ARM_RAM0_GPA + (1u << 20), 1u << 20);
    ck_assert_int_eq(relay_new(&e->relay, hv_sim_hv(e->sim), e->loop, &rc), 0);
    e->drv.relay = e->relay;
}

static void
env_down(struct env *e)
{
    relay_free(e->relay);
    hostile_stop(e->hb);
    loop_free(e->loop);
    hv_sim_free(e->sim);
    backend_rmtree(e->dir);
    logcap_stop(&e->lc);
}

/* The first backend goes away; a second one with `protocol` takes its
 * socket; run the loop until the relay has connected to it. */
static void
env_swap_backend(struct env *e, uint64_t protocol)
{
    struct relay_stats st;

    hostile_stop(e->hb);
    /* The hang-up reaches the relay: it unwires and starts retrying. */
    for (int i = 0; i < 100; i++) {
        loop_run_once(e->loop, 10);
    }
    env_backend(e, protocol);
    relay_get_stats(e->relay, &st);
    for (int i = 0; i < 500 && st.reconnects == 0; i++) {
        loop_run_once(e->loop, 10);
        relay_get_stats(e->relay, &st);
    }
    ck_assert_uint_eq(st.reconnects, 1);
    ck_assert_uint_ge(hostile_connections(e->hb), 1);
    /* The resume (handshake, session, rings) was sent: let it finish. */
    ck_assert_int_eq(blkdrv_settle(e->relay, e->loop, 3000), 0);
}

/* One chain of 16 readable + 512 writable bytes; its completion. */
static void
one_chain(struct env *e)
{
    uint64_t hdr = rawdrv_buf(&e->drv, 0), w = rawdrv_buf(&e->drv, 0x1000);
    uint32_t id = UINT32_MAX, len = 0;

    memset(rawdrv_ptr(&e->drv, hdr, 16), 0x11, 16);
    rawdrv_desc(&e->drv, 0, hdr, 16, VQ_DESC_F_NEXT, 1);
    rawdrv_desc(&e->drv, 1, w, 512, VQ_DESC_F_WRITE, 0);
    rawdrv_publish(&e->drv, 0);
    rawdrv_kick(&e->drv);
    ck_assert_int_ge(rawdrv_wait_irq(&e->drv, 2000), 0);
    ck_assert_int_eq(rawdrv_poll(&e->drv, &id, &len), 1);
    ck_assert_uint_eq(id, 0);
    ck_assert_uint_eq(len, 512);
    ck_assert_uint_eq(rawdrv_ptr(&e->drv, w, 512)[511], FILL);
}

START_TEST(test_shadow_never_negotiates_xen_mmap)
{
    struct env e;

    env_up(&e, RELAY_MODE_AUTO, PF_PLAIN);
    ck_assert_int_eq(relay_mode(e.relay), RELAY_MODE_SHADOW);
    ck_assert_uint_eq(rawdrv_init(&e.drv, WANT, 64), ST_OK);
    one_chain(&e);

    /* The backend comes back able to map Xen guest RAM. */
    env_swap_backend(&e, PF_XEN);
    ck_assert_msg(!(hostile_acked_protocol(e.hb) & (1ULL << VHU_PF_XEN_MMAP)),
                  "a shadow device negotiated XEN_MMAP on reconnect (0x%llx)",
                  (unsigned long long)hostile_acked_protocol(e.hb));
    ck_assert_uint_eq(hostile_mem_tables(e.hb), 1);
    ck_assert(!(rawdrv_rd(&e.drv, VMMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET));
    one_chain(&e);
    env_down(&e);
}
END_TEST

START_TEST(test_zerocopy_backend_loses_xen_mmap)
{
    struct env e;

    env_up(&e, RELAY_MODE_AUTO, PF_XEN);
    ck_assert_int_eq(relay_mode(e.relay), RELAY_MODE_ZEROCOPY);
    ck_assert_uint_eq(rawdrv_init(&e.drv, WANT, 64), ST_OK);
    one_chain(&e);

    /* The backend comes back without XEN_MMAP: guest RAM cannot be given
     * to it, and nothing may be sent in a layout it would misread. */
    env_swap_backend(&e, PF_PLAIN);
    ck_assert(rawdrv_rd(&e.drv, VMMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET);
    ck_assert(logcap_has(&e.lc, "no longer offers protocol feature XEN_MMAP"));
    ck_assert_uint_eq(hostile_mem_tables(e.hb), 0);

    /* The guest resets and tries again: still no memory table. */
    ck_assert_uint_ne(rawdrv_init(&e.drv, WANT, 64), ST_OK);
    ck_assert_uint_eq(hostile_mem_tables(e.hb), 0);
    env_down(&e);
}
END_TEST

static Suite *
make_suite(void)
{
    Suite *s = suite_create("relay_proto");

    CHECK_ADD(s, test_shadow_never_negotiates_xen_mmap, 20);
    CHECK_ADD(s, test_zerocopy_backend_loses_xen_mmap, 20);
    return s;
}

CHECK_MAIN(make_suite)
