/*
 * devtype_profile: the device profile of each virtio type (see devtype.h).
 *
 * Read a row of devtype_profiles[] like a spec of what a guest gets:
 *  - queues: how many and in what layout.  A backend's GET_QUEUE_NUM is
 *    read in the type's unit (DPDK answers its maximum number of net queue
 *    PAIRS, 128, whatever it serves), and is only a bound when the layout
 *    comes from the profile and the settings.
 *  - features: device bits offered when the backend offers them (only
 *    those the relay can carry: a bit whose config fields or queues the
 *    relay does not provide is never offered), and bits the daemon serves
 *    itself whatever the backend says (never sent to the backend).
 *  - config: the backend's (CONFIG protocol feature), or built here from
 *    the settings, as the matching vhost-user frontend of QEMU does.
 *  - what the daemon serves itself: the net control queue (netctrl.c).
 * Types with no row keep the generic behaviour: the backend's queue
 * count, config and features (cut to the config bytes relayed).
 */
#include <config.h>

#include <errno.h>
#include <string.h>

#include "devtype.h"
#include "netctrl.h"
#include "vmmio.h"

enum devtype_queues {
    DEVTYPE_Q_VCPU,    /* settings.queues, else one per guest vCPU (at
                        * most the backend's count) */
    DEVTYPE_Q_FIXED,   /* profile.queues */
    DEVTYPE_Q_NET,     /* pairs (rx, tx) * settings.queues (1) + control */
    DEVTYPE_Q_FS,      /* hiprio + settings.queues (1) request queues */
};

enum devtype_config_src {
    DEVTYPE_CFG_NONE,    /* the type has no config space */
    DEVTYPE_CFG_BACKEND, /* the backend's, which must offer CONFIG */
    DEVTYPE_CFG_OWN,     /* built by the daemon from the settings */
    DEVTYPE_CFG_EITHER,  /* the daemon's when set, else the backend's */
};

/* Settings a type takes (devtype_profile.settings). */
#define SET_QUEUES (1u << 0)
#define SET_MAC (1u << 1)
#define SET_MTU (1u << 2)
#define SET_CID (1u << 3)
#define SET_TAG (1u << 4)

#define BIT(n) (1ULL << (n))

struct devtype_profile {
    uint32_t id;
    const char *name;
    enum devtype_queues queues;
    unsigned nr_queues;        /* DEVTYPE_Q_FIXED */
    uint64_t backend_features; /* offered when the backend offers them */
    uint64_t own_features;     /* served by the daemon */
    enum devtype_config_src config;
    unsigned settings;
    const struct relay_own_ops *own;
    const char *serves;        /* what the daemon serves itself */
};

/* Data path bits a net backend serves; the relay carries any of them. */
#define NET_BACKEND                                                           \
    (BIT(NETCTRL_F_CSUM) | BIT(NETCTRL_F_GUEST_CSUM) |                         \
     BIT(NETCTRL_F_GUEST_TSO4) | BIT(NETCTRL_F_GUEST_TSO6) |                   \
     BIT(NETCTRL_F_GUEST_ECN) | BIT(NETCTRL_F_GUEST_UFO) |                     \
     BIT(NETCTRL_F_HOST_TSO4) | BIT(NETCTRL_F_HOST_TSO6) |                     \
     BIT(NETCTRL_F_HOST_ECN) | BIT(NETCTRL_F_HOST_UFO) |                       \
     BIT(NETCTRL_F_MRG_RXBUF) | BIT(NETCTRL_F_MQ))
/* What the daemon answers itself (control queue, link status). */
#define NET_OWN                                                               \
    (BIT(NETCTRL_F_STATUS) | BIT(NETCTRL_F_CTRL_VQ) | BIT(NETCTRL_F_CTRL_RX) | \
     BIT(NETCTRL_F_CTRL_VLAN) | BIT(NETCTRL_F_CTRL_RX_EXTRA) |                  \
     BIT(NETCTRL_F_GUEST_ANNOUNCE) | BIT(NETCTRL_F_CTRL_MAC_ADDR))
#define NET_S_LINK_UP 1u

static unsigned
net_pairs(const struct relay *r)
{
    return (relay_nr_queues(r) - 1) / 2;
}

/* controlq is queue 2N, N = max_virtqueue_pairs with MQ, else 1. */
static int
net_ctrl_queue(const struct relay *r, uint64_t features)
{
    return (features & BIT(NETCTRL_F_MQ)) ? (int)(2 * net_pairs(r)) : 2;
}

/* With MQ the driver uses one pair until VQ_PAIRS_SET. */
static unsigned
net_initial_queues(const struct relay *r, uint64_t features)
{
    (void)r;
    return (features & BIT(NETCTRL_F_MQ)) ? 2 : 0;
}

