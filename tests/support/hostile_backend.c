/*
 * Test support: a hostile vhost-user backend (see hostile_backend.h).
 *
 * One thread polls a stop eventfd, the listening socket (while no client
 * is connected), the client socket and the ring's kick eventfd, and
 * speaks the protocol; hostile_ring.c maps the memory and serves the ring.
 */
#include <config.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "hostile_priv.h"
#include "vhu_wire.h"
#include "vmmio.h"

int
hb_fault(struct hostile *h)
{
    return __atomic_load_n(&h->fault, __ATOMIC_ACQUIRE);
}

void
hb_close(int *fd)
{
    if (*fd >= 0) {
        close(*fd);
        *fd = -1;
    }
}

void
hb_drop_conn(struct hostile *h)
{
    hb_close(&h->conn_fd);
    hb_close(&h->kick_fd);
    hb_close(&h->call_fd);
    hb_close(&h->breq_fd);
    hb_unmap(&h->mem);
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

/*
 * The reply to `req` is to be held: stop here until hostile_release().
 * False if the backend is being stopped instead.
 */
static bool
hb_hold(struct hostile *h, uint32_t req)
{
    uint32_t want = req;
    struct pollfd pfd[2] = { { .fd = h->release_fd, .events = POLLIN },
                             { .fd = h->stop_fd, .events = POLLIN } };
    uint64_t n;

    if (!__atomic_compare_exchange_n(&h->hold_req, &want, 0, false,
                                     __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
        return true;
    }
    __atomic_store_n(&h->holding, 1, __ATOMIC_RELEASE);
    while (poll(pfd, 2, -1) < 0 && errno == EINTR) {
    }
    __atomic_store_n(&h->holding, 0, __ATOMIC_RELEASE);
    if (pfd[1].revents) {
        return false;
    }
    return read(h->release_fd, &n, sizeof(n)) == sizeof(n);
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
        if (!hb_hold(h, hdr.request)) {
            return true; /* stopping */
        }
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
        if (!hb_hold(h, hdr.request)) {
            return true; /* stopping */
        }
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
    h->release_fd = eventfd(0, EFD_CLOEXEC);
    h->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (h->stop_fd < 0 || h->wake_fd < 0 || h->release_fd < 0 ||
        h->listen_fd < 0 ||
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
    hb_close(&h->release_fd);
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
    hb_close(&h->release_fd);
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

void
hostile_hold_reply(struct hostile *h, uint32_t req)
{
    __atomic_store_n(&h->hold_req, req, __ATOMIC_RELEASE);
}

bool
hostile_holding(const struct hostile *h)
{
    return __atomic_load_n(&h->holding, __ATOMIC_ACQUIRE) != 0;
}

void
hostile_release(struct hostile *h)
{
    uint64_t one = 1;

    __atomic_store_n(&h->hold_req, 0, __ATOMIC_RELEASE);
    if (write(h->release_fd, &one, sizeof(one)) != sizeof(one)) {
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
