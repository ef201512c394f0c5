/*
 * hv_xen_gnt: grant copy and grant map through libxengnttab (see
 * hv_xen_gnt.h for why a restricted worker has none).
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

xengnttab_handle *
hv_xen_gnt_open(const char *name)
{
    xengnttab_handle *xgt = xengnttab_open(NULL, 0);

    if (!xgt) {
        log_info("%s: /dev/xen/gntdev: %s; no grant-based devices", name,
                 strerror(errno));
    }
    return xgt;
}

int
hv_xen_gnt_share_open(const char *name)
{
    int fd = open("/dev/xen/gntdev", O_RDWR | O_CLOEXEC);

    if (fd < 0) {
        log_info("%s: /dev/xen/gntdev: %s; no zero-copy grant devices", name,
                 strerror(errno));
    }
    return fd;
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
                bool to_guest, xengnttab_grant_copy_segment_t *out)
{
    for (unsigned i = 0; i < n; i++) {
        xengnttab_grant_copy_segment_t *s = &out[i];
        union xengnttab_copy_ptr gref = {
            .foreign = { .ref = seg[i].ref, .offset = (uint16_t)seg[i].off,
                         .domid = domid },
        };

        memset(s, 0, sizeof(*s));
        s->len = (uint16_t)seg[i].len;
        if (to_guest) {
            s->source.virt = seg[i].buf;
            s->dest = gref;
            s->flags = GNTCOPY_dest_gref;
        } else {
            s->source = gref;
            s->dest.virt = seg[i].buf;
            s->flags = GNTCOPY_source_gref;
        }
    }
}

/* Say once per burst why grant access failed. */
static void
hv_xen_gnt_fail(struct hv_xen *x, const char *what, uint32_t ref, int err)
{
    log_rl(&x->rl, LOG_LVL_WARN, "%s: grant %s of ref %u failed: %s%s",
           x->hv.name, what, ref, strerror(err),
           err == ENOTTY ? " (this process was restricted to the guest, "
                           "which closes gntdev: grant devices need an "
                           "unrestricted run)" : "");
}

int
hv_xen_gnt_copy(struct hv *hv, const struct hv_gnt_seg *seg, unsigned n,
                bool to_guest)
{
    struct hv_xen *x = hv_xen_of(hv);
    xengnttab_grant_copy_segment_t segs[HV_GNT_BATCH];

    if (!x->xgt) {
        return -EOPNOTSUPP;
    }
    if (n > HV_GNT_BATCH) {
        return -EINVAL;
    }
    hv_xen_gnt_fill(seg, n, (uint16_t)hv->domid, to_guest, segs);
    if (xengnttab_grant_copy(x->xgt, n, segs) < 0) {
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

int
hv_xen_gnt_map(struct hv *hv, uint32_t ref, uint32_t count, bool writable,
               void **out)
{
    struct hv_xen *x = hv_xen_of(hv);
    uint32_t *refs;
    void *p;

    if (!x->xgt) {
        return -EOPNOTSUPP;
    }
    refs = calloc(count, sizeof(*refs));
    if (!refs) {
        return -ENOMEM;
    }
    for (uint32_t i = 0; i < count; i++) {
        refs[i] = ref + i;
    }
    p = xengnttab_map_domain_grant_refs(x->xgt, count, hv->domid, refs,
                                        PROT_READ |
                                        (writable ? PROT_WRITE : 0));
    if (!p) {
        hv_xen_gnt_fail(x, "map", ref, errno);
    }
    free(refs);
    if (!p) {
        return -EFAULT;
    }
    *out = p;
    return 0;
}

void
hv_xen_gnt_unmap(struct hv *hv, void *p, uint32_t ref, uint32_t count)
{
    struct hv_xen *x = hv_xen_of(hv);

    if (x->xgt && xengnttab_unmap(x->xgt, p, count) < 0) {
        hv_xen_gnt_fail(x, "unmap", ref, errno);
    }
}
