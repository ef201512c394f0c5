/*
 * resolve: which backend serves a device (see resolve.h for the policy).
 *
 * Trust boundary: the configuration and the parsed xenstore entry.  What
 * this decides is what keeps one guest's disk from being served from
 * another guest's image, so the rules live here and nowhere else.
 */
#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "resolve.h"
#include "vmmio.h"

/* __SO_ACCEPTCON in /proc/net/unix's Flags column: a listening socket. */
#define RESOLVE_UNIX_LISTENING 0x10000ul

void
resolve_settings(const struct cfg *c, uint32_t domid, const char *guest,
                 uint32_t devid, uint32_t device_id,
                 struct resolve_settings *out)
{
    const struct cfg_dev *best = NULL;
    int best_rank = 0;

    memset(out, 0, sizeof(*out));
    out->mode = c->mode;
    out->queue_size = c->queue_size;
    out->bounce_kib = c->bounce_kib;
    for (unsigned i = 0; i < c->nr_devs; i++) {
        const struct cfg_dev *d = &c->dev[i];
        int rank = 0;

        if (d->sel == CFG_SEL_GUEST && guest && d->devid == devid &&
            !strcmp(d->guest, guest)) {
            rank = 3;
        } else if (d->sel == CFG_SEL_DOMID && d->domid == domid &&
                   d->devid == devid) {
            rank = 2;
        } else if (d->sel == CFG_SEL_TYPE && d->type == device_id) {
            rank = 1;
        }
        /* The first section of the best rank wins. */
        if (rank > best_rank) {
            best = d;
            best_rank = rank;
        }
    }
    if (!best) {
        return;
    }
    memcpy(out->socket, best->socket, sizeof(out->socket));
    out->socket_per_device = out->socket[0] && best_rank >= 2;
    if (best->has_mode) {
        out->mode = best->mode;
    }
    if (best->queue_size) {
        out->queue_size = best->queue_size;
    }
    if (best->bounce_kib) {
        out->bounce_kib = best->bounce_kib;
    }
    out->device_id = best->device_id;
    out->set = best->set;
}

int
resolve_device_socket(const struct cfg *c, uint32_t domid, uint32_t devid,
                      char *buf, size_t len)
{
    int n = snprintf(buf, len, "%s/%u-%u.sock", c->backend_dir, domid, devid);

    return (n < 0 || (size_t)n >= len) ? -ENAMETOOLONG : 0;
}

int
resolve_type_socket(const struct cfg *c, uint32_t device_id, char *buf,
                    size_t len)
{
    const char *name = cfg_type_name(device_id);
    int n;

    if (name) {
        n = snprintf(buf, len, "%s/%s.sock", c->backend_dir, name);
    } else {
        n = snprintf(buf, len, "%s/device%u.sock", c->backend_dir, device_id);
    }
    return (n < 0 || (size_t)n >= len) ? -ENAMETOOLONG : 0;
}

/* Listed as a listening socket in /proc/net/unix?  -1: cannot tell. */
static int
resolve_proc_listening(const char *path)
{
    FILE *f = fopen("/proc/net/unix", "re");
    char line[CFG_SOCK_MAX + 128];
    int live = 0;

    if (!f) {
        return -1;
    }
    /* "Num RefCount Protocol Flags Type St Inode Path" */
    while (!live && fgets(line, sizeof(line), f)) {
        unsigned long flags;
        size_t len;
        int at = -1;

        if (sscanf(line, "%*s %*s %*s %lx %*s %*s %*s %n", &flags, &at) != 1 ||
            at < 0) {
            continue;
        }
        len = strcspn(line + at, "\n");
        live = (flags & RESOLVE_UNIX_LISTENING) && len == strlen(path) &&
               memcmp(line + at, path, len) == 0;
    }
    fclose(f);
    return live;
}

bool
resolve_socket_live(const char *path)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    int fd, rc;

    if (access(path, F_OK) != 0) {
        return false;
    }
    if (resolve_proc_listening(path) == 1) {
        return true;
    }
    /* Not listed: no listener, or one in another network namespace (its
     * sockets are not in our /proc/net/unix).  Only then ask the socket
     * itself; a refused connection is the one sure sign of a leftover. */
    if (strlen(path) >= sizeof(sa.sun_path)) {
        return true;
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        return true;
    }
    rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 ? 0 : errno;
    close(fd);
    return rc != ECONNREFUSED && rc != ENOENT && rc != ENOTSOCK;
}

