/*
 * service: the dom0 service (see service.h).
 *
 * Lifecycle of a device in the parent: WAITING (no socket yet, or a
 * retry pending) -> ADDING (ADD sent to the guest's worker) -> SERVED
 * (worker said UP; state 4 written) -> CLOSING (DEL sent) -> released
 * (state 6 written when libxl asked for the close).  Any step can be
 * cut short by the entry vanishing or the guest dying; release undoes
 * whatever was done (timer, spawned qemu-storage-daemon, slot).
 *
 * Privilege: the parent stays root (it opens Xen handles for each new
 * worker and writes other domains' xenstore entries).  Each worker
 * restricts itself to its guest and drops to cfg->uid/gid (by default the
 * xen-vhost-master user); a qemu-storage-daemon we start runs as that same
 * user, with umask 007, in the socket directory, which is made root:<its
 * group> mode 2770 at start-up so a worker reaches every socket there
 * through the group, without world-writable sockets.  A worker cannot
 * open /dev/xen/gntdev after that, so the WORKER_ADD of a grant device
 * carries a gntdev fd the parent opened for it (worker_gntdev_for); the
 * worker keeps the first and closes the rest, and the worker of a guest
 * without grant devices never holds one (hv_xen_gnt.h: what it allows).
 *
 * Status (`--status`): the parent listens on the control socket (ctl.h);
 * on a request it asks every worker for its devices' counters
 * (WORKER_STATS) and answers once each worker has replied
 * (WORKER_STATS_END), or after SVC_STATUS_MS with what it has.  Only the
 * parent is reachable: workers keep no socket of their own, and devices
 * without a worker are reported from the parent's own state.
 *
 * Trust boundary: xenstore (disc_xs/disc), control-socket clients (ctl)
 * and the workers' replies, which are size-checked and matched against
 * devices we asked for.  The parent never maps guest memory: a guest can
 * only crash its own worker.
 */
#include <config.h>

#include <errno.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ctl.h"
#include "decl.h"
#include "disc_xs.h"
#include "hv_xen.h"
#include "log.h"
#include "resolve.h"
#include "service_priv.h"

static void svc_dev_try(struct svc_dev *d);

/*
 * The socket directory, made what a worker that is not root needs: root
 * owns it, the worker group may create and reach sockets in it, and
 * sockets created inside get that group (setgid).  Left alone when
 * workers stay root.  0 or -errno.
 */
static int
svc_socket_dir(const struct cfg *c)
{
    const char *dir = c->backend_dir;
    struct stat st;

    if (mkdir(dir, 02770) < 0 && errno != EEXIST) {
        int rc = -errno;

        log_err("service: cannot create the socket directory %s: %s", dir,
                strerror(errno));
        return rc;
    }
    if (lstat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
        log_err("service: socket directory %s is not a directory", dir);
        return -ENOTDIR;
    }
    if (c->uid == 0) {
        log_warn("service: workers run as root (user=root asked)");
        return 0;
    }
    if (chown(dir, 0, c->gid) < 0 || chmod(dir, 02770) < 0) {
        int rc = -errno;

        log_err("service: cannot give %s to group %u (mode 2770): %s", dir,
                (unsigned)c->gid, strerror(errno));
        return rc;
    }
    log_info("service: workers run as uid %u gid %u; sockets in %s (root:%u "
             "2770): backends started by hand need umask 007 or that user",
             (unsigned)c->uid, (unsigned)c->gid, dir, (unsigned)c->gid);
    return 0;
}

static void
svc_close_fds_from(int lowfd)
{
    if (close_range((unsigned)lowfd, ~0U, 0) == 0) {
        return;
    }
    for (int fd = lowfd; fd < 1024; fd++) {
        close(fd);
    }
}

static struct svc_guest *
svc_guest_find(struct service *s, uint32_t domid)
{
    for (unsigned i = 0; i < SVC_MAX_GUESTS; i++) {
        if (s->guest[i].used && s->guest[i].domid == domid) {
            return &s->guest[i];
        }
    }
    return NULL;
}

static struct svc_dev *
svc_dev_find(struct svc_guest *g, uint32_t kind, uint32_t devid)
{
    for (unsigned i = 0; i < WORKER_MAX_DEVS; i++) {
        struct svc_dev *d = &g->dev[i];

        if (d->st != SD_FREE && d->info.kind == kind &&
            d->info.devid == devid) {
            return d;
        }
    }
    return NULL;
}

