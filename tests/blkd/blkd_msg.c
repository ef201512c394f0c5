/*
 * blkd_msg: the server side of vhost-user for xvm-test-blkd.
 *
 * Trust boundary: the frontend.  blkd_msg_handle() reads one message and
 * checks, in one place and before any handler runs: version and flags,
 * payload size against VHU_MAX_PAYLOAD and against the request's rule in
 * blkd_rules[] (exact size, or computed from the region count), the
 * number of fds (exact), and the ring index.  A violation drops the
 * connection.  A well-formed request the device cannot honour is refused:
 * with REPLY_ACK negotiated and NEED_REPLY set the ack carries 1.  Every
 * fd that arrives is either kept by a handler or closed here.
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "blkd.h"
#include "log.h"
#include "vhu_wire.h"

/* How a request's payload size is fixed. */
enum blkd_size {
    BLKD_SZ_NONE,   /* no payload (size 0) */
    BLKD_SZ_U64,
    BLKD_SZ_STATE,
    BLKD_SZ_ADDR,
    BLKD_SZ_MEM,    /* header + nregions regions */
    BLKD_SZ_CONFIG, /* config header + its size */
    BLKD_SZ_ANY,    /* requests we refuse: any size within the bound */
};

/* How many fds a request carries. */
enum blkd_fds {
    BLKD_FD_NONE,
    BLKD_FD_VRING,  /* one, unless the u64 carries VHU_VRING_NOFD */
    BLKD_FD_MEM,    /* one per region */
    BLKD_FD_ANY,    /* requests we refuse: closed */
};

struct blkd_rule {
    const char *name;
    uint8_t size;
    uint8_t fds;
    bool vring;      /* payload starts with a ring index to check */
};

static const struct blkd_rule blkd_rules[VHU_REQ_MAX] = {
    [VHU_REQ_GET_FEATURES] = { "GET_FEATURES", BLKD_SZ_NONE, BLKD_FD_NONE, false },
    [VHU_REQ_SET_FEATURES] = { "SET_FEATURES", BLKD_SZ_U64, BLKD_FD_NONE, false },
    [VHU_REQ_SET_OWNER] = { "SET_OWNER", BLKD_SZ_NONE, BLKD_FD_NONE, false },
    [VHU_REQ_SET_MEM_TABLE] = { "SET_MEM_TABLE", BLKD_SZ_MEM, BLKD_FD_MEM, false },
    [VHU_REQ_SET_VRING_NUM] = { "SET_VRING_NUM", BLKD_SZ_STATE, BLKD_FD_NONE, true },
    [VHU_REQ_SET_VRING_ADDR] = { "SET_VRING_ADDR", BLKD_SZ_ADDR, BLKD_FD_NONE, true },
    [VHU_REQ_SET_VRING_BASE] = { "SET_VRING_BASE", BLKD_SZ_STATE, BLKD_FD_NONE, true },
    [VHU_REQ_GET_VRING_BASE] = { "GET_VRING_BASE", BLKD_SZ_STATE, BLKD_FD_NONE, true },
    [VHU_REQ_SET_VRING_KICK] = { "SET_VRING_KICK", BLKD_SZ_U64, BLKD_FD_VRING, true },
    [VHU_REQ_SET_VRING_CALL] = { "SET_VRING_CALL", BLKD_SZ_U64, BLKD_FD_VRING, true },
    [VHU_REQ_SET_VRING_ERR] = { "SET_VRING_ERR", BLKD_SZ_U64, BLKD_FD_VRING, true },
    [VHU_REQ_GET_PROTOCOL_FEATURES] = { "GET_PROTOCOL_FEATURES", BLKD_SZ_NONE,
                                        BLKD_FD_NONE, false },
    [VHU_REQ_SET_PROTOCOL_FEATURES] = { "SET_PROTOCOL_FEATURES", BLKD_SZ_U64,
                                        BLKD_FD_NONE, false },
    [VHU_REQ_GET_QUEUE_NUM] = { "GET_QUEUE_NUM", BLKD_SZ_NONE, BLKD_FD_NONE, false },
    [VHU_REQ_SET_VRING_ENABLE] = { "SET_VRING_ENABLE", BLKD_SZ_STATE, BLKD_FD_NONE,
                                   true },
    [VHU_REQ_GET_CONFIG] = { "GET_CONFIG", BLKD_SZ_CONFIG, BLKD_FD_NONE, false },
    [VHU_REQ_RESET_DEVICE] = { "RESET_DEVICE", BLKD_SZ_NONE, BLKD_FD_NONE, false },
};

