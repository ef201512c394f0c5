/*
 * vhu_msg: private seam between vhu.c (one function per request) and
 * vhu_msg.c (framing, fd passing and the central reply checks).  The
 * backend is untrusted; see vhu_msg.c for where its bytes are checked.
 */
#ifndef XVM_VHU_MSG_H
#define XVM_VHU_MSG_H

#include <stdbool.h>
#include <stdint.h>

#include "vhu_wire.h"

/* REPLY_ACKs a connection can owe at once (vhu_defer_acks()). */
#define VHU_MAX_PENDING 128u

struct vhu_conn {
    int fd;
    bool broken;
    unsigned timeout_ms;
    uint64_t deadline_cap_ns; /* vhu_set_deadline(); 0: none */
    unsigned wait_ms;         /* the current request's bound, for logs */
    uint64_t features; /* offered by the backend (GET_FEATURES) */
    uint64_t protocol; /* negotiated protocol features */
    uint64_t sent;     /* requests sent in full */
    bool defer;        /* vhu_defer_acks(): do not wait for REPLY_ACKs */
    bool defer_base;   /* this GET_VRING_BASE: its reply owed, not waited */
    uint32_t pend[VHU_MAX_PENDING]; /* requests whose ack is owed, FIFO */
    uint8_t pend_ring[VHU_MAX_PENDING]; /* GET_VRING_BASE: its ring */
    unsigned pend_head, npend;
    unsigned npend_base;      /* of npend: GET_VRING_BASE replies owed */
    uint32_t vring_base[VHU_VRING_IDX_MASK + 1]; /* their answers */
    uint64_t deferred, acked; /* requests sent deferred, their acks taken */
    uint32_t refused;  /* first deferred request refused, 0: none */
    char name[64];
};

/*
 * Send request `req` (payload of len bytes, nfds fds) and take its reply as
 * the request table prescribes: a natural reply into reply/reply_len,
 * or REPLY_ACK's status when negotiated (non-zero: -EIO).
 * Returns 0, -EINVAL, -EOPNOTSUPP, -EIO, or (breaking c) -EPROTO,
 * -ETIMEDOUT, -EPIPE; -EPIPE at once when c is already broken.
 */
int vhu_msg_request(struct vhu_conn *c, uint32_t req, const void *payload,
                    uint32_t len, const int *fds, unsigned nfds, void *reply,
                    uint32_t *reply_len);

/*
 * Send GET_VRING_BASE for ring idx with its reply owed like a deferred
 * ack (taken by vhu_msg_collect(), vhu_msg_settle() or the next request
 * that waits), whatever vhu_defer_acks() says.  0 or -errno as
 * vhu_msg_request().
 */
int vhu_msg_request_base(struct vhu_conn *c, unsigned idx);
/*
 * Take every owed reply, waiting for each within the request bound.
 * 0, or -errno with c broken.
 */
int vhu_msg_settle(struct vhu_conn *c);
/*
 * Take the owed acks that are readable now, without waiting for more (one
 * that has begun to arrive is read to its end within the request bound).
 * Returns how many are still owed, or -errno with c broken.
 */
int vhu_msg_collect(struct vhu_conn *c);
/*
 * Backend channel (the backend sends requests, we answer): read one
 * request, header and at most VHU_MAX_PAYLOAD bytes of payload, carrying
 * no fds.  0, or (breaking c) -EPROTO, -ETIMEDOUT, -EPIPE.
 */
int vhu_msg_recv_request(struct vhu_conn *c, uint32_t *req, uint32_t *flags,
                         void *payload, uint32_t *len);
/* Backend channel: the u64 reply to a request that asked for one. */
int vhu_msg_send_ack(struct vhu_conn *c, uint32_t req, uint64_t status);

/* Mark c broken for good, log why (naming c), and return `err`. */
int vhu_msg_fail(struct vhu_conn *c, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The protocol name of a request code, for log lines. */
const char *vhu_msg_req_name(uint32_t req);

#endif
