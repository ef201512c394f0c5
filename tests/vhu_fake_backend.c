/*
 * vhu_fake_backend: a scripted, possibly misbehaving vhost-user backend.
 *
 * Test code: it trusts the frontend only as far as keeping its own buffers
 * in bounds (a message larger than it records ends the thread).  Replies
 * follow the protocol unless the script names the request and a fault.
 */
#include <config.h>

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "vhu_fake_backend.h"
#include "vhu_wire.h"

#define FAKE_CTRUNC_FDS 32

struct vhu_fake {
    struct vhu_fake_config cfg;
    int fd;
    pthread_t thread;
    bool joined;
    unsigned nmsgs;
    struct vhu_fake_msg msgs[VHU_FAKE_MAX_MSGS];
};

struct fake_reply {
    struct vhu_wire_hdr hdr;
    uint8_t payload[VHU_FAKE_MAX_PAYLOAD];
    uint32_t len; /* payload bytes actually sent */
    int fds[FAKE_CTRUNC_FDS];
    unsigned nfds;
};

/* Read exactly len bytes; fds (if any) go to m.  false on EOF/error. */
static bool
fake_read(struct vhu_fake *f, void *buf, size_t len, struct vhu_fake_msg *m)
{
    size_t done = 0;

    while (done < len) {
        union {
            char buf[CMSG_SPACE(sizeof(int) * 16)];
            struct cmsghdr align;
        } ctl;
        struct iovec iov = { .iov_base = (char *)buf + done,
                             .iov_len = len - done };
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
                             .msg_control = ctl.buf,
                             .msg_controllen = sizeof(ctl.buf) };
        ssize_t n = recvmsg(f->fd, &mh, MSG_CMSG_CLOEXEC);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return false;
        }
        for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm != NULL;
             cm = CMSG_NXTHDR(&mh, cm)) {
            size_t k;

            if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS) {
                continue;
            }
            k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            for (size_t i = 0; i < k; i++) {
                int fd;

                memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
                if (m->nfds < VHU_FAKE_MAX_FDS) {
                    m->fds[m->nfds++] = fd;
                } else {
                    close(fd);
                }
            }
        }
        done += (size_t)n;
    }
    return true;
}

static bool
fake_send(struct vhu_fake *f, const void *buf, size_t len, const int *fds,
          unsigned nfds)
{
    union {
        char buf[CMSG_SPACE(sizeof(int) * FAKE_CTRUNC_FDS)];
        struct cmsghdr align;
    } ctl;
    struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
    struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

    if (nfds > 0) {
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
    return sendmsg(f->fd, &mh, MSG_NOSIGNAL) == (ssize_t)len;
}

static void
fake_put_u64(struct fake_reply *r, uint64_t v)
{
    memcpy(r->payload, &v, sizeof(v));
    r->len = sizeof(v);
}

/* Build the correct reply to m; false when the request has none. */
static bool
fake_build(struct vhu_fake *f, const struct vhu_fake_msg *m,
           struct fake_reply *r, bool faulty)
{
    enum vhu_fake_fault fault = faulty ? f->cfg.fault : VHU_FAKE_NONE;

    r->hdr.request = m->request;
    r->hdr.flags = VHU_FLAG_VERSION | VHU_FLAG_REPLY;
    r->len = 0;
    r->nfds = 0;
    switch (m->request) {
    case VHU_REQ_GET_FEATURES:
        fake_put_u64(r, f->cfg.features);
        break;
    case VHU_REQ_GET_PROTOCOL_FEATURES:
        fake_put_u64(r, f->cfg.protocol);
        break;
    case VHU_REQ_GET_QUEUE_NUM:
        fake_put_u64(r, f->cfg.queue_num);
        break;
    case VHU_REQ_GET_VRING_BASE: {
        struct vhu_wire_state st;

        memcpy(&st, m->payload, sizeof(st));
        st.num = f->cfg.vring_base;
        if (fault == VHU_FAKE_WRONG_INDEX) {
            st.index++;
        }
        memcpy(r->payload, &st, sizeof(st));
        r->len = sizeof(st);
        break;
    }
    case VHU_REQ_GET_CONFIG: {
        struct vhu_wire_config_hdr h;

        memcpy(&h, m->payload, sizeof(h));
        if (fault == VHU_FAKE_CONFIG_ERROR || h.off > sizeof(f->cfg.config) ||
            h.size > sizeof(f->cfg.config) - h.off) {
            break; /* zero-size reply: the protocol's error signal */
        }
        memcpy(r->payload + sizeof(h), f->cfg.config + h.off, h.size);
        if (fault == VHU_FAKE_CONFIG_WRONG_OFF) {
            h.off++;
        }
        memcpy(r->payload, &h, sizeof(h));
        r->len = (uint32_t)sizeof(h) + h.size;
        break;
    }
    default:
        if (!(m->flags & VHU_FLAG_NEED_REPLY)) {
            return false;
        }
        fake_put_u64(r, fault == VHU_FAKE_NACK ? 1 : 0);
        break;
    }
    r->hdr.size = r->len;
    return true;
}

static void
fake_close_fds(int *fds, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        close(fds[i]);
    }
}

