/*
 * disc_xs: xenstore watches -> device up/down callbacks (see disc_xs.h).
 *
 * Trust boundary: xenstore values and watch paths.  Values are read once
 * per rescan into bounded buffers and parsed by disc.c; a value holding
 * a NUL byte or longer than the buffer is refused.  A broken entry is
 * logged once per distinct message, not per watch event.
 */
#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <xenstore.h>

#include "disc_xs.h"
#include "log.h"

#define DISC_XS_MAX_DEVS 256
#define DISC_XS_MAX_DOMS 256
#define DISC_XS_TOKEN "xvm"

enum disc_xs_track {
    DXT_FREE = 0,
    DXT_BAD,        /* seen, could not be parsed (logged) */
    DXT_UP,         /* handed to dev_up */
    DXT_CLOSING,    /* dev_down(closing) sent; owner writes 6 */
    DXT_IDLE,       /* closed or offline: nothing to do */
};

struct disc_xs_ent {
    enum disc_xs_track track;
    enum disc_kind kind;
    uint32_t domid;
    uint32_t devid;
    bool seen;              /* mark for the current rescan */
    bool parsed;            /* the entry was complete once */
    char last_err[DISC_ERR_MAX];
};

struct disc_xs {
    struct loop *loop;
    struct xs_handle *xsh;
    int fd;
    uint32_t only_domid;
    struct disc_xs_ops ops;
    struct disc_xs_ent ent[DISC_XS_MAX_DEVS];
    uint32_t dom[DISC_XS_MAX_DOMS];   /* reported to dom_new; 0 = free */
};

struct disc_xs_get_ctx {
    struct disc_xs *x;
    char base[128];
};

static int
disc_xs_get(void *opaque, const char *key, char *buf, size_t len)
{
    struct disc_xs_get_ctx *g = opaque;
    char path[192];
    unsigned int n = 0;
    char *v;

    if ((size_t)snprintf(path, sizeof(path), "%s/%s", g->base, key) >=
        sizeof(path)) {
        return -ENAMETOOLONG;
    }
    v = xs_read(g->x->xsh, XBT_NULL, path, &n);
    if (!v) {
        return errno == ENOENT ? -ENOENT : -EIO;
    }
    if (n >= len || memchr(v, '\0', n)) {
        free(v);
        return -E2BIG;
    }
    memcpy(buf, v, n);
    buf[n] = '\0';
    free(v);
    return 0;
}

static struct disc_xs_ent *
disc_xs_find(struct disc_xs *x, enum disc_kind kind, uint32_t domid,
             uint32_t devid, bool create)
{
    struct disc_xs_ent *spare = NULL;

    for (unsigned i = 0; i < DISC_XS_MAX_DEVS; i++) {
        struct disc_xs_ent *e = &x->ent[i];

        if (e->track == DXT_FREE) {
            spare = spare ? spare : e;
        } else if (e->kind == kind && e->domid == domid && e->devid == devid) {
            return e;
        }
    }
    if (!create || !spare) {
        return NULL;
    }
    memset(spare, 0, sizeof(*spare));
    spare->kind = kind;
    spare->domid = domid;
    spare->devid = devid;
    spare->track = DXT_IDLE;
    return spare;
}

