/*
 * End to end (issue 14): a Linux-like virtio-net driver in a simulated
 * guest -> virtio-mmio -> relay (net profile) -> DPDK testpmd's vhost-user
 * port with 2 queue pairs, forwarding every frame back (io mode), in both
 * relay modes.
 *  - The guest negotiates what Linux 6.1 negotiates: control queue, RX
 *    mode, VLAN, announce, MQ, MTU, MAC, MRG_RXBUF.  The daemon serves the
 *    control queue and the config space; DPDK gets pairs only.
 *  - Frames of 60..1514 bytes come back byte for byte on pair 0; after
 *    VQ_PAIRS_SET 2, on pair 1 too.
 *  - A benchmark prints packets/s of both modes (printed, not asserted).
 */
#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backend_proc.h"
#include "check_common.h"
#include "devtype.h"
#include "hv_sim.h"
#include "linuxdrv.h"
#include "loop.h"
#include "netctrl.h"
#include "relay.h"
#include "simdrv.h"
#include "vmmio.h"

#define NET_BASE 0x02000000ULL
#define NET_IRQ 33
#define PAIRS 2
#define CTRLQ (2 * PAIRS)
#define HDR 12            /* virtio_net_hdr_mrg_rxbuf */
#define FRAME_MAX 1514
#define BUF (HDR + FRAME_MAX)
#define RXN 64            /* rx buffers posted per pair */
#define BIT(n) (1ULL << (n))

struct net {
    struct backend_proc pmd;
    char dir[256];
    struct hv_sim *sim;
    struct loop *loop;
    struct relay *relay;
    struct simdrv *drv;
    uint64_t rx_gpa[PAIRS][RXN];
    uint16_t rx_head[PAIRS][RXN]; /* head -> slot, by head % RXN lookup */
    uint64_t tx_gpa, ctrl_gpa;
    unsigned tx_inflight[PAIRS];
};

static void
post_rx(struct net *n, unsigned pair, unsigned slot)
{
    struct simdrv_buf b = { n->rx_gpa[pair][slot], BUF, true };
    uint16_t head;

    ck_assert_int_eq(simdrv_submit(n->drv, 2 * pair, &b, 1, false, &head), 0);
    n->rx_head[pair][slot] = head;
}

static unsigned
rx_slot(struct net *n, unsigned pair, uint16_t head)
{
    for (unsigned i = 0; i < RXN; i++) {
        if (n->rx_head[pair][i] == head) {
            return i;
        }
    }
    ck_abort_msg("rx head %u was never posted", head);
    return 0;
}

static void
net_up(struct net *n, enum relay_mode mode)
{
    struct hv_sim_config hc = { .ram0_len = 64u << 20 };
    struct devtype_settings set = {
        .queues = PAIRS, .has_mac = true,
        .mac = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 }, .mtu = 1500,
    };
    struct relay_config rc = {
        .name = "sim/net0", .mode = mode, .mmio_base = NET_BASE,
        .irq = NET_IRQ, .device_id = DEVTYPE_NET, .queue_size = 256,
    };
    struct devtype_config st;
    const char *why;

    memset(n, 0, sizeof(*n));
    if (!backend_testpmd_path()) {
        ck_abort_msg("dpdk-testpmd is not installed (package dpdk-dev)");
    }
    ck_assert_int_eq(backend_tmpdir(n->dir, sizeof(n->dir)), 0);
    ck_assert_int_eq(backend_start_testpmd(&n->pmd, n->dir, "net", PAIRS), 0);
    ck_assert_int_eq(hv_sim_new(&n->sim, &hc), 0);
    n->loop = loop_new();
    ck_assert_int_eq(devtype_fill(&rc, DEVTYPE_NET, &set, &st, &why), 0);
    rc.socket_path = n->pmd.sock;
    ck_assert_int_eq(relay_new(&n->relay, hv_sim_hv(n->sim), n->loop, &rc), 0);
    ck_assert_int_eq(relay_mode(n->relay), mode);
    ck_assert_int_eq(simdrv_new(&n->drv, n->sim, n->loop, NET_BASE, NET_IRQ), 0);
    for (unsigned p = 0; p < PAIRS; p++) {
        for (unsigned i = 0; i < RXN; i++) {
            n->rx_gpa[p][i] = simdrv_alloc(n->drv, BUF, 64);
        }
    }
    n->tx_gpa = simdrv_alloc(n->drv, 256 * 2048, 4096);
    n->ctrl_gpa = simdrv_alloc(n->drv, 4096, 4096);
}

