/*
 * vhu: vhost-user frontend (client).  We send requests, the backend answers.
 *
 * Trust boundary: the backend is a separate, untrusted process.  Nothing it
 * sends reaches a caller before vhu_recv_reply() has checked it against the
 * request table below: version and reply flag, the request code of the
 * request we sent, the payload size the table gives (checked before the
 * payload is read, with a hard bound on top), and the exact number of fds.
 * Truncated control data and surplus fds are violations; every fd that
 * arrives and is not handed to the caller is closed.  Request-specific
 * values (GET_VRING_BASE's index, GET_CONFIG's echo, the inflight region's
 * size) are checked by the request's function before use.
 *
 * A violation, a timeout, EOF or a send error marks the connection broken
 * for good: the byte stream can no longer be trusted to be in step.  Every
 * later call then returns -EPIPE without touching the socket.  A REPLY_ACK
 * with a non-zero status is the backend refusing one request: -EIO, and the
 * connection stays usable.  All waits are bounded by the connection's
 * timeout; sends never raise SIGPIPE.
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "vhu.h"
#include "vhu_wire.h"

struct vhu_conn {
    int fd;
    bool broken;
    unsigned timeout_ms;
    uint64_t features; /* offered by the backend (GET_FEATURES) */
    uint64_t protocol; /* negotiated protocol features */
    char name[64];
};

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
    uint8_t fds_in;   /* fds the reply carries, exactly */
    int8_t pf;        /* protocol feature the request needs, or -1 */
    bool needs_pfeat; /* needs VHU_F_PROTOCOL_FEATURES offered */
};

#define VHU_U64 sizeof(uint64_t)