static void
svc_ctl_event(void *opaque, uint32_t events);

/* Fork the guest's worker.  0 or -errno. */
static int
svc_worker_spawn(struct svc_guest *g)
{
    const struct cfg *c = g->svc->cfg;
    struct worker_opts o = { .mapcache_mib = c->mapcache_mib,
                             .restrict_domid = true,
                             .has_user = c->has_user,
                             .uid = c->uid, .gid = c->gid };
    pid_t parent = getpid();
    int sv[2];
    pid_t pid;

    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv)) {
        return -errno;
    }
    pid = fork();
    if (pid < 0) {
        int err = errno;

        close(sv[0]);
        close(sv[1]);
        return -err;
    }
    if (pid == 0) {
        /* Child: nothing of the parent's (xenstore, other guests) stays. */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent || dup2(sv[1], 3) != 3) {
            _exit(1);
        }
        svc_close_fds_from(4);
        _exit(worker_process(3, g->domid, &o));
    }
    close(sv[1]);
    g->pid = pid;
    g->ctl_fd = sv[0];
    if (loop_add_fd(g->svc->loop, g->ctl_fd, EPOLLIN, svc_ctl_event, g)) {
        log_err("dom%u: cannot watch the worker's socket", g->domid);
    }
    log_info("dom%u: worker %d started", g->domid, (int)pid);
    return 0;
}

static void
svc_worker_stop(struct svc_guest *g)
{
    svc_stats_done(g);
    if (g->ctl_fd >= 0) {
        loop_del_fd(g->svc->loop, g->ctl_fd);
        close(g->ctl_fd);
        g->ctl_fd = -1;
    }
    if (g->pid > 0) {
        kill(g->pid, SIGTERM);
        /* reaped from SIGCHLD */
    }
    g->pid = -1;
}

int
svc_send(struct svc_guest *g, uint32_t op, const struct worker_dev *wd)
{
    struct worker_msg m = { .op = op, .dev = *wd };
    int fds[WORKER_GNT_FDS] = { -1, -1 };
    int rc;

    if (g->ctl_fd < 0) {
        return -EPIPE;
    }
    if (op == WORKER_ADD) {
        /* The worker dropped root: a grant device's gntdev comes from us. */
        rc = worker_gntdev_for(wd, fds);
        if (rc) {
            log_err("%s: cannot open /dev/xen/gntdev for a grant device: %s",
                    wd->name, strerror(-rc));
            return rc;
        }
    }
    rc = worker_msg_send(g->ctl_fd, &m, fds);
    for (unsigned i = 0; i < WORKER_GNT_FDS; i++) {
        if (fds[i] >= 0) {
            close(fds[i]);
        }
    }
    return rc;
}

/* Mark a declared device served (`ready`) or not in xenstore. */
static void
svc_dev_ready(struct svc_dev *d, bool ready)
{
    struct service *s = d->g->svc;
    char path[96];

    if (d->info.kind != DISC_KIND_DECLARED) {
        return;
    }
    snprintf(path, sizeof(path), "%s/%u/%u", SVC_READY_ROOT, d->info.domid,
             d->info.devid);
    if (ready) {
        log_info("%s: ready (%s = ready)", d->wd.name, path);
        if (disc_xs_write(s->xs, path, "ready")) {
            log_warn("%s: cannot write %s", d->wd.name, path);
        }
    } else {
        disc_xs_rm(s->xs, path);
    }
}

/* Undo everything done for a device and free its slot. */
static void
svc_dev_release(struct svc_dev *d)
{
    struct service *s = d->g->svc;

    if (d->st == SD_SERVED) {
        svc_dev_ready(d, false);
    }
    if (d->timer > 0) {
        loop_cancel_timer(s->loop, d->timer);
        d->timer = 0;
    }
    if (d->qsd_pid > 0) {
        kill(d->qsd_pid, SIGTERM);
        d->qsd_pid = -1;
    }
    if (d->qsd_socket) {
        /* Owned by this guest instance: never left for the next one. */
        unlink(d->wd.socket);
        d->qsd_socket = false;
    }
    if (d->close_requested) {
        disc_xs_set_state(s->xs, d->info.kind, d->info.domid, d->info.devid,
                          DISC_STATE_CLOSED);
    }
    d->st = SD_FREE;
}