/* One received message. */
struct blkd_msg {
    struct vhu_wire_hdr hdr;
    uint8_t payload[VHU_MAX_PAYLOAD];
    int fds[VHU_MAX_FDS];
    unsigned nfds;
};

uint64_t
blkd_features_offered(const struct blkd *d)
{
    (void)d;
    return (1ULL << BLKD_F_VERSION_1) | (1ULL << VHU_F_PROTOCOL_FEATURES) |
           (1ULL << VQ_F_EVENT_IDX_BIT) | (1ULL << VQ_F_INDIRECT_DESC_BIT) |
           (1ULL << BLKD_F_FLUSH) | (1ULL << BLKD_F_SEG_MAX) |
           (1ULL << BLKD_F_BLK_SIZE);
}

uint64_t
blkd_protocol_offered(const struct blkd *d)
{
    uint64_t p = (1ULL << VHU_PF_MQ) | (1ULL << VHU_PF_REPLY_ACK) |
                 (1ULL << VHU_PF_CONFIG);

    if (d->xen_mmap) {
        p |= 1ULL << VHU_PF_XEN_MMAP;
    }
    return p;
}

static void
blkd_close_fd(int *fd)
{
    if (*fd >= 0) {
        close(*fd);
        *fd = -1;
    }
}

static void
blkd_vring_stop(struct blkd *d, struct blkd_vring *vr)
{
    if (vr->live) {
        vr->base = vr->vq.last_avail;
    }
    vr->live = false;
    vr->more = false;
    vr->owed = false;
    vr->cycle = vr->last_cycle = 0;
    vr->cycle_bytes = 0;
    blkd_mem_unpin(&d->mem, (unsigned)(vr - d->vr));
}

static void
blkd_vring_reset(struct blkd_vring *vr)
{
    blkd_close_fd(&vr->kick_fd);
    blkd_close_fd(&vr->call_fd);
    blkd_close_fd(&vr->err_fd);
    memset(vr, 0, sizeof(*vr));
    vr->kick_fd = vr->call_fd = vr->err_fd = -1;
}

void
blkd_conn_reset(struct blkd *d)
{
    for (unsigned i = 0; i < BLKD_NR_QUEUES; i++) {
        blkd_vring_reset(&d->vr[i]);
    }
    blkd_mem_clear(&d->mem);
    d->features = 0;
    d->protocol = 0;
}

/*
 * (Re)start a ring when everything it needs is there: memory, size,
 * addresses, a kick fd and (with PROTOCOL_FEATURES acked) the enable.
 */
