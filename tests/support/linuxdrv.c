/* Test support: Linux-like virtio drivers at probe (see linuxdrv.h). */
#include <config.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "linuxdrv.h"
#include "log.h"
#include "vmmio.h"

#define B(n) (1ULL << (n))

/* virtio_ring's vring_transport_features() (6.1; 6.12 adds
 * NOTIFICATION_DATA and NOTIF_CONFIG_DATA). */
#define T_6_1                                                                  \
    (B(28) /* INDIRECT_DESC */ | B(29) /* EVENT_IDX */ | B(32) /* VERSION_1 */ | \
     B(33) /* ACCESS_PLATFORM */ | B(34) /* RING_PACKED */ |                   \
     B(36) /* ORDER_PLATFORM */ | B(37) /* SR_IOV */ | B(40) /* RING_RESET */)
#define T_6_12 (T_6_1 | B(38) | B(39))

/* drivers/net/virtio_net.c features[] */
#define NET_6_1                                                                \
    (B(0) | B(1) | B(2) | B(3) | B(5) | B(7) | B(8) | B(9) | B(10) | B(11) |   \
     B(12) | B(13) | B(14) | B(15) | B(16) | B(17) | B(18) | B(19) | B(21) |   \
     B(22) | B(23) | B(53) /* NOTF_COAL */ | B(57) /* HASH_REPORT */ |         \
     B(60) /* RSS */ | B(62) /* STANDBY */ | B(63) /* SPEED_DUPLEX */)
#define NET_6_12                                                               \
    (NET_6_1 | B(50) /* DEVICE_STATS */ | B(52) /* VQ_NOTF_COAL */ | B(54) |  \
     B(55) /* GUEST_USO4/6 */ | B(56) /* HOST_USO */ |                         \
     B(59) /* GUEST_HDRLEN */)
/* drivers/block/virtio_blk.c features[] (6.12: ZONED) */
#define BLK_6_1                                                                \
    (B(1) | B(2) | B(4) | B(5) | B(6) | B(9) | B(10) | B(11) | B(12) |        \
     B(13) | B(14) | B(16))
#define BLK_6_12 (BLK_6_1 | B(17))

static const struct {
    uint32_t id;
    uint64_t f[2]; /* 6.1, 6.12: device bits of the driver's table */
} linuxdrv_tables[] = {
    { 1, { NET_6_1, NET_6_12 } },
    { 2, { BLK_6_1, BLK_6_12 } },
    { 3, { B(0) | B(1) | B(2), B(0) | B(1) | B(2) } }, /* console */
    { 4, { 0, 0 } },                                   /* rng */
    { 19, { B(1), B(1) } },                            /* vsock: SEQPACKET */
    { 25, { 0, B(0) } },                               /* sound: CTLS */
    { 26, { 0, 0 } },                                  /* fs */
    { 32, { B(0), B(0) } },                            /* scmi: P2A_CHANNELS */
    { 34, { B(0), B(0) } },        /* i2c: ZERO_LENGTH_REQUEST */
    { 41, { B(0), B(0) } },        /* gpio: IRQ */
};

uint64_t
linuxdrv_features(uint32_t device_id, enum linuxdrv_kernel k)
{
    for (size_t i = 0; i < sizeof(linuxdrv_tables) / sizeof(linuxdrv_tables[0]);
         i++) {
        if (linuxdrv_tables[i].id == device_id) {
            return linuxdrv_tables[i].f[k] | (k == LINUX_6_1 ? T_6_1 : T_6_12);
        }
    }
    return 0;
}

static uint32_t
cfg_le(struct simdrv *d, uint32_t off, unsigned len)
{
    uint8_t b[4] = { 0 };

    simdrv_config(d, off, b, len);
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
           (uint32_t)b[3] << 24;
}

/* Every violation: the message in err, -1. */
#define fail(err, errlen, ...) (log_errbuf((err), (errlen), __VA_ARGS__), -1)

/* Queues the driver sets up, from the offered features and the config;
 * -1 with err set when the config breaks a device requirement. */