unsigned
svc_guest_devs(const struct svc_guest *g)
{
    unsigned n = 0;

    for (unsigned i = 0; i < WORKER_MAX_DEVS; i++) {
        n += g->dev[i].st != SD_FREE;
    }
    return n;
}

static void
svc_guest_release(struct svc_guest *g)
{
    for (unsigned i = 0; i < WORKER_MAX_DEVS; i++) {
        if (g->dev[i].st != SD_FREE) {
            svc_dev_release(&g->dev[i]);
        }
    }
    svc_worker_stop(g);
    g->used = false;
}

static void
svc_dev_timer(void *opaque)
{
    struct svc_dev *d = opaque;

    d->timer = 0;
    svc_dev_try(d);
}

static void
svc_dev_retry(struct svc_dev *d, unsigned ms)
{
    if (++d->tries > SVC_MAX_TRIES) {
        log_err("%s: giving up after %u attempts", d->wd.name, SVC_MAX_TRIES);
        return;
    }
    d->st = SD_WAITING;
    d->timer = loop_add_timer(d->g->svc->loop, ms, svc_dev_timer, d);
    if (d->timer < 0) {
        d->timer = 0;
    }
}

/*
 * In the forked child: become the worker user (no supplementary groups),
 * check the image is reachable as that user, exec qemu-storage-daemon.
 * Returns only on failure, with the exit status.
 */
static int
svc_qsd_exec(const struct cfg *c, const struct svc_dev *d,
             const char *blockdev, const char *export, pid_t parent)
{
    int want = d->info.readonly ? R_OK : R_OK | W_OK;

    umask(007); /* its socket: owner and group (the workers) only */
    if (c->uid != 0 &&
        (setgroups(0, NULL) < 0 || setgid(c->gid) < 0 || setuid(c->uid) < 0)) {
        log_err("%s: cannot run %s as uid %u gid %u: %s", d->wd.name,
                c->qsd_path, (unsigned)c->uid, (unsigned)c->gid,
                strerror(errno));
        return SVC_QSD_EXIT_PRIV;
    }
    /* After the uid change, which clears it; a parent already gone is
     * not waited for. */
    if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0 || getppid() != parent) {
        return 1;
    }
    if (access(d->info.target, want) < 0) {
        log_err("%s: %s is not %s by uid %u gid %u, which %s runs as: give "
                "that group access to it (or set user=root)", d->wd.name,
                d->info.target,
                d->info.readonly ? "readable" : "readable and writable",
                (unsigned)c->uid, (unsigned)c->gid, c->qsd_path);
        return SVC_QSD_EXIT_PRIV;
    }
    execl(c->qsd_path, c->qsd_path, "--blockdev", blockdev, "--export",
          export, (char *)NULL);
    log_err("%s: exec %s: %s", d->wd.name, c->qsd_path, strerror(errno));
    return 127;
}

/* Start qemu-storage-daemon for a disk; its socket is d->wd.socket. */
static int
svc_qsd_spawn(struct svc_dev *d)
{
    const struct cfg *c = d->g->svc->cfg;
    char blockdev[DISC_TARGET_MAX * 2 + 64], export[CFG_SOCK_MAX + 128];
    pid_t parent = getpid();
    unsigned vcpus = 0, queues;
    size_t o;
    pid_t pid;

    /* Unknown (logged): one queue. */
    hv_xen_domain_vcpus(d->info.domid, &vcpus);
    queues = resolve_qsd_queues(&d->wd, vcpus);
    o = (size_t)snprintf(blockdev, sizeof(blockdev),
                         "driver=file,node-name=f0,read-only=%s,filename=",
                         d->info.readonly ? "on" : "off");
    /* QEMU option syntax: a comma inside a value is doubled. */
    for (const char *p = d->info.target; *p && o + 3 < sizeof(blockdev); p++) {
        if (*p == ',') {
            blockdev[o++] = ',';
        }
        blockdev[o++] = *p;
    }
    blockdev[o] = '\0';
    snprintf(export, sizeof(export),
             "type=vhost-user-blk,id=e0,node-name=f0,addr.type=unix,"
             "addr.path=%s,writable=%s,num-queues=%u",
             d->wd.socket, d->info.readonly ? "off" : "on", queues);
    /* Whatever an earlier guest left here is not this disk's backend. */
    if (unlink(d->wd.socket) == 0) {
        log_info("%s: removed %s left by an earlier backend", d->wd.name,
                 d->wd.socket);
    }
    d->qsd_socket = true;
    pid = fork();
    if (pid < 0) {
        return -errno;
    }
    if (pid == 0) {
        sigset_t none;

        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        svc_close_fds_from(3);
        _exit(svc_qsd_exec(c, d, blockdev, export, parent));
    }
    d->qsd_pid = pid;
    log_info("%s: started %s (pid %d, uid %u) for %s on %s, %u queue(s)",
             d->wd.name, c->qsd_path, (int)pid, (unsigned)c->uid,
             d->info.target, d->wd.socket, queues);
    return 0;
}