/* Look at one entry and move its tracking state one step. */
static void
disc_xs_scan_dev(struct disc_xs *x, enum disc_kind kind, uint32_t domid,
                 uint32_t devid)
{
    struct disc_xs_get_ctx g = { .x = x };
    struct disc_xs_ent *e;
    struct disc_dev *d;
    char err[DISC_ERR_MAX];
    int rc;

    e = disc_xs_find(x, kind, domid, devid, true);
    if (!e) {
        log_err("dom%u/%s%u: more than %d devices tracked, ignoring", domid,
                disc_kind_dir(kind), devid, DISC_XS_MAX_DEVS);
        return;
    }
    e->seen = true;
    d = malloc(sizeof(*d));
    if (!d) {
        return;
    }
    snprintf(g.base, sizeof(g.base), "%s/%s/%u/%u", DISC_BACKEND_ROOT,
             disc_kind_dir(kind), domid, devid);
    rc = disc_parse_entry(d, kind, domid, devid, disc_xs_get, &g, err,
                          sizeof(err));
    if (rc) {
        if (strcmp(err, e->last_err)) {
            enum log_level lvl = disc_failure_level(rc, e->parsed);

            log_msg(lvl, "dom%u/%s%u: %s: %s", domid, disc_kind_dir(kind),
                    devid, lvl == LOG_LVL_ERR ? "not served" : "being removed",
                    err);
            snprintf(e->last_err, sizeof(e->last_err), "%s", err);
        }
        if (e->track == DXT_UP) {
            e->track = DXT_BAD;
            x->ops.dev_down(x->ops.opaque, kind, domid, devid, false);
        } else if (e->track != DXT_CLOSING) {
            e->track = DXT_BAD;
        }
        goto free_dev;
    }
    e->last_err[0] = '\0';
    e->parsed = true;
    bool closing = !d->online || d->state == DISC_STATE_CLOSING;
    bool closed = d->state >= DISC_STATE_CLOSED;

    if (closing && !closed) {
        if (e->track == DXT_UP) {
            e->track = DXT_CLOSING;
            x->ops.dev_down(x->ops.opaque, kind, domid, devid, true);
        } else if (e->track != DXT_CLOSING && d->state == DISC_STATE_CLOSING) {
            /* Never served: nothing to tear down, answer at once. */
            e->track = DXT_IDLE;
            disc_xs_set_state(x, kind, domid, devid, DISC_STATE_CLOSED);
        }
    } else if (!closing && !closed && e->track != DXT_UP &&
               e->track != DXT_CLOSING) {
        e->track = DXT_UP;
        if (d->state == DISC_STATE_INITIALISING) {
            disc_xs_set_state(x, kind, domid, devid, DISC_STATE_INITWAIT);
        }
        log_info("dom%u/%s%u: device %u at 0x%llx irq %u%s%s", domid,
                 disc_kind_dir(kind), devid, d->device_id,
                 (unsigned long long)d->base, d->irq,
                 d->target[0] ? " target " : "", d->target);
        x->ops.dev_up(x->ops.opaque, d);
    }
free_dev:
    free(d);
}

/* Rescan one kind (and one domid, or all when domid == UINT32_MAX). */
static void
disc_xs_scan(struct disc_xs *x, enum disc_kind kind, uint32_t domid)
{
    char path[128];
    unsigned int nd = 0, nv = 0;
    char **doms;

    snprintf(path, sizeof(path), "%s/%s", DISC_BACKEND_ROOT,
             disc_kind_dir(kind));
    doms = xs_directory(x->xsh, XBT_NULL, path, &nd);
    for (unsigned i = 0; i < DISC_XS_MAX_DEVS; i++) {
        struct disc_xs_ent *e = &x->ent[i];

        if (e->track != DXT_FREE && e->kind == kind &&
            (domid == UINT32_MAX || e->domid == domid)) {
            e->seen = false;
        }
    }
    for (unsigned i = 0; doms && i < nd; i++) {
        uint64_t dv;
        char **devs;

        if (disc_parse_u64(doms[i], false, DISC_DOMID_MAX, &dv) || dv == 0 ||
            (domid != UINT32_MAX && dv != domid) ||
            (x->only_domid && dv != x->only_domid)) {
            continue;
        }
        snprintf(path, sizeof(path), "%s/%s/%u", DISC_BACKEND_ROOT,
                 disc_kind_dir(kind), (unsigned)dv);
        devs = xs_directory(x->xsh, XBT_NULL, path, &nv);
        for (unsigned j = 0; devs && j < nv; j++) {
            uint64_t v;

            if (!disc_parse_u64(devs[j], false, UINT32_MAX - 1, &v)) {
                disc_xs_scan_dev(x, kind, (uint32_t)dv, (uint32_t)v);
            }
        }
        free(devs);
    }
    free(doms);
    /* Entries that vanished. */
    for (unsigned i = 0; i < DISC_XS_MAX_DEVS; i++) {
        struct disc_xs_ent *e = &x->ent[i];

        if (e->track == DXT_FREE || e->seen || e->kind != kind ||
            (domid != UINT32_MAX && e->domid != domid)) {
            continue;
        }
        if (e->track == DXT_UP || e->track == DXT_CLOSING) {
            log_info("dom%u/%s%u: entry removed", e->domid,
                     disc_kind_dir(kind), e->devid);
            x->ops.dev_down(x->ops.opaque, kind, e->domid, e->devid, false);
        }
        e->track = DXT_FREE;
    }
}

/* Whether dom_new was reported for `domid`. */
static bool
disc_xs_dom_known(const struct disc_xs *x, uint32_t domid)
{
    for (unsigned i = 0; i < DISC_XS_MAX_DOMS; i++) {
        if (x->dom[i] == domid) {
            return true;
        }
    }
    return false;
}

