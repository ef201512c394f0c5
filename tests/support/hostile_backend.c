/*
 * Test support: a hostile vhost-user backend (see hostile_backend.h).
 *
 * One thread polls a stop eventfd, the listening socket (while no client
 * is connected), the client socket and the ring's kick eventfd.  Memory
 * regions from SET_MEM_TABLE are mapped; every address taken from the
 * shared ring is checked against them before it is touched.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "hostile_backend.h"
#include "vhu_wire.h"
#include "vmmio.h"
#include "vq.h"

#define HB_MAX_PAYLOAD 1024u
#define HB_MAX_LOG 256u
#define HB_MAX_HELD 256u

struct hb_region {
    uint64_t gpa, len, uaddr;
    uint8_t *map;
    size_t map_len;
    uint64_t map_off;
};

/* The memory table of one session. */
struct hb_mem {
    unsigned nreg;
    struct hb_region reg[VHU_MAX_REGIONS];
};

/* HOSTILE_LATE: what a stopped session still holds. */
struct hb_late {
    struct hb_mem mem;
    uint8_t *desc, *used;
    uint16_t num, used_idx;
    int call_fd;
    unsigned n;
    uint16_t head[HB_MAX_HELD];
};

struct hostile {
    struct hostile_config cfg;    /* cfg.config: guarded by lock */
    pthread_mutex_t lock;
    uint8_t config[256];          /* this connection's config space */
    unsigned set_configs;
    char path[108];
    int listen_fd, conn_fd, stop_fd, kick_fd, call_fd;
    int breq_fd;                  /* our end of the backend channel */
    int wake_fd;                  /* a config change is pending */
    uint8_t change[256];          /* the pending change, under lock */
    uint32_t change_off, change_len;
    unsigned config_acks;
    pthread_t thread;
    int fault; /* enum hostile_fault, atomic */
    unsigned connections, chains, late_done;
    uint32_t log[HB_MAX_LOG]; /* request codes received, in order */
    unsigned nlog;            /* atomic; entries below it are final */
    uint64_t protocol;
    uint64_t features;            /* SET_FEATURES, latest */
    uint32_t enabled;             /* bit i: ring i enabled (SET_VRING_ENABLE) */
    struct hb_mem mem;
    pthread_mutex_t mem_lock; /* guards the three below */
    unsigned mem_tables, mem_nfds;
    struct hostile_fd_id mem_ids[VHU_MAX_REGIONS];
    uint16_t num, last_avail, used_idx;
    uint64_t desc_ua, avail_ua, used_ua;
    unsigned nheld;               /* HOSTILE_LATE: chains taken, held */
    uint16_t held[HB_MAX_HELD];
    struct hb_late late;          /* late.n > 0: a stopped session's */
};

static int
hb_fault(struct hostile *h)
{
    return __atomic_load_n(&h->fault, __ATOMIC_ACQUIRE);
}

static void
hb_close(int *fd)
{
    if (*fd >= 0) {
        close(*fd);
        *fd = -1;
    }
}

static void
hb_unmap(struct hb_mem *m)
{
    for (unsigned i = 0; i < m->nreg; i++) {
        munmap(m->reg[i].map, m->reg[i].map_len);
    }
    m->nreg = 0;
}

static void
hb_drop_conn(struct hostile *h)
{
    hb_close(&h->conn_fd);
    hb_close(&h->kick_fd);
    hb_close(&h->call_fd);
    hb_close(&h->breq_fd);
    hb_unmap(&h->mem);
}

/* Pointer for [addr, addr+len) in the backend's view (by gpa or uaddr). */
static uint8_t *
hb_ptr(const struct hb_mem *m, uint64_t addr, uint64_t len, bool by_uaddr)
{
    for (unsigned i = 0; i < m->nreg; i++) {
        const struct hb_region *r = &m->reg[i];
        uint64_t base = by_uaddr ? r->uaddr : r->gpa;

        if (addr >= base && addr - base <= r->len && len <= r->len - (addr - base)) {
            return r->map + r->map_off + (addr - base);
        }
    }
    return NULL;
}

