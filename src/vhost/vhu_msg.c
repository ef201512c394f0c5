/*
 * vhu_msg: vhost-user framing for the frontend: one request table, sending
 * with fds, and the single function every reply passes through.
 *
 * Trust boundary: the backend is a separate, untrusted process.  Nothing it
 * sends reaches a caller before vhu_recv_reply() has checked it against the
 * request table below: version and reply flag, the request code of the
 * request we sent, the payload size the table gives (checked before the
 * payload is read, with a hard bound on top), and the exact number of fds.
 * Truncated control data and surplus fds are violations; every fd that
 * arrives and is not handed to the caller is closed.
 *
 * A violation, a timeout, EOF or a send error marks the connection broken
 * for good: the byte stream can no longer be trusted to be in step.  Every
 * later call then returns -EPIPE without touching the socket.  A REPLY_ACK
 * with a non-zero status is the backend refusing one request: -EIO, and the
 * connection stays usable.  All waits are bounded by the connection's
 * timeout; sends never raise SIGPIPE (MSG_NOSIGNAL).
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "vhu.h"
#include "vhu_msg.h"
#include "vhu_wire.h"

/* How the size of a natural reply is determined. */
enum vhu_size_rule {
    VHU_RS_NONE = 0,  /* no natural reply */
    VHU_RS_FIXED,     /* exactly reply_size bytes */
    VHU_RS_ECHO,      /* as many bytes as the request; 0 = backend error */
};

/* One row per request we send: the only place reply rules live. */
struct vhu_req_rule {
    const char *name;
    enum vhu_size_rule rule;
    uint32_t reply_size;
    uint8_t fds_out;  /* most fds the request carries */
    int8_t pf;        /* protocol feature the request needs, or -1 */
    bool needs_pfeat; /* needs VHU_F_PROTOCOL_FEATURES offered */
};

#define VHU_U64 sizeof(uint64_t)

static const struct vhu_req_rule vhu_rules[VHU_REQ_MAX] = {
    [VHU_REQ_GET_FEATURES] = { "GET_FEATURES", VHU_RS_FIXED, VHU_U64, 0, -1,
                               false },
    [VHU_REQ_SET_FEATURES] = { "SET_FEATURES", VHU_RS_NONE, 0, 0, -1, false },
    [VHU_REQ_SET_OWNER] = { "SET_OWNER", VHU_RS_NONE, 0, 0, -1, false },
    [VHU_REQ_SET_MEM_TABLE] = { "SET_MEM_TABLE", VHU_RS_NONE, 0,
                                VHU_MAX_REGIONS, -1, false },
    [VHU_REQ_SET_VRING_NUM] = { "SET_VRING_NUM", VHU_RS_NONE, 0, 0, -1,
                                false },
    [VHU_REQ_SET_VRING_ADDR] = { "SET_VRING_ADDR", VHU_RS_NONE, 0, 0, -1,
                                 false },
    [VHU_REQ_SET_VRING_BASE] = { "SET_VRING_BASE", VHU_RS_NONE, 0, 0, -1,
                                 false },
    [VHU_REQ_GET_VRING_BASE] = { "GET_VRING_BASE", VHU_RS_FIXED,
                                 sizeof(struct vhu_wire_state), 0, -1,
                                 false },
    [VHU_REQ_SET_VRING_KICK] = { "SET_VRING_KICK", VHU_RS_NONE, 0, 1, -1,
                                 false },
    [VHU_REQ_SET_VRING_CALL] = { "SET_VRING_CALL", VHU_RS_NONE, 0, 1, -1,
                                 false },
    [VHU_REQ_GET_PROTOCOL_FEATURES] = { "GET_PROTOCOL_FEATURES", VHU_RS_FIXED,
                                        VHU_U64, 0, -1, true },
    [VHU_REQ_SET_PROTOCOL_FEATURES] = { "SET_PROTOCOL_FEATURES", VHU_RS_NONE,
                                        0, 0, -1, true },
    [VHU_REQ_GET_QUEUE_NUM] = { "GET_QUEUE_NUM", VHU_RS_FIXED, VHU_U64, 0,
                                VHU_PF_MQ, true },
    [VHU_REQ_SET_VRING_ENABLE] = { "SET_VRING_ENABLE", VHU_RS_NONE, 0, 0, -1,
                                   true },
    [VHU_REQ_SET_BACKEND_REQ_FD] = { "SET_BACKEND_REQ_FD", VHU_RS_NONE, 0, 1,
                                     VHU_PF_BACKEND_REQ, true },
    [VHU_REQ_GET_CONFIG] = { "GET_CONFIG", VHU_RS_ECHO, 0, 0, VHU_PF_CONFIG,
                             true },
    [VHU_REQ_SET_CONFIG] = { "SET_CONFIG", VHU_RS_NONE, 0, 0, VHU_PF_CONFIG,
                             true },
};

