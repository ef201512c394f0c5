/*
 * blkd_gnt: mapping the refs of a XEN_MMAP GRANT region.
 *
 * The frontend sends, with a region flagged GRANT (| NO_ADVANCE_MAP) at
 * (1 << 63) | (first_ref << 12), an fd to map the granting guest's refs
 * through and that guest's domid, as rust-vmm's vm-memory expects.  On
 * Xen the fd is an open /dev/xen/gntdev: IOCTL_GNTDEV_MAP_GRANT_REF with
 * (domid, ref) pairs gives an mmap offset, mmap() of that offset maps the
 * grants (and fails when Xen refuses one: never granted, revoked, or
 * read-only for a writable mapping), munmap + IOCTL_GNTDEV_UNMAP_GRANT_REF
 * undo it.  Under the simulator the fd is the guest's RAM memfd with its
 * grant table (hv_sim_gnt.h), told apart by its type: gntdev is a
 * character device.  Nothing is mapped in advance: a map lives for one
 * access, one request, or (rings) one queue start.
 *
 * With --probe-gntdev it also reports what the fd it was sent can do
 * beyond its guest's virtio buffers (blkd_gnt_probe).
 *
 * Trust boundary: ref, count and domid come from the frontend and the
 * guest; counts are bounded here, and the hypervisor (or the simulated
 * table) decides which refs may be mapped.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blkd.h"
#include "log.h"

/* Linux include/uapi/xen/gntdev.h (defined here: no userspace header). */
struct blkd_gntdev_grant_ref {
    uint32_t domid;
    uint32_t ref;
};
struct blkd_gntdev_map_grant_ref {
    uint32_t count;
    uint32_t pad;
    uint64_t index;     /* out: the mmap offset */
    struct blkd_gntdev_grant_ref refs[1];
};
struct blkd_gntdev_unmap_grant_ref {
    uint64_t index;
    uint32_t count;
    uint32_t pad;
};
_Static_assert(sizeof(struct blkd_gntdev_map_grant_ref) == 24,
               "ioctl_gntdev_map_grant_ref ABI");
#define BLKD_IOCTL_GNTDEV_MAP_GRANT_REF                                        \
    _IOC(_IOC_NONE, 'G', 0, sizeof(struct blkd_gntdev_map_grant_ref))
#define BLKD_IOCTL_GNTDEV_UNMAP_GRANT_REF                                      \
    _IOC(_IOC_NONE, 'G', 1, sizeof(struct blkd_gntdev_unmap_grant_ref))
/* Defined in the uapi header; gntdev does not implement it (probe). */
struct blkd_gntdev_set_max_grants {
    uint32_t count;
};
#define BLKD_IOCTL_GNTDEV_SET_MAX_GRANTS                                       \
    _IOC(_IOC_NONE, 'G', 3, sizeof(struct blkd_gntdev_set_max_grants))
/* Xen's GNTTAB_RESERVED_XENSTORE: the toolstack grants dom0 the guest's
 * xenstore ring under this ref. */
#define BLKD_GNT_XENSTORE_REF 1u

int
blkd_gnt_open(struct blkd_gnt *g, int fd, uint32_t domid)
{
    struct stat st;
    int rc;

    memset(g, 0, sizeof(*g));
    g->fd = -1;
    g->view.fd = -1;
    g->rl = (struct log_ratelimit)LOG_RATELIMIT_INIT;
    if (domid >= BLKD_DOMID_FIRST_RESERVED) {
        log_err("blkd: GRANT region for domid %u (reserved)", domid);
        return -EINVAL;
    }
    if (fstat(fd, &st) < 0) {
        return -errno;
    }
    g->fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    if (g->fd < 0) {
        return -errno;
    }
    g->domid = domid;
    g->sim = !S_ISCHR(st.st_mode);
    if (g->sim) {
        rc = hv_sim_gnt_open(&g->view, g->fd, domid);
        if (rc < 0) {
            log_err("blkd: the GRANT region's fd is neither a gntdev nor a "
                    "simulator grant table for dom%u: %s", domid,
                    strerror(-rc));
            blkd_gnt_close(g);
            return rc;
        }
    }
    return 0;
}

void
blkd_gnt_close(struct blkd_gnt *g)
{
    if (g->fd < 0) {
        return;
    }
    if (g->maps) {
        log_info("blkd: grant maps: %llu requests, %llu maps of %llu refs "
                 "in %llu us (%llu us per request, %llu us per map), %llu "
                 "refused", (unsigned long long)g->requests,
                 (unsigned long long)g->maps, (unsigned long long)g->refs,
                 (unsigned long long)(g->map_ns / 1000),
                 (unsigned long long)(g->requests
                                          ? g->map_ns / 1000 / g->requests
                                          : 0),
                 (unsigned long long)(g->map_ns / 1000 / g->maps),
                 (unsigned long long)g->failures);
    }
    if (g->sim) {
        hv_sim_gnt_close(&g->view);
    }
    close(g->fd);
    g->fd = -1;
}