/* Report each guest under /local/domain not reported yet to dom_new. */
static void
disc_xs_scan_domains(struct disc_xs *x)
{
    unsigned int n = 0;
    char **doms;

    if (!x->ops.dom_new) {
        return;
    }
    doms = xs_directory(x->xsh, XBT_NULL, "/local/domain", &n);
    for (unsigned i = 0; doms && i < n; i++) {
        uint64_t v;
        unsigned slot = DISC_XS_MAX_DOMS;

        if (disc_parse_u64(doms[i], false, DISC_DOMID_MAX, &v) || v == 0 ||
            (x->only_domid && v != x->only_domid) ||
            disc_xs_dom_known(x, (uint32_t)v)) {
            continue;
        }
        for (unsigned j = 0; j < DISC_XS_MAX_DOMS && slot == DISC_XS_MAX_DOMS;
             j++) {
            slot = x->dom[j] == 0 ? j : slot;
        }
        if (slot == DISC_XS_MAX_DOMS) {
            log_err("dom%u: more than %d guests tracked, ignoring",
                    (unsigned)v, DISC_XS_MAX_DOMS);
            continue;
        }
        x->dom[slot] = (uint32_t)v;
        x->ops.dom_new(x->ops.opaque, (uint32_t)v);
    }
    free(doms);
}

/* @releaseDomain: report each tracked guest that is gone. */
static void
disc_xs_check_domains(struct disc_xs *x)
{
    for (unsigned i = 0; i < DISC_XS_MAX_DOMS; i++) {
        uint32_t domid = x->dom[i];

        if (domid == 0 || xs_is_domain_introduced(x->xsh, domid)) {
            continue;
        }
        x->dom[i] = 0;
        /* Its entries go with it; dom_gone is reported once, below. */
        for (unsigned j = 0; j < DISC_XS_MAX_DEVS; j++) {
            if (x->ent[j].track != DXT_FREE && x->ent[j].domid == domid) {
                x->ent[j].track = DXT_FREE;
            }
        }
        log_info("dom%u: domain gone", domid);
        x->ops.dom_gone(x->ops.opaque, domid);
    }
    for (unsigned i = 0; i < DISC_XS_MAX_DEVS; i++) {
        struct disc_xs_ent *e = &x->ent[i];
        uint32_t domid = e->domid;

        if (e->track == DXT_FREE || xs_is_domain_introduced(x->xsh, domid)) {
            continue;
        }
        for (unsigned j = 0; j < DISC_XS_MAX_DEVS; j++) {
            if (x->ent[j].track != DXT_FREE && x->ent[j].domid == domid) {
                x->ent[j].track = DXT_FREE;
            }
        }
        log_info("dom%u: domain gone", domid);
        x->ops.dom_gone(x->ops.opaque, domid);
    }
    if (x->only_domid && !xs_is_domain_introduced(x->xsh, x->only_domid)) {
        x->ops.dom_gone(x->ops.opaque, x->only_domid);
    }
}

void
disc_xs_rescan(struct disc_xs *x)
{
    disc_xs_scan_domains(x);
    for (int k = 0; k < DISC_KIND_COUNT; k++) {
        disc_xs_scan(x, (enum disc_kind)k,
                     x->only_domid ? x->only_domid : UINT32_MAX);
    }
}

static void
disc_xs_event(void *opaque, uint32_t events)
{
    struct disc_xs *x = opaque;
    char **w;

    while ((w = xs_check_watch(x->xsh))) {
        const char *path = w[XS_WATCH_PATH];
        enum disc_kind kind;
        uint32_t domid, devid;
        const char *rest;

        if (!strcmp(path, "@releaseDomain")) {
            disc_xs_check_domains(x);
        } else if (!strcmp(path, "@introduceDomain")) {
            disc_xs_scan_domains(x);
        } else if (!disc_split_path(path, &kind, &domid, &devid, &rest)) {
            if (x->only_domid && domid != UINT32_MAX &&
                domid != x->only_domid) {
                free(w);
                continue;
            }
            disc_xs_scan(x, kind,
                         x->only_domid ? x->only_domid : domid);
        }
        free(w);
    }
}

