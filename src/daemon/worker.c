/*
 * worker: one guest's relays over one hv_xen (see worker.h).
 *
 * Trust boundary: control messages from the parent are read with their
 * exact size and their strings re-terminated before use; everything the
 * guest and backend do is the relay's and hv's business.
 */
#include <config.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "hv_xen.h"
#include "log.h"
#include "relay.h"
#include "devtype.h"
#include "worker.h"

struct worker_slot {
    struct worker_dev dev;    /* as asked */
    struct relay *relay;      /* NULL = free slot */
};

struct worker_guest {
    struct loop *loop;
    struct hv *hv;
    uint32_t domid;
    struct worker_slot slot[WORKER_MAX_DEVS];
};

int
worker_guest_new(struct worker_guest **out, struct loop *loop, uint32_t domid,
                 const struct worker_opts *o)
{
    struct hv_xen_opts xo = { .mapcache_mib = o->mapcache_mib,
                              .kernel_eventfd = 0 };
    struct worker_guest *g = calloc(1, sizeof(*g));
    int rc;

    if (!g) {
        return -ENOMEM;
    }
    g->loop = loop;
    g->domid = domid;
    rc = hv_xen_open(&g->hv, loop, domid, &xo);
    if (rc) {
        log_err("dom%u: cannot open the hypervisor interface: %s", domid,
                strerror(-rc));
        goto free_g;
    }
    if (o->restrict_domid || o->has_user) {
        rc = hv_xen_restrict(g->hv, o->has_user ? o->uid : 0,
                             o->has_user ? o->gid : 0);
        if (rc) {
            log_err("dom%u: cannot restrict to the guest: %s", domid,
                    strerror(-rc));
            goto free_hv;
        }
    }
    *out = g;
    return 0;

free_hv:
    hv_free(g->hv);
free_g:
    free(g);
    return rc;
}

static struct worker_slot *
worker_find(struct worker_guest *g, uint32_t kind, uint32_t devid)
{
    for (unsigned i = 0; i < WORKER_MAX_DEVS; i++) {
        struct worker_slot *s = &g->slot[i];

        if (s->relay && s->dev.kind == kind && s->dev.devid == devid) {
            return s;
        }
    }
    return NULL;
}

static void
worker_close_fds(int fds[WORKER_GNT_FDS])
{
    for (unsigned i = 0; i < WORKER_GNT_FDS; i++) {
        if (fds[i] >= 0) {
            close(fds[i]);
        }
        fds[i] = -1;
    }
}

int
worker_msg_send(int sock, const struct worker_msg *m,
                const int fds[WORKER_GNT_FDS])
{
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(WORKER_GNT_FDS * sizeof(int))];
    } ctl;
    struct iovec iov = { .iov_base = (void *)m, .iov_len = sizeof(*m) };
    struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
    int pass[WORKER_GNT_FDS];
    unsigned n_fds = 0;
    ssize_t n;

    for (unsigned i = 0; fds && i < WORKER_GNT_FDS; i++) {
        if (fds[i] >= 0) {
            pass[n_fds++] = fds[i];
        }
    }
    if (n_fds) {
        struct cmsghdr *c;

        memset(&ctl, 0, sizeof(ctl));
        mh.msg_control = ctl.buf;
        mh.msg_controllen = CMSG_SPACE(n_fds * sizeof(int));
        c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(n_fds * sizeof(int));
        memcpy(CMSG_DATA(c), pass, n_fds * sizeof(int));
    }
    n = sendmsg(sock, &mh, MSG_NOSIGNAL);
    if (n < 0) {
        return -errno;
    }
    return n == (ssize_t)sizeof(*m) ? 0 : -EMSGSIZE;
}

ssize_t
worker_msg_recv(int sock, struct worker_msg *m, int fds[WORKER_GNT_FDS])
{
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(WORKER_GNT_FDS * sizeof(int))];
    } ctl;
    struct iovec iov = { .iov_base = m, .iov_len = sizeof(*m) };
    struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
                         .msg_control = ctl.buf,
                         .msg_controllen = sizeof(ctl.buf) };
    ssize_t n = recvmsg(sock, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);

    for (unsigned i = 0; i < WORKER_GNT_FDS; i++) {
        fds[i] = -1;
    }
    if (n < 0) {
        return -errno;
    }
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
            c->cmsg_len >= CMSG_LEN(sizeof(int))) {
            size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            int got[WORKER_GNT_FDS];

            /* MSG_CTRUNC (checked below) covers more than we have room for */
            k = k > WORKER_GNT_FDS ? WORKER_GNT_FDS : k;
            memcpy(got, CMSG_DATA(c), k * sizeof(int));
            for (size_t i = 0; i < k; i++) {
                if (fds[i] >= 0) {
                    close(fds[i]);
                }
                fds[i] = got[i];
            }
        }
    }
    /* An fd rides only on a whole message that can use it. */
    if (n != (ssize_t)sizeof(*m) || (mh.msg_flags & MSG_CTRUNC) ||
        m->op != WORKER_ADD || !m->dev.grants) {
        worker_close_fds(fds);
    }
    return n;
}