static int
net_serve(struct relay *r, const uint8_t *in, uint32_t in_len, uint8_t *out,
          uint32_t out_len, const char **refused)
{
    struct netctrl_result res;

    if (out_len < 1) {
        *refused = "no room for the ack byte";
        return 0;
    }
    netctrl_exec(in, in_len, relay_driver_features(r), net_pairs(r), &res);
    if (res.pairs && relay_queues_enable(r, 2 * res.pairs) < 0) {
        res.ack = NETCTRL_ERR;
        res.why = "the backend refused SET_VRING_ENABLE";
    }
    if (res.set_mac) {
        uint64_t mac = 0;

        for (unsigned i = 0; i < 6; i++) {
            mac |= (uint64_t)res.mac[i] << (8 * i);
        }
        relay_config_store(r, 0, 6, mac);
    }
    *refused = res.ack == NETCTRL_OK ? NULL : res.why;
    out[0] = res.ack;
    return 1;
}

static const struct relay_own_ops net_own = {
    .queue = net_ctrl_queue,
    .initial_queues = net_initial_queues,
    .serve = net_serve,
};

static const struct devtype_profile devtype_profiles[] = {
    { DEVTYPE_NET, "net", DEVTYPE_Q_NET, 0, NET_BACKEND, NET_OWN,
      DEVTYPE_CFG_OWN, SET_QUEUES | SET_MAC | SET_MTU, &net_own,
      "control queue (RX mode, MAC table and address, VLAN, announce acks; "
      "MQ VQ_PAIRS_SET as SET_VRING_ENABLE), config (MAC, link up, "
      "max_virtqueue_pairs, MTU)" },
    { DEVTYPE_BLK, "blk", DEVTYPE_Q_VCPU, 0, DEVTYPE_DEVICE_BITS, 0,
      DEVTYPE_CFG_BACKEND, SET_QUEUES, NULL, "nothing" },
    /* port 0 rx, tx; SIZE, EMERG_WRITE (MULTIPORT needs a control queue
     * pair and port queues laid out from max_nr_ports: not offered) */
    { DEVTYPE_CONSOLE, "console", DEVTYPE_Q_FIXED, 2, 0x5, 0,
      DEVTYPE_CFG_BACKEND, 0, NULL, "nothing" },
    { DEVTYPE_RNG, "rng", DEVTYPE_Q_FIXED, 1, 0, 0, DEVTYPE_CFG_NONE, 0, NULL,
      "nothing" },
    /* rx, tx, event; SEQPACKET and the stream bits */
    { DEVTYPE_VSOCK, "vsock", DEVTYPE_Q_FIXED, 3, 0x7, 0, DEVTYPE_CFG_EITHER,
      SET_CID, NULL, "config (guest_cid) when guest-cid is set" },
    /* control, event, tx, rx; CTLS */
    { DEVTYPE_SOUND, "sound", DEVTYPE_Q_FIXED, 4, 0x1, 0, DEVTYPE_CFG_BACKEND,
      0, NULL, "nothing" },
    /* hiprio + request queues; no NOTIFICATION (no notify queue) */
    { DEVTYPE_FS, "fs", DEVTYPE_Q_FS, 0, 0, 0, DEVTYPE_CFG_OWN,
      SET_QUEUES | SET_TAG, NULL, "config (tag, num_request_queues)" },
    /* cmdq, eventq; P2A_CHANNELS (not SHARED_MEMORY: no shared memory
     * regions are relayed) */
    { DEVTYPE_SCMI, "scmi", DEVTYPE_Q_FIXED, 2, 0x1, 0, DEVTYPE_CFG_NONE, 0,
      NULL, "nothing" },
    /* requestq; ZERO_LENGTH_REQUEST */
    { DEVTYPE_I2C, "i2c", DEVTYPE_Q_FIXED, 1, 0x1, 0, DEVTYPE_CFG_NONE, 0,
      NULL, "nothing" },
    /* requestq, eventq; IRQ */
    { DEVTYPE_GPIO, "gpio", DEVTYPE_Q_FIXED, 2, 0x1, 0, DEVTYPE_CFG_BACKEND,
      0, NULL, "nothing" },
};

static const struct devtype_profile *
devtype_profile(uint32_t device_id)
{
    for (size_t i = 0; i < sizeof(devtype_profiles) / sizeof(devtype_profiles[0]);
         i++) {
        if (devtype_profiles[i].id == device_id) {
            return &devtype_profiles[i];
        }
    }
    return NULL;
}

