/*
 * dm: xl-spawned mode (see dm.h).
 *
 * `--status` reaches it on <backend dir>/ctl-dom<domid>.sock (ctl.h),
 * bound before the privileges are dropped; it answers from the
 * in-process relays directly.
 *
 * Trust boundary: libxl's argv (dmargs), QMP clients (qmp), control-socket
 * clients (ctl), xenstore (disc_xs) and, through the relays, the guest and
 * its backends.
 */
#include <config.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cfg.h"
#include "ctl.h"
#include "decl.h"
#include "disc_xs.h"
#include "dm.h"
#include "dmargs.h"
#include "log.h"
#include "qmp.h"
#include "resolve.h"
#include "worker.h"

#define DM_EXIT_USAGE 2
#define DM_PROBE_TIMEOUT_MS 60000
#define DM_RETRY_MS 1000
#define DM_MAX_TRIES 60

struct dm;

struct dm_dev {
    bool used;
    bool served;
    struct dm *dm;
    struct disc_dev info;
    int timer;
    unsigned tries;
};

struct dm {
    struct dmargs args;
    struct cfg cfg;
    struct loop *loop;
    struct qmp_server *qmp;
    struct qmp_handler qh;
    struct ctl_server *ctl;
    struct disc_xs *xs;
    struct worker_guest *guest;
    enum qmp_status status;
    char name[CFG_GUEST_MAX];
    int sig_fd;
    struct dm_dev dev[WORKER_MAX_DEVS];
};

static enum qmp_status
dm_qmp_status(void *opaque)
{
    return ((struct dm *)opaque)->status;
}

static void
dm_qmp_run(void *opaque, bool running)
{
    struct dm *dm = opaque;

    dm->status = running ? QMP_STATUS_RUNNING : QMP_STATUS_PAUSED;
}

static void
dm_qmp_quit(void *opaque)
{
    struct dm *dm = opaque;

    log_info("dm: quit requested over QMP");
    loop_stop(dm->loop);
}

static void dm_dev_try(struct dm_dev *d);

/* Fill c with d's state and, when served, its relay's counters. */
static void
dm_dev_report(struct dm *dm, const struct dm_dev *d, struct ctl_dev *c)
{
    struct worker_dev wd;
    struct relay_stats st;

    memset(c, 0, sizeof(*c));
    c->domid = d->info.domid;
    c->state = d->served ? CTL_DEV_SERVING : CTL_DEV_WAITING;
    c->mode = RELAY_MODE_AUTO;
    snprintf(c->guest, sizeof(c->guest), "%s", dm->name);
    snprintf(c->name, sizeof(c->name), "dom%u/%s%u", d->info.domid,
             disc_kind_dir(d->info.kind), d->info.devid);
    for (unsigned i = 0; d->served && i < WORKER_MAX_DEVS; i++) {
        if (worker_guest_stats(dm->guest, i, &wd, &st) == 0 &&
            wd.kind == d->info.kind && wd.devid == d->info.devid) {
            snprintf(c->socket, sizeof(c->socket), "%s", wd.socket);
            c->mode = (enum relay_mode)wd.mode;
            c->has_stats = true;
            c->stats = st;
        }
    }
}

static void
dm_status(void *opaque, uint64_t token)
{
    struct dm *dm = opaque;
    struct ctl_dev *devs = calloc(WORKER_MAX_DEVS, sizeof(*devs));
    char inst[32];
    unsigned n = 0;

    for (unsigned i = 0; devs && dm->guest && i < WORKER_MAX_DEVS; i++) {
        if (dm->dev[i].used) {
            dm_dev_report(dm, &dm->dev[i], &devs[n++]);
        }
    }
    snprintf(inst, sizeof(inst), "xl-spawned dom%u", dm->args.domid);
    ctl_server_reply(dm->ctl, token, devs ? ctl_status_json(inst, devs, n)
                                          : NULL);
    free(devs);
}

/* Listen on <backend dir>/ctl-dom<domid>.sock; optional like in the service. */
static void
dm_ctl_listen(struct dm *dm)
{
    char path[CFG_DIR_MAX + 32];
    int rc;

    snprintf(path, sizeof(path), "%s/" CTL_DM_SOCK_FMT, dm->cfg.backend_dir,
             dm->args.domid);
    if (mkdir(dm->cfg.backend_dir, 0700) && errno != EEXIST) {
        rc = -errno;
    } else {
        rc = ctl_server_new(&dm->ctl, dm->loop, path,
                            dm->cfg.has_user ? dm->cfg.gid : (gid_t)-1,
                            dm_status, dm);
    }
    if (rc) {
        log_err("dom%u: no control socket %s (--status will not see this "
                "instance): %s", dm->args.domid, path, strerror(-rc));
        dm->ctl = NULL;
    }
}