/* fds received with a reply, until they are handed out or closed. */
struct vhu_rx {
    int fds[VHU_MAX_FDS];
    unsigned nfds;
    unsigned excess; /* fds beyond VHU_MAX_FDS, already closed */
};

/* Control buffer for VHU_MAX_FDS fds, aligned for struct cmsghdr. */
union vhu_cmsg_buf {
    char buf[CMSG_SPACE(sizeof(int) * VHU_MAX_FDS)];
    struct cmsghdr align;
};

static const struct vhu_req_rule *
vhu_rule(uint32_t req)
{
    if (req >= VHU_REQ_MAX || vhu_rules[req].name == NULL) {
        return NULL;
    }
    return &vhu_rules[req];
}

const char *
vhu_msg_req_name(uint32_t req)
{
    const struct vhu_req_rule *r = vhu_rule(req);

    return r ? r->name : "unknown request";
}

int
vhu_msg_fail(struct vhu_conn *c, int err, const char *fmt, ...)
{
    char why[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    c->broken = true;
    log_warn("vhu %s: %s; connection broken", c->name, why);
    return err;
}

static void
vhu_rx_close(struct vhu_rx *rx)
{
    for (unsigned i = 0; i < rx->nfds; i++) {
        close(rx->fds[i]);
        rx->fds[i] = -1;
    }
    rx->nfds = 0;
}

/* The request's deadline: timeout_ms from now, or the cap if sooner. */
static uint64_t
vhu_deadline(struct vhu_conn *c)
{
    uint64_t now = log_now_ns();
    uint64_t d = now + (uint64_t)c->timeout_ms * 1000000u;

    if (c->deadline_cap_ns != 0 && c->deadline_cap_ns < d) {
        d = c->deadline_cap_ns > now ? c->deadline_cap_ns : now;
    }
    c->wait_ms = (unsigned)((d - now + 999999u) / 1000000u);
    return d;
}

/* Wait for `events` until the deadline: 0, -ETIMEDOUT or -errno. */
static int
vhu_wait(const struct vhu_conn *c, short events, uint64_t deadline)
{
    for (;;) {
        uint64_t now = log_now_ns();
        struct pollfd pfd = { .fd = c->fd, .events = events };
        int ms, r;

        if (now >= deadline) {
            return -ETIMEDOUT;
        }
        ms = (int)((deadline - now + 999999u) / 1000000u);
        r = poll(&pfd, 1, ms);
        if (r > 0) {
            return 0; /* readable, writable, or hung up: the I/O call tells */
        }
        if (r < 0 && errno != EINTR) {
            return -errno;
        }
    }
}

/* Send all of buf; fds ride with the first byte.  Breaks c on failure. */
static int
vhu_send_all(struct vhu_conn *c, const uint8_t *buf, size_t len,
             const int *fds, unsigned nfds, uint64_t deadline)
{
    union vhu_cmsg_buf ctl;
    size_t done = 0;

    while (done < len) {
        struct iovec iov = { .iov_base = (void *)(buf + done),
                             .iov_len = len - done };
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
        ssize_t n;

        if (nfds > 0 && done == 0) {
            struct cmsghdr *cm;

            memset(&ctl, 0, sizeof(ctl));
            mh.msg_control = ctl.buf;
            mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
            cm = CMSG_FIRSTHDR(&mh);
            cm->cmsg_level = SOL_SOCKET;
            cm->cmsg_type = SCM_RIGHTS;
            cm->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
            memcpy(CMSG_DATA(cm), fds, sizeof(int) * nfds);
        }
        n = sendmsg(c->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) {
            int e = errno;
            int r;

            if (e == EINTR) {
                continue;
            }
            if (e == EAGAIN || e == EWOULDBLOCK) {
                r = vhu_wait(c, POLLOUT, deadline);
                if (r == -ETIMEDOUT) {
                    return vhu_msg_fail(c, -ETIMEDOUT,
                                    "send timed out after %u ms (%zu of %zu "
                                    "bytes sent)", c->wait_ms, done, len);
                }
                if (r < 0) {
                    return vhu_msg_fail(c, -EPIPE, "poll for send: %s",
                                    strerror(-r));
                }
                continue;
            }
            return vhu_msg_fail(c, -EPIPE, "send: %s", strerror(e));
        }
        done += (size_t)n;
    }
    return 0;
}

/* Collect the SCM_RIGHTS fds of one recvmsg into rx; close the surplus. */
static void
vhu_take_fds(struct msghdr *mh, struct vhu_rx *rx)
{
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm != NULL;
         cm = CMSG_NXTHDR(mh, cm)) {
        const char *data = (const char *)CMSG_DATA(cm);
        const char *end = (const char *)mh->msg_control + mh->msg_controllen;
        size_t n;

        if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS ||
            cm->cmsg_len < CMSG_LEN(0)) {
            continue;
        }
        n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        if (data > end) {
            n = 0;
        } else if (n > (size_t)(end - data) / sizeof(int)) {
            n = (size_t)(end - data) / sizeof(int);
        }
        for (size_t i = 0; i < n; i++) {
            int fd;

            memcpy(&fd, data + i * sizeof(int), sizeof(int));
            if (rx->nfds < VHU_MAX_FDS) {
                rx->fds[rx->nfds++] = fd;
            } else {
                close(fd);
                rx->excess++;
            }
        }
    }
}