static bool
hb_read(int fd, void *buf, size_t len, int *fds, unsigned *nfds)
{
    size_t done = 0;

    while (done < len) {
        union {
            char buf[CMSG_SPACE(sizeof(int) * VHU_MAX_FDS)];
            struct cmsghdr align;
        } ctl;
        struct iovec iov = { (char *)buf + done, len - done };
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
                             .msg_control = ctl.buf,
                             .msg_controllen = sizeof(ctl.buf) };
        ssize_t n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return false;
        }
        for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm;
             cm = CMSG_NXTHDR(&mh, cm)) {
            size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);

            for (size_t i = 0; i < k; i++) {
                int f;

                memcpy(&f, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
                if (*nfds < VHU_MAX_FDS) {
                    fds[(*nfds)++] = f;
                } else {
                    close(f);
                }
            }
        }
        done += (size_t)n;
    }
    return true;
}

static void
hb_reply(struct hostile *h, uint32_t req, const void *payload, uint32_t len)
{
    uint8_t buf[sizeof(struct vhu_wire_hdr) + HB_MAX_PAYLOAD];
    struct vhu_wire_hdr hdr = { req, VHU_FLAG_VERSION | VHU_FLAG_REPLY, len };

    memcpy(buf, &hdr, sizeof(hdr));
    memcpy(buf + sizeof(hdr), payload, len);
    if (send(h->conn_fd, buf, sizeof(hdr) + len, MSG_NOSIGNAL) < 0) {
        hb_drop_conn(h);
    }
}

static void
hb_reply_u64(struct hostile *h, uint32_t req, uint64_t v)
{
    hb_reply(h, req, &v, sizeof(v));
}

static void
hb_call(int call_fd)
{
    uint64_t one = 1;

    if (call_fd >= 0 && write(call_fd, &one, sizeof(one)) < 0) {
        return;
    }
}

static void
hb_push_used(uint8_t *used, uint16_t num, uint16_t *used_idx, uint32_t id,
             uint32_t len)
{
    uint8_t *e = used + 4 + 8 * (*used_idx % num);

    memcpy(e, &id, 4);
    memcpy(e + 4, &len, 4);
    (*used_idx)++;
}

/*
 * Walk one chain of a num-entry ring in memory m: fill writable bytes;
 * -1 on a chain we cannot follow.
 */
static int64_t
hb_serve_chain(const struct hb_mem *m, const uint8_t *desc, uint16_t num,
               uint16_t head, uint8_t fill)
{
    uint64_t writable = 0;
    uint16_t i = head;

    for (unsigned n = 0; n < num; n++) {
        const uint8_t *d = desc + 16 * i;
        uint64_t addr;
        uint32_t len;
        uint16_t flags, next;
        uint8_t *p;

        memcpy(&addr, d, 8);
        memcpy(&len, d + 8, 4);
        memcpy(&flags, d + 12, 2);
        memcpy(&next, d + 14, 2);
        if (flags & VQ_DESC_F_INDIRECT) {
            return -1; /* never offered: the relay must not use it */
        }
        p = hb_ptr(m, addr, len, false);
        if (!p) {
            return -1;
        }
        if (flags & VQ_DESC_F_WRITE) {
            memset(p, fill, len);
            writable += len;
        }
        if (!(flags & VQ_DESC_F_NEXT)) {
            return (int64_t)writable;
        }
        if (next >= num) {
            return -1;
        }
        i = next;
    }
    return -1;
}

/* HOSTILE_LATE: the ring was stopped; keep what it holds aside. */
static void
hb_late_keep(struct hostile *h)
{
    struct hb_late *l = &h->late;

    if (hb_fault(h) != HOSTILE_LATE || h->nheld == 0 || l->n > 0) {
        return;
    }
    l->desc = hb_ptr(&h->mem, h->desc_ua, VQ_DESC_BYTES(h->num), true);
    l->used = hb_ptr(&h->mem, h->used_ua, VQ_USED_BYTES(h->num), true);
    if (!l->desc || !l->used) {
        return;
    }
    l->mem = h->mem; /* the mappings move to the late batch */
    h->mem.nreg = 0;
    l->num = h->num;
    l->used_idx = h->used_idx;
    l->call_fd = h->call_fd >= 0 ? dup(h->call_fd) : -1;
    l->n = h->nheld;
    memcpy(l->head, h->held, sizeof(l->head[0]) * h->nheld);
    h->nheld = 0;
    __atomic_store_n(&h->fault, HOSTILE_NONE, __ATOMIC_RELEASE);
}

