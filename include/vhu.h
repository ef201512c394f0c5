/*
 * vhu: the frontend (client) side of the vhost-user protocol.
 *
 * Trust boundary: the backend is another process and untrusted.  Every
 * reply is checked centrally (reply flag, request code, payload size,
 * number of fds) before a caller sees it; unexpected fds are closed.  A
 * protocol violation, a timeout or a hang-up marks the connection broken
 * for good (sticky): every later call fails with -EPIPE and the owner
 * reconnects.  Calls are synchronous with a bounded wait (timeout_ms),
 * except that REPLY_ACKs can be deferred (vhu_defer_acks()), and so can
 * GET_VRING_BASE's reply (vhu_request_vring_base()): requests are then
 * pipelined and their replies taken as they arrive (vhu_collect()).
 * SIGPIPE is never raised (MSG_NOSIGNAL).
 */
#ifndef XVM_VHU_H
#define XVM_VHU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Protocol feature bits (VHOST_USER_PROTOCOL_F_*). */
#define VHU_PF_MQ 0
#define VHU_PF_LOG_SHMFD 1
#define VHU_PF_RARP 2
#define VHU_PF_REPLY_ACK 3
#define VHU_PF_MTU 4
#define VHU_PF_BACKEND_REQ 5
#define VHU_PF_CROSS_ENDIAN 6
#define VHU_PF_CRYPTO_SESSION 7
#define VHU_PF_PAGEFAULT 8
#define VHU_PF_CONFIG 9
#define VHU_PF_BACKEND_SEND_FD 10
#define VHU_PF_HOST_NOTIFIER 11
#define VHU_PF_INFLIGHT_SHMFD 12
#define VHU_PF_RESET_DEVICE 13
#define VHU_PF_INBAND_NOTIFICATIONS 14
#define VHU_PF_CONFIGURE_MEM_SLOTS 15
#define VHU_PF_STATUS 16
#define VHU_PF_XEN_MMAP 17

/* Requests the backend sends on its channel (VHU_PF_BACKEND_REQ). */
#define VHU_BACKEND_CONFIG_CHANGE_MSG 2

/* Device feature bit 30: the backend speaks protocol features. */
#define VHU_F_PROTOCOL_FEATURES 30

#define VHU_MAX_REGIONS 8

/* xen_mmap_flags of a SET_MEM_TABLE region (rust-vmm layout). */
#define VHU_XEN_MMAP_FOREIGN 0x1u
#define VHU_XEN_MMAP_GRANT 0x2u
#define VHU_XEN_MMAP_NO_ADVANCE_MAP 0x8u

struct vhu_region {
    uint64_t gpa;
    uint64_t len;
    uint64_t uaddr;    /* address the vring addresses are expressed in */
    uint64_t mmap_off;
    int fd;            /* sent with SCM_RIGHTS, not closed by vhu */
    uint32_t xen_mmap_flags;
    uint32_t xen_domid;
};

struct vhu_conn;

/*
 * Connect to a backend's UNIX socket.  0 or -errno (-ENOENT/-ECONNREFUSED
 * while the backend is not listening).  `name` prefixes log lines.
 */
int vhu_connect(struct vhu_conn **out, const char *path, const char *name,
                unsigned timeout_ms);
/*
 * Wrap an already connected stream socket (a socketpair in tests, an
 * accepted or inherited socket).  The connection owns `fd` from then on,
 * also when this fails (it is closed).  0 or -errno.
 */
int vhu_adopt(struct vhu_conn **out, int fd, const char *name,
              unsigned timeout_ms);
/* Close the socket and free the connection; NULL is fine. */
void vhu_close(struct vhu_conn *c);
/* The socket, for an event loop to watch for hang-up. */
int vhu_fd(const struct vhu_conn *c);
/*
 * Bound every later request also by the absolute time deadline_ns (the
 * log_now_ns() clock), whichever of it and timeout_ms comes first; a
 * request that hits it fails with -ETIMEDOUT like any timeout.  0 removes
 * the cap.  Lets a caller bound a whole sequence of requests.
 */
void vhu_set_deadline(struct vhu_conn *c, uint64_t deadline_ns);
/* True once the connection failed (sticky): every call returns -EPIPE. */
bool vhu_broken(const struct vhu_conn *c);
/* Requests sent on this connection so far. */
uint64_t vhu_sent(const struct vhu_conn *c);
/*
 * Deferred acks.  While on (and REPLY_ACK negotiated), a request without a
 * natural reply returns once sent, with 0, and its ack is owed: a refusal
 * then shows in vhu_take_refused(), not in the request's result.  Every
 * request that waits for a reply (natural, or an ack while off) first
 * takes every owed ack, within its own bound.  Off by default.
 */
void vhu_defer_acks(struct vhu_conn *c, bool on);
/* Acks owed now. */
unsigned vhu_pending(const struct vhu_conn *c);
/*
 * Requests sent with a deferred ack so far, and their acks taken so far:
 * everything sent before vhu_deferred() returned n is acknowledged once
 * vhu_acked() reaches n.
 */
uint64_t vhu_deferred(const struct vhu_conn *c);
uint64_t vhu_acked(const struct vhu_conn *c);
/*
 * Take the owed acks readable now, never waiting for one that has not
 * begun to arrive (for an event loop: call when the socket is readable).
 * Returns the number still owed, or -errno with the connection broken.
 */