static void
net_down(struct net *n)
{
    simdrv_free(n->drv);
    relay_free(n->relay);
    hv_sim_free(n->sim);
    loop_free(n->loop);
    backend_stop(&n->pmd);
    backend_testpmd_cleanup(n->dir);
    backend_rmtree(n->dir);
}

/* Linux probe: features, queues, config; then rx buffers on every pair. */
static void
net_probe(struct net *n)
{
    char err[200];
    unsigned nq = 0;
    uint8_t mac[6];
    uint16_t v;
    uint64_t f;

    if (linuxdrv_probe(n->drv, LINUX_6_1, &nq, err, sizeof(err)) < 0) {
        ck_abort_msg("probe: %s", err);
    }
    ck_assert_uint_eq(nq, 2 * PAIRS + 1);
    f = simdrv_features(n->drv);
    ck_assert_msg((f & (BIT(NETCTRL_F_CTRL_VQ) | BIT(NETCTRL_F_CTRL_RX) |
                        BIT(NETCTRL_F_CTRL_VLAN) | BIT(NETCTRL_F_GUEST_ANNOUNCE) |
                        BIT(NETCTRL_F_MQ) | BIT(NETCTRL_F_MTU) |
                        BIT(NETCTRL_F_MAC) | BIT(NETCTRL_F_STATUS) |
                        BIT(NETCTRL_F_CTRL_MAC_ADDR))) ==
                      (BIT(NETCTRL_F_CTRL_VQ) | BIT(NETCTRL_F_CTRL_RX) |
                       BIT(NETCTRL_F_CTRL_VLAN) | BIT(NETCTRL_F_GUEST_ANNOUNCE) |
                       BIT(NETCTRL_F_MQ) | BIT(NETCTRL_F_MTU) |
                       BIT(NETCTRL_F_MAC) | BIT(NETCTRL_F_STATUS) |
                       BIT(NETCTRL_F_CTRL_MAC_ADDR)),
                  "negotiated 0x%llx", (unsigned long long)f);
    /* Nobody serves these: never negotiated. */
    ck_assert(!(f & BIT(NETCTRL_F_CTRL_GUEST_OFFLOADS)));
    ck_assert(!(f & (BIT(60) | BIT(57) | BIT(53)))); /* RSS, HASH, COAL */
    simdrv_config(n->drv, 0, mac, 6);
    ck_assert_uint_eq(mac[0], 0x52);
    ck_assert_uint_eq(mac[5], 0x56);
    simdrv_config(n->drv, 6, &v, 2);
    ck_assert_uint_eq(v, 1);                  /* link up */
    simdrv_config(n->drv, 8, &v, 2);
    ck_assert_uint_eq(v, PAIRS);
    simdrv_config(n->drv, 10, &v, 2);
    ck_assert_uint_eq(v, 1500);
    for (unsigned p = 0; p < PAIRS; p++) {
        for (unsigned i = 0; i < RXN; i++) {
            post_rx(n, p, i);
        }
        simdrv_kick(n->drv, 2 * p);
    }
}

/* One control command; returns the ack byte. */
static uint8_t
ctrl(struct net *n, uint8_t cls, uint8_t cmd, const void *data, uint32_t len)
{
    int ack = linuxdrv_net_command(n->drv, CTRLQ, n->ctrl_gpa, cls, cmd, data,
                                   len);

    ck_assert_msg(ack >= 0, "control command %u/%u: %s", cls, cmd,
                  strerror(-ack));
    return (uint8_t)ack;
}