static const struct vhu_req_rule vhu_rules[VHU_REQ_MAX] = {
    [VHU_REQ_GET_FEATURES] = { "GET_FEATURES", VHU_RS_FIXED, VHU_U64, 0, 0,
                               -1, false },
    [VHU_REQ_SET_FEATURES] = { "SET_FEATURES", VHU_RS_NONE, 0, 0, 0, -1,
                               false },
    [VHU_REQ_SET_OWNER] = { "SET_OWNER", VHU_RS_NONE, 0, 0, 0, -1, false },
    [VHU_REQ_SET_MEM_TABLE] = { "SET_MEM_TABLE", VHU_RS_NONE, 0,
                                VHU_MAX_REGIONS, 0, -1, false },
    [VHU_REQ_SET_VRING_NUM] = { "SET_VRING_NUM", VHU_RS_NONE, 0, 0, 0, -1,
                                false },
    [VHU_REQ_SET_VRING_ADDR] = { "SET_VRING_ADDR", VHU_RS_NONE, 0, 0, 0, -1,
                                 false },
    [VHU_REQ_SET_VRING_BASE] = { "SET_VRING_BASE", VHU_RS_NONE, 0, 0, 0, -1,
                                 false },
    [VHU_REQ_GET_VRING_BASE] = { "GET_VRING_BASE", VHU_RS_FIXED,
                                 sizeof(struct vhu_wire_state), 0, 0, -1,
                                 false },
    [VHU_REQ_SET_VRING_KICK] = { "SET_VRING_KICK", VHU_RS_NONE, 0, 1, 0, -1,
                                 false },
    [VHU_REQ_SET_VRING_CALL] = { "SET_VRING_CALL", VHU_RS_NONE, 0, 1, 0, -1,
                                 false },
    [VHU_REQ_SET_VRING_ERR] = { "SET_VRING_ERR", VHU_RS_NONE, 0, 1, 0, -1,
                                false },
    [VHU_REQ_GET_PROTOCOL_FEATURES] = { "GET_PROTOCOL_FEATURES", VHU_RS_FIXED,
                                        VHU_U64, 0, 0, -1, true },
    [VHU_REQ_SET_PROTOCOL_FEATURES] = { "SET_PROTOCOL_FEATURES", VHU_RS_NONE,
                                        0, 0, 0, -1, true },
    [VHU_REQ_GET_QUEUE_NUM] = { "GET_QUEUE_NUM", VHU_RS_FIXED, VHU_U64, 0, 0,
                                VHU_PF_MQ, true },
    [VHU_REQ_SET_VRING_ENABLE] = { "SET_VRING_ENABLE", VHU_RS_NONE, 0, 0, 0,
                                   -1, true },
    [VHU_REQ_GET_CONFIG] = { "GET_CONFIG", VHU_RS_ECHO, 0, 0, 0, VHU_PF_CONFIG,
                             true },
    [VHU_REQ_SET_CONFIG] = { "SET_CONFIG", VHU_RS_NONE, 0, 0, 0, VHU_PF_CONFIG,
                             true },
    [VHU_REQ_GET_INFLIGHT_FD] = { "GET_INFLIGHT_FD", VHU_RS_FIXED,
                                  sizeof(struct vhu_wire_inflight), 0, 1,
                                  VHU_PF_INFLIGHT_SHMFD, true },
    [VHU_REQ_SET_INFLIGHT_FD] = { "SET_INFLIGHT_FD", VHU_RS_NONE, 0, 1, 0,
                                  VHU_PF_INFLIGHT_SHMFD, true },
    [VHU_REQ_RESET_DEVICE] = { "RESET_DEVICE", VHU_RS_NONE, 0, 0, 0,
                               VHU_PF_RESET_DEVICE, true },
    [VHU_REQ_SET_STATUS] = { "SET_STATUS", VHU_RS_NONE, 0, 0, 0, VHU_PF_STATUS,
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

static const char *
vhu_req_name(uint32_t req)
{
    const struct vhu_req_rule *r = vhu_rule(req);

    return r ? r->name : "unknown request";
}

/* Mark the connection broken for good, log why, and return `err`. */
static int vhu_fail(struct vhu_conn *c, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
vhu_fail(struct vhu_conn *c, int err, const char *fmt, ...)
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

static uint64_t
vhu_deadline(const struct vhu_conn *c)
{
    return log_now_ns() + (uint64_t)c->timeout_ms * 1000000u;
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
                    return vhu_fail(c, -ETIMEDOUT,
                                    "send timed out after %u ms (%zu of %zu "
                                    "bytes sent)", c->timeout_ms, done, len);
                }
                if (r < 0) {
                    return vhu_fail(c, -EPIPE, "poll for send: %s",
                                    strerror(-r));
                }
                continue;
            }
            return vhu_fail(c, -EPIPE, "send: %s", strerror(e));
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
                    return vhu_fail(c, -ETIMEDOUT,
                                    "no %s within %u ms (%zu of %zu bytes)",
                                    what, c->timeout_ms, done, len);
                }
                if (r == 0) {
                    continue;
                }
                e = -r;
            }
            vhu_rx_close(rx);
            return vhu_fail(c, -EPIPE, "receiving %s: %s", what, strerror(e));
        }
        vhu_take_fds(&mh, rx);
        if (mh.msg_flags & MSG_CTRUNC) {
            vhu_rx_close(rx);
            return vhu_fail(c, -EPROTO,
                            "%s: control data truncated (more than %d fds)",
                            what, VHU_MAX_FDS);
        }
        if (n == 0) {
            vhu_rx_close(rx);
            return vhu_fail(c, -EPIPE,
                            "backend closed the socket during %s (%zu of %zu "
                            "bytes)", what, done, len);
        }
        done += (size_t)n;
    }
    return 0;
}

/*
 * The single entry for replies: receive the reply to `req` and check it.
 * want_size is the exact payload size (0 also accepted when zero_ok: the
 * backend's error signal for GET_CONFIG); want_fds the exact fd count.  On
 * success the payload is in `payload`, its size in *got_size, and the fd
 * (when want_fds is 1) in *fd_out.  Any mismatch breaks c: -EPROTO.
 */