/*
 * A socket file at `path` that nothing listens on is left over from an
 * earlier backend (or an earlier guest): remove it.  True when a backend
 * listens there.
 */
static bool
resolve_take_socket(const char *name, const char *path)
{
    if (access(path, F_OK) != 0) {
        return false;
    }
    if (resolve_socket_live(path)) {
        return true;
    }
    if (unlink(path) == 0) {
        log_info("%s: removed %s: no backend listens on it", name, path);
    }
    return false;
}

/* A disk that names its image: that image, or an explicitly named socket. */
static int
resolve_disk(const struct cfg *c, const struct disc_dev *d,
             const struct resolve_settings *r, struct worker_dev *out,
             enum resolve_how *how, char *err, size_t errlen)
{
    if (r->socket_per_device) {
        memcpy(out->socket, r->socket, sizeof(out->socket));
        *how = RESOLVE_CONNECT;
        return 0;
    }
    if (!c->spawn_qsd) {
        log_errbuf(err, errlen, "disk %.200s: no [device %u:%u] or [device "
                   "GUEST:%u] section names its socket, and spawn-qsd is off",
                   d->target, d->domid, d->devid, d->devid);
        return -EINVAL;
    }
    /* The service removes whatever is there and starts a backend of its
     * own for this guest's image: nothing left behind gets attached. */
    if (resolve_device_socket(c, d->domid, d->devid, out->socket,
                              sizeof(out->socket))) {
        log_errbuf(err, errlen, "socket path too long under %s",
                   c->backend_dir);
        return -ENAMETOOLONG;
    }
    *how = RESOLVE_SPAWN;
    return 0;
}

int
resolve_device(const struct cfg *c, const struct disc_dev *d,
               const char *guest, struct worker_dev *out,
               enum resolve_how *how, char *err, size_t errlen)
{
    struct resolve_settings r;
    char typesock[CFG_SOCK_MAX];

    memset(out, 0, sizeof(*out));
    *how = RESOLVE_CONNECT;
    resolve_settings(c, d->domid, guest, d->devid, d->device_id, &r);
    out->kind = d->kind;
    out->devid = d->devid;
    out->base = d->base;
    out->irq = d->irq;
    out->device_id = r.device_id ? r.device_id : d->device_id;
    out->mode = r.mode;
    out->queue_size = r.queue_size;
    out->bounce_kib = r.bounce_kib;
    out->timeout_ms = c->timeout_ms;
    out->grants = d->grants;
    out->set = r.set;
    snprintf(out->name, sizeof(out->name), "dom%u/%s%u", d->domid,
             disc_kind_dir(d->kind), d->devid);
    if (!out->device_id) {
        log_errbuf(err, errlen, "type 'virtio,device' names no device id: set "
                   "device-id in a [device %u:%u] section", d->domid, d->devid);
        return -EINVAL;
    }
    if (d->kind == DISC_KIND_DISK && d->target[0]) {
        return resolve_disk(c, d, &r, out, how, err, errlen);
    }
    if (r.socket[0]) {
        memcpy(out->socket, r.socket, sizeof(out->socket));
        return 0;
    }
    if (resolve_device_socket(c, d->domid, d->devid, out->socket,
                              sizeof(out->socket)) ||
        resolve_type_socket(c, out->device_id, typesock, sizeof(typesock))) {
        log_errbuf(err, errlen, "socket path too long under %s",
                   c->backend_dir);
        return -ENAMETOOLONG;
    }
    if (resolve_take_socket(out->name, out->socket)) {
        return 0;
    }
    if (resolve_take_socket(out->name, typesock)) {
        memcpy(out->socket, typesock, sizeof(typesock));
        return 0;
    }
    log_errbuf(err, errlen, "no backend listens on %s or %s", out->socket,
               typesock);
    return -ENOENT;
}

unsigned
resolve_qsd_queues(const struct worker_dev *wd, unsigned vcpus)
{
    if (wd->set.queues) {
        return wd->set.queues;
    }
    if (vcpus == 0) {
        return 1;
    }
    return vcpus < VMMIO_MAX_QUEUES ? vcpus : VMMIO_MAX_QUEUES;
}