static void
blkd_vring_update(struct blkd *d, struct blkd_vring *vr)
{
    unsigned key = (unsigned)(vr - d->vr);
    uint64_t desc, avail, used;
    uint16_t used_idx;

    if (d->mem.nr == 0 || !vr->num || !vr->has_addr || vr->kick_fd < 0 ||
        !vr->enabled) {
        blkd_vring_stop(d, vr);
        return;
    }
    if (vr->live) {
        return;
    }
    if (blkd_mem_ua_to_gpa(&d->mem, vr->desc_ua, VQ_DESC_BYTES(vr->num), &desc) ||
        blkd_mem_ua_to_gpa(&d->mem, vr->avail_ua, VQ_AVAIL_BYTES(vr->num),
                           &avail) ||
        blkd_mem_ua_to_gpa(&d->mem, vr->used_ua, VQ_USED_BYTES(vr->num), &used)) {
        log_err("blkd: ring addresses not inside the memory table");
        return;
    }
    /* Grant rings stay mapped while the queue runs (their refs do). */
    if (blkd_mem_pin(&d->mem, key, desc, VQ_DESC_BYTES(vr->num), false) ||
        blkd_mem_pin(&d->mem, key, avail, VQ_AVAIL_BYTES(vr->num), false) ||
        blkd_mem_pin(&d->mem, key, used, VQ_USED_BYTES(vr->num), true) ||
        vq_init(&vr->vq, &d->mem.hv, "blkd/vq0", vr->num, desc, avail, used,
                d->features) < 0 ||
        hv_read_le16(&d->mem.hv, used + 2, &used_idx) < 0) {
        log_err("blkd: queue 0 rings cannot be mapped or are invalid");
        blkd_mem_release(&d->mem);
        blkd_mem_unpin(&d->mem, key);
        return;
    }
    vq_set_indices(&vr->vq, vr->base, used_idx);
    vr->live = true;
    log_info("blkd: queue 0 started: %u entries, avail %u, used %u", vr->num,
             vr->base, used_idx);
    blkd_io_process(d, vr); /* buffers posted before the kick fd */
}

static int
blkd_send(struct blkd *d, uint32_t req, const void *p, uint32_t len)
{
    struct vhu_wire_hdr h = { .request = req,
                              .flags = VHU_FLAG_VERSION | VHU_FLAG_REPLY,
                              .size = len };
    struct iovec iov[2] = { { &h, sizeof(h) }, { (void *)p, len } };
    struct msghdr mh = { .msg_iov = iov, .msg_iovlen = len ? 2 : 1 };
    ssize_t n = sendmsg(d->conn_fd, &mh, MSG_NOSIGNAL);

    if (n != (ssize_t)(sizeof(h) + len)) {
        log_err("blkd: reply to request %u: %s", req,
                n < 0 ? strerror(errno) : "short write");
        return -EPIPE;
    }
    return 0;
}

static int
blkd_reply_u64(struct blkd *d, uint32_t req, uint64_t v)
{
    return blkd_send(d, req, &v, sizeof(v));
}

static uint64_t
blkd_u64(const struct blkd_msg *m)
{
    uint64_t v;

    memcpy(&v, m->payload, sizeof(v));
    return v;
}

/* Take fd slot i out of m (the handler keeps it). */
static int
blkd_take_fd(struct blkd_msg *m, unsigned i)
{
    int fd = m->fds[i];

    m->fds[i] = -1;
    return fd;
}

static int
blkd_set_mem_table(struct blkd *d, struct blkd_msg *m)
{
    struct vhu_wire_mem_hdr mh;
    struct blkd_mem_wire w[VHU_MAX_REGIONS];
    struct blkd_mem fresh;
    bool xen = d->protocol & (1ULL << VHU_PF_XEN_MMAP);
    int rc;

    memcpy(&mh, m->payload, sizeof(mh));
    for (unsigned i = 0; i < mh.nregions; i++) {
        struct vhu_wire_region_xen r = { 0 };
        size_t rsize = xen ? sizeof(struct vhu_wire_region_xen)
                           : sizeof(struct vhu_wire_region);

        memcpy(&r, m->payload + sizeof(mh) + i * rsize, rsize);
        w[i] = (struct blkd_mem_wire){
            .gpa = r.gpa, .len = r.size, .uaddr = r.uaddr,
            .mmap_off = r.mmap_off, .xen_flags = r.xen_mmap_flags,
            .xen_domid = r.xen_mmap_data, .fd = m->fds[i],
        };
        if (xen && (r.xen_mmap_flags & ~VHU_XEN_MMAP_NO_ADVANCE_MAP) == 0) {
            log_err("blkd: region %u has no FOREIGN or GRANT flag", i);
            return -EINVAL;
        }
    }
    rc = blkd_mem_map(&fresh, w, mh.nregions);
    if (rc < 0) {
        return rc;
    }
    if (d->probe_privcmd && xen && mh.nregions > 0 &&
        (w[0].xen_flags & VHU_XEN_MMAP_FOREIGN)) {
        blkd_xen_probe(w[0].fd, w[0].xen_domid, w[0].gpa);
    }
    if (d->probe_gntdev && xen && mh.nregions > 0 &&
        (w[0].xen_flags & VHU_XEN_MMAP_GRANT)) {
        blkd_gnt_probe(w[0].fd, w[0].xen_domid);
    }
    /* Swap tables; running rings re-walk over the new one. */
    for (unsigned i = 0; i < BLKD_NR_QUEUES; i++) {
        blkd_vring_stop(d, &d->vr[i]);
    }
    blkd_mem_clear(&d->mem);
    d->mem = fresh;
    for (unsigned i = 0; i < BLKD_NR_QUEUES; i++) {
        blkd_vring_update(d, &d->vr[i]);
    }
    return 0; /* the fds are closed by the caller: mappings outlive them */
}