/*
 * Read exactly len bytes, collecting fds into rx.  Breaks c (and closes
 * rx's fds) on EOF, error, timeout or truncated control data.
 */
static int
vhu_recv_all(struct vhu_conn *c, void *buf, size_t len, struct vhu_rx *rx,
             uint64_t deadline, const char *what)
{
    size_t done = 0;

    while (done < len) {
        union vhu_cmsg_buf ctl;
        struct iovec iov = { .iov_base = (char *)buf + done,
                             .iov_len = len - done };
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
                             .msg_control = ctl.buf,
                             .msg_controllen = sizeof(ctl.buf) };
        ssize_t n;
        int r;

        n = recvmsg(c->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        if (n < 0) {
            int e = errno;

            if (e == EINTR) {
                continue;
            }
            if (e == EAGAIN || e == EWOULDBLOCK) {
                r = vhu_wait(c, POLLIN, deadline);
                if (r == -ETIMEDOUT) {
                    vhu_rx_close(rx);
                    return vhu_msg_fail(c, -ETIMEDOUT,
                                    "no %s within %u ms (%zu of %zu bytes)",
                                    what, c->wait_ms, done, len);
                }
                if (r == 0) {
                    continue;
                }
                e = -r;
            }
            vhu_rx_close(rx);
            return vhu_msg_fail(c, -EPIPE, "receiving %s: %s", what, strerror(e));
        }
        vhu_take_fds(&mh, rx);
        if (mh.msg_flags & MSG_CTRUNC) {
            vhu_rx_close(rx);
            return vhu_msg_fail(c, -EPROTO,
                            "%s: control data truncated (more than %d fds)",
                            what, VHU_MAX_FDS);
        }
        if (n == 0) {
            vhu_rx_close(rx);
            return vhu_msg_fail(c, -EPIPE,
                            "backend closed the socket during %s (%zu of %zu "
                            "bytes)", what, done, len);
        }
        done += (size_t)n;
    }
    return 0;
}

/*
 * The rest of a message whose header was checked: the payload, at most
 * VHU_MAX_PAYLOAD bytes (checked before reading), and no fds.  `what`
 * names the message.  Breaks c (and closes rx's fds) on any violation.
 */