int vhu_collect(struct vhu_conn *c);
/*
 * Take every owed ack, waiting for each within the request bound (for a
 * caller that has no loop to wait in).  0, or -errno with the connection
 * broken.
 */
int vhu_settle(struct vhu_conn *c);
/*
 * GET_VRING_BASE without waiting: stops ring idx; its reply is owed like
 * a deferred ack (counted by vhu_pending(), vhu_deferred() and
 * vhu_acked(), taken the same ways), and once taken its base is
 * vhu_vring_base(c, idx).  A reply naming another ring breaks the
 * connection.  0 or -errno as every request below.
 */
int vhu_request_vring_base(struct vhu_conn *c, unsigned idx);
/* Of vhu_pending(): GET_VRING_BASE replies owed. */
unsigned vhu_pending_bases(const struct vhu_conn *c);
/* The base the backend last answered for ring idx (vhu_request_vring_base). */
unsigned vhu_vring_base(const struct vhu_conn *c, unsigned idx);
/*
 * The first deferred request the backend refused since the last call
 * (its request code), or 0; clears it.
 */
uint32_t vhu_take_refused(struct vhu_conn *c);

/*
 * Handshake: GET_FEATURES; if bit 30, GET_PROTOCOL_FEATURES, then
 * SET_PROTOCOL_FEATURES with (offered & want_protocol); SET_OWNER.
 * Results in *features (device features incl. bit 30) and *protocol.
 * REPLY_ACK, once negotiated, is used for every request without a reply.
 */
int vhu_handshake(struct vhu_conn *c, uint64_t want_protocol,
                  uint64_t *features, uint64_t *protocol);
/* The negotiated protocol features (0 before the handshake). */
uint64_t vhu_protocol(const struct vhu_conn *c);

/*
 * Every request below returns 0, -EINVAL (bad argument, nothing sent),
 * -EOPNOTSUPP (needs a protocol feature not negotiated, nothing sent),
 * -EIO (the backend refused it via REPLY_ACK or GET_CONFIG's empty reply;
 * the connection stays usable), or, breaking the connection for good,
 * -EPROTO (malformed reply), -ETIMEDOUT (no reply within timeout_ms) or
 * -EPIPE (hang-up; also every call once broken).
 */

/* GET_QUEUE_NUM (needs VHU_PF_MQ): queues the backend supports. */
int vhu_get_queue_num(struct vhu_conn *c, uint64_t *num);
/* SET_FEATURES: -EINVAL for bits the backend never offered. */
int vhu_set_features(struct vhu_conn *c, uint64_t features);
/*
 * SET_MEM_TABLE with 1..VHU_MAX_REGIONS regions, one fd each.  With
 * VHU_PF_XEN_MMAP negotiated the 40-byte Xen layout is sent and each
 * region's xen_mmap_flags must hold exactly one of FOREIGN, GRANT.
 */
int vhu_set_mem_table(struct vhu_conn *c, const struct vhu_region *r,
                      unsigned n);
/* SET_VRING_NUM / ADDR / BASE: ring size, ring addresses, next avail. */
int vhu_set_vring_num(struct vhu_conn *c, unsigned idx, unsigned num);
int vhu_set_vring_addr(struct vhu_conn *c, unsigned idx, uint64_t desc,
                       uint64_t used, uint64_t avail);
int vhu_set_vring_base(struct vhu_conn *c, unsigned idx, unsigned base);
/* GET_VRING_BASE: stops the ring; the reply must name the same ring. */
int vhu_get_vring_base(struct vhu_conn *c, unsigned idx, unsigned *base);
/* SET_VRING_KICK / CALL: idx <= 255; fd -1 sends the no-fd flag. */
int vhu_set_vring_kick(struct vhu_conn *c, unsigned idx, int fd);
int vhu_set_vring_call(struct vhu_conn *c, unsigned idx, int fd);
/* SET_VRING_ENABLE (needs protocol features offered). */
int vhu_set_vring_enable(struct vhu_conn *c, unsigned idx, bool enable);
/*
 * GET_CONFIG / SET_CONFIG (need VHU_PF_CONFIG), 1..256 bytes.  GET_CONFIG:
 * reply size and offset must match the request exactly.
 */
int vhu_get_config(struct vhu_conn *c, uint32_t off, void *buf, uint32_t len);
int vhu_set_config(struct vhu_conn *c, uint32_t off, const void *buf,
                   uint32_t len);

/*
 * The backend's request channel (needs VHU_PF_BACKEND_REQ): a socketpair
 * whose one end goes to the backend with SET_BACKEND_REQ_FD; *chan is the
 * other end, a connection of its own (same timeout, "<name>/backend") to
 * watch and read with vhu_backend_request().  0 or -errno.
 */
int vhu_backend_channel(struct vhu_conn *c, struct vhu_conn **chan);
/*
 * Read one request from a backend channel and, if the backend asked for a
 * reply, answer it: 0 (done) when the request code is in `handled` (a
 * bitmask of codes below 64), else 1 (refused).  The caller acts on the
 * request after this returns, so a backend blocked on the reply is free
 * to serve the caller's own requests.  Returns the request code, or
 * -errno with the channel broken (close it; the connection is unaffected).
 */
int vhu_backend_request(struct vhu_conn *chan, uint64_t handled);

#endif