static int
blkd_set_vring_fd(struct blkd *d, struct blkd_msg *m, uint32_t req)
{
    struct blkd_vring *vr = &d->vr[0];
    uint64_t v = blkd_u64(m);
    int fd = (v & VHU_VRING_NOFD) ? -1 : blkd_take_fd(m, 0);

    if (req == VHU_REQ_SET_VRING_KICK) {
        blkd_close_fd(&vr->kick_fd);
        vr->kick_fd = fd;
        if (fd < 0) {
            log_warn("blkd: kick without an fd (polling) is not supported");
            blkd_vring_stop(d, vr);
            return -EOPNOTSUPP;
        }
        /* Without PROTOCOL_FEATURES a ring starts enabled with its kick. */
        if (!(d->features & (1ULL << VHU_F_PROTOCOL_FEATURES))) {
            vr->enabled = true;
        }
        blkd_vring_stop(d, vr);
        blkd_vring_update(d, vr);
    } else if (req == VHU_REQ_SET_VRING_CALL) {
        blkd_close_fd(&vr->call_fd);
        vr->call_fd = fd;
    } else {
        blkd_close_fd(&vr->err_fd);
        vr->err_fd = fd;
    }
    return 0;
}

static int
blkd_get_config(struct blkd *d, const struct blkd_msg *m)
{
    uint8_t out[sizeof(struct vhu_wire_config_hdr) + BLKD_CONFIG_LEN];
    uint8_t cfg[BLKD_CONFIG_LEN] = { 0 };
    struct vhu_wire_config_hdr h;
    uint64_t cap = d->img_bytes / BLKD_SECTOR;
    uint32_t seg_max = BLKD_SEG_MAX, blk_size = BLKD_SECTOR;

    memcpy(&h, m->payload, sizeof(h));
    if (!(d->protocol & (1ULL << VHU_PF_CONFIG)) || h.off > BLKD_CONFIG_LEN ||
        h.size > BLKD_CONFIG_LEN - h.off) {
        log_warn("blkd: GET_CONFIG at %u, %u bytes refused (space is %u)",
                 h.off, h.size, BLKD_CONFIG_LEN);
        return blkd_send(d, VHU_REQ_GET_CONFIG, NULL, 0);
    }
    memcpy(cfg + 0, &cap, sizeof(cap));
    memcpy(cfg + 12, &seg_max, sizeof(seg_max));
    memcpy(cfg + 20, &blk_size, sizeof(blk_size));
    memcpy(out, &h, sizeof(h));
    memcpy(out + sizeof(h), cfg + h.off, h.size);
    return blkd_send(d, VHU_REQ_GET_CONFIG, out, (uint32_t)sizeof(h) + h.size);
}

/*
 * Run one validated request.  Returns 0 or a negative refusal for the
 * ack; *fatal set when the connection must go.  Natural replies are sent
 * here (*replied).
 */