static int
vhu_recv_body(struct vhu_conn *c, const struct vhu_wire_hdr *hdr,
              void *payload, struct vhu_rx *rx, uint64_t deadline,
              const char *what)
{
    int r;

    if (hdr->size > VHU_MAX_PAYLOAD) {
        vhu_rx_close(rx);
        return vhu_msg_fail(c, -EPROTO, "%s announces %u payload bytes, "
                            "above the bound of %u", what, hdr->size,
                            VHU_MAX_PAYLOAD);
    }
    r = vhu_recv_all(c, payload, hdr->size, rx, deadline, what);
    if (r < 0) {
        return r;
    }
    if (rx->nfds + rx->excess != 0) {
        r = vhu_msg_fail(c, -EPROTO, "%s came with %u fds, expected none",
                         what, rx->nfds + rx->excess);
        vhu_rx_close(rx);
        return r;
    }
    return 0;
}

/*
 * The single entry for replies: receive the reply to `req` and check it.
 * want_size is the exact payload size (0 also accepted when zero_ok: the
 * backend's error signal for GET_CONFIG).  No reply we ask for carries an
 * fd.  On success the payload is in `payload` and its size in *got_size.
 * Any mismatch breaks c: -EPROTO.
 */
static int
vhu_recv_reply(struct vhu_conn *c, uint32_t req, uint32_t want_size,
               bool zero_ok, void *payload, uint32_t *got_size,
               uint64_t deadline)
{
    struct vhu_rx rx = { .nfds = 0 };
    struct vhu_wire_hdr hdr;
    const char *name = vhu_msg_req_name(req);
    char what[64];
    int r;

    r = vhu_recv_all(c, &hdr, sizeof(hdr), &rx, deadline, "reply header");
    if (r < 0) {
        return r;
    }
    if ((hdr.flags & VHU_FLAG_VERSION_MASK) != VHU_FLAG_VERSION) {
        r = vhu_msg_fail(c, -EPROTO, "reply to %s has version %u, expected %u",
                     name, hdr.flags & VHU_FLAG_VERSION_MASK,
                     VHU_FLAG_VERSION);
        goto close_fds;
    }
    if (!(hdr.flags & VHU_FLAG_REPLY)) {
        r = vhu_msg_fail(c, -EPROTO, "message for %s lacks the reply flag "
                     "(flags %#x)", name, hdr.flags);
        goto close_fds;
    }
    if (hdr.request != req) {
        r = vhu_msg_fail(c, -EPROTO, "reply carries request %u (%s) while "
                     "waiting for %u (%s)", hdr.request,
                     vhu_msg_req_name(hdr.request), req, name);
        goto close_fds;
    }
    if (hdr.size != want_size && !(zero_ok && hdr.size == 0) &&
        hdr.size <= VHU_MAX_PAYLOAD) {
        r = vhu_msg_fail(c, -EPROTO, "reply to %s has %u payload bytes, "
                     "expected %u", name, hdr.size, want_size);
        goto close_fds;
    }
    snprintf(what, sizeof(what), "reply to %s", name);
    r = vhu_recv_body(c, &hdr, payload, &rx, deadline, what);
    if (r == 0) {
        *got_size = hdr.size;
    }
    return r;

close_fds:
    vhu_rx_close(&rx);
    return r;
}

/*
 * Take the oldest owed ack (or owed GET_VRING_BASE reply), within
 * deadline.  A refusal is counted (the first one kept for
 * vhu_take_refused()), not an error: the connection stays in step.  A
 * ring base is kept for vhu_vring_base().  0, or -errno with c broken.
 */