/* Find a socket (or start a backend) and hand the device to the worker. */
static void
svc_dev_try(struct svc_dev *d)
{
    struct svc_guest *g = d->g;
    const struct cfg *c = g->svc->cfg;
    struct worker_dev wd;
    enum resolve_how how;
    char err[CFG_ERR_MAX];
    int rc;

    if (d->qsd_pid > 0) {
        /* Waiting for the spawned backend's socket to appear. */
        if (access(d->wd.socket, F_OK)) {
            svc_dev_retry(d, SVC_QSD_POLL_MS);
            return;
        }
        rc = 0;
    } else {
        rc = resolve_device(c, &d->info, g->name[0] ? g->name : NULL, &wd,
                            &how, err, sizeof(err));
        d->wd = wd;
        if (rc == 0 && how == RESOLVE_SPAWN) {
            rc = svc_qsd_spawn(d);
            if (rc == 0) {
                svc_dev_retry(d, SVC_QSD_POLL_MS);
                return;
            }
            snprintf(err, sizeof(err), "cannot start %.128s: %s", c->qsd_path,
                     strerror(-rc));
        }
        if (rc) {
            if (d->tries == 0) {
                log_err("%s: %s", d->wd.name, err);
            }
            if (rc == -ENOENT) {
                svc_dev_retry(d, SVC_RETRY_MS);
            }
            return;
        }
    }
    if (g->pid <= 0) {
        rc = svc_worker_spawn(g);
        if (rc) {
            log_err("dom%u: cannot start a worker: %s", g->domid,
                    strerror(-rc));
            svc_dev_retry(d, SVC_RETRY_MS);
            return;
        }
    }
    rc = svc_send(g, WORKER_ADD, &d->wd);
    if (rc) {
        log_err("%s: cannot reach the worker: %s", d->wd.name, strerror(-rc));
        svc_dev_retry(d, SVC_RETRY_MS);
        return;
    }
    d->st = SD_ADDING;
}

static void
svc_ctl_event(void *opaque, uint32_t events)
{
    struct svc_guest *g = opaque;
    struct worker_msg m;
    struct svc_dev *d;
    ssize_t n = recv(g->ctl_fd, &m, sizeof(m), MSG_DONTWAIT);

    if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        return;
    }
    if (n != (ssize_t)sizeof(m)) {
        /* The worker is gone: take its devices back to WAITING. */
        log_err("dom%u: worker %d stopped answering", g->domid, (int)g->pid);
        svc_stats_done(g);
        loop_del_fd(g->svc->loop, g->ctl_fd);
        close(g->ctl_fd);
        g->ctl_fd = -1;
        g->pid = -1;
        for (unsigned i = 0; i < WORKER_MAX_DEVS; i++) {
            d = &g->dev[i];
            if (d->st == SD_CLOSING) {
                svc_dev_release(d);
            } else if (d->st != SD_FREE && d->timer == 0 &&
                       g->restarts < SVC_MAX_RESTARTS) {
                svc_dev_retry(d, SVC_RETRY_MS);
            }
        }
        g->restarts++;
        return;
    }
    if (m.op == WORKER_STATS_END) {
        svc_stats_done(g);
        return;
    }
    d = svc_dev_find(g, m.dev.kind, m.dev.devid);
    if (!d) {
        return;
    }
    switch (m.op) {
    case WORKER_STATS:
        d->has_stats = true;
        d->mode = m.dev.mode;
        d->stats = m.stats;
        break;
    case WORKER_UP:
        d->st = SD_SERVED;
        d->tries = 0;
        disc_xs_set_state(g->svc->xs, d->info.kind, g->domid, d->info.devid,
                          DISC_STATE_CONNECTED);
        svc_dev_ready(d, true);
        break;
    case WORKER_FAILED:
        svc_dev_retry(d, SVC_RETRY_MS);
        break;
    case WORKER_DOWN:
        svc_dev_release(d);
        if (!svc_guest_devs(g)) {
            svc_guest_release(g);
        }
        break;
    default:
        break;
    }
}