/* Complete the kept chains through the old session's memory. */
static void
hb_late_complete(struct hostile *h)
{
    struct hb_late *l = &h->late;
    unsigned n = l->n;

    for (unsigned i = 0; i < n; i++) {
        int64_t w = hb_serve_chain(&l->mem, l->desc, l->num, l->head[i],
                                   h->cfg.late_fill);

        hb_push_used(l->used, l->num, &l->used_idx, l->head[i],
                     w < 0 ? 0 : (uint32_t)w);
    }
    __atomic_thread_fence(__ATOMIC_RELEASE);
    memcpy(l->used + 2, &l->used_idx, 2);
    hb_call(l->call_fd);
    hb_close(&l->call_fd);
    hb_unmap(&l->mem);
    l->n = 0;
    __atomic_fetch_add(&h->late_done, n, __ATOMIC_RELEASE);
}

static void
hb_ring(struct hostile *h)
{
    uint8_t *desc = hb_ptr(&h->mem, h->desc_ua, VQ_DESC_BYTES(h->num), true);
    uint8_t *avail = hb_ptr(&h->mem, h->avail_ua, VQ_AVAIL_BYTES(h->num), true);
    uint8_t *used = hb_ptr(&h->mem, h->used_ua, VQ_USED_BYTES(h->num), true);
    int fault = hb_fault(h);
    uint16_t aidx, first = 0;
    unsigned batch = 0;

    if (!desc || !avail || !used || h->num == 0) {
        return;
    }
    memcpy(&aidx, avail + 2, 2);
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    while (h->last_avail != aidx) {
        uint16_t head;
        int64_t w;
        uint32_t id, len;

        memcpy(&head, avail + 4 + 2 * (h->last_avail % h->num), 2);
        h->last_avail++;
        __atomic_fetch_add(&h->chains, 1, __ATOMIC_RELEASE);
        if (fault == HOSTILE_CLOSE_ON_KICK) {
            __atomic_store_n(&h->fault, HOSTILE_NONE, __ATOMIC_RELEASE);
            hb_drop_conn(h);
            return;
        }
        if (head < h->num && h->nheld < HB_MAX_HELD &&
            (fault == HOSTILE_LATE ||
             (fault == HOSTILE_HOLD_FIRST && h->nheld == 0))) {
            h->held[h->nheld++] = head;
            continue;
        }
        if (fault == HOSTILE_HOLD || head >= h->num) {
            continue;
        }
        w = hb_serve_chain(&h->mem, desc, h->num, head, h->cfg.fill);
        if (w < 0) {
            continue;
        }
        id = head;
        len = (uint32_t)w;
        if (batch == 0) {
            first = head;
        }
        switch (fault) {
        case HOSTILE_BAD_ID:
            id = (uint32_t)((head + h->num / 2) % h->num);
            break;
        case HOSTILE_DUP_ID:
            id = first;
            break;
        case HOSTILE_BIG_LEN:
            len += 4096;
            break;
        default:
            break;
        }
        batch++;
        hb_push_used(used, h->num, &h->used_idx, id, len);
    }
    if (batch == 0) {
        return;
    }
    if (h->late.n > 0) {
        hb_late_complete(h);
    }
    if (fault == HOSTILE_JUMP_IDX) {
        h->used_idx = (uint16_t)(h->used_idx + 1000);
    }
    __atomic_thread_fence(__ATOMIC_RELEASE);
    memcpy(used + 2, &h->used_idx, 2);
    hb_call(h->call_fd);
}