static int
vhu_recv_reply(struct vhu_conn *c, uint32_t req, uint32_t want_size,
               bool zero_ok, unsigned want_fds, void *payload,
               uint32_t *got_size, int *fd_out, uint64_t deadline)
{
    struct vhu_rx rx = { .nfds = 0 };
    struct vhu_wire_hdr hdr;
    const char *name = vhu_req_name(req);
    int r;

    r = vhu_recv_all(c, &hdr, sizeof(hdr), &rx, deadline, "reply header");
    if (r < 0) {
        return r;
    }
    if ((hdr.flags & VHU_FLAG_VERSION_MASK) != VHU_FLAG_VERSION) {
        r = vhu_fail(c, -EPROTO, "reply to %s has version %u, expected %u",
                     name, hdr.flags & VHU_FLAG_VERSION_MASK,
                     VHU_FLAG_VERSION);
        goto close_fds;
    }
    if (!(hdr.flags & VHU_FLAG_REPLY)) {
        r = vhu_fail(c, -EPROTO, "message for %s lacks the reply flag "
                     "(flags %#x)", name, hdr.flags);
        goto close_fds;
    }
    if (hdr.request != req) {
        r = vhu_fail(c, -EPROTO, "reply carries request %u (%s) while "
                     "waiting for %u (%s)", hdr.request,
                     vhu_req_name(hdr.request), req, name);
        goto close_fds;
    }
    if (hdr.size > VHU_MAX_PAYLOAD) {
        r = vhu_fail(c, -EPROTO, "reply to %s announces %u payload bytes, "
                     "above the bound of %u", name, hdr.size,
                     VHU_MAX_PAYLOAD);
        goto close_fds;
    }
    if (hdr.size != want_size && !(zero_ok && hdr.size == 0)) {
        r = vhu_fail(c, -EPROTO, "reply to %s has %u payload bytes, "
                     "expected %u", name, hdr.size, want_size);
        goto close_fds;
    }
    r = vhu_recv_all(c, payload, hdr.size, &rx, deadline, "reply payload");
    if (r < 0) {
        return r;
    }
    if (hdr.size == 0 && zero_ok) {
        want_fds = 0;
    }
    if (rx.nfds + rx.excess != want_fds) {
        r = vhu_fail(c, -EPROTO, "reply to %s came with %u fds, expected %u",
                     name, rx.nfds + rx.excess, want_fds);
        goto close_fds;
    }
    *got_size = hdr.size;
    if (want_fds == 1) {
        *fd_out = rx.fds[0];
    }
    return 0;

close_fds:
    vhu_rx_close(&rx);
    return r;
}

/*
 * Send one request and take its reply (natural, or REPLY_ACK's u64 when
 * negotiated).  reply/reply_len/reply_fd receive a natural reply.
 */