static int
blkd_dispatch(struct blkd *d, struct blkd_msg *m, bool *replied, bool *fatal)
{
    uint32_t req = m->hdr.request;
    struct vhu_wire_state st = { 0 };
    struct blkd_vring *vr = &d->vr[0];
    int rc = 0;

    if (m->hdr.size >= sizeof(st)) {
        memcpy(&st, m->payload, sizeof(st));
    }
    *replied = true;
    switch (req) {
    case VHU_REQ_GET_FEATURES:
        rc = blkd_reply_u64(d, req, blkd_features_offered(d));
        break;
    case VHU_REQ_GET_PROTOCOL_FEATURES:
        rc = blkd_reply_u64(d, req, blkd_protocol_offered(d));
        break;
    case VHU_REQ_GET_QUEUE_NUM:
        rc = blkd_reply_u64(d, req, BLKD_NR_QUEUES);
        break;
    case VHU_REQ_GET_CONFIG:
        rc = blkd_get_config(d, m);
        break;
    case VHU_REQ_GET_VRING_BASE: {
        struct vhu_wire_state out = { .index = st.index };

        blkd_vring_stop(d, vr);
        out.num = vr->base;
        blkd_close_fd(&vr->kick_fd);
        blkd_close_fd(&vr->call_fd);
        rc = blkd_send(d, req, &out, sizeof(out));
        break;
    }
    default:
        *replied = false;
        break;
    }
    if (*replied) {
        *fatal = rc < 0;
        return rc;
    }
    switch (req) {
    case VHU_REQ_SET_FEATURES: {
        uint64_t f = blkd_u64(m);

        if (f & ~blkd_features_offered(d)) {
            log_warn("blkd: SET_FEATURES %#" PRIx64 " has bits never offered",
                     f);
            return -EINVAL;
        }
        d->features = f;
        return 0;
    }
    case VHU_REQ_SET_PROTOCOL_FEATURES: {
        uint64_t p = blkd_u64(m);

        if (p & ~blkd_protocol_offered(d)) {
            log_warn("blkd: SET_PROTOCOL_FEATURES %#" PRIx64 " has bits never "
                     "offered", p);
            return -EINVAL;
        }
        d->protocol = p;
        log_info("blkd: protocol features %#" PRIx64 "%s", p,
                 (p & (1ULL << VHU_PF_XEN_MMAP)) ? " (XEN_MMAP)" : "");
        return 0;
    }
    case VHU_REQ_SET_OWNER:
        return 0;
    case VHU_REQ_RESET_DEVICE:
        for (unsigned i = 0; i < BLKD_NR_QUEUES; i++) {
            blkd_vring_reset(&d->vr[i]);
        }
        return 0;
    case VHU_REQ_SET_MEM_TABLE:
        return blkd_set_mem_table(d, m);
    case VHU_REQ_SET_VRING_NUM:
        if (vr->live || st.num == 0 || st.num > VQ_MAX_SIZE ||
            (st.num & (st.num - 1))) {
            log_warn("blkd: SET_VRING_NUM %u refused (power of two 1..%u, "
                     "ring stopped)", st.num, VQ_MAX_SIZE);
            return -EINVAL;
        }
        vr->num = (uint16_t)st.num;
        return 0;
    case VHU_REQ_SET_VRING_BASE:
        if (vr->live || st.num > UINT16_MAX) {
            log_warn("blkd: SET_VRING_BASE %u refused", st.num);
            return -EINVAL;
        }
        vr->base = (uint16_t)st.num;
        return 0;
    case VHU_REQ_SET_VRING_ADDR: {
        struct vhu_wire_addr a;

        memcpy(&a, m->payload, sizeof(a));
        if (a.flags != 0 || vr->live) {
            log_warn("blkd: SET_VRING_ADDR refused (flags %#x; no logging)",
                     a.flags);
            return -EINVAL;
        }
        vr->desc_ua = a.desc;
        vr->avail_ua = a.avail;
        vr->used_ua = a.used;
        vr->has_addr = true;
        return 0;
    }
    case VHU_REQ_SET_VRING_KICK:
    case VHU_REQ_SET_VRING_CALL:
    case VHU_REQ_SET_VRING_ERR:
        return blkd_set_vring_fd(d, m, req);
    case VHU_REQ_SET_VRING_ENABLE:
        if (st.num > 1) {
            return -EINVAL;
        }
        vr->enabled = st.num == 1;
        blkd_vring_update(d, vr);
        return 0;
    default:
        log_warn("blkd: request %u not supported", req);
        return -EOPNOTSUPP;
    }
}