static int
linuxdrv_queues(struct simdrv *d, uint32_t id, uint64_t f, char *err,
                size_t errlen)
{
    uint32_t v;

    switch (id) {
    case 1: /* net */
        if (f & B(3)) {
            v = cfg_le(d, 10, 2);
            if (v < 68) {
                return fail(err, errlen, "net: MTU offered with mtu %u < 68", v);
            }
        }
        if (f & B(16)) {
            v = cfg_le(d, 6, 2);
            if (v & ~3u) {
                return fail(err, errlen, "net: status 0x%x has undefined bits", v);
            }
        }
        if ((f & B(22)) && (f & B(17))) {
            v = cfg_le(d, 8, 2);
            if (v < 1 || v > 0x8000) {
                return fail(err, errlen, "net: MQ with max_virtqueue_pairs %u", v);
            }
            return (int)(2 * v + 1);
        }
        return (f & B(17)) ? 3 : 2;
    case 2: /* blk */
        if (f & B(12)) {
            v = cfg_le(d, 34, 2);
            if (v < 1) {
                return fail(err, errlen, "blk: MQ with num_queues 0");
            }
            return (int)v;
        }
        return 1;
    case 3: /* console: no multiport ports in these tests */
        if (f & B(1)) {
            v = cfg_le(d, 4, 4);
            return (int)(4 + 2 * (v ? v - 1 : 0));
        }
        return 2;
    case 4:
    case 34:
        return 1;
    case 19: /* vsock */
        v = cfg_le(d, 0, 4);
        if (v < 3 || v == 0xffffffffu || cfg_le(d, 4, 4) != 0) {
            return fail(err, errlen, "vsock: guest_cid 0x%x%08x reserved",
                        cfg_le(d, 4, 4), v);
        }
        return 3;
    case 25: /* sound */
        if (cfg_le(d, 4, 4) == 0 && cfg_le(d, 0, 4) == 0) {
            return fail(err, errlen, "sound: no streams and no jacks");
        }
        return 4;
    case 26: { /* fs */
        char tag[37] = { 0 };

        simdrv_config(d, 0, tag, 36);
        v = cfg_le(d, 36, 4);
        if (tag[0] == '\0') {
            return fail(err, errlen, "fs: empty tag");
        }
        if (v < 1) {
            return fail(err, errlen, "fs: num_request_queues 0");
        }
        return (int)(1 + v);
    }
    case 32:
        return (f & B(0)) ? 2 : 1;
    case 41: /* gpio */
        if (cfg_le(d, 0, 2) == 0) {
            return fail(err, errlen, "gpio: ngpio 0");
        }
        return (f & B(0)) ? 2 : 1;
    default:
        return 1;
    }
}

int
linuxdrv_net_command(struct simdrv *d, unsigned q, uint64_t scratch_gpa,
                     uint8_t cls, uint8_t cmd, const void *data, uint32_t len)
{
    uint8_t *p = simdrv_ptr(d, scratch_gpa, 64);
    struct simdrv_buf b[2] = {
        { scratch_gpa, 2 + len, false },
        { scratch_gpa + 48, 1, true },
    };
    uint16_t head;
    uint32_t used;

    if (!p || len > 46) {
        return -EINVAL;
    }
    p[0] = cls;
    p[1] = cmd;
    if (len) {
        memcpy(p + 2, data, len);
    }
    p[48] = 0xee;
    if (simdrv_submit(d, q, b, 2, false, &head) < 0) {
        return -ENOSPC;
    }
    simdrv_kick(d, q);
    for (unsigned tries = 0; simdrv_poll(d, q, &head, &used) == 0; tries++) {
        if (tries == 10 || simdrv_wait_irq(d, 100) == -ETIMEDOUT) {
            return -ETIMEDOUT;
        }
    }
    return used == 1 ? p[48] : -EIO;
}

int
linuxdrv_probe(struct simdrv *d, enum linuxdrv_kernel k, unsigned *nr_queues,
               char *err, size_t errlen)
{
    uint32_t id = simdrv_device_id(d);
    uint64_t want = linuxdrv_features(id, k);
    uint64_t f = simdrv_device_features(d) & want;
    int n, rc;

    if (!want) {
        return fail(err, errlen, "device id %u: no Linux driver table", id);
    }
    if (!(f & B(32))) {
        return fail(err, errlen, "VERSION_1 not offered");
    }
    if (f & B(34)) {
        return fail(err, errlen, "RING_PACKED offered: the relay serves split "
                                 "rings only");
    }
    n = linuxdrv_queues(d, id, f, err, errlen);
    if (n < 0) {
        return -1;
    }
    if (n > SIMDRV_MAX_QUEUES) {
        return fail(err, errlen, "%d queues: more than the test driver sets up",
                    n);
    }
    rc = simdrv_init(d, want, (unsigned)n, 0);
    if (rc < 0) {
        return fail(err, errlen, "init with features 0x%llx and %d queues: %s",
                    (unsigned long long)f, n, strerror(-rc));
    }
    *nr_queues = (unsigned)n;
    return 0;
}