static int
vhu_request(struct vhu_conn *c, uint32_t req, const void *payload,
            uint32_t len, const int *fds, unsigned nfds, void *reply,
            uint32_t *reply_len, int *reply_fd)
{
    const struct vhu_req_rule *rule = vhu_rule(req);
    uint8_t buf[sizeof(struct vhu_wire_hdr) + VHU_MAX_PAYLOAD];
    struct vhu_wire_hdr hdr;
    uint64_t deadline;
    uint64_t ack = 0;
    uint32_t got = 0;
    bool need_ack;
    int r;

    if (c->broken) {
        log_debug("vhu %s: %s refused, connection is broken", c->name,
                  vhu_req_name(req));
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

    hdr.request = req;
    hdr.flags = VHU_FLAG_VERSION | (need_ack ? VHU_FLAG_NEED_REPLY : 0);
    hdr.size = len;
    memcpy(buf, &hdr, sizeof(hdr));
    if (len > 0) {
        memcpy(buf + sizeof(hdr), payload, len);
    }

    deadline = vhu_deadline(c);
    r = vhu_send_all(c, buf, sizeof(hdr) + len, fds, nfds, deadline);
    if (r < 0) {
        return r;
    }
    if (rule->rule != VHU_RS_NONE) {
        uint32_t want = rule->rule == VHU_RS_FIXED ? rule->reply_size : len;

        r = vhu_recv_reply(c, req, want, rule->rule == VHU_RS_ECHO,
                           rule->fds_in, reply, &got, reply_fd, deadline);
        if (r == 0 && reply_len != NULL) {
            *reply_len = got;
        }
        return r;
    }
    if (!need_ack) {
        return 0;
    }
    r = vhu_recv_reply(c, req, sizeof(ack), false, 0, &ack, &got, NULL,
                       deadline);
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

static int
vhu_get_u64(struct vhu_conn *c, uint32_t req, uint64_t *out)
{
    uint64_t v = 0;
    int r = vhu_request(c, req, NULL, 0, NULL, 0, &v, NULL, NULL);

    if (r == 0) {
        *out = v;
    }
    return r;
}

static int
vhu_set_u64(struct vhu_conn *c, uint32_t req, uint64_t v)
{
    return vhu_request(c, req, &v, sizeof(v), NULL, 0, NULL, NULL, NULL);
}

static int
vhu_set_state(struct vhu_conn *c, uint32_t req, unsigned idx, unsigned num)
{
    struct vhu_wire_state st = { .index = idx, .num = num };

    return vhu_request(c, req, &st, sizeof(st), NULL, 0, NULL, NULL, NULL);
}

int
vhu_adopt(struct vhu_conn **out, int fd, const char *name,
          unsigned timeout_ms)
{
    struct vhu_conn *c;

    *out = NULL;
    if (fd < 0) {
        return -EBADF;
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        close(fd);
        return -ENOMEM;
    }
    c->fd = fd;
    c->timeout_ms = timeout_ms;
    snprintf(c->name, sizeof(c->name), "%s", name ? name : "?");
    *out = c;
    return 0;
}

int
vhu_connect(struct vhu_conn **out, const char *path, const char *name,
            unsigned timeout_ms)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    int fd = -1;
    int r;

    *out = NULL;
    if (strlen(path) >= sizeof(sa.sun_path)) {
        log_err("vhu %s: socket path too long: %s", name, path);
        return -ENAMETOOLONG;
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        return -errno;
    }
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        r = -errno;
        log_debug("vhu %s: connect %s: %s", name, path, strerror(-r));
        goto close_fd;
    }
    return vhu_adopt(out, fd, name, timeout_ms);

close_fd:
    close(fd);
    return r;
}

void
vhu_close(struct vhu_conn *c)
{
    if (c == NULL) {
        return;
    }
    if (c->fd >= 0) {
        close(c->fd);
        c->fd = -1;
    }
    free(c);
}

int
vhu_fd(const struct vhu_conn *c)
{
    return c->fd;
}

bool
vhu_broken(const struct vhu_conn *c)
{
    return c->broken;
}

uint64_t
vhu_protocol(const struct vhu_conn *c)
{
    return c->protocol;
}

int
vhu_handshake(struct vhu_conn *c, uint64_t want_protocol,
              uint64_t *features, uint64_t *protocol)
{
    uint64_t f = 0, offered = 0, use = 0;
    int r;

    r = vhu_get_u64(c, VHU_REQ_GET_FEATURES, &f);
    if (r < 0) {
        return r;
    }
    c->features = f;
    if (f & (1ull << VHU_F_PROTOCOL_FEATURES)) {
        r = vhu_get_u64(c, VHU_REQ_GET_PROTOCOL_FEATURES, &offered);
        if (r < 0) {
            return r;
        }
        use = offered & want_protocol;
        r = vhu_set_u64(c, VHU_REQ_SET_PROTOCOL_FEATURES, use);
        if (r < 0) {
            return r;
        }
        c->protocol = use;
    }
    r = vhu_request(c, VHU_REQ_SET_OWNER, NULL, 0, NULL, 0, NULL, NULL, NULL);
    if (r < 0) {
        return r;
    }
    log_info("vhu %s: backend features %#" PRIx64 ", protocol features "
             "%#" PRIx64 " offered, %#" PRIx64 " in use", c->name, f, offered,
             use);
    *features = f;
    *protocol = use;
    return 0;
}

int
vhu_get_queue_num(struct vhu_conn *c, uint64_t *num)
{
    return vhu_get_u64(c, VHU_REQ_GET_QUEUE_NUM, num);
}