/* The payload size the rule demands, or -1 when it cannot be met. */
static long
blkd_rule_size(const struct blkd *d, const struct blkd_rule *r,
               const struct blkd_msg *m)
{
    switch (r->size) {
    case BLKD_SZ_NONE:
        return 0;
    case BLKD_SZ_U64:
        return sizeof(uint64_t);
    case BLKD_SZ_STATE:
        return sizeof(struct vhu_wire_state);
    case BLKD_SZ_ADDR:
        return sizeof(struct vhu_wire_addr);
    case BLKD_SZ_MEM: {
        struct vhu_wire_mem_hdr mh;
        size_t rsize = (d->protocol & (1ULL << VHU_PF_XEN_MMAP))
                           ? sizeof(struct vhu_wire_region_xen)
                           : sizeof(struct vhu_wire_region);

        if (m->hdr.size < sizeof(mh)) {
            return -1;
        }
        memcpy(&mh, m->payload, sizeof(mh));
        if (mh.nregions == 0 || mh.nregions > VHU_MAX_REGIONS) {
            return -1;
        }
        return (long)(sizeof(mh) + mh.nregions * rsize);
    }
    case BLKD_SZ_CONFIG: {
        struct vhu_wire_config_hdr h;

        if (m->hdr.size < sizeof(h)) {
            return -1;
        }
        memcpy(&h, m->payload, sizeof(h));
        if (h.size > VHU_MAX_CONFIG) {
            return -1;
        }
        return (long)(sizeof(h) + h.size);
    }
    default:
        return (long)m->hdr.size;
    }
}

/* The fd count the rule demands. */
static unsigned
blkd_rule_fds(const struct blkd_rule *r, const struct blkd_msg *m)
{
    struct vhu_wire_mem_hdr mh;

    switch (r->fds) {
    case BLKD_FD_VRING:
        return (blkd_u64(m) & VHU_VRING_NOFD) ? 0 : 1;
    case BLKD_FD_MEM:
        memcpy(&mh, m->payload, sizeof(mh));
        return mh.nregions;
    case BLKD_FD_ANY:
        return m->nfds;
    default:
        return 0;
    }
}

/* Receive header (with its fds) and payload.  0 or -errno. */
static int
blkd_recv(struct blkd *d, struct blkd_msg *m)
{
    union {
        char buf[CMSG_SPACE(VHU_MAX_FDS * sizeof(int))];
        struct cmsghdr align;
    } ctl;
    struct iovec iov = { &m->hdr, sizeof(m->hdr) };
    struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
                         .msg_control = ctl.buf,
                         .msg_controllen = sizeof(ctl.buf) };
    ssize_t n;

    n = recvmsg(d->conn_fd, &mh, MSG_CMSG_CLOEXEC | MSG_WAITALL);
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
            size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);

            for (size_t i = 0; i < k; i++) {
                int fd;

                memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
                if (m->nfds < VHU_MAX_FDS) {
                    m->fds[m->nfds++] = fd;
                } else {
                    close(fd);
                }
            }
        }
    }
    if (n == 0) {
        return -ECONNRESET;
    }
    if (n != (ssize_t)sizeof(m->hdr)) {
        log_err("blkd: message header: %s",
                n < 0 ? strerror(errno) : "truncated");
        return n < 0 ? -errno : -EPROTO;
    }
    if (mh.msg_flags & MSG_CTRUNC) {
        log_err("blkd: too many fds with request %u", m->hdr.request);
        return -EPROTO;
    }
    if ((m->hdr.flags & VHU_FLAG_VERSION_MASK) != VHU_FLAG_VERSION ||
        (m->hdr.flags & VHU_FLAG_REPLY) ||
        (m->hdr.flags & ~(VHU_FLAG_VERSION_MASK | VHU_FLAG_NEED_REPLY))) {
        log_err("blkd: request %u with flags %#x", m->hdr.request,
                m->hdr.flags);
        return -EPROTO;
    }
    if (m->hdr.size > VHU_MAX_PAYLOAD) {
        log_err("blkd: request %u announces %u payload bytes (max %u)",
                m->hdr.request, m->hdr.size, VHU_MAX_PAYLOAD);
        return -EPROTO;
    }
    if (m->hdr.size) {
        n = recv(d->conn_fd, m->payload, m->hdr.size, MSG_WAITALL);
        if (n != (ssize_t)m->hdr.size) {
            log_err("blkd: request %u payload: %s", m->hdr.request,
                    n < 0 ? strerror(errno) : "truncated");
            return -EPROTO;
        }
    }
    return 0;
}