static void
hb_mem_table(struct hostile *h, const uint8_t *p, uint32_t size, int *fds,
             unsigned nfds)
{
    struct vhu_wire_mem_hdr mh;
    bool xen = h->protocol & (1ULL << VHU_PF_XEN_MMAP);
    size_t stride = xen ? sizeof(struct vhu_wire_region_xen)
                        : sizeof(struct vhu_wire_region);

    hb_unmap(&h->mem);
    pthread_mutex_lock(&h->mem_lock);
    h->mem_tables++;
    h->mem_nfds = 0;
    for (unsigned i = 0; i < nfds && i < VHU_MAX_REGIONS; i++) {
        struct stat st;

        if (fstat(fds[i], &st) == 0) {
            h->mem_ids[h->mem_nfds++] = (struct hostile_fd_id){
                st.st_dev, st.st_ino, fcntl(fds[i], F_GET_SEALS)
            };
        }
    }
    pthread_mutex_unlock(&h->mem_lock);
    if (size < sizeof(mh) || h->cfg.xen_mmap) {
        return; /* record-only regions (privcmd fds) are not mapped here */
    }
    memcpy(&mh, p, sizeof(mh));
    for (unsigned i = 0; i < mh.nregions && i < nfds && i < VHU_MAX_REGIONS &&
                         sizeof(mh) + (i + 1) * stride <= size;
         i++) {
        struct vhu_wire_region wr;
        struct hb_region *r = &h->mem.reg[h->mem.nreg];

        /* The Xen layout extends the plain one: its first 32 bytes. */
        memcpy(&wr, p + sizeof(mh) + i * stride, sizeof(wr));
        r->gpa = wr.gpa;
        r->len = wr.size;
        r->uaddr = wr.uaddr;
        r->map_off = wr.mmap_off;
        r->map_len = (size_t)(wr.size + wr.mmap_off);
        r->map = mmap(NULL, r->map_len, PROT_READ | PROT_WRITE, MAP_SHARED,
                      fds[i], 0);
        if (r->map != MAP_FAILED) {
            h->mem.nreg++;
        }
    }
}

/* GET_CONFIG / SET_CONFIG; false to drop the connection. */
static bool
hb_config(struct hostile *h, uint32_t req, uint8_t *p, uint32_t size)
{
    struct vhu_wire_config_hdr ch;

    if (size < sizeof(ch)) {
        return false;
    }
    memcpy(&ch, p, sizeof(ch));
    if (ch.off > h->cfg.config_len || ch.size > h->cfg.config_len - ch.off ||
        size != sizeof(ch) + ch.size) {
        return false;
    }
    if (req == VHU_REQ_GET_CONFIG) {
        memcpy(p + sizeof(ch), h->config + ch.off, ch.size);
        hb_reply(h, req, p, size);
        return true;
    }
    __atomic_fetch_add(&h->set_configs, 1, __ATOMIC_RELEASE);
    if (h->cfg.strict_config && (ch.off != 32 || ch.size != 1)) {
        return false; /* what libvhost-user does when set_config fails */
    }
    memcpy(h->config + ch.off, p + sizeof(ch), ch.size);
    return true;
}

/*
 * Apply the pending config change and announce it on the backend channel
 * the way libvhost-user does: with NEED_REPLY (REPLY_ACK negotiated),
 * blocking until the answer comes.
 */
static void
hb_config_change(struct hostile *h)
{
    struct vhu_wire_hdr hdr = { VHU_BACKEND_CONFIG_CHANGE_MSG,
                                VHU_FLAG_VERSION | VHU_FLAG_NEED_REPLY, 0 };
    uint8_t rep[sizeof(hdr) + sizeof(uint64_t)];
    struct pollfd pfd = { .events = POLLIN };
    uint64_t n, status;

    if (read(h->wake_fd, &n, sizeof(n)) < 0) {
        return;
    }
    pthread_mutex_lock(&h->lock);
    memcpy(h->cfg.config + h->change_off, h->change, h->change_len);
    memcpy(h->config + h->change_off, h->change, h->change_len);
    pthread_mutex_unlock(&h->lock);
    if (h->breq_fd < 0 ||
        send(h->breq_fd, &hdr, sizeof(hdr), MSG_NOSIGNAL) != sizeof(hdr)) {
        return;
    }
    pfd.fd = h->breq_fd;
    if (poll(&pfd, 1, 2000) != 1 ||
        recv(h->breq_fd, rep, sizeof(rep), 0) != sizeof(rep)) {
        return;
    }
    memcpy(&hdr, rep, sizeof(hdr));
    memcpy(&status, rep + sizeof(hdr), sizeof(status));
    if (hdr.request == VHU_BACKEND_CONFIG_CHANGE_MSG &&
        (hdr.flags & VHU_FLAG_REPLY) && status == 0) {
        __atomic_fetch_add(&h->config_acks, 1, __ATOMIC_RELEASE);
    }
}