int
vhu_set_features(struct vhu_conn *c, uint64_t features)
{
    if (features & ~c->features) {
        log_warn("vhu %s: SET_FEATURES %#" PRIx64 " has bits the backend "
                 "never offered (%#" PRIx64 ")", c->name, features,
                 features & ~c->features);
        return -EINVAL;
    }
    return vhu_set_u64(c, VHU_REQ_SET_FEATURES, features);
}

int
vhu_set_mem_table(struct vhu_conn *c, const struct vhu_region *r, unsigned n)
{
    uint8_t p[sizeof(struct vhu_wire_mem_hdr) +
              VHU_MAX_REGIONS * sizeof(struct vhu_wire_region_xen)];
    bool xen = c->protocol & (1ull << VHU_PF_XEN_MMAP);
    size_t rsize = xen ? sizeof(struct vhu_wire_region_xen)
                       : sizeof(struct vhu_wire_region);
    struct vhu_wire_mem_hdr mh = { .nregions = n, .padding = 0 };
    int fds[VHU_MAX_REGIONS];

    if (n == 0 || n > VHU_MAX_REGIONS) {
        log_warn("vhu %s: SET_MEM_TABLE with %u regions (1..%d)", c->name, n,
                 VHU_MAX_REGIONS);
        return -EINVAL;
    }
    memcpy(p, &mh, sizeof(mh));
    for (unsigned i = 0; i < n; i++) {
        struct vhu_wire_region_xen w = {
            .gpa = r[i].gpa,
            .size = r[i].len,
            .uaddr = r[i].uaddr,
            .mmap_off = r[i].mmap_off,
            .xen_mmap_flags = r[i].xen_mmap_flags,
            .xen_mmap_data = r[i].xen_domid,
        };
        uint32_t kind = r[i].xen_mmap_flags &
                        (VHU_XEN_MMAP_FOREIGN | VHU_XEN_MMAP_GRANT);

        if (r[i].fd < 0 || r[i].len == 0) {
            log_warn("vhu %s: SET_MEM_TABLE region %u has fd %d, len %" PRIu64,
                     c->name, i, r[i].fd, r[i].len);
            return -EINVAL;
        }
        if (xen && ((kind != VHU_XEN_MMAP_FOREIGN &&
                     kind != VHU_XEN_MMAP_GRANT) ||
                    (r[i].xen_mmap_flags &
                     ~(VHU_XEN_MMAP_FOREIGN | VHU_XEN_MMAP_GRANT |
                       VHU_XEN_MMAP_NO_ADVANCE_MAP)))) {
            log_warn("vhu %s: SET_MEM_TABLE region %u: xen_mmap_flags %#x "
                     "need exactly one of FOREIGN, GRANT", c->name, i,
                     r[i].xen_mmap_flags);
            return -EINVAL;
        }
        /* The Xen layout extends the plain one: copy its first rsize bytes. */
        memcpy(p + sizeof(mh) + i * rsize, &w, rsize);
        fds[i] = r[i].fd;
    }
    return vhu_request(c, VHU_REQ_SET_MEM_TABLE, p,
                       (uint32_t)(sizeof(mh) + n * rsize), fds, n, NULL, NULL,
                       NULL);
}

int
vhu_set_vring_num(struct vhu_conn *c, unsigned idx, unsigned num)
{
    return vhu_set_state(c, VHU_REQ_SET_VRING_NUM, idx, num);
}

int
vhu_set_vring_addr(struct vhu_conn *c, unsigned idx, uint64_t desc,
                   uint64_t used, uint64_t avail)
{
    struct vhu_wire_addr a = {
        .index = idx, .flags = 0, .desc = desc, .used = used, .avail = avail,
        .log = 0,
    };

    return vhu_request(c, VHU_REQ_SET_VRING_ADDR, &a, sizeof(a), NULL, 0, NULL,
                       NULL, NULL);
}

int
vhu_set_vring_base(struct vhu_conn *c, unsigned idx, unsigned base)
{
    return vhu_set_state(c, VHU_REQ_SET_VRING_BASE, idx, base);
}