int
disc_xs_new(struct disc_xs **out, struct loop *loop, uint32_t only_domid,
            const struct disc_xs_ops *ops)
{
    struct disc_xs *x = calloc(1, sizeof(*x));
    char path[128];
    int rc;

    if (!x) {
        return -ENOMEM;
    }
    x->loop = loop;
    x->only_domid = only_domid;
    x->ops = *ops;
    x->fd = -1;
    x->xsh = xs_open(0);
    if (!x->xsh) {
        rc = -errno;
        log_err("xenstore: cannot connect: %s", strerror(errno));
        goto free_x;
    }
    for (int k = 0; k < DISC_KIND_COUNT; k++) {
        if (only_domid) {
            snprintf(path, sizeof(path), "%s/%s/%u", DISC_BACKEND_ROOT,
                     disc_kind_dir((enum disc_kind)k), only_domid);
        } else {
            snprintf(path, sizeof(path), "%s/%s", DISC_BACKEND_ROOT,
                     disc_kind_dir((enum disc_kind)k));
        }
        if (!xs_watch(x->xsh, path, DISC_XS_TOKEN)) {
            rc = -errno;
            log_err("xenstore: cannot watch %s: %s", path, strerror(errno));
            goto close_xs;
        }
    }
    if (!xs_watch(x->xsh, "@releaseDomain", DISC_XS_TOKEN) ||
        (ops->dom_new && !xs_watch(x->xsh, "@introduceDomain",
                                   DISC_XS_TOKEN))) {
        rc = -errno;
        log_err("xenstore: cannot watch @releaseDomain/@introduceDomain: %s",
                strerror(errno));
        goto close_xs;
    }
    x->fd = xs_fileno(x->xsh);
    rc = loop_add_fd(loop, x->fd, EPOLLIN, disc_xs_event, x);
    if (rc) {
        goto close_xs;
    }
    *out = x;
    return 0;

close_xs:
    xs_close(x->xsh);
free_x:
    free(x);
    return rc;
}

void
disc_xs_free(struct disc_xs *x)
{
    if (!x) {
        return;
    }
    if (x->fd >= 0) {
        loop_del_fd(x->loop, x->fd);
        x->fd = -1;
    }
    xs_close(x->xsh);
    free(x);
}

int
disc_xs_set_state(struct disc_xs *x, enum disc_kind kind, uint32_t domid,
                  uint32_t devid, enum disc_state state)
{
    char path[160], val[4];
    struct disc_xs_ent *e;

    if (kind >= DISC_KIND_COUNT) {
        return -ENOENT; /* declared: no entry to write */
    }
    e = disc_xs_find(x, kind, domid, devid, false);
    if (e && state == DISC_STATE_CLOSED) {
        e->track = DXT_IDLE;
    }
    if (disc_entry_path(path, sizeof(path), kind, domid, devid, "state")) {
        return -ENAMETOOLONG;
    }
    snprintf(val, sizeof(val), "%d", (int)state);
    /* Never recreate an entry libxl already removed. */
    for (int attempt = 0; attempt < 5; attempt++) {
        xs_transaction_t t = xs_transaction_start(x->xsh);
        unsigned int n;
        void *cur;

        if (t == XBT_NULL) {
            return -errno;
        }
        cur = xs_read(x->xsh, t, path, &n);
        if (!cur) {
            xs_transaction_end(x->xsh, t, true);
            return -ENOENT;
        }
        free(cur);
        if (!xs_write(x->xsh, t, path, val, strlen(val))) {
            int err = errno;

            xs_transaction_end(x->xsh, t, true);
            return -err;
        }
        if (xs_transaction_end(x->xsh, t, false)) {
            log_debug("dom%u/%s%u: state %s", domid, disc_kind_dir(kind),
                      devid, val);
            return 0;
        }
        if (errno != EAGAIN) {
            return -errno;
        }
    }
    return -EAGAIN;
}

void
disc_xs_close_all(struct disc_xs *x, uint32_t domid)
{
    for (int k = 0; k < DISC_KIND_COUNT; k++) {
        char path[128];
        unsigned int n = 0;
        char **devs;

        snprintf(path, sizeof(path), "%s/%s/%u", DISC_BACKEND_ROOT,
                 disc_kind_dir((enum disc_kind)k), domid);
        devs = xs_directory(x->xsh, XBT_NULL, path, &n);
        for (unsigned i = 0; devs && i < n; i++) {
            uint64_t v;

            if (!disc_parse_u64(devs[i], false, UINT32_MAX - 1, &v)) {
                disc_xs_set_state(x, (enum disc_kind)k, domid, (uint32_t)v,
                                  DISC_STATE_CLOSED);
            }
        }
        free(devs);
    }
}

int
disc_xs_write(struct disc_xs *x, const char *path, const char *value)
{
    return xs_write(x->xsh, XBT_NULL, path, value, strlen(value)) ? 0 : -errno;
}

int
disc_xs_rm(struct disc_xs *x, const char *path)
{
    return xs_rm(x->xsh, XBT_NULL, path) ? 0 : -errno;
}

int
disc_xs_guest_name(struct disc_xs *x, uint32_t domid, char *buf, size_t len)
{
    char path[64];
    unsigned int n = 0;
    char *v;

    snprintf(path, sizeof(path), "/local/domain/%u/name", domid);
    v = xs_read(x->xsh, XBT_NULL, path, &n);
    if (!v) {
        return -errno;
    }
    if (n >= len || memchr(v, '\0', n)) {
        free(v);
        return -E2BIG;
    }
    memcpy(buf, v, n);
    buf[n] = '\0';
    free(v);
    return 0;
}
