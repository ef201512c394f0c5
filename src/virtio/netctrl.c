/* netctrl: the virtio-net control queue (see netctrl.h). */
#include <config.h>

#include <string.h>

#include "netctrl.h"

static bool
netctrl_has(uint64_t features, unsigned bit)
{
    return (features >> bit) & 1;
}

static uint32_t
netctrl_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

/* MAC_TABLE_SET: two tables (unicast, multicast) of le32 n + n * 6 bytes. */
static bool
netctrl_mac_tables_ok(const uint8_t *p, uint32_t len)
{
    for (unsigned t = 0; t < 2; t++) {
        uint32_t n;

        if (len < 4) {
            return false;
        }
        n = netctrl_le32(p);
        if (n > (len - 4) / 6) {
            return false;
        }
        p += 4 + 6 * n;
        len -= 4 + 6 * n;
    }
    return len == 0;
}

static const char *
netctrl_rx(uint8_t cmd, uint32_t dlen, uint64_t features)
{
    if (!netctrl_has(features, NETCTRL_F_CTRL_RX)) {
        return "RX class without CTRL_RX";
    }
    if (cmd > NETCTRL_RX_NOBCAST) {
        return "unknown RX command";
    }
    if (cmd > NETCTRL_RX_ALLMULTI &&
        !netctrl_has(features, NETCTRL_F_CTRL_RX_EXTRA)) {
        return "RX command without CTRL_RX_EXTRA";
    }
    return dlen == 1 ? NULL : "RX command data is not one byte";
}

static const char *
netctrl_mac(uint8_t cmd, const uint8_t *d, uint32_t dlen, uint64_t features)
{
    if (cmd == NETCTRL_MAC_TABLE_SET) {
        if (!netctrl_has(features, NETCTRL_F_CTRL_RX)) {
            return "MAC_TABLE_SET without CTRL_RX";
        }
        return netctrl_mac_tables_ok(d, dlen) ? NULL : "malformed MAC tables";
    }
    if (cmd == NETCTRL_MAC_ADDR_SET) {
        if (!netctrl_has(features, NETCTRL_F_CTRL_MAC_ADDR)) {
            return "MAC_ADDR_SET without CTRL_MAC_ADDR";
        }
        return dlen == 6 ? NULL : "MAC_ADDR_SET data is not 6 bytes";
    }
    return "unknown MAC command";
}

static const char *
netctrl_mq(uint8_t cmd, const uint8_t *d, uint32_t dlen, uint64_t features,
           unsigned max_pairs, unsigned *pairs)
{
    unsigned n;

    if (!netctrl_has(features, NETCTRL_F_MQ)) {
        return "MQ class without MQ";
    }
    if (cmd != NETCTRL_MQ_VQ_PAIRS_SET) {
        return "MQ command not offered (RSS, hash)";
    }
    if (dlen != 2) {
        return "VQ_PAIRS_SET data is not 2 bytes";
    }
    n = (unsigned)d[0] | (unsigned)d[1] << 8;
    if (n < NETCTRL_PAIRS_MIN || n > max_pairs) {
        return "VQ_PAIRS_SET outside 1..max_virtqueue_pairs";
    }
    *pairs = n;
    return NULL;
}

void
netctrl_exec(const uint8_t *in, uint32_t len, uint64_t features,
             unsigned max_pairs, struct netctrl_result *res)
{
    const uint8_t *d;
    uint32_t dlen;
    const char *why;

    memset(res, 0, sizeof(*res));
    if (len < 2) {
        res->ack = NETCTRL_ERR;
        res->why = "request shorter than its class and command";
        return;
    }
    d = in + 2;
    dlen = len - 2;
    switch (in[0]) {
    case NETCTRL_RX:
        why = netctrl_rx(in[1], dlen, features);
        break;
    case NETCTRL_MAC:
        why = netctrl_mac(in[1], d, dlen, features);
        if (!why && in[1] == NETCTRL_MAC_ADDR_SET) {
            res->set_mac = true;
            memcpy(res->mac, d, 6);
        }
        break;
    case NETCTRL_VLAN:
        why = !netctrl_has(features, NETCTRL_F_CTRL_VLAN) ? "VLAN class without CTRL_VLAN"
              : in[1] > NETCTRL_VLAN_DEL                 ? "unknown VLAN command"
              : dlen != 2 ? "VLAN data is not 2 bytes"
                          : NULL;
        break;
    case NETCTRL_ANNOUNCE:
        why = !netctrl_has(features, NETCTRL_F_GUEST_ANNOUNCE)
                  ? "ANNOUNCE class without GUEST_ANNOUNCE"
              : in[1] != NETCTRL_ANNOUNCE_ACK ? "unknown ANNOUNCE command"
              : dlen != 0                      ? "ANNOUNCE_ACK carries data"
                                               : NULL;
        break;
    case NETCTRL_MQ:
        why = netctrl_mq(in[1], d, dlen, features, max_pairs, &res->pairs);
        break;
    default:
        why = "class not offered";
        break;
    }
    res->ack = why ? NETCTRL_ERR : NETCTRL_OK;
    res->why = why;
    if (why) {
        res->pairs = 0;
        res->set_mac = false;
    }
}