int
vhu_get_vring_base(struct vhu_conn *c, unsigned idx, unsigned *base)
{
    struct vhu_wire_state st = { .index = idx, .num = 0 };
    struct vhu_wire_state rep = { 0 };
    int r;

    r = vhu_request(c, VHU_REQ_GET_VRING_BASE, &st, sizeof(st), NULL, 0, &rep,
                    NULL, NULL);
    if (r < 0) {
        return r;
    }
    if (rep.index != idx) {
        return vhu_fail(c, -EPROTO, "GET_VRING_BASE for ring %u answered for "
                        "ring %u", idx, rep.index);
    }
    *base = rep.num;
    return 0;
}

static int
vhu_set_vring_fd(struct vhu_conn *c, uint32_t req, unsigned idx, int fd)
{
    uint64_t v = idx;

    if (idx > VHU_VRING_IDX_MASK) {
        log_warn("vhu %s: %s for ring %u: index does not fit 8 bits", c->name,
                 vhu_req_name(req), idx);
        return -EINVAL;
    }
    if (fd < 0) {
        v |= VHU_VRING_NOFD;
    }
    return vhu_request(c, req, &v, sizeof(v), &fd, fd < 0 ? 0 : 1, NULL,
                       NULL, NULL);
}

int
vhu_set_vring_kick(struct vhu_conn *c, unsigned idx, int fd)
{
    return vhu_set_vring_fd(c, VHU_REQ_SET_VRING_KICK, idx, fd);
}

int
vhu_set_vring_call(struct vhu_conn *c, unsigned idx, int fd)
{
    return vhu_set_vring_fd(c, VHU_REQ_SET_VRING_CALL, idx, fd);
}

int
vhu_set_vring_err(struct vhu_conn *c, unsigned idx, int fd)
{
    return vhu_set_vring_fd(c, VHU_REQ_SET_VRING_ERR, idx, fd);
}

int
vhu_set_vring_enable(struct vhu_conn *c, unsigned idx, bool enable)
{
    return vhu_set_state(c, VHU_REQ_SET_VRING_ENABLE, idx, enable ? 1 : 0);
}

int
vhu_get_config(struct vhu_conn *c, uint32_t off, void *buf, uint32_t len)
{
    uint8_t p[sizeof(struct vhu_wire_config_hdr) + VHU_MAX_CONFIG];
    struct vhu_wire_config_hdr h = { .off = off, .size = len, .flags = 0 };
    uint32_t got = 0;
    int r;

    if (len == 0 || len > VHU_MAX_CONFIG) {
        log_warn("vhu %s: GET_CONFIG of %u bytes (1..%u)", c->name, len,
                 VHU_MAX_CONFIG);
        return -EINVAL;
    }
    memset(p, 0, sizeof(p));
    memcpy(p, &h, sizeof(h));
    r = vhu_request(c, VHU_REQ_GET_CONFIG, p, (uint32_t)sizeof(h) + len, NULL,
                    0, p, &got, NULL);
    if (r < 0) {
        return r;
    }
    if (got == 0) {
        log_warn("vhu %s: backend failed GET_CONFIG at %u, %u bytes", c->name,
                 off, len);
        return -EIO;
    }
    memcpy(&h, p, sizeof(h));
    if (h.off != off || h.size != len) {
        return vhu_fail(c, -EPROTO, "GET_CONFIG reply for offset %u, %u "
                        "bytes; asked for offset %u, %u bytes", h.off, h.size,
                        off, len);
    }
    memcpy(buf, p + sizeof(h), len);
    return 0;
}

