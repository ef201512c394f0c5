/*
 * vhu: vhost-user frontend (client), one function per request.
 *
 * Trust boundary: the backend is untrusted.  Framing and the generic reply
 * checks (flag, request code, size, fd count) live in vhu_msg.c; this file
 * checks what is specific to a request before use: GET_VRING_BASE's ring
 * index, GET_CONFIG's echoed offset and size.  Arguments
 * from our own callers are checked before anything is sent (-EINVAL).
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "vhu.h"
#include "vhu_msg.h"
#include "vhu_wire.h"

static int
vhu_get_u64(struct vhu_conn *c, uint32_t req, uint64_t *out)
{
    uint64_t v = 0;
    int r = vhu_msg_request(c, req, NULL, 0, NULL, 0, &v, NULL);

    if (r == 0) {
        *out = v;
    }
    return r;
}

static int
vhu_set_u64(struct vhu_conn *c, uint32_t req, uint64_t v)
{
    return vhu_msg_request(c, req, &v, sizeof(v), NULL, 0, NULL, NULL);
}

static int
vhu_set_state(struct vhu_conn *c, uint32_t req, unsigned idx, unsigned num)
{
    struct vhu_wire_state st = { .index = idx, .num = num };

    return vhu_msg_request(c, req, &st, sizeof(st), NULL, 0, NULL, NULL);
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

void
vhu_set_deadline(struct vhu_conn *c, uint64_t deadline_ns)
{
    c->deadline_cap_ns = deadline_ns;
}

bool
vhu_broken(const struct vhu_conn *c)
{
    return c->broken;
}

uint64_t
vhu_sent(const struct vhu_conn *c)
{
    return c->sent;
}

void
vhu_defer_acks(struct vhu_conn *c, bool on)
{
    c->defer = on;
}

unsigned
vhu_pending(const struct vhu_conn *c)
{
    return c->npend;
}

uint64_t
vhu_deferred(const struct vhu_conn *c)
{
    return c->deferred;
}

uint64_t
vhu_acked(const struct vhu_conn *c)
{
    return c->acked;
}

int
vhu_collect(struct vhu_conn *c)
{
    return vhu_msg_collect(c);
}

int
vhu_settle(struct vhu_conn *c)
{
    return vhu_msg_settle(c);
}

unsigned
vhu_pending_bases(const struct vhu_conn *c)
{
    return c->npend_base;
}

int
vhu_request_vring_base(struct vhu_conn *c, unsigned idx)
{
    return vhu_msg_request_base(c, idx);
}

unsigned
vhu_vring_base(const struct vhu_conn *c, unsigned idx)
{
    return c->vring_base[idx & VHU_VRING_IDX_MASK];
}

uint32_t
vhu_take_refused(struct vhu_conn *c)
{
    uint32_t req = c->refused;

    c->refused = 0;
    return req;
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
    r = vhu_msg_request(c, VHU_REQ_SET_OWNER, NULL, 0, NULL, 0, NULL, NULL);
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
        if (!xen && r[i].xen_mmap_flags) {
            /* The plain layout cannot say how to map it: a backend would
             * mmap a privcmd fd as if it were plain memory. */
            log_warn("vhu %s: SET_MEM_TABLE region %u needs Xen mapping "
                     "(flags %#x) but XEN_MMAP was not negotiated", c->name,
                     i, r[i].xen_mmap_flags);
            return -EPROTO;
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
    return vhu_msg_request(c, VHU_REQ_SET_MEM_TABLE, p,
                       (uint32_t)(sizeof(mh) + n * rsize), fds, n, NULL, NULL);
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

    return vhu_msg_request(c, VHU_REQ_SET_VRING_ADDR, &a, sizeof(a), NULL, 0, NULL,
                       NULL);
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

    r = vhu_msg_request(c, VHU_REQ_GET_VRING_BASE, &st, sizeof(st), NULL, 0, &rep,
                    NULL);
    if (r < 0) {
        return r;
    }
    if (rep.index != idx) {
        return vhu_msg_fail(c, -EPROTO, "GET_VRING_BASE for ring %u answered for "
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
                 vhu_msg_req_name(req), idx);
        return -EINVAL;
    }
    if (fd < 0) {
        v |= VHU_VRING_NOFD;
    }
    return vhu_msg_request(c, req, &v, sizeof(v), &fd, fd < 0 ? 0 : 1, NULL,
                       NULL);
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
    r = vhu_msg_request(c, VHU_REQ_GET_CONFIG, p, (uint32_t)sizeof(h) + len, NULL,
                    0, p, &got);
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
        return vhu_msg_fail(c, -EPROTO, "GET_CONFIG reply for offset %u, %u "
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
    return vhu_msg_request(c, VHU_REQ_SET_CONFIG, p, (uint32_t)sizeof(h) + len,
                       NULL, 0, NULL, NULL);
}

int
vhu_backend_channel(struct vhu_conn *c, struct vhu_conn **chan)
{
    char name[sizeof(c->name)];
    int sv[2];
    int r;

    *chan = NULL;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0,
                   sv) < 0) {
        return -errno;
    }
    r = vhu_msg_request(c, VHU_REQ_SET_BACKEND_REQ_FD, NULL, 0, &sv[1], 1,
                        NULL, NULL);
    close(sv[1]);
    if (r < 0) {
        close(sv[0]);
        return r;
    }
    snprintf(name, sizeof(name), "%.55s/backend", c->name);
    r = vhu_adopt(chan, sv[0], name, c->timeout_ms);
    if (r == 0) {
        (*chan)->protocol = c->protocol;
    }
    return r;
}

int
vhu_backend_request(struct vhu_conn *chan, uint64_t handled)
{
    uint8_t payload[VHU_MAX_PAYLOAD];
    uint32_t req, flags, len;
    bool known;
    int r;

    r = vhu_msg_recv_request(chan, &req, &flags, payload, &len);
    if (r < 0) {
        return r;
    }
    known = req < 64 && (handled & (1ULL << req));
    if ((flags & VHU_FLAG_NEED_REPLY) &&
        (chan->protocol & (1ULL << VHU_PF_REPLY_ACK))) {
        r = vhu_msg_send_ack(chan, req, known ? 0 : 1);
        if (r < 0) {
            return r;
        }
    }
    return (int)req;
}