static void
svc_dev_up(void *opaque, const struct disc_dev *info)
{
    struct service *s = opaque;
    struct svc_guest *g = svc_guest_find(s, info->domid);
    struct svc_dev *d = NULL;

    if (!g) {
        for (unsigned i = 0; i < SVC_MAX_GUESTS && !g; i++) {
            if (!s->guest[i].used) {
                g = &s->guest[i];
            }
        }
        if (!g) {
            log_err("dom%u: more than %d guests, not served", info->domid,
                    SVC_MAX_GUESTS);
            return;
        }
        memset(g, 0, sizeof(*g));
        g->used = true;
        g->svc = s;
        g->domid = info->domid;
        g->pid = -1;
        g->ctl_fd = -1;
        if (disc_xs_guest_name(s->xs, info->domid, g->name, sizeof(g->name))) {
            g->name[0] = '\0';
        }
    }
    if (svc_dev_find(g, info->kind, info->devid)) {
        return;
    }
    for (unsigned i = 0; i < WORKER_MAX_DEVS; i++) {
        const struct disc_dev *o = &g->dev[i].info;

        if (g->dev[i].st != SD_FREE && disc_dev_overlap(o, info)) {
            log_err("dom%u/%s%u: its window 0x%llx or irq %u clashes with "
                    "%s%u: not served", info->domid, disc_kind_dir(info->kind),
                    info->devid, (unsigned long long)info->base, info->irq,
                    disc_kind_dir(o->kind), o->devid);
            return;
        }
        if (g->dev[i].st == SD_FREE && !d) {
            d = &g->dev[i];
        }
    }
    if (!d) {
        log_err("dom%u: more than %d devices, %s%u not served", info->domid,
                WORKER_MAX_DEVS, disc_kind_dir(info->kind), info->devid);
        return;
    }
    memset(d, 0, sizeof(*d));
    d->g = g;
    d->info = *info;
    d->qsd_pid = -1;
    d->st = SD_WAITING;
    snprintf(d->wd.name, sizeof(d->wd.name), "dom%u/%s%u", info->domid,
             disc_kind_dir(info->kind), info->devid);
    svc_dev_try(d);
}

static void
svc_dev_down(void *opaque, enum disc_kind kind, uint32_t domid,
             uint32_t devid, bool closing)
{
    struct service *s = opaque;
    struct svc_guest *g = svc_guest_find(s, domid);
    struct svc_dev *d = g ? svc_dev_find(g, kind, devid) : NULL;

    if (!d) {
        if (closing) {
            disc_xs_set_state(s->xs, kind, domid, devid, DISC_STATE_CLOSED);
        }
        return;
    }
    d->close_requested = closing;
    if ((d->st == SD_ADDING || d->st == SD_SERVED) &&
        svc_send(g, WORKER_DEL, &d->wd) == 0) {
        d->st = SD_CLOSING;
        return;
    }
    if (d->st != SD_CLOSING) {
        svc_dev_release(d);
        if (!svc_guest_devs(g)) {
            svc_guest_release(g);
        }
    }
}

static void
svc_dom_gone(void *opaque, uint32_t domid)
{
    struct service *s = opaque;
    struct svc_guest *g = svc_guest_find(s, domid);
    char path[64];

    if (g) {
        log_info("dom%u: tearing down", domid);
        svc_guest_release(g);
    }
    snprintf(path, sizeof(path), "%s/%u", SVC_READY_ROOT, domid);
    disc_xs_rm(s->xs, path);
}

/* A guest exists: serve the devices the config file declares for it. */
static void
svc_dom_new(void *opaque, uint32_t domid)
{
    struct service *s = opaque;
    struct disc_dev devs[DECL_MAX_PER_GUEST];
    char name[CFG_GUEST_MAX];
    unsigned n;

    if (disc_xs_guest_name(s->xs, domid, name, sizeof(name))) {
        name[0] = '\0';
    }
    n = decl_for_guest(s->cfg, domid, name[0] ? name : NULL, devs,
                       DECL_MAX_PER_GUEST);
    for (unsigned i = 0; i < n; i++) {
        log_info("dom%u/declared%u: device %u at 0x%llx irq %u%s", domid,
                 devs[i].devid, devs[i].device_id,
                 (unsigned long long)devs[i].base, devs[i].irq,
                 devs[i].grants ? " with grants" : "");
        svc_dev_up(s, &devs[i]);
    }
}