int
vhu_set_config(struct vhu_conn *c, uint32_t off, const void *buf,
               uint32_t len)
{
    uint8_t p[sizeof(struct vhu_wire_config_hdr) + VHU_MAX_CONFIG];
    struct vhu_wire_config_hdr h = { .off = off, .size = len, .flags = 0 };

    if (len == 0 || len > VHU_MAX_CONFIG) {
        log_warn("vhu %s: SET_CONFIG of %u bytes (1..%u)", c->name, len,
                 VHU_MAX_CONFIG);
        return -EINVAL;
    }
    memcpy(p, &h, sizeof(h));
    memcpy(p + sizeof(h), buf, len);
    return vhu_request(c, VHU_REQ_SET_CONFIG, p, (uint32_t)sizeof(h) + len,
                       NULL, 0, NULL, NULL, NULL);
}

int
vhu_get_inflight_fd(struct vhu_conn *c, uint16_t num_queues,
                    uint16_t queue_size, int *fd, uint64_t *mmap_size,
                    uint64_t *mmap_off)
{
    struct vhu_wire_inflight in = { .num_queues = num_queues,
                                    .queue_size = queue_size };
    struct vhu_wire_inflight rep = { 0 };
    uint64_t need;
    struct stat st;
    int rfd = -1;
    int r;

    if (num_queues == 0 || queue_size == 0) {
        log_warn("vhu %s: GET_INFLIGHT_FD for %u queues of %u", c->name,
                 num_queues, queue_size);
        return -EINVAL;
    }
    /* At most 65535 * 1048640 bytes: no overflow in 64 bits. */
    need = (uint64_t)num_queues * vhu_wire_inflight_queue_size(queue_size);
    r = vhu_request(c, VHU_REQ_GET_INFLIGHT_FD, &in, sizeof(in), NULL, 0, &rep,
                    NULL, &rfd);
    if (r < 0) {
        return r;
    }
    if (rep.mmap_size < need) {
        r = vhu_fail(c, -EPROTO, "inflight region of %" PRIu64 " bytes, %u "
                     "queues of %u need %" PRIu64, rep.mmap_size, num_queues,
                     queue_size, need);
        goto close_fd;
    }
    if (rep.mmap_off > UINT64_MAX - rep.mmap_size) {
        r = vhu_fail(c, -EPROTO, "inflight region offset %" PRIu64 " + size "
                     "%" PRIu64 " overflows", rep.mmap_off, rep.mmap_size);
        goto close_fd;
    }
    if (fstat(rfd, &st) < 0 || !S_ISREG(st.st_mode) ||
        (uint64_t)st.st_size < rep.mmap_off + rep.mmap_size) {
        r = vhu_fail(c, -EPROTO, "inflight fd is not shared memory covering "
                     "offset %" PRIu64 " + %" PRIu64, rep.mmap_off,
                     rep.mmap_size);
        goto close_fd;
    }
    *fd = rfd;
    *mmap_size = rep.mmap_size;
    *mmap_off = rep.mmap_off;
    return 0;

close_fd:
    close(rfd);
    return r;
}

int
vhu_set_inflight_fd(struct vhu_conn *c, uint16_t num_queues,
                    uint16_t queue_size, int fd, uint64_t mmap_size,
                    uint64_t mmap_off)
{
    struct vhu_wire_inflight in = { .mmap_size = mmap_size,
                                    .mmap_off = mmap_off,
                                    .num_queues = num_queues,
                                    .queue_size = queue_size };

    if (fd < 0 || num_queues == 0 || queue_size == 0 ||
        mmap_size < (uint64_t)num_queues *
                        vhu_wire_inflight_queue_size(queue_size)) {
        log_warn("vhu %s: SET_INFLIGHT_FD with fd %d, %u queues of %u, "
                 "%" PRIu64 " bytes", c->name, fd, num_queues, queue_size,
                 mmap_size);
        return -EINVAL;
    }
    return vhu_request(c, VHU_REQ_SET_INFLIGHT_FD, &in, sizeof(in), &fd, 1,
                       NULL, NULL, NULL);
}

int
vhu_reset_device(struct vhu_conn *c)
{
    return vhu_request(c, VHU_REQ_RESET_DEVICE, NULL, 0, NULL, 0, NULL, NULL,
                       NULL);
}

int
vhu_set_status(struct vhu_conn *c, uint8_t status)
{
    return vhu_set_u64(c, VHU_REQ_SET_STATUS, status);
}