/* One message from the relay; false when the connection is gone. */
static bool
hb_message(struct hostile *h)
{
    struct vhu_wire_hdr hdr;
    uint8_t p[HB_MAX_PAYLOAD];
    int fds[VHU_MAX_FDS];
    unsigned nfds = 0;
    bool reply_ack;
    uint64_t u = 0;

    if (!hb_read(h->conn_fd, &hdr, sizeof(hdr), fds, &nfds) ||
        hdr.size > sizeof(p) || !hb_read(h->conn_fd, p, hdr.size, fds, &nfds)) {
        for (unsigned i = 0; i < nfds; i++) {
            close(fds[i]);
        }
        return false;
    }
    if (hdr.size >= 8) {
        memcpy(&u, p, 8);
    }
    if (h->nlog < HB_MAX_LOG) {
        h->log[h->nlog] = hdr.request;
        __atomic_store_n(&h->nlog, h->nlog + 1, __ATOMIC_RELEASE);
    }
    if (hb_fault(h) == HOSTILE_HOLD) {
        for (unsigned i = 0; i < nfds; i++) {
            close(fds[i]);
        }
        return true; /* read, never answered */
    }
    reply_ack = (hdr.flags & VHU_FLAG_NEED_REPLY) &&
                (h->protocol & (1ULL << VHU_PF_REPLY_ACK));
    switch (hdr.request) {
    case VHU_REQ_GET_FEATURES:
        hb_reply_u64(h, hdr.request, (1ULL << VIRTIO_F_VERSION_1) |
                                         (1ULL << VHU_F_PROTOCOL_FEATURES) |
                                         h->cfg.features);
        reply_ack = false;
        break;
    case VHU_REQ_GET_PROTOCOL_FEATURES:
        hb_reply_u64(h, hdr.request,
                     (1ULL << VHU_PF_REPLY_ACK) | h->cfg.protocol |
                         (h->cfg.xen_mmap ? 1ULL << VHU_PF_XEN_MMAP : 0) |
                         (h->cfg.queue_num ? 1ULL << VHU_PF_MQ : 0) |
                         (h->cfg.config_len ? (1ULL << VHU_PF_CONFIG) |
                                                  (1ULL << VHU_PF_BACKEND_REQ)
                                            : 0));
        reply_ack = false;
        break;
    case VHU_REQ_GET_QUEUE_NUM:
        hb_reply_u64(h, hdr.request, h->cfg.queue_num);
        reply_ack = false;
        break;
    case VHU_REQ_GET_CONFIG:
    case VHU_REQ_SET_CONFIG:
        if (!hb_config(h, hdr.request, p, hdr.size)) {
            hb_drop_conn(h);
        }
        reply_ack = reply_ack && hdr.request == VHU_REQ_SET_CONFIG;
        break;
    case VHU_REQ_SET_PROTOCOL_FEATURES:
        __atomic_store_n(&h->protocol, u, __ATOMIC_RELEASE);
        break;
    case VHU_REQ_SET_FEATURES:
        __atomic_store_n(&h->features, u, __ATOMIC_RELEASE);
        break;
    case VHU_REQ_SET_VRING_ENABLE:
        if ((uint32_t)u < 32) {
            uint32_t bit = 1u << (uint32_t)u;

            if (u >> 32) {
                __atomic_fetch_or(&h->enabled, bit, __ATOMIC_RELEASE);
            } else {
                __atomic_fetch_and(&h->enabled, ~bit, __ATOMIC_RELEASE);
            }
        }
        break;
    case VHU_REQ_SET_MEM_TABLE:
        hb_mem_table(h, p, hdr.size, fds, nfds);
        break;
    case VHU_REQ_SET_VRING_NUM:
        h->num = (uint16_t)(u >> 32);
        break;
    case VHU_REQ_SET_VRING_BASE:
        h->last_avail = h->used_idx = (uint16_t)(u >> 32);
        break;
    case VHU_REQ_SET_VRING_ADDR: {
        struct vhu_wire_addr a;

        if (hdr.size >= sizeof(a)) {
            memcpy(&a, p, sizeof(a));
            h->desc_ua = a.desc;
            h->avail_ua = a.avail;
            h->used_ua = a.used;
        }
        break;
    }
    case VHU_REQ_SET_VRING_KICK:
        hb_close(&h->kick_fd);
        if (nfds > 0) {
            h->kick_fd = fds[0];
            nfds = 0;
        }
        break;
    case VHU_REQ_SET_BACKEND_REQ_FD:
        hb_close(&h->breq_fd);
        if (nfds > 0) {
            h->breq_fd = fds[0];
            nfds = 0;
        }
        break;
    case VHU_REQ_SET_VRING_CALL:
        hb_close(&h->call_fd);
        if (nfds > 0) {
            h->call_fd = fds[0];
            nfds = 0;
        }
        break;
    case VHU_REQ_GET_VRING_BASE: {
        struct vhu_wire_state st = { (uint32_t)u, h->last_avail };

        hb_late_keep(h);
        hb_close(&h->kick_fd);
        hb_reply(h, hdr.request, &st, sizeof(st));
        reply_ack = false;
        break;
    }
    default:
        break;
    }
    for (unsigned i = 0; i < nfds; i++) {
        close(fds[i]);
    }
    if (reply_ack && h->conn_fd >= 0) {
        hb_reply_u64(h, hdr.request, 0);
    }
    return h->conn_fd >= 0;
}

