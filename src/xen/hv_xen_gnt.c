/*
 * hv_xen_gnt: grant copy and grant map through our own /dev/xen/gntdev fd
 * (see hv_xen_gnt.h for why it is not a libxengnttab handle and what a
 * restricted worker can do with it).
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "hv_gnt.h"
#include "hv_xen_gnt.h"
#include "hv_xen_priv.h"

#define HV_XEN_GNTDEV "/dev/xen/gntdev"

int
hv_xen_gntdev_open(void)
{
    int fd = open(HV_XEN_GNTDEV, O_RDWR | O_CLOEXEC);

    return fd < 0 ? -errno : fd;
}

/* The second gntdev, for zero-copy backends: optional. */
static void
hv_xen_gnt_attach_share(struct hv_xen *x, int fd)
{
    if (x->gnt_share_fd >= 0) {
        if (fd >= 0) {
            close(fd);
        }
        return;
    }
    if (fd < 0) {
        fd = hv_xen_gntdev_open();
        if (fd < 0) {
            log_info("%s: %s: %s; no zero-copy grant devices", x->hv.name,
                     HV_XEN_GNTDEV, strerror(-fd));
            return;
        }
    }
    x->gnt_share_fd = fd;
}

int
hv_xen_gnt_attach(struct hv *hv, int fd, int share_fd)
{
    struct hv_xen *x = hv_xen_of(hv);

    hv_xen_gnt_attach_share(x, share_fd);
    if (x->gnt_fd >= 0) {
        if (fd >= 0) {
            close(fd);
        }
        return 0;
    }
    if (fd < 0) {
        fd = hv_xen_gntdev_open();
        if (fd < 0) {
            log_err("%s: %s: %s; grant devices cannot be served%s", hv->name,
                    HV_XEN_GNTDEV, strerror(-fd),
                    fd == -EACCES ? " (this process dropped its privileges "
                                    "before a grant device was added)" : "");
            return fd;
        }
    }
    x->gnt_fd = fd;
    log_info("%s: %s attached for grant devices (grant copy and map only)",
             hv->name, HV_XEN_GNTDEV);
    return 0;
}

bool
hv_xen_gnt_attached(const struct hv *hv)
{
    return ((const struct hv_xen *)hv)->gnt_fd >= 0;
}

int
hv_xen_gnt_share(struct hv *hv)
{
    struct hv_xen *x = hv_xen_of(hv);
    int fd;

    if (x->gnt_share_fd < 0) {
        return -EOPNOTSUPP;
    }
    fd = fcntl(x->gnt_share_fd, F_DUPFD_CLOEXEC, 3);
    return fd < 0 ? -errno : fd;
}

void
hv_xen_gnt_fill(const struct hv_gnt_seg *seg, unsigned n, uint16_t domid,
                bool to_guest, struct ioctl_gntdev_grant_copy_segment *out)
{
    for (unsigned i = 0; i < n; i++) {
        struct ioctl_gntdev_grant_copy_segment *s = &out[i];

        memset(s, 0, sizeof(*s));
        s->len = (uint16_t)seg[i].len;
        if (to_guest) {
            s->source.virt = seg[i].buf;
            s->dest.foreign.ref = seg[i].ref;
            s->dest.foreign.offset = (uint16_t)seg[i].off;
            s->dest.foreign.domid = domid;
            s->flags = GNTCOPY_dest_gref;
        } else {
            s->source.foreign.ref = seg[i].ref;
            s->source.foreign.offset = (uint16_t)seg[i].off;
            s->source.foreign.domid = domid;
            s->dest.virt = seg[i].buf;
            s->flags = GNTCOPY_source_gref;
        }
    }
}

/* Say once per burst why grant access failed. */
static void
hv_xen_gnt_fail(struct hv_xen *x, const char *what, uint32_t ref, int err)
{
    log_rl(&x->rl, LOG_LVL_WARN, "%s: grant %s of ref %u failed: %s",
           x->hv.name, what, ref, strerror(err));
}