/* IOCTL_GNTDEV_MAP_GRANT_REF + mmap: 0 or -errno (nothing left mapped). */
static int
blkd_gntdev_map(struct blkd_gnt *g, uint32_t ref, uint32_t count,
                bool writable, struct blkd_gnt_map *out)
{
    size_t sz = sizeof(struct blkd_gntdev_map_grant_ref) +
                (count - 1) * sizeof(struct blkd_gntdev_grant_ref);
    struct blkd_gntdev_map_grant_ref *op = calloc(1, sz);
    struct blkd_gntdev_unmap_grant_ref un = { .count = count };
    void *p;
    int rc;

    if (!op) {
        return -ENOMEM;
    }
    op->count = count;
    for (uint32_t i = 0; i < count; i++) {
        op->refs[i] = (struct blkd_gntdev_grant_ref){ g->domid, ref + i };
    }
    if (ioctl(g->fd, BLKD_IOCTL_GNTDEV_MAP_GRANT_REF, op) < 0) {
        rc = -errno;
        free(op);
        return rc;
    }
    un.index = op->index;
    free(op);
    p = mmap(NULL, (size_t)count * BLKD_XEN_PAGE,
             PROT_READ | (writable ? PROT_WRITE : 0), MAP_SHARED, g->fd,
             (off_t)un.index);
    if (p == MAP_FAILED) {
        rc = -errno;
        ioctl(g->fd, BLKD_IOCTL_GNTDEV_UNMAP_GRANT_REF, &un);
        return rc;
    }
    out->host = p;
    out->index = un.index;
    out->ref = ref;
    out->count = count; /* what blkd_gnt_unmap() undoes */
    return 0;
}

int
blkd_gnt_map(struct blkd_gnt *g, uint32_t ref, uint32_t count, bool writable,
             struct blkd_gnt_map *out)
{
    uint64_t t0 = log_now_ns();
    void *p;
    int rc;

    if (count == 0 || count > BLKD_GNT_MAX_COUNT) {
        return -E2BIG;
    }
    memset(out, 0, sizeof(*out));
    if (g->sim) {
        rc = hv_sim_gnt_map(&g->view, ref, count, writable, &p);
        out->host = p;
        out->ref = ref;
        out->count = count;
    } else {
        rc = blkd_gntdev_map(g, ref, count, writable, out);
    }
    if (rc < 0) {
        g->failures++;
        log_rl(&g->rl, LOG_LVL_WARN, "blkd: cannot map %u grant(s) from ref "
               "%u of dom%u%s: %s", count, ref, g->domid,
               writable ? " writable" : "", strerror(-rc));
        return rc;
    }
    out->writable = writable;
    g->maps++;
    g->refs += count;
    g->map_ns += log_now_ns() - t0;
    return 0;
}

void
blkd_gnt_unmap(struct blkd_gnt *g, struct blkd_gnt_map *m)
{
    if (!m->host) {
        return;
    }
    if (g->sim) {
        hv_sim_gnt_unmap(&g->view, m->host, m->ref, m->count);
    } else {
        struct blkd_gntdev_unmap_grant_ref un = { .index = m->index,
                                                  .count = m->count };

        munmap(m->host, (size_t)m->count * BLKD_XEN_PAGE);
        if (ioctl(g->fd, BLKD_IOCTL_GNTDEV_UNMAP_GRANT_REF, &un) < 0) {
            log_rl(&g->rl, LOG_LVL_WARN, "blkd: unmap of %u grant(s) from "
                   "ref %u: %s", m->count, m->ref, strerror(errno));
        }
    }
    m->host = NULL;
}

/* ---- --probe-gntdev ---- */

static const char *
blkd_gnt_probe_name(int rc, char *buf, size_t len)
{
    if (rc == 0) {
        return "ok";
    }
    snprintf(buf, len, "errno %d (%s)", -rc, strerror(-rc));
    return buf;
}

/*
 * Map `dom`'s `ref` read-only through `fd`: the ioctl's and the mmap's
 * outcomes apart (the kernel takes any domid; only Xen checks the grant).
 */
static void
blkd_gnt_probe_map(int fd, uint32_t dom, const char *what)
{
    struct blkd_gnt g = { .fd = fd, .domid = dom,
                          .rl = LOG_RATELIMIT_INIT };
    struct blkd_gnt_map m = { 0 };
    struct blkd_gntdev_map_grant_ref op = {
        .count = 1, .refs = { { dom, BLKD_GNT_XENSTORE_REF } },
    };
    char b1[64], b2[64];
    int ioc, rc;

    ioc = ioctl(fd, BLKD_IOCTL_GNTDEV_MAP_GRANT_REF, &op) < 0 ? -errno : 0;
    if (ioc == 0) {
        struct blkd_gntdev_unmap_grant_ref un = { .index = op.index,
                                                  .count = 1 };

        ioctl(fd, BLKD_IOCTL_GNTDEV_UNMAP_GRANT_REF, &un);
    }
    rc = blkd_gntdev_map(&g, BLKD_GNT_XENSTORE_REF, 1, false, &m);
    if (rc == 0) {
        blkd_gnt_unmap(&g, &m);
    }
    log_info("blkd: gntdev probe: dom%u ref %u (%s): MAP_GRANT_REF ioctl "
             "%s, map %s", dom, BLKD_GNT_XENSTORE_REF, what,
             blkd_gnt_probe_name(ioc, b1, sizeof(b1)),
             blkd_gnt_probe_name(rc, b2, sizeof(b2)));
}

void
blkd_gnt_probe(int fd, uint32_t domid)
{
    struct blkd_gntdev_set_max_grants max = { .count = 1 };
    struct stat st;
    char b[64];
    int rc;

    if (fstat(fd, &st) < 0 || !S_ISCHR(st.st_mode)) {
        return; /* the simulator's table: nothing of the kernel to probe */
    }
    rc = ioctl(fd, BLKD_IOCTL_GNTDEV_SET_MAX_GRANTS, &max) < 0 ? -errno : 0;
    log_info("blkd: gntdev probe: SET_MAX_GRANTS(1): %s",
             blkd_gnt_probe_name(rc, b, sizeof(b)));
    blkd_gnt_probe_map(fd, domid, "the guest's xenstore ring, not a virtio "
                                  "buffer");
    blkd_gnt_probe_map(fd, domid + 1, "a domid that is not the guest's");
}