static void
hb_accept(struct hostile *h)
{
    int fd = accept4(h->listen_fd, NULL, NULL, SOCK_CLOEXEC);

    if (fd < 0) {
        return;
    }
    h->conn_fd = fd;
    h->protocol = 0;
    __atomic_store_n(&h->features, 0, __ATOMIC_RELEASE);
    __atomic_store_n(&h->enabled, 0, __ATOMIC_RELEASE);
    pthread_mutex_lock(&h->lock);
    memcpy(h->config, h->cfg.config, sizeof(h->config));
    pthread_mutex_unlock(&h->lock);
    h->num = 0;
    h->last_avail = h->used_idx = 0;
    h->nheld = 0;
    __atomic_fetch_add(&h->connections, 1, __ATOMIC_RELEASE);
}

static void *
hb_main(void *arg)
{
    struct hostile *h = arg;

    for (;;) {
        struct pollfd pfd[4] = {
            { .fd = h->stop_fd, .events = POLLIN },
            { .fd = h->conn_fd >= 0 ? h->conn_fd : h->listen_fd,
              .events = POLLIN },
            { .fd = h->kick_fd, .events = POLLIN },
            { .fd = h->wake_fd, .events = POLLIN },
        };

        if (poll(pfd, 4, 1000) < 0 && errno != EINTR) {
            break;
        }
        if (pfd[0].revents) {
            break;
        }
        if (pfd[3].revents) {
            hb_config_change(h);
            continue;
        }
        if (pfd[1].revents) {
            if (h->conn_fd < 0) {
                hb_accept(h);
            } else if (!hb_message(h)) {
                hb_drop_conn(h);
            }
            continue; /* fds may have changed */
        }
        if (pfd[2].revents && h->kick_fd >= 0) {
            uint64_t n;

            if (read(h->kick_fd, &n, sizeof(n)) < 0 && errno != EAGAIN) {
                hb_close(&h->kick_fd);
            }
            hb_ring(h);
        }
    }
    return NULL;
}