static void
fill_frame(uint8_t *f, uint32_t len, uint32_t seq)
{
    static const uint8_t dst[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
    static const uint8_t src[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x01 };

    memcpy(f, dst, 6);
    memcpy(f + 6, src, 6);
    f[12] = 0x88; /* local experimental ethertype */
    f[13] = 0xb5;
    for (uint32_t i = 14; i < len; i++) {
        f[i] = (uint8_t)(seq * 31 + i * 7);
    }
}

/* Take back completed tx chains of a pair. */
static void
reap_tx(struct net *n, unsigned pair)
{
    uint16_t head;
    uint32_t used;

    while (simdrv_poll(n->drv, 2 * pair + 1, &head, &used) == 1) {
        n->tx_inflight[pair]--;
    }
}

/* Send one frame on pair p and check it comes back unchanged. */
static void
echo(struct net *n, unsigned pair, uint32_t len, uint32_t seq)
{
    uint8_t *tx = simdrv_ptr(n->drv, n->tx_gpa, BUF);
    struct simdrv_buf b = { n->tx_gpa, HDR + len, false };
    uint16_t head;
    uint32_t used;
    unsigned slot;
    uint8_t *rx;
    int rc;

    memset(tx, 0, HDR);
    fill_frame(tx + HDR, len, seq);
    ck_assert_int_eq(simdrv_submit(n->drv, 2 * pair + 1, &b, 1, false, &head), 0);
    n->tx_inflight[pair]++;
    simdrv_kick(n->drv, 2 * pair + 1);
    while ((rc = simdrv_poll(n->drv, 2 * pair, &head, &used)) == 0) {
        ck_assert_msg(simdrv_wait_irq(n->drv, 5000) >= 0,
                      "pair %u: frame of %u bytes not echoed", pair, len);
    }
    ck_assert_int_eq(rc, 1);
    slot = rx_slot(n, pair, head);
    rx = simdrv_ptr(n->drv, n->rx_gpa[pair][slot], BUF);
    ck_assert_uint_eq(used, HDR + len);
    ck_assert_msg(memcmp(rx + HDR, tx + HDR, len) == 0,
                  "pair %u: frame of %u bytes changed", pair, len);
    post_rx(n, pair, slot);
    simdrv_kick(n->drv, 2 * pair);
    reap_tx(n, pair);
}

static void
net_traffic(enum relay_mode mode)
{
    static const uint8_t tables[] = { 0, 0, 0, 0, 1, 0, 0, 0,
                                      0x01, 0x00, 0x5e, 0, 0, 1 };
    static const uint8_t addr[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x57 };
    static const uint8_t on = 1;
    static const uint8_t vid[2] = { 5, 0 };
    static const uint8_t pairs[2] = { PAIRS, 0 };
    static const uint8_t offloads[8] = { 0 };
    struct net n;
    uint32_t seq = 0;

    net_up(&n, mode);
    net_probe(&n);
    /* What Linux sends at open and on rx-mode changes: all OK. */
    ck_assert_uint_eq(ctrl(&n, NETCTRL_RX, NETCTRL_RX_PROMISC, &on, 1), NETCTRL_OK);
    ck_assert_uint_eq(ctrl(&n, NETCTRL_RX, NETCTRL_RX_ALLMULTI, &on, 1), NETCTRL_OK);
    ck_assert_uint_eq(ctrl(&n, NETCTRL_MAC, NETCTRL_MAC_TABLE_SET, tables,
                           sizeof(tables)), NETCTRL_OK);
    ck_assert_uint_eq(ctrl(&n, NETCTRL_MAC, NETCTRL_MAC_ADDR_SET, addr, 6),
                      NETCTRL_OK);
    ck_assert_uint_eq(ctrl(&n, NETCTRL_VLAN, NETCTRL_VLAN_ADD, vid, 2), NETCTRL_OK);
    ck_assert_uint_eq(ctrl(&n, NETCTRL_ANNOUNCE, NETCTRL_ANNOUNCE_ACK, NULL, 0),
                      NETCTRL_OK);
    /* Not offered, so refused (never forwarded to the backend). */
    ck_assert_uint_eq(ctrl(&n, 5, 0, offloads, 8), NETCTRL_ERR);

    for (uint32_t len = 60; len <= FRAME_MAX; len++) {
        echo(&n, 0, len, seq++);
    }
    /* Pair 1 is enabled by VQ_PAIRS_SET (SET_VRING_ENABLE to DPDK). */
    ck_assert_uint_eq(ctrl(&n, NETCTRL_MQ, NETCTRL_MQ_VQ_PAIRS_SET, pairs, 2),
                      NETCTRL_OK);
    for (uint32_t len = 60; len <= FRAME_MAX; len += 7) {
        echo(&n, 1, len, seq++);
        echo(&n, 0, len, seq++);
    }
    echo(&n, 1, FRAME_MAX, seq++);
    ck_assert_uint_eq(simdrv_status(n.drv) & VIRTIO_STATUS_NEEDS_RESET, 0);
    net_down(&n);
}

START_TEST(test_net_shadow)
{
    net_traffic(RELAY_MODE_SHADOW);
}
END_TEST

START_TEST(test_net_zerocopy)
{
    net_traffic(RELAY_MODE_ZEROCOPY);
}
END_TEST

static double
now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * Packets/s through one pair: keep up to 32 frames of 64 bytes in flight
 * for `secs`.  Frames go out of the same buffer (content not checked).
 */
static double
net_pps(enum relay_mode mode, double secs)
{
    struct net n;
    uint64_t done = 0;
    double t0, t;

    net_up(&n, mode);
    net_probe(&n);
    memset(simdrv_ptr(n.drv, n.tx_gpa, 2048), 0, HDR);
    fill_frame(simdrv_ptr(n.drv, n.tx_gpa + HDR, 64), 64, 0);
    t0 = now_s();
    while ((t = now_s()) - t0 < secs) {
        struct simdrv_buf b = { n.tx_gpa, HDR + 64, false };
        uint16_t head;
        uint32_t used;
        bool reposted = false;

        while (n.tx_inflight[0] < 32 &&
               simdrv_submit(n.drv, 1, &b, 1, false, &head) == 0) {
            n.tx_inflight[0]++;
        }
        simdrv_kick(n.drv, 1);
        if (simdrv_wait_irq(n.drv, 5000) < 0) {
            ck_abort_msg("%s: traffic stalled", relay_mode_name(mode));
        }
        while (simdrv_poll(n.drv, 0, &head, &used) == 1) {
            post_rx(&n, 0, rx_slot(&n, 0, head));
            reposted = true;
            done++;
        }
        if (reposted) {
            simdrv_kick(n.drv, 0);
        }
        reap_tx(&n, 0);
    }
    net_down(&n);
    return (double)done / (t - t0);
}

START_TEST(test_net_bench)
{
    double sh = net_pps(RELAY_MODE_SHADOW, 2.0);
    double zc = net_pps(RELAY_MODE_ZEROCOPY, 2.0);

    printf("net bench (DPDK testpmd io, 64-byte frames, 32 in flight, one "
           "pair): shadow %.0f packets/s, zero-copy %.0f packets/s, "
           "shadow/zero-copy %.2f\n", sh, zc, zc > 0 ? sh / zc : 0.0);
    fflush(stdout);
    ck_assert(sh > 0 && zc > 0);
}
END_TEST

static Suite *
make_suite(void)
{
    Suite *s = suite_create("relay_net");

    CHECK_ADD(s, test_net_shadow, 120);
    CHECK_ADD(s, test_net_zerocopy, 120);
    CHECK_ADD(s, test_net_bench, 60);
    return s;
}

CHECK_MAIN(make_suite)