/* Answer m, perhaps wrongly.  false: stop serving (socket closed). */
static bool
fake_answer(struct vhu_fake *f, const struct vhu_fake_msg *m)
{
    bool faulty = f->cfg.fault != VHU_FAKE_NONE &&
                  m->request == f->cfg.fault_request;
    enum vhu_fake_fault fault = faulty ? f->cfg.fault : VHU_FAKE_NONE;
    struct fake_reply r;
    uint8_t buf[sizeof(struct vhu_wire_hdr) + VHU_FAKE_MAX_PAYLOAD];
    size_t len;
    bool ok = true;

    memset(&r, 0, sizeof(r));
    if (fault == VHU_FAKE_CLOSE) {
        return false;
    }
    if (!fake_build(f, m, &r, faulty)) {
        return true;
    }
    switch (fault) {
    case VHU_FAKE_WRONG_REQUEST:
        r.hdr.request = m->request == VHU_REQ_GET_FEATURES
                            ? VHU_REQ_GET_PROTOCOL_FEATURES
                            : VHU_REQ_GET_FEATURES;
        break;
    case VHU_FAKE_NO_REPLY_FLAG:
        r.hdr.flags = VHU_FLAG_VERSION;
        break;
    case VHU_FAKE_BAD_SIZE:
        r.len += 4;
        r.hdr.size = r.len;
        break;
    case VHU_FAKE_HUGE_SIZE:
        r.hdr.size = UINT32_MAX;
        break;
    case VHU_FAKE_EXTRA_FD:
        r.fds[r.nfds++] = eventfd(0, EFD_CLOEXEC);
        break;
    case VHU_FAKE_CTRUNC: {
        int e = eventfd(0, EFD_CLOEXEC);

        while (r.nfds < FAKE_CTRUNC_FDS) {
            r.fds[r.nfds++] = dup(e);
        }
        close(e);
        break;
    }
    default:
        break;
    }
    memcpy(buf, &r.hdr, sizeof(r.hdr));
    memcpy(buf + sizeof(r.hdr), r.payload, r.len);
    len = sizeof(r.hdr) + r.len;
    switch (fault) {
    case VHU_FAKE_SILENT:
        break;
    case VHU_FAKE_CLOSE_MID_REPLY:
        fake_send(f, buf, sizeof(r.hdr) / 2, NULL, 0);
        ok = false;
        break;
    case VHU_FAKE_SHORT_PAYLOAD:
        fake_send(f, buf, sizeof(r.hdr) + r.len / 2, r.fds, r.nfds);
        ok = false;
        break;
    default:
        fake_send(f, buf, len, r.fds, r.nfds);
        break;
    }
    fake_close_fds(r.fds, r.nfds);
    return ok;
}

static void *
fake_main(void *arg)
{
    struct vhu_fake *f = arg;

    while (f->nmsgs < VHU_FAKE_MAX_MSGS) {
        struct vhu_fake_msg *m = &f->msgs[f->nmsgs];
        struct vhu_wire_hdr h;

        memset(m, 0, sizeof(*m));
        if (!fake_read(f, &h, sizeof(h), m)) {
            break;
        }
        m->request = h.request;
        m->flags = h.flags;
        m->size = h.size;
        f->nmsgs++;
        if (h.size > VHU_FAKE_MAX_PAYLOAD ||
            !fake_read(f, m->payload, h.size, m)) {
            break;
        }
        if (!fake_answer(f, m)) {
            break;
        }
    }
    close(f->fd);
    f->fd = -1;
    return NULL;
}

int
vhu_fake_start(struct vhu_fake **out, const struct vhu_fake_config *cfg,
               int *frontend_fd)
{
    struct vhu_fake *f = calloc(1, sizeof(*f));
    int sv[2];

    if (f == NULL) {
        return -ENOMEM;
    }
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
        free(f);
        return -errno;
    }
    f->cfg = *cfg;
    f->fd = sv[1];
    if (pthread_create(&f->thread, NULL, fake_main, f) != 0) {
        close(sv[0]);
        close(sv[1]);
        free(f);
        return -EAGAIN;
    }
    *frontend_fd = sv[0];
    *out = f;
    return 0;
}

int
vhu_fake_join(struct vhu_fake *f, unsigned timeout_ms)
{
    struct timespec ts;

    if (f->joined) {
        return 0;
    }
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += timeout_ms / 1000;
    ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    if (pthread_timedjoin_np(f->thread, NULL, &ts) != 0) {
        return -ETIMEDOUT;
    }
    f->joined = true;
    return 0;
}

unsigned
vhu_fake_count(const struct vhu_fake *f)
{
    return f->nmsgs;
}

const struct vhu_fake_msg *
vhu_fake_msg(const struct vhu_fake *f, unsigned i)
{
    return i < f->nmsgs ? &f->msgs[i] : NULL;
}

const struct vhu_fake_msg *
vhu_fake_find(const struct vhu_fake *f, uint32_t request)
{
    for (unsigned i = f->nmsgs; i > 0; i--) {
        if (f->msgs[i - 1].request == request) {
            return &f->msgs[i - 1];
        }
    }
    return NULL;
}

void
vhu_fake_free(struct vhu_fake *f)
{
    if (f == NULL) {
        return;
    }
    if (!f->joined) {
        /* The frontend closed its end: the thread sees EOF promptly. */
        if (vhu_fake_join(f, 5000) < 0) {
            abort();
        }
    }
    for (unsigned i = 0; i < f->nmsgs; i++) {
        fake_close_fds(f->msgs[i].fds, f->msgs[i].nfds);
    }
    free(f);
}

int
vhu_fake_count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int n = 0;

    if (d == NULL) {
        return -1;
    }
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] != '.') {
            n++;
        }
    }
    closedir(d);
    return n - 1; /* the directory's own fd */
}