static int
vhu_take_ack(struct vhu_conn *c, uint64_t deadline)
{
    uint32_t req = c->pend[c->pend_head];
    uint8_t ring = c->pend_ring[c->pend_head];
    uint64_t ack = 0;
    uint32_t got = 0;
    int r;

    static_assert(sizeof(ack) == sizeof(struct vhu_wire_state),
                  "an ack and a ring state have the same size");
    r = vhu_recv_reply(c, req, sizeof(ack), false, &ack, &got, deadline);
    if (r < 0) {
        return r;
    }
    if (req == VHU_REQ_GET_VRING_BASE) {
        struct vhu_wire_state st;

        memcpy(&st, &ack, sizeof(st));
        if (st.index != ring) {
            return vhu_msg_fail(c, -EPROTO, "GET_VRING_BASE for ring %u "
                                "answered for ring %u", ring, st.index);
        }
        c->vring_base[ring] = st.num;
        c->npend_base--;
        ack = 0;
    }
    c->pend_head = (c->pend_head + 1) % VHU_MAX_PENDING;
    c->npend--;
    c->acked++;
    if (ack != 0) {
        log_warn("vhu %s: backend refused %s (status %" PRIu64 ")", c->name,
                 vhu_msg_req_name(req), ack);
        if (c->refused == 0) {
            c->refused = req;
        }
    }
    return 0;
}

int
vhu_msg_settle(struct vhu_conn *c)
{
    uint64_t deadline;
    int r;

    if (c->broken) {
        return -EPIPE;
    }
    deadline = vhu_deadline(c);
    while (c->npend > 0) {
        r = vhu_take_ack(c, deadline);
        if (r < 0) {
            return r;
        }
    }
    return 0;
}

int
vhu_msg_collect(struct vhu_conn *c)
{
    uint64_t deadline;

    if (c->broken) {
        return -EPIPE;
    }
    deadline = vhu_deadline(c);
    while (c->npend > 0) {
        struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
        int n = poll(&pfd, 1, 0);
        int r;

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            return vhu_msg_fail(c, -EPIPE, "poll for acks: %s",
                                strerror(errno));
        }
        if (n == 0) {
            break;
        }
        r = vhu_take_ack(c, deadline);
        if (r < 0) {
            return r;
        }
    }
    return (int)c->npend;
}

/*
 * Send one request and take its reply (natural, or REPLY_ACK's u64 when
 * negotiated).  reply/reply_len receive a natural reply.  With acks
 * deferred, a request without a natural reply returns once sent and its
 * ack is owed; any other request first takes every owed ack, since the
 * backend answers in order.
 */
int
vhu_msg_request(struct vhu_conn *c, uint32_t req, const void *payload,
            uint32_t len, const int *fds, unsigned nfds, void *reply,
            uint32_t *reply_len)
{
    const struct vhu_req_rule *rule = vhu_rule(req);
    uint8_t buf[sizeof(struct vhu_wire_hdr) + VHU_MAX_PAYLOAD];
    struct vhu_wire_hdr hdr;
    uint64_t deadline;
    uint64_t ack = 0;
    uint32_t got = 0;
    bool need_ack, deferred;
    int r;

    if (c->broken) {
        log_debug("vhu %s: %s refused, connection is broken", c->name,
                  vhu_msg_req_name(req));
        return -EPIPE;
    }
    if (rule == NULL || len > VHU_MAX_PAYLOAD || nfds > rule->fds_out) {
        log_err("vhu %s: internal: bad request %u (len %u, %u fds)", c->name,
                req, len, nfds);
        return -EINVAL;
    }
    if (rule->needs_pfeat &&
        !(c->features & (1ull << VHU_F_PROTOCOL_FEATURES))) {
        log_warn("vhu %s: %s needs protocol features, which the backend "
                 "does not offer", c->name, rule->name);
        return -EOPNOTSUPP;
    }
    if (rule->pf >= 0 && !(c->protocol & (1ull << rule->pf))) {
        log_warn("vhu %s: %s needs protocol feature %d, not negotiated",
                 c->name, rule->name, rule->pf);
        return -EOPNOTSUPP;
    }
    need_ack = rule->rule == VHU_RS_NONE &&
               (c->protocol & (1ull << VHU_PF_REPLY_ACK));
    deferred = (need_ack && c->defer) ||
               (req == VHU_REQ_GET_VRING_BASE && c->defer_base);
    c->defer_base = false;

    hdr.request = req;
    hdr.flags = VHU_FLAG_VERSION | (need_ack ? VHU_FLAG_NEED_REPLY : 0);
    hdr.size = len;
    memcpy(buf, &hdr, sizeof(hdr));
    if (len > 0) {
        memcpy(buf + sizeof(hdr), payload, len);
    }

    deadline = vhu_deadline(c);
    while (c->npend > (deferred ? VHU_MAX_PENDING - 1 : 0)) {
        r = vhu_take_ack(c, deadline);
        if (r < 0) {
            return r;
        }
    }
    r = vhu_send_all(c, buf, sizeof(hdr) + len, fds, nfds, deadline);
    if (r < 0) {
        return r;
    }
    c->sent++;
    if (deferred) {
        unsigned slot = (c->pend_head + c->npend) % VHU_MAX_PENDING;

        c->pend[slot] = req;
        c->pend_ring[slot] = 0;
        if (req == VHU_REQ_GET_VRING_BASE) {
            uint32_t ring;

            memcpy(&ring, payload, sizeof(ring));
            c->pend_ring[slot] = (uint8_t)ring;
            c->npend_base++;
        }
        c->npend++;
        c->deferred++;
        return 0;
    }
    if (rule->rule != VHU_RS_NONE) {
        uint32_t want = rule->rule == VHU_RS_FIXED ? rule->reply_size : len;

        r = vhu_recv_reply(c, req, want, rule->rule == VHU_RS_ECHO, reply,
                           &got, deadline);
        if (r == 0 && reply_len != NULL) {
            *reply_len = got;
        }
        return r;
    }
    if (!need_ack) {
        return 0;
    }
    r = vhu_recv_reply(c, req, sizeof(ack), false, &ack, &got, deadline);
    if (r < 0) {
        return r;
    }
    if (ack != 0) {
        log_warn("vhu %s: backend refused %s (status %" PRIu64 ")", c->name,
                 rule->name, ack);
        return -EIO;
    }
    return 0;
}