static void
dm_dev_timer(void *opaque)
{
    struct dm_dev *d = opaque;

    d->timer = 0;
    dm_dev_try(d);
}

static void
dm_dev_try(struct dm_dev *d)
{
    struct dm *dm = d->dm;
    struct worker_dev wd;
    enum resolve_how how;
    char err[CFG_ERR_MAX];
    int rc;

    rc = resolve_device(&dm->cfg, &d->info, dm->name[0] ? dm->name : NULL,
                        &wd, &how, err, sizeof(err));
    if (rc == 0 && how == RESOLVE_SPAWN) {
        /* libxl starts no backend for us and we start none in this mode. */
        snprintf(err, sizeof(err), "disk %.120s: no [device] section names "
                 "its socket (the xl-spawned mode starts no backends)",
                 d->info.target);
        rc = -EINVAL;
    }
    if (rc == 0) {
        rc = worker_guest_add(dm->guest, &wd, NULL);
        if (rc) {
            snprintf(err, sizeof(err), "cannot serve from %s: %s", wd.socket,
                     strerror(-rc));
        }
    }
    if (rc == 0) {
        d->served = true;
        disc_xs_set_state(dm->xs, d->info.kind, d->info.domid, d->info.devid,
                          DISC_STATE_CONNECTED);
        if (d->info.kind == DISC_KIND_DECLARED) {
            log_info("%s: ready", wd.name);
        }
        return;
    }
    if (d->tries == 0) {
        log_err("%s: %s", wd.name, err);
    }
    if (rc != -EINVAL && rc != -ENOTSUP && ++d->tries < DM_MAX_TRIES) {
        d->timer = loop_add_timer(dm->loop, DM_RETRY_MS, dm_dev_timer, d);
        d->timer = d->timer < 0 ? 0 : d->timer;
    }
}

static struct dm_dev *
dm_dev_find(struct dm *dm, enum disc_kind kind, uint32_t devid)
{
    for (unsigned i = 0; i < WORKER_MAX_DEVS; i++) {
        if (dm->dev[i].used && dm->dev[i].info.kind == kind &&
            dm->dev[i].info.devid == devid) {
            return &dm->dev[i];
        }
    }
    return NULL;
}

static void
dm_dev_up(void *opaque, const struct disc_dev *info)
{
    struct dm *dm = opaque;
    struct dm_dev *d = NULL;

    if (dm_dev_find(dm, info->kind, info->devid)) {
        return;
    }
    for (unsigned i = 0; i < WORKER_MAX_DEVS; i++) {
        const struct disc_dev *o = &dm->dev[i].info;

        if (dm->dev[i].used && disc_dev_overlap(o, info)) {
            log_err("dom%u/%s%u: its window 0x%llx or irq %u clashes with "
                    "%s%u: not served", info->domid, disc_kind_dir(info->kind),
                    info->devid, (unsigned long long)info->base, info->irq,
                    disc_kind_dir(o->kind), o->devid);
            return;
        }
        if (!dm->dev[i].used && !d) {
            d = &dm->dev[i];
        }
    }
    if (!d) {
        log_err("dom%u: more than %d devices", info->domid, WORKER_MAX_DEVS);
        return;
    }
    memset(d, 0, sizeof(*d));
    d->used = true;
    d->dm = dm;
    d->info = *info;
    dm_dev_try(d);
}

static void
dm_dev_release(struct dm_dev *d, bool write_closed)
{
    struct dm *dm = d->dm;

    if (d->timer > 0) {
        loop_cancel_timer(dm->loop, d->timer);
        d->timer = 0;
    }
    if (d->served) {
        worker_guest_del(dm->guest, d->info.kind, d->info.devid);
        d->served = false;
    }
    if (write_closed) {
        disc_xs_set_state(dm->xs, d->info.kind, d->info.domid, d->info.devid,
                          DISC_STATE_CLOSED);
    }
    d->used = false;
}