/* The central check: size, fds, ring index.  0 or -EPROTO. */
static int
blkd_validate(const struct blkd *d, const struct blkd_msg *m,
              const struct blkd_rule *r)
{
    long want = blkd_rule_size(d, r, m);

    if (want < 0 || (uint32_t)want != m->hdr.size) {
        log_err("blkd: %s with %u payload bytes%s", r->name, m->hdr.size,
                want < 0 ? " (bad count or size inside)" : "");
        return -EPROTO;
    }
    if (blkd_rule_fds(r, m) != m->nfds) {
        log_err("blkd: %s came with %u fds, expected %u", r->name, m->nfds,
                blkd_rule_fds(r, m));
        return -EPROTO;
    }
    if (r->vring) {
        uint32_t idx;

        memcpy(&idx, m->payload, sizeof(idx));
        if (r->fds == BLKD_FD_VRING) {
            idx = (uint32_t)(blkd_u64(m) & ~(uint64_t)VHU_VRING_NOFD);
        }
        if (idx >= BLKD_NR_QUEUES) {
            log_err("blkd: %s for ring %u (we have %u)", r->name, idx,
                    BLKD_NR_QUEUES);
            return -EPROTO;
        }
    }
    return 0;
}

int
blkd_msg_handle(struct blkd *d)
{
    static const struct blkd_rule unknown = { "unknown", BLKD_SZ_ANY,
                                              BLKD_FD_ANY, false };
    struct blkd_msg m;
    const struct blkd_rule *r;
    bool replied = false, fatal = false;
    int rc;

    m.nfds = 0;
    for (unsigned i = 0; i < VHU_MAX_FDS; i++) {
        m.fds[i] = -1;
    }
    memset(&m.hdr, 0, sizeof(m.hdr));
    rc = blkd_recv(d, &m);
    if (rc < 0) {
        goto out_close_fds;
    }
    r = m.hdr.request < VHU_REQ_MAX && blkd_rules[m.hdr.request].name
            ? &blkd_rules[m.hdr.request]
            : &unknown;
    rc = blkd_validate(d, &m, r);
    if (rc < 0) {
        goto out_close_fds;
    }
    log_debug("blkd: %s (%u bytes, %u fds)", r->name, m.hdr.size, m.nfds);
    rc = blkd_dispatch(d, &m, &replied, &fatal);
    if (fatal) {
        goto out_close_fds;
    }
    if (rc < 0) {
        log_warn("blkd: %s refused: %s", r->name, strerror(-rc));
    }
    if (!replied && (m.hdr.flags & VHU_FLAG_NEED_REPLY) &&
        (d->protocol & (1ULL << VHU_PF_REPLY_ACK))) {
        rc = blkd_reply_u64(d, m.hdr.request, rc < 0 ? 1 : 0);
    } else {
        rc = 0;
    }

out_close_fds:
    for (unsigned i = 0; i < m.nfds; i++) {
        if (m.fds[i] >= 0) {
            close(m.fds[i]);
        }
    }
    return rc;
}