static void
put_le16(uint8_t *p, unsigned v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

/* The settings a type does not take, or values out of range. */
static const char *
devtype_check(const struct devtype_profile *p, const struct devtype_settings *s)
{
    unsigned given = (s->queues ? SET_QUEUES : 0) | (s->has_mac ? SET_MAC : 0) |
                     (s->mtu ? SET_MTU : 0) | (s->guest_cid ? SET_CID : 0) |
                     (s->fs_tag[0] ? SET_TAG : 0);
    unsigned qmax = p->queues == DEVTYPE_Q_NET ? DEVTYPE_NET_PAIRS_MAX
                                               : DEVTYPE_QUEUES_MAX;

    if (given & ~p->settings) {
        return "a setting this device type does not take (queues: net, fs, "
               "blk; mac, mtu: net; guest-cid: vsock; fs-tag: fs)";
    }
    if (s->queues > qmax) {
        return p->queues == DEVTYPE_Q_NET ? "more than 15 queue pairs"
                                          : "more than 31 queues";
    }
    if (s->mtu && s->mtu < DEVTYPE_MTU_MIN) {
        return "mtu below 68";
    }
    if (s->guest_cid && (s->guest_cid < DEVTYPE_CID_MIN ||
                         s->guest_cid > DEVTYPE_CID_MAX)) {
        return "guest-cid outside 3..4294967294";
    }
    if (s->has_mac && (s->mac[0] & 1)) {
        return "a multicast mac";
    }
    return NULL;
}

/* Queue count and the config the daemon builds. */
static int
devtype_build(const struct devtype_profile *p, const struct devtype_settings *s,
              struct relay_config *rc, uint8_t *cfg)
{
    unsigned n = s->queues ? s->queues : 1;
    const char *tag = s->fs_tag[0] ? s->fs_tag : DEVTYPE_FS_TAG_DEFAULT;

    switch (p->queues) {
    case DEVTYPE_Q_VCPU:
        rc->nr_queues = s->queues;
        rc->queue_num_unit = s->queues ? 1 : 0;
        rc->queue_per_vcpu = !s->queues;
        if (p->id == DEVTYPE_BLK) {
            rc->queue_count_off = DEVTYPE_BLK_NUM_QUEUES_OFF;
        }
        break;
    case DEVTYPE_Q_FIXED:
        rc->nr_queues = p->nr_queues;
        rc->queue_num_unit = 1;
        break;
    case DEVTYPE_Q_NET:
        rc->nr_queues = 2 * n + 1;
        rc->queue_num_unit = 2;
        if (s->has_mac) {
            memcpy(cfg, s->mac, 6);
            rc->own_features |= BIT(NETCTRL_F_MAC);
        }
        put_le16(cfg + 6, NET_S_LINK_UP);
        put_le16(cfg + 8, n);
        put_le16(cfg + 10, s->mtu);
        if (s->mtu) {
            rc->own_features |= BIT(NETCTRL_F_MTU);
        }
        if (n == 1) {
            rc->device_features &= ~BIT(NETCTRL_F_MQ);
        }
        break;
    case DEVTYPE_Q_FS:
        /* virtiofsd serves no config space: tag[36], num_request_queues. */
        if (strlen(tag) > DEVTYPE_FS_TAG_MAX) {
            return -EINVAL;
        }
        memcpy(cfg, tag, strlen(tag));
        cfg[36] = (uint8_t)n; /* little-endian u32, n <= 31 */
        rc->nr_queues = 1 + n;
        break;
    }
    if (p->id == DEVTYPE_VSOCK && s->guest_cid) {
        for (unsigned i = 0; i < 8; i++) {
            cfg[i] = (uint8_t)(s->guest_cid >> (8 * i));
        }
        rc->own_config = true;
    }
    return 0;
}

int
devtype_fill(struct relay_config *rc, uint32_t device_id,
             const struct devtype_settings *set, struct devtype_config *store,
             const char **why)
{
    static const struct devtype_settings none;
    const struct devtype_profile *p = devtype_profile(device_id);
    const struct devtype_settings *s = set ? set : &none;
    uint64_t layout;

    memset(store, 0, sizeof(*store));
    *why = NULL;
    devtype_layout(rc, device_id);
    layout = devtype_features(device_id, rc->config_len);
    rc->config = NULL;
    rc->own_config = false;
    rc->config_required = false;
    rc->nr_queues = 0;
    rc->queue_num_unit = 0;
    rc->queue_per_vcpu = false;
    rc->own_features = 0;
    rc->own = NULL;
    rc->mask_features = layout != 0;
    rc->device_features = layout;
    if (!p) {
        /* Generic: the backend's queues, config and features. */
        *why = devtype_check(&(struct devtype_profile){ .settings = 0 }, s);
        return *why ? -EINVAL : 0;
    }
    *why = devtype_check(p, s);
    if (*why) {
        return -EINVAL;
    }
    rc->mask_features = true;
    rc->device_features = p->backend_features & (layout ? layout : ~0ULL);
    rc->own_features = p->own_features;
    rc->own = p->own;
    rc->own_config = p->config == DEVTYPE_CFG_OWN;
    rc->config_required = p->config == DEVTYPE_CFG_BACKEND ||
                          p->config == DEVTYPE_CFG_EITHER;
    if (p->config == DEVTYPE_CFG_NONE) {
        rc->config_len = 0;
    }
    if (p->config == DEVTYPE_CFG_OWN ||
        (p->config == DEVTYPE_CFG_EITHER && s->guest_cid)) {
        rc->config = store->bytes;
    }
    return devtype_build(p, s, rc, store->bytes);
}

const char *
devtype_name(uint32_t device_id)
{
    const struct devtype_profile *p = devtype_profile(device_id);

    return p ? p->name : "device";
}

const char *
devtype_serves(uint32_t device_id)
{
    const struct devtype_profile *p = devtype_profile(device_id);

    return p ? p->serves : "nothing (generic: the backend's queues, config "
                           "and features)";
}