static void
dm_dev_down(void *opaque, enum disc_kind kind, uint32_t domid, uint32_t devid,
            bool closing)
{
    struct dm *dm = opaque;
    struct dm_dev *d = dm_dev_find(dm, kind, devid);

    if (d) {
        dm_dev_release(d, closing);
    } else if (closing) {
        disc_xs_set_state(dm->xs, kind, domid, devid, DISC_STATE_CLOSED);
    }
}

static void
dm_dom_gone(void *opaque, uint32_t domid)
{
    struct dm *dm = opaque;

    log_info("dom%u: guest gone, stopping", domid);
    loop_stop(dm->loop);
}

static void
dm_signal(void *opaque, uint32_t events)
{
    struct dm *dm = opaque;
    struct signalfd_siginfo si;

    while (read(dm->sig_fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        log_info("dm: signal %u, tearing down", si.ssi_signo);
        loop_stop(dm->loop);
    }
}

static void
dm_probe_timeout(void *opaque)
{
    struct dm *dm = opaque;

    log_warn("dm: capability probe: no quit within %d s, exiting",
             DM_PROBE_TIMEOUT_MS / 1000);
    loop_stop(dm->loop);
}

/* Parse argv and our own options; 0 or DM_EXIT_USAGE. */
static int
dm_parse(struct dm *dm, int argc, char **argv)
{
    char err[DMARGS_ERR_MAX];
    char *own[DMARGS_MAX_OWN + 1];

    if (dmargs_parse(&dm->args, argc, argv, err, sizeof(err))) {
        fprintf(stderr, "xen-vhost-master: %s\n", err);
        return DM_EXIT_USAGE;
    }
    own[0] = argv[0];
    for (unsigned i = 0; i < dm->args.nr_own; i++) {
        own[i + 1] = (char *)dm->args.own[i];
    }
    cfg_init(&dm->cfg);
    if (cfg_parse_args(&dm->cfg, (int)dm->args.nr_own + 1, own, err,
                       sizeof(err)) ||
        (dm->cfg.config_path[0] &&
         cfg_load_file(&dm->cfg, dm->cfg.config_path, err, sizeof(err))) ||
        cfg_parse_args(&dm->cfg, (int)dm->args.nr_own + 1, own, err,
                       sizeof(err))) {
        fprintf(stderr, "xen-vhost-master: device_model_args: %s\n", err);
        return DM_EXIT_USAGE;
    }
    if (dm->cfg.run != CFG_RUN_NONE) {
        fprintf(stderr, "xen-vhost-master: device_model_args may not hold "
                "--service, --status, --help, --version or --check-config\n");
        return DM_EXIT_USAGE;
    }
    return 0;
}

/* Listen on every QMP chardev.  0 or -errno. */
static int
dm_listen(struct dm *dm)
{
    int rc;

    rc = qmp_server_new(&dm->qmp, dm->loop, &dm->qh);
    for (unsigned i = 0; rc == 0 && i < dm->args.nr_chardevs; i++) {
        const struct dmargs_chardev *c = &dm->args.chardev[i];

        if (!c->qmp) {
            continue;
        }
        rc = c->fd >= 0 ? qmp_server_listen_fd(dm->qmp, c->fd)
                        : qmp_server_listen_path(dm->qmp, c->path);
        if (rc) {
            log_err("dm: QMP chardev '%s' (%s): %s", c->id,
                    c->fd >= 0 ? "fd" : c->path, strerror(-rc));
        }
    }
    return rc;
}

/* The guest's declared devices, served before it can run. */
static void
dm_serve_declared(struct dm *dm)
{
    struct disc_dev devs[DECL_MAX_PER_GUEST];
    unsigned n = decl_for_guest(&dm->cfg, dm->args.domid,
                                dm->name[0] ? dm->name : NULL, devs,
                                DECL_MAX_PER_GUEST);

    for (unsigned i = 0; i < n; i++) {
        dm_dev_up(dm, &devs[i]);
    }
}

/* Tell libxl the device model runs (unrestricted runs only).  0 or -errno. */
static int
dm_write_running(struct dm *dm)
{
    char path[80];
    int rc;

    snprintf(path, sizeof(path), "/local/domain/0/device-model/%u/state",
             dm->args.domid);
    rc = disc_xs_write(dm->xs, path, "running");
    if (rc) {
        log_err("dom%u: cannot write %s: %s", dm->args.domid, path,
                strerror(-rc));
    }
    return rc;
}

/*
 * The real run: discovery, the in-process guest, state=running.  libxl
 * unpauses the guest only after state=running (or, restricted, after
 * answering QMP from the loop): declared devices are served before that
 * when nothing closes xenstore in between; a run with --user writes it
 * before the privilege drop, as the drop may take xenstore away.
 */
static int
dm_serve(struct dm *dm)
{
    struct worker_opts o = { .mapcache_mib = dm->cfg.mapcache_mib,
                             .restrict_domid = dm->args.domid_restrict,
                             .has_user = dm->cfg.has_user,
                             .uid = dm->cfg.uid, .gid = dm->cfg.gid };
    struct disc_xs_ops ops = { .opaque = dm, .dev_up = dm_dev_up,
                               .dev_down = dm_dev_down,
                               .dom_gone = dm_dom_gone };
    uint32_t domid = dm->args.domid;
    bool running_after = !dm->args.domid_restrict && !dm->cfg.has_user;
    int rc;

    rc = disc_xs_new(&dm->xs, dm->loop, domid, &ops);
    if (rc) {
        return rc;
    }
    if (disc_xs_guest_name(dm->xs, domid, dm->name, sizeof(dm->name))) {
        snprintf(dm->name, sizeof(dm->name), "%s", dm->args.name);
    }
    if (!dm->args.domid_restrict && !running_after) {
        rc = dm_write_running(dm);
        if (rc) {
            return rc;
        }
    }
    /* Bound while we may still create files in the run directory. */
    dm_ctl_listen(dm);
    /* Restriction (if any) closes the way back to xenstore: do it last. */
    rc = worker_guest_new(&dm->guest, dm->loop, domid, &o);
    if (rc) {
        return rc;
    }
    dm_serve_declared(dm);
    if (running_after) {
        rc = dm_write_running(dm);
        if (rc) {
            return rc;
        }
    }
    disc_xs_rescan(dm->xs);
    log_info("dom%u: device model ready (%s)", domid,
             dm->args.domid_restrict ? "restricted" : "unrestricted");
    return 0;
}

static void
dm_teardown(struct dm *dm)
{
    for (unsigned i = 0; i < WORKER_MAX_DEVS; i++) {
        if (dm->dev[i].used) {
            dm_dev_release(&dm->dev[i], false);
        }
    }
    worker_guest_free(dm->guest);
    dm->guest = NULL;
    /* libxl waits (10 s) for state 6 on each virtio backend, served or
     * not: answer them all once the relays are gone. */
    if (dm->xs) {
        disc_xs_close_all(dm->xs, dm->args.domid);
    }
    disc_xs_free(dm->xs);
    dm->xs = NULL;
    qmp_server_free(dm->qmp);
    dm->qmp = NULL;
    ctl_server_free(dm->ctl);
    dm->ctl = NULL;
}

int
dm_main(int argc, char **argv)
{
    struct dm *dm = calloc(1, sizeof(*dm));
    sigset_t set;
    int rc;

    if (!dm) {
        return 1;
    }
    rc = dm_parse(dm, argc, argv);
    if (rc) {
        goto free_dm;
    }
    log_set_level(dm->cfg.log_level);
    dm->sig_fd = -1;
    dm->status = dm->args.start_paused ? QMP_STATUS_PRELAUNCH
                                       : QMP_STATUS_RUNNING;
    dm->qh = (struct qmp_handler){ .opaque = dm, .status = dm_qmp_status,
                                   .run = dm_qmp_run, .quit = dm_qmp_quit };
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigprocmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    rc = 1;
    dm->loop = loop_new();
    if (!dm->loop) {
        goto free_dm;
    }
    dm->sig_fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    if (dm->sig_fd < 0 ||
        loop_add_fd(dm->loop, dm->sig_fd, EPOLLIN, dm_signal, dm)) {
        goto free_loop;
    }
    if (dm_listen(dm)) {
        goto teardown;
    }
    if (dm->args.probe) {
        log_debug("dm: capability probe");
        loop_add_timer(dm->loop, DM_PROBE_TIMEOUT_MS, dm_probe_timeout, dm);
    } else if (dm_serve(dm)) {
        goto teardown;
    }
    rc = loop_run(dm->loop) ? 1 : 0;
teardown:
    dm_teardown(dm);
free_loop:
    if (dm->sig_fd >= 0) {
        loop_del_fd(dm->loop, dm->sig_fd);
        close(dm->sig_fd);
    }
    loop_free(dm->loop);
free_dm:
    free(dm);
    return rc;
}