int
worker_gntdev_for(const struct worker_dev *d, int fds[WORKER_GNT_FDS])
{
    for (unsigned i = 0; i < WORKER_GNT_FDS; i++) {
        fds[i] = -1;
    }
    if (!d->grants) {
        return 0;
    }
    for (unsigned i = 0; i < WORKER_GNT_FDS; i++) {
        int fd = hv_xen_gntdev_open();

        if (fd < 0) {
            worker_close_fds(fds);
            return fd;
        }
        fds[i] = fd;
    }
    return 0;
}

/* A grant device needs gntdev (hv_xen_gnt.h); others never get it. */
static int
worker_guest_gnt(struct worker_guest *g, const struct worker_dev *d,
                 const int gnt_fds[WORKER_GNT_FDS])
{
    int fds[WORKER_GNT_FDS] = { -1, -1 };

    if (gnt_fds) {
        memcpy(fds, gnt_fds, sizeof(fds));
    }
    if (!d->grants) {
        worker_close_fds(fds);
        return 0;
    }
    return hv_xen_gnt_attach(g->hv, fds[0], fds[1]);
}

int
worker_guest_add(struct worker_guest *g, const struct worker_dev *d,
                 const int gnt_fds[WORKER_GNT_FDS])
{
    struct worker_slot *s = NULL;
    struct relay_config rc_cfg;
    struct devtype_config dt;
    const char *why;
    int rc;

    rc = worker_guest_gnt(g, d, gnt_fds);
    if (rc) {
        return rc;
    }
    if (worker_find(g, d->kind, d->devid)) {
        return -EEXIST;
    }
    for (unsigned i = 0; i < WORKER_MAX_DEVS && !s; i++) {
        if (!g->slot[i].relay) {
            s = &g->slot[i];
        }
    }
    if (!s) {
        return -ENOSPC;
    }
    memset(&rc_cfg, 0, sizeof(rc_cfg));
    rc_cfg.name = d->name;
    rc_cfg.socket_path = d->socket;
    rc_cfg.mode = (enum relay_mode)d->mode;
    rc_cfg.mmio_base = d->base;
    rc_cfg.irq = d->irq;
    rc_cfg.device_id = d->device_id;
    rc_cfg.queue_size = (uint16_t)d->queue_size;
    rc_cfg.bounce_kib = d->bounce_kib;
    rc_cfg.timeout_ms = d->timeout_ms;
    rc_cfg.grants = d->grants != 0;
    rc = devtype_fill(&rc_cfg, d->device_id, &d->set, &dt, &why);
    if (rc) {
        log_err("%s: %s device refused: %s", d->name,
                devtype_name(d->device_id), why);
        return rc;
    }
    rc = relay_new(&s->relay, g->hv, g->loop, &rc_cfg);
    if (rc) {
        s->relay = NULL;
        return rc;
    }
    s->dev = *d;
    log_info("%s: serving a %s device from %s (%s mode); the daemon itself "
             "serves %s", d->name, devtype_name(d->device_id), d->socket,
             relay_mode_name(relay_mode(s->relay)),
             devtype_serves(d->device_id));
    return 0;
}

int
worker_guest_del(struct worker_guest *g, uint32_t kind, uint32_t devid)
{
    struct worker_slot *s = worker_find(g, kind, devid);

    if (!s) {
        return -ENOENT;
    }
    relay_free(s->relay);
    s->relay = NULL;
    return 0;
}

unsigned
worker_guest_count(const struct worker_guest *g)
{
    unsigned n = 0;

    for (unsigned i = 0; i < WORKER_MAX_DEVS; i++) {
        n += g->slot[i].relay != NULL;
    }
    return n;
}

int
worker_guest_stats(const struct worker_guest *g, unsigned i,
                   struct worker_dev *d, struct relay_stats *st)
{
    if (i >= WORKER_MAX_DEVS || !g->slot[i].relay) {
        return -ENOENT;
    }
    *d = g->slot[i].dev;
    d->mode = relay_mode(g->slot[i].relay);
    relay_get_stats(g->slot[i].relay, st);
    return 0;
}

void
worker_guest_free(struct worker_guest *g)
{
    if (!g) {
        return;
    }
    for (unsigned i = 0; i < WORKER_MAX_DEVS; i++) {
        if (g->slot[i].relay) {
            relay_free(g->slot[i].relay);
            g->slot[i].relay = NULL;
        }
    }
    hv_free(g->hv);
    free(g);
}