int
vhu_msg_request_base(struct vhu_conn *c, unsigned idx)
{
    struct vhu_wire_state st = { .index = idx, .num = 0 };
    int r;

    if (idx > VHU_VRING_IDX_MASK) {
        log_warn("vhu %s: GET_VRING_BASE for ring %u: index does not fit 8 "
                 "bits", c->name, idx);
        return -EINVAL;
    }

    c->defer_base = true;
    r = vhu_msg_request(c, VHU_REQ_GET_VRING_BASE, &st, sizeof(st), NULL, 0,
                        NULL, NULL);
    c->defer_base = false;
    return r;
}

int
vhu_msg_recv_request(struct vhu_conn *c, uint32_t *req, uint32_t *flags,
                     void *payload, uint32_t *len)
{
    struct vhu_rx rx = { .nfds = 0 };
    struct vhu_wire_hdr hdr;
    uint64_t deadline;
    char what[64];
    int r;

    if (c->broken) {
        return -EPIPE;
    }
    deadline = vhu_deadline(c);
    r = vhu_recv_all(c, &hdr, sizeof(hdr), &rx, deadline, "backend request");
    if (r < 0) {
        return r;
    }
    if ((hdr.flags & VHU_FLAG_VERSION_MASK) != VHU_FLAG_VERSION ||
        (hdr.flags & VHU_FLAG_REPLY)) {
        vhu_rx_close(&rx);
        return vhu_msg_fail(c, -EPROTO, "backend request %u with flags %#x",
                            hdr.request, hdr.flags);
    }
    snprintf(what, sizeof(what), "backend request %u", hdr.request);
    r = vhu_recv_body(c, &hdr, payload, &rx, deadline, what);
    if (r == 0) {
        *req = hdr.request;
        *flags = hdr.flags;
        *len = hdr.size;
    }
    return r;
}

int
vhu_msg_send_ack(struct vhu_conn *c, uint32_t req, uint64_t status)
{
    uint8_t buf[sizeof(struct vhu_wire_hdr) + sizeof(status)];
    struct vhu_wire_hdr hdr = { .request = req,
                                .flags = VHU_FLAG_VERSION | VHU_FLAG_REPLY,
                                .size = sizeof(status) };

    if (c->broken) {
        return -EPIPE;
    }
    memcpy(buf, &hdr, sizeof(hdr));
    memcpy(buf + sizeof(hdr), &status, sizeof(status));
    return vhu_send_all(c, buf, sizeof(buf), NULL, 0, vhu_deadline(c));
}