static void
svc_reap(struct service *s)
{
    int status;
    pid_t pid;

    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        for (unsigned i = 0; i < SVC_MAX_GUESTS; i++) {
            struct svc_guest *g = &s->guest[i];

            if (!g->used) {
                continue;
            }
            for (unsigned j = 0; j < WORKER_MAX_DEVS; j++) {
                if (g->dev[j].st != SD_FREE && g->dev[j].qsd_pid == pid) {
                    log_warn("%s: qemu-storage-daemon %d exited (status "
                             "0x%x%s)", g->dev[j].wd.name, (int)pid, status,
                             WIFEXITED(status) &&
                                     WEXITSTATUS(status) == SVC_QSD_EXIT_PRIV
                                 ? ": could not run as the worker user"
                                 : "");
                    g->dev[j].qsd_pid = -1;
                }
            }
        }
        log_debug("service: child %d exited (status 0x%x)", (int)pid, status);
    }
}

static void
svc_signal(void *opaque, uint32_t events)
{
    struct service *s = opaque;
    struct signalfd_siginfo si;

    while (read(s->sig_fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        if (si.ssi_signo == SIGCHLD) {
            svc_reap(s);
        } else if (si.ssi_signo == SIGHUP) {
            disc_xs_rescan(s->xs);
        } else {
            log_info("service: signal %u, stopping", si.ssi_signo);
            loop_stop(s->loop);
        }
    }
}

/* Stop every worker and backend; wait for them at most 5 s. */
static void
svc_shutdown(struct service *s)
{
    for (unsigned i = 0; i < SVC_MAX_GUESTS; i++) {
        if (s->guest[i].used) {
            for (unsigned j = 0; j < WORKER_MAX_DEVS; j++) {
                struct svc_dev *d = &s->guest[i].dev[j];

                d->close_requested = d->st == SD_SERVED || d->st == SD_CLOSING;
            }
            svc_guest_release(&s->guest[i]);
        }
    }
    for (int i = 0; i < 50; i++) {
        if (waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD) {
            return;
        }
        usleep(100 * 1000);
    }
    log_warn("service: children still running after 5 s; they get SIGTERM "
             "again when this process exits (PR_SET_PDEATHSIG)");
}

int
service_main(const struct cfg *c)
{
    struct service *s = calloc(1, sizeof(*s));
    struct disc_xs_ops ops = { .dev_up = svc_dev_up,
                               .dev_down = svc_dev_down,
                               .dom_gone = svc_dom_gone,
                               .dom_new = svc_dom_new };
    sigset_t set;
    int rc = 1;

    if (!s) {
        return 1;
    }
    s->cfg = c;
    s->sig_fd = -1;
    ops.opaque = s;
    if (svc_socket_dir(c) < 0) {
        goto free_s;
    }
    /* Block before any thread exists, so every thread inherits it. */
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGCHLD);
    sigprocmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    s->loop = loop_new();
    if (!s->loop) {
        goto free_s;
    }
    s->sig_fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    if (s->sig_fd < 0 ||
        loop_add_fd(s->loop, s->sig_fd, EPOLLIN, svc_signal, s)) {
        log_err("service: cannot set up signals");
        goto free_loop;
    }
    if (disc_xs_new(&s->xs, s->loop, c->has_domid ? c->domid : 0, &ops)) {
        goto free_loop;
    }
    log_info("service: watching %s/{virtio,virtio_disk}%s", DISC_BACKEND_ROOT,
             c->has_domid ? " for one guest" : "");
    svc_ctl_listen(s);
    disc_xs_rescan(s->xs);
    rc = loop_run(s->loop) ? 1 : 0;
    ctl_server_free(s->ctl);
    s->ctl = NULL;
    if (s->status_timer > 0) {
        loop_cancel_timer(s->loop, s->status_timer);
    }
    svc_shutdown(s);
    disc_xs_free(s->xs);
free_loop:
    if (s->sig_fd >= 0) {
        loop_del_fd(s->loop, s->sig_fd);
        close(s->sig_fd);
    }
    loop_free(s->loop);
free_s:
    free(s);
    return rc;
}
