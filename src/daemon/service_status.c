/*
 * service_status: the service's answer to `--status` (see service.c): the
 * parent asks every worker for its devices' counters and answers each
 * waiting control-socket client from the devices' last reports.
 */
#include <config.h>

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "log.h"
#include "service_priv.h"

static const enum ctl_dev_state svc_ctl_state[] = {
    [SD_WAITING] = CTL_DEV_WAITING,
    [SD_ADDING] = CTL_DEV_STARTING,
    [SD_SERVED] = CTL_DEV_SERVING,
    [SD_CLOSING] = CTL_DEV_CLOSING,
};

/* Answer every waiting client from the devices' last reports. */
static void
svc_status_answer(struct service *s)
{
    struct ctl_dev *devs = NULL;
    struct json_object *o = NULL;
    unsigned n = 0;

    if (s->status_timer > 0) {
        loop_cancel_timer(s->loop, s->status_timer);
        s->status_timer = 0;
    }
    if (!s->ctl) {
        s->nr_waiting = 0;
        return;
    }
    for (unsigned i = 0; i < SVC_MAX_GUESTS; i++) {
        n += s->guest[i].used ? svc_guest_devs(&s->guest[i]) : 0;
    }
    devs = calloc(n ? n : 1, sizeof(*devs));
    n = 0;
    for (unsigned i = 0; devs && i < SVC_MAX_GUESTS; i++) {
        struct svc_guest *g = &s->guest[i];

        for (unsigned j = 0; g->used && j < WORKER_MAX_DEVS; j++) {
            struct svc_dev *d = &g->dev[j];
            struct ctl_dev *c = &devs[n];

            if (d->st == SD_FREE) {
                continue;
            }
            c->domid = g->domid;
            snprintf(c->guest, sizeof(c->guest), "%s", g->name);
            snprintf(c->name, sizeof(c->name), "%s", d->wd.name);
            snprintf(c->socket, sizeof(c->socket), "%s", d->wd.socket);
            c->state = svc_ctl_state[d->st];
            c->has_stats = d->has_stats && d->st != SD_WAITING;
            c->mode = c->has_stats ? (enum relay_mode)d->mode : RELAY_MODE_AUTO;
            c->stats = d->stats;
            n++;
        }
    }
    if (devs) {
        o = ctl_status_json("service", devs, n);
    }
    free(devs);
    for (unsigned i = 0; i < s->nr_waiting; i++) {
        ctl_server_reply(s->ctl, s->waiting[i], o ? json_object_get(o) : NULL);
    }
    s->nr_waiting = 0;
    json_object_put(o);
}

/* Guest g's worker reported (or cannot any more). */
void
svc_stats_done(struct svc_guest *g)
{
    struct service *s = g->svc;

    if (!g->stats_asked) {
        return;
    }
    g->stats_asked = false;
    if (--s->stats_due == 0) {
        svc_status_answer(s);
    }
}

static void
svc_status_timeout(void *opaque)
{
    struct service *s = opaque;

    s->status_timer = 0;
    log_warn("service: status: %u workers did not report within %d ms",
             s->stats_due, SVC_STATUS_MS);
    for (unsigned i = 0; i < SVC_MAX_GUESTS; i++) {
        s->guest[i].stats_asked = false;
    }
    s->stats_due = 0;
    svc_status_answer(s);
}

/* A client asked: join the round under way, or ask every worker. */
static void
svc_status(void *opaque, uint64_t token)
{
    struct service *s = opaque;
    struct worker_dev none;

    if (s->nr_waiting == CTL_MAX_CLIENTS) {
        ctl_server_reply(s->ctl, token, NULL);
        return;
    }
    s->waiting[s->nr_waiting++] = token;
    if (s->stats_due) {
        return;
    }
    memset(&none, 0, sizeof(none));
    for (unsigned i = 0; i < SVC_MAX_GUESTS; i++) {
        struct svc_guest *g = &s->guest[i];

        if (!g->used) {
            continue;
        }
        for (unsigned j = 0; j < WORKER_MAX_DEVS; j++) {
            g->dev[j].has_stats = false;
        }
        if (g->ctl_fd >= 0 && svc_send(g, WORKER_STATS, &none) == 0) {
            g->stats_asked = true;
            s->stats_due++;
        }
    }
    if (s->stats_due == 0) {
        svc_status_answer(s);
        return;
    }
    s->status_timer = loop_add_timer(s->loop, SVC_STATUS_MS,
                                     svc_status_timeout, s);
    if (s->status_timer < 0) {
        s->status_timer = 0;
        svc_status_timeout(s);
    }
}

/* Listen on <backend dir>/ctl.sock; the service runs on without it. */
void
svc_ctl_listen(struct service *s)
{
    const struct cfg *c = s->cfg;
    char path[CFG_DIR_MAX + sizeof(CTL_SERVICE_SOCK) + 1];
    int rc;

    snprintf(path, sizeof(path), "%s/%s", c->backend_dir, CTL_SERVICE_SOCK);
    if (mkdir(c->backend_dir, 0700) && errno != EEXIST) {
        rc = -errno;
    } else {
        rc = ctl_server_new(&s->ctl, s->loop, path,
                            c->has_user ? c->gid : (gid_t)-1, svc_status, s);
    }
    if (rc) {
        log_err("service: no control socket %s (--status will not see this "
                "service): %s", path, strerror(-rc));
        s->ctl = NULL;
    }
}