/* --- the forked worker process --- */

struct worker_proc {
    struct loop *loop;
    struct worker_guest *g;
    int ctl_fd;
    int sig_fd;
    uint32_t domid;
};

static void
worker_send(struct worker_proc *p, const struct worker_msg *m)
{
    int rc = worker_msg_send(p->ctl_fd, m, NULL);

    if (rc) {
        log_warn("dom%u: worker: cannot report to the service: %s", p->domid,
                 strerror(-rc));
    }
}

static void
worker_reply(struct worker_proc *p, uint32_t op, int err,
             const struct worker_dev *d)
{
    struct worker_msg m = { .op = op, .err = err, .dev = *d };

    worker_send(p, &m);
}

/* Every device's counters, then the end mark. */
static void
worker_report(struct worker_proc *p)
{
    struct worker_msg m;

    for (unsigned i = 0; i < WORKER_MAX_DEVS; i++) {
        memset(&m, 0, sizeof(m));
        if (worker_guest_stats(p->g, i, &m.dev, &m.stats) == 0) {
            m.op = WORKER_STATS;
            worker_send(p, &m);
        }
    }
    memset(&m, 0, sizeof(m));
    m.op = WORKER_STATS_END;
    worker_send(p, &m);
}

static void
worker_ctl(void *opaque, uint32_t events)
{
    struct worker_proc *p = opaque;
    struct worker_msg m;
    int gnt_fds[WORKER_GNT_FDS];
    ssize_t n = worker_msg_recv(p->ctl_fd, &m, gnt_fds);
    int rc;

    if (n == 0 || (n < 0 && n != -EAGAIN && n != -EINTR)) {
        log_info("dom%u: worker: service closed the control socket",
                 p->domid);
        loop_stop(p->loop);
        return;
    }
    if (n < 0) {
        return;
    }
    if (n != (ssize_t)sizeof(m)) {
        log_err("dom%u: worker: control message of %zd bytes ignored",
                p->domid, n);
        return;
    }
    m.dev.socket[sizeof(m.dev.socket) - 1] = '\0';
    m.dev.name[sizeof(m.dev.name) - 1] = '\0';
    m.dev.set.fs_tag[sizeof(m.dev.set.fs_tag) - 1] = '\0';
    switch (m.op) {
    case WORKER_ADD:
        rc = worker_guest_add(p->g, &m.dev, gnt_fds);
        if (rc) {
            log_err("%s: cannot serve from %s: %s", m.dev.name, m.dev.socket,
                    strerror(-rc));
        }
        worker_reply(p, rc && rc != -EEXIST ? WORKER_FAILED : WORKER_UP, rc,
                     &m.dev);
        break;
    case WORKER_DEL:
        worker_guest_del(p->g, m.dev.kind, m.dev.devid);
        log_info("%s: stopped", m.dev.name);
        worker_reply(p, WORKER_DOWN, 0, &m.dev);
        break;
    case WORKER_STATS:
        worker_report(p);
        break;
    default:
        log_err("dom%u: worker: unknown control op %u", p->domid, m.op);
        break;
    }
}

static void
worker_signal(void *opaque, uint32_t events)
{
    struct worker_proc *p = opaque;
    struct signalfd_siginfo si;

    while (read(p->sig_fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        log_info("dom%u: worker: signal %u, stopping", p->domid,
                 si.ssi_signo);
    }
    loop_stop(p->loop);
}

int
worker_process(int ctl_fd, uint32_t domid, const struct worker_opts *o)
{
    struct worker_proc p = { .ctl_fd = ctl_fd, .sig_fd = -1,
                             .domid = domid };
    sigset_t set;
    int sfd, status = 1;

    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGINT);
    sigprocmask(SIG_BLOCK, &set, NULL);
    p.loop = loop_new();
    if (!p.loop) {
        return 1;
    }
    sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    p.sig_fd = sfd;
    if (sfd < 0 || loop_add_fd(p.loop, sfd, EPOLLIN, worker_signal, &p)) {
        goto free_loop;
    }
    if (worker_guest_new(&p.g, p.loop, domid, o)) {
        goto free_loop;
    }
    if (loop_add_fd(p.loop, ctl_fd, EPOLLIN, worker_ctl, &p)) {
        goto free_guest;
    }
    log_info("dom%u: worker %d serving", domid, (int)getpid());
    status = loop_run(p.loop) ? 1 : 0;
    loop_del_fd(p.loop, ctl_fd);
free_guest:
    worker_guest_free(p.g);
free_loop:
    if (sfd >= 0) {
        loop_del_fd(p.loop, sfd);
        close(sfd);
    }
    loop_free(p.loop);
    return status;
}