int
hostile_start(struct hostile **out, const struct hostile_config *cfg)
{
    struct hostile *h = calloc(1, sizeof(*h));
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    int rc;

    if (!h) {
        return -ENOMEM;
    }
    h->cfg = *cfg;
    pthread_mutex_init(&h->lock, NULL);
    h->listen_fd = h->conn_fd = h->kick_fd = h->call_fd = h->breq_fd = -1;
    h->late.call_fd = -1;
    pthread_mutex_init(&h->mem_lock, NULL);
    snprintf(h->path, sizeof(h->path), "%s", cfg->sock_path);
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", cfg->sock_path);
    unlink(h->path);
    h->stop_fd = eventfd(0, EFD_CLOEXEC);
    h->wake_fd = eventfd(0, EFD_CLOEXEC);
    h->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (h->stop_fd < 0 || h->wake_fd < 0 || h->listen_fd < 0 ||
        bind(h->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        listen(h->listen_fd, 4) < 0) {
        rc = -errno;
        goto fail;
    }
    if (pthread_create(&h->thread, NULL, hb_main, h) != 0) {
        rc = -EAGAIN;
        goto fail;
    }
    *out = h;
    return 0;

fail:
    hb_close(&h->listen_fd);
    hb_close(&h->stop_fd);
    hb_close(&h->wake_fd);
    unlink(h->path);
    pthread_mutex_destroy(&h->lock);
    pthread_mutex_destroy(&h->mem_lock);
    free(h);
    return rc;
}

void
hostile_stop(struct hostile *h)
{
    uint64_t one = 1;

    if (!h) {
        return;
    }
    if (write(h->stop_fd, &one, sizeof(one)) == sizeof(one)) {
        pthread_join(h->thread, NULL);
    }
    hb_drop_conn(h);
    hb_close(&h->late.call_fd);
    hb_unmap(&h->late.mem);
    hb_close(&h->listen_fd);
    hb_close(&h->stop_fd);
    hb_close(&h->wake_fd);
    unlink(h->path);
    pthread_mutex_destroy(&h->lock);
    pthread_mutex_destroy(&h->mem_lock);
    free(h);
}

void
hostile_set_fault(struct hostile *h, enum hostile_fault f)
{
    __atomic_store_n(&h->fault, (int)f, __ATOMIC_RELEASE);
}

unsigned
hostile_connections(const struct hostile *h)
{
    return __atomic_load_n(&h->connections, __ATOMIC_ACQUIRE);
}

unsigned
hostile_chains_seen(const struct hostile *h)
{
    return __atomic_load_n(&h->chains, __ATOMIC_ACQUIRE);
}

uint64_t
hostile_acked_protocol(const struct hostile *h)
{
    return __atomic_load_n(&h->protocol, __ATOMIC_ACQUIRE);
}

uint64_t
hostile_acked_features(const struct hostile *h)
{
    return __atomic_load_n(&h->features, __ATOMIC_ACQUIRE);
}

uint32_t
hostile_enabled_rings(const struct hostile *h)
{
    return __atomic_load_n(&h->enabled, __ATOMIC_ACQUIRE);
}

unsigned
hostile_mem_tables(struct hostile *h)
{
    unsigned n;

    pthread_mutex_lock(&h->mem_lock);
    n = h->mem_tables;
    pthread_mutex_unlock(&h->mem_lock);
    return n;
}

unsigned
hostile_set_configs(const struct hostile *h)
{
    return __atomic_load_n(&h->set_configs, __ATOMIC_ACQUIRE);
}

void
hostile_set_config(struct hostile *h, uint32_t off, const void *buf,
                   uint32_t len)
{
    pthread_mutex_lock(&h->lock);
    if (off <= sizeof(h->cfg.config) && len <= sizeof(h->cfg.config) - off) {
        memcpy(h->cfg.config + off, buf, len);
    }
    pthread_mutex_unlock(&h->lock);
}

void
hostile_config_change(struct hostile *h, uint32_t off, const void *buf,
                      uint32_t len)
{
    uint64_t one = 1;

    pthread_mutex_lock(&h->lock);
    if (off <= sizeof(h->change) && len <= sizeof(h->change) - off) {
        memcpy(h->change, buf, len);
        h->change_off = off;
        h->change_len = len;
    }
    pthread_mutex_unlock(&h->lock);
    if (write(h->wake_fd, &one, sizeof(one)) != sizeof(one)) {
        return;
    }
}

unsigned
hostile_config_acks(const struct hostile *h)
{
    return __atomic_load_n(&h->config_acks, __ATOMIC_ACQUIRE);
}

unsigned
hostile_requests(const struct hostile *h, uint32_t *out, unsigned max)
{
    unsigned n = __atomic_load_n(&h->nlog, __ATOMIC_ACQUIRE);

    n = n < max ? n : max;
    memcpy(out, h->log, n * sizeof(*out));
    return n;
}

unsigned
hostile_late_completed(const struct hostile *h)
{
    return __atomic_load_n(&h->late_done, __ATOMIC_ACQUIRE);
}

unsigned
hostile_mem_table_fds(struct hostile *h, struct hostile_fd_id *ids,
                      unsigned max, unsigned *nfds)
{
    unsigned n;

    pthread_mutex_lock(&h->mem_lock);
    n = h->mem_tables;
    *nfds = h->mem_nfds;
    for (unsigned i = 0; i < h->mem_nfds && i < max; i++) {
        ids[i] = h->mem_ids[i];
    }
    pthread_mutex_unlock(&h->mem_lock);
    return n;
}
