/*
 * netctrl: the virtio-net control queue as a vhost-user frontend serves it
 * (virtio 1.2, 5.1.6.5).  vhost-user net backends are never given the
 * control queue: the frontend answers it, and turns the one command with
 * an effect on the backend (MQ VQ_PAIRS_SET) into SET_VRING_ENABLE.
 *
 * A pure function over one request's readable bytes, so it is tested and
 * fuzzed without a device.  Trust boundary: every byte comes from the guest.
 */
#ifndef XVM_NETCTRL_H
#define XVM_NETCTRL_H

#include <stdbool.h>
#include <stdint.h>

/* Feature bits of virtio-net (device-specific, 0-23). */
#define NETCTRL_F_CSUM 0
#define NETCTRL_F_GUEST_CSUM 1
#define NETCTRL_F_CTRL_GUEST_OFFLOADS 2
#define NETCTRL_F_MTU 3
#define NETCTRL_F_MAC 5
#define NETCTRL_F_GUEST_TSO4 7
#define NETCTRL_F_GUEST_TSO6 8
#define NETCTRL_F_GUEST_ECN 9
#define NETCTRL_F_GUEST_UFO 10
#define NETCTRL_F_HOST_TSO4 11
#define NETCTRL_F_HOST_TSO6 12
#define NETCTRL_F_HOST_ECN 13
#define NETCTRL_F_HOST_UFO 14
#define NETCTRL_F_MRG_RXBUF 15
#define NETCTRL_F_STATUS 16
#define NETCTRL_F_CTRL_VQ 17
#define NETCTRL_F_CTRL_RX 18
#define NETCTRL_F_CTRL_VLAN 19
#define NETCTRL_F_CTRL_RX_EXTRA 20
#define NETCTRL_F_GUEST_ANNOUNCE 21
#define NETCTRL_F_MQ 22
#define NETCTRL_F_CTRL_MAC_ADDR 23

/* Command classes and commands. */
#define NETCTRL_RX 0
#define NETCTRL_RX_PROMISC 0
#define NETCTRL_RX_ALLMULTI 1
#define NETCTRL_RX_ALLUNI 2
#define NETCTRL_RX_NOMULTI 3
#define NETCTRL_RX_NOUNI 4
#define NETCTRL_RX_NOBCAST 5
#define NETCTRL_MAC 1
#define NETCTRL_MAC_TABLE_SET 0
#define NETCTRL_MAC_ADDR_SET 1
#define NETCTRL_VLAN 2
#define NETCTRL_VLAN_ADD 0
#define NETCTRL_VLAN_DEL 1
#define NETCTRL_ANNOUNCE 3
#define NETCTRL_ANNOUNCE_ACK 0
#define NETCTRL_MQ 4
#define NETCTRL_MQ_VQ_PAIRS_SET 0

/* The ack byte. */
#define NETCTRL_OK 0
#define NETCTRL_ERR 1

/* The virtio-net pair limits (VQ_PAIRS_SET range, max_virtqueue_pairs). */
#define NETCTRL_PAIRS_MIN 1u
#define NETCTRL_PAIRS_MAX 0x8000u

struct netctrl_result {
    uint8_t ack;        /* NETCTRL_OK or NETCTRL_ERR */
    unsigned pairs;     /* VQ_PAIRS_SET accepted: pairs to use; else 0 */
    bool set_mac;       /* MAC_ADDR_SET accepted: the config's mac is mac */
    uint8_t mac[6];
    const char *why;    /* NETCTRL_ERR: what was wrong, for a log line */
};

/*
 * Answer one control request (class, command, data) for a device whose
 * driver accepted `features` and that has max_pairs queue pairs: OK for
 * every well-formed command of a class the driver negotiated (receive
 * filters, MAC table, VLAN and announce acks change nothing a vhost-user
 * backend is told of; a new MAC address is what config space shows
 * next), ERR for anything else.
 */
void netctrl_exec(const uint8_t *in, uint32_t len, uint64_t features,
                  unsigned max_pairs, struct netctrl_result *res);

#endif