int
hv_xen_gnt_copy(struct hv *hv, const struct hv_gnt_seg *seg, unsigned n,
                bool to_guest)
{
    struct hv_xen *x = hv_xen_of(hv);
    struct ioctl_gntdev_grant_copy_segment segs[HV_GNT_BATCH];
    struct ioctl_gntdev_grant_copy op = { .count = n, .segments = segs };

    if (x->gnt_fd < 0) {
        return -EOPNOTSUPP;
    }
    if (n > HV_GNT_BATCH) {
        return -EINVAL;
    }
    hv_xen_gnt_fill(seg, n, (uint16_t)hv->domid, to_guest, segs);
    if (ioctl(x->gnt_fd, IOCTL_GNTDEV_GRANT_COPY, &op) < 0) {
        hv_xen_gnt_fail(x, "copy", seg[0].ref, errno);
        return -EFAULT;
    }
    for (unsigned i = 0; i < n; i++) {
        if (segs[i].status != GNTST_okay) {
            log_rl(&x->rl, LOG_LVL_WARN, "%s: grant copy %s ref %u: Xen "
                   "status %d", hv->name, to_guest ? "to" : "from",
                   seg[i].ref, segs[i].status);
            return -EFAULT;
        }
    }
    return 0;
}

/* Forget gntdev's slots [index, index+count) (after their munmap). */
static int
hv_xen_gnt_release(struct hv_xen *x, uint64_t index, uint32_t count)
{
    struct ioctl_gntdev_unmap_grant_ref u = { .index = index,
                                              .count = count };

    return ioctl(x->gnt_fd, IOCTL_GNTDEV_UNMAP_GRANT_REF, &u) < 0 ? -errno
                                                                   : 0;
}

int
hv_xen_gnt_map(struct hv *hv, uint32_t ref, uint32_t count, bool writable,
               void **out)
{
    struct hv_xen *x = hv_xen_of(hv);
    struct ioctl_gntdev_map_grant_ref *m;
    int err = 0;
    void *p;

    if (x->gnt_fd < 0) {
        return -EOPNOTSUPP;
    }
    if (count == 0 || count > HV_GNT_MAX_REFS) {
        return -EINVAL;
    }
    m = calloc(1, sizeof(*m) + (count - 1) * sizeof(m->refs[0]));
    if (!m) {
        return -ENOMEM;
    }
    m->count = count;
    for (uint32_t i = 0; i < count; i++) {
        m->refs[i].domid = hv->domid;
        m->refs[i].ref = ref + i;
    }
    /* The ioctl only reserves slots; mmap asks Xen for the refs. */
    if (ioctl(x->gnt_fd, IOCTL_GNTDEV_MAP_GRANT_REF, m) < 0) {
        err = errno;
        p = MAP_FAILED;
    } else {
        p = mmap(NULL, (size_t)count << HV_GNT_PAGE_SHIFT,
                 PROT_READ | (writable ? PROT_WRITE : 0), MAP_SHARED,
                 x->gnt_fd, (off_t)m->index);
        if (p == MAP_FAILED) {
            err = errno;
            hv_xen_gnt_release(x, m->index, count);
        }
    }
    free(m);
    if (p == MAP_FAILED) {
        hv_xen_gnt_fail(x, "map", ref, err);
        return -EFAULT;
    }
    *out = p;
    return 0;
}

void
hv_xen_gnt_unmap(struct hv *hv, void *p, uint32_t ref, uint32_t count)
{
    struct hv_xen *x = hv_xen_of(hv);
    struct ioctl_gntdev_get_offset_for_vaddr q = {
        .vaddr = (uint64_t)(uintptr_t)p,
    };
    int rc;

    if (x->gnt_fd < 0 || !p) {
        return;
    }
    rc = ioctl(x->gnt_fd, IOCTL_GNTDEV_GET_OFFSET_FOR_VADDR, &q) < 0 ? -errno
                                                                    : 0;
    if (rc == 0 && q.count != count) {
        rc = -EINVAL;
    }
    if (munmap(p, (size_t)count << HV_GNT_PAGE_SHIFT) < 0 && rc == 0) {
        rc = -errno;
    }
    if (rc == 0) {
        rc = hv_xen_gnt_release(x, q.offset, count);
    }
    if (rc < 0) {
        hv_xen_gnt_fail(x, "unmap", ref, -rc);
    }
}
