/*
 * blkd_mem: the frontend's memory table, mapped into the backend.
 *
 * Trust boundary: every region field came from the frontend.  Lengths,
 * overflow, overlap and (for plain regions) the fd's real size are
 * checked before mmap(), so a later access can neither leave a mapping
 * nor fault on a file hole beyond its end.  After that, the only way to
 * guest memory is hv_layout_find() over the regions' gpa ranges: through
 * the struct hv below (vq walker) or blkd_mem_ptr() (request data).
 *
 * GRANT regions have no mapping of their own: a range's refs are mapped
 * when it is first accessed (blkd_gnt.c), reused by later accesses of the
 * same request, and unmapped after the request (blkd_mem_release) or,
 * for rings, when the queue stops (blkd_mem_pin), so no buffer stays
 * mapped beyond its request: the guest reuses refs.
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blkd.h"
#include "log.h"
#include "vhu.h"

static struct blkd_mem *
blkd_mem_of(struct hv *hv)
{
    return (struct blkd_mem *)((char *)hv - offsetof(struct blkd_mem, hv));
}

#define BLKD_GNT_ADDR_BIT (1ULL << 63)

/*
 * The refs under [off, off+len) of GRANT region `bank` (consecutive from
 * the region's address): the first, how many, and off's place in its page.
 */
static void
blkd_mem_refs(const struct blkd_mem *m, unsigned bank, uint64_t off,
              uint64_t len, uint64_t *ref, uint64_t *count, uint64_t *in_page)
{
    uint64_t base = (m->reg[bank].gpa & ~BLKD_GNT_ADDR_BIT) + off;

    *in_page = base % BLKD_XEN_PAGE;
    *ref = base / BLKD_XEN_PAGE;
    *count = (*in_page + (len ? len : 1) + BLKD_XEN_PAGE - 1) / BLKD_XEN_PAGE;
}

/* The host address of the refs' byte if mapping `g` covers them, or NULL. */
static uint8_t *
blkd_mem_covered(const struct blkd_gnt_map *g, unsigned bank, uint64_t ref,
                 uint64_t count, uint64_t in_page, bool write)
{
    if (!g->host || g->reg != bank || (write && !g->writable) ||
        ref < g->ref || ref - g->ref + count > g->count) {
        return NULL;
    }
    return g->host + (ref - g->ref) * BLKD_XEN_PAGE + in_page;
}

/*
 * Guest bytes [off, off+len) of GRANT region `bank`: through a ring's
 * pinned mapping, one the current request already made, or its refs
 * mapped now for the request (until blkd_mem_release).  NULL when a ref
 * cannot be mapped or the request holds too many mappings.
 */
static uint8_t *
blkd_mem_gnt_ptr(struct blkd_mem *m, unsigned bank, uint64_t off, uint64_t len,
                 bool write)
{
    struct blkd_gnt_map *slot;
    uint64_t ref, count, in_page;
    uint8_t *p = NULL;

    blkd_mem_refs(m, bank, off, len, &ref, &count, &in_page);
    for (unsigned i = 0; !p && i < BLKD_NR_QUEUES * 3; i++) {
        p = blkd_mem_covered(&m->pin[i].m, bank, ref, count, in_page, write);
    }
    for (unsigned i = 0; !p && i < m->nreq; i++) {
        p = blkd_mem_covered(&m->req[i], bank, ref, count, in_page, write);
    }
    if (p || m->nreq == BLKD_GNT_REQ_MAPS || count > BLKD_GNT_MAX_COUNT) {
        return p;
    }
    slot = &m->req[m->nreq];
    if (blkd_gnt_map(&m->reg[bank].gnt, (uint32_t)ref, (uint32_t)count, write,
                     slot) < 0) {
        return NULL;
    }
    slot->reg = bank;
    m->nreq++;
    return slot->host + in_page;
}

/* One copy between `buf` and guest bytes [off, off+len) of `bank`. */
static int
blkd_hv_copy(struct hv *hv, unsigned bank, uint64_t off, uint8_t *buf,
             size_t len, bool write)
{
    struct blkd_mem *m = blkd_mem_of(hv);
    uint8_t *p = m->reg[bank].host
                     ? m->reg[bank].host + off
                     : blkd_mem_gnt_ptr(m, bank, off, len, write);

    if (!p) {
        return -EFAULT;
    }
    if (write) {
        memcpy(p, buf, len);
    } else {
        memcpy(buf, p, len);
    }
    return 0;
}

static int
blkd_hv_read(struct hv *hv, unsigned bank, uint64_t off, void *buf,
             size_t len)
{
    return blkd_hv_copy(hv, bank, off, buf, len, false);
}

static int
blkd_hv_write(struct hv *hv, unsigned bank, uint64_t off, const void *buf,
              size_t len)
{
    /* Only read from when writing to the guest. */
    return blkd_hv_copy(hv, bank, off, (uint8_t *)(uintptr_t)buf, len, true);
}

static int
blkd_hv_regions(struct hv *hv, struct hv_region *out, unsigned max)
{
    (void)hv;
    (void)out;
    (void)max;
    return -EOPNOTSUPP;
}

static int
blkd_hv_mmio_add(struct hv *hv, uint64_t base, uint64_t len, hv_mmio_fn fn,
                 void *opaque)
{
    (void)hv;
    (void)base;
    (void)len;
    (void)fn;
    (void)opaque;
    return -EOPNOTSUPP;
}

static void
blkd_hv_mmio_del(struct hv *hv, uint64_t base)
{
    (void)hv;
    (void)base;
}

static int
blkd_hv_irq_set(struct hv *hv, unsigned irq, bool level)
{
    (void)hv;
    (void)irq;
    (void)level;
    return -EOPNOTSUPP;
}

static void
blkd_hv_free(struct hv *hv)
{
    (void)hv; /* the table is owned by struct blkd */
}

static const struct hv_ops blkd_hv_ops = {
    .name = "blkd",
    .mem_read = blkd_hv_read,
    .mem_write = blkd_hv_write,
    .mem_regions = blkd_hv_regions,
    .mmio_add = blkd_hv_mmio_add,
    .mmio_del = blkd_hv_mmio_del,
    .irq_set = blkd_hv_irq_set,
    .free = blkd_hv_free,
};

void
blkd_mem_init(struct blkd_mem *m)
{
    memset(m, 0, sizeof(*m));
    m->hv.ops = &blkd_hv_ops;
    snprintf(m->hv.name, sizeof(m->hv.name), "blkd");
    for (unsigned i = 0; i < HV_MAX_BANKS; i++) {
        m->reg[i].gnt.fd = -1;
    }
}

void
blkd_mem_clear(struct blkd_mem *m)
{
    blkd_mem_release(m);
    for (unsigned i = 0; i < BLKD_NR_QUEUES; i++) {
        blkd_mem_unpin(m, i);
    }
    for (unsigned i = 0; i < m->nr; i++) {
        if (m->reg[i].map) {
            munmap(m->reg[i].map, m->reg[i].map_len);
        }
        blkd_gnt_close(&m->reg[i].gnt);
    }
    blkd_mem_init(m);
}

/*
 * A GRANT region: refs consecutive from (1 << 63) | (first_ref << 12),
 * mapped through its fd (offset 0) access by access.
 */
static int
blkd_mem_map_grant(struct blkd_region *r, const struct blkd_mem_wire *w)
{
    uint64_t space = w->gpa & ~BLKD_GNT_ADDR_BIT;

    if (!(w->gpa & BLKD_GNT_ADDR_BIT) || w->gpa % BLKD_XEN_PAGE ||
        w->mmap_off != 0 || space + w->len > (1ULL << 32) * BLKD_XEN_PAGE) {
        log_err("blkd: GRANT region gpa %#" PRIx64 " size %#" PRIx64
                " mmap_offset %#" PRIx64 ": want (1 << 63) | (ref << 12), "
                "offset 0, refs below 2^32", w->gpa, w->len, w->mmap_off);
        return -EINVAL;
    }
    return blkd_gnt_open(&r->gnt, w->fd, w->xen_domid);
}

/* A plain region: mmap(fd) at mmap_off, after checking the fd is big enough. */
static int
blkd_mem_map_plain(struct blkd_region *r, const struct blkd_mem_wire *w)
{
    long pg = sysconf(_SC_PAGESIZE);
    uint64_t delta, map_off;
    struct stat st;
    void *p;

    if (pg <= 0) {
        return -EINVAL;
    }
    if (fstat(w->fd, &st) < 0) {
        return -errno;
    }
    if (w->mmap_off > UINT64_MAX - w->len) {
        log_err("blkd: region mmap_offset %#" PRIx64 " + size wraps",
                w->mmap_off);
        return -EINVAL;
    }
    /* A region past the end of a file would fault (SIGBUS) on access. */
    if (S_ISREG(st.st_mode) && (uint64_t)st.st_size < w->mmap_off + w->len) {
        log_err("blkd: region needs %" PRIu64 " bytes of its fd, which has %"
                PRIu64, w->mmap_off + w->len, (uint64_t)st.st_size);
        return -EINVAL;
    }
    map_off = w->mmap_off & ~(uint64_t)(pg - 1);
    delta = w->mmap_off - map_off;
    if (w->len > SIZE_MAX - delta || map_off > (uint64_t)INT64_MAX) {
        return -EINVAL;
    }
    p = mmap(NULL, (size_t)(w->len + delta), PROT_READ | PROT_WRITE,
             MAP_SHARED, w->fd, (off_t)map_off);
    if (p == MAP_FAILED) {
        int rc = -errno;

        log_err("blkd: mmap of a %" PRIu64 "-byte region: %s", w->len,
                strerror(errno));
        return rc;
    }
    r->map = p;
    r->map_len = (size_t)(w->len + delta);
    r->host = (uint8_t *)p + delta;
    return 0;
}

static int
blkd_mem_check_wire(const struct blkd_mem_wire *w, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        if (w[i].len == 0 || w[i].gpa > UINT64_MAX - w[i].len ||
            w[i].uaddr > UINT64_MAX - w[i].len || w[i].len > SIZE_MAX) {
            log_err("blkd: region %u (gpa %#" PRIx64 ", size %#" PRIx64
                    ", uaddr %#" PRIx64 ") is empty or wraps",
                    i, w[i].gpa, w[i].len, w[i].uaddr);
            return -EINVAL;
        }
        for (unsigned j = 0; j < i; j++) {
            /* Userspace ranges must not overlap either: translation of ring
             * addresses would be ambiguous. */
            if (w[i].uaddr < w[j].uaddr + w[j].len &&
                w[j].uaddr < w[i].uaddr + w[i].len) {
                log_err("blkd: regions %u and %u overlap in userspace "
                        "addresses", j, i);
                return -EINVAL;
            }
        }
    }
    return 0;
}

int
blkd_mem_map(struct blkd_mem *out, const struct blkd_mem_wire *w, unsigned n)
{
    unsigned order[HV_MAX_BANKS];
    int rc;

    blkd_mem_init(out);
    if (n == 0 || n > HV_MAX_BANKS) {
        log_err("blkd: memory table with %u regions (we map 1..%u)", n,
                HV_MAX_BANKS);
        return -EINVAL;
    }
    rc = blkd_mem_check_wire(w, n);
    if (rc < 0) {
        return rc;
    }
    /* Sort by gpa (insertion sort of indices); the layout wants order. */
    for (unsigned i = 0; i < n; i++) {
        unsigned j = i;

        while (j > 0 && w[order[j - 1]].gpa > w[i].gpa) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = i;
    }
    for (unsigned k = 0; k < n; k++) {
        const struct blkd_mem_wire *wi = &w[order[k]];
        struct blkd_region *r = &out->reg[k];

        rc = hv_layout_add(&out->hv.ram, wi->gpa, wi->len);
        if (rc < 0) {
            log_err("blkd: region gpa %#" PRIx64 " size %#" PRIx64
                    " overlaps another", wi->gpa, wi->len);
            goto fail_unmap;
        }
        r->gpa = wi->gpa;
        r->len = wi->len;
        r->uaddr = wi->uaddr;
        out->nr = k + 1;
        if (wi->xen_flags == 0) {
            rc = blkd_mem_map_plain(r, wi);
        } else if ((wi->xen_flags & ~VHU_XEN_MMAP_NO_ADVANCE_MAP) ==
                   VHU_XEN_MMAP_FOREIGN) {
            if (wi->mmap_off != 0) {
                log_err("blkd: FOREIGN region with mmap_offset %#" PRIx64
                        " (privcmd is mapped at 0)", wi->mmap_off);
                rc = -EINVAL;
            } else {
                rc = blkd_xen_map_foreign(r, wi->fd, wi->xen_domid);
            }
        } else if ((wi->xen_flags & ~VHU_XEN_MMAP_NO_ADVANCE_MAP) ==
                   VHU_XEN_MMAP_GRANT) {
            rc = blkd_mem_map_grant(r, wi);
        } else {
            log_err("blkd: xen_mmap_flags %#x: want FOREIGN or GRANT",
                    wi->xen_flags);
            rc = -EOPNOTSUPP;
        }
        if (rc < 0) {
            goto fail_unmap;
        }
        log_info("blkd: region %u: gpa %#" PRIx64 "..%#" PRIx64 " uaddr %#"
                 PRIx64 "%s", k, r->gpa, r->gpa + r->len - 1, r->uaddr,
                 !wi->xen_flags ? ""
                 : r->host ? " (xen foreign)"
                           : " (xen grant: refs mapped per access)");
    }
    return 0;

fail_unmap:
    blkd_mem_clear(out);
    return rc;
}

int
blkd_mem_ua_to_gpa(const struct blkd_mem *m, uint64_t uaddr, uint64_t len,
                   uint64_t *gpa)
{
    for (unsigned i = 0; i < m->nr; i++) {
        const struct blkd_region *r = &m->reg[i];

        /* Subtract, then compare: no sum of frontend values can wrap. */
        if (uaddr >= r->uaddr && uaddr - r->uaddr < r->len &&
            len <= r->len - (uaddr - r->uaddr)) {
            *gpa = r->gpa + (uaddr - r->uaddr);
            return 0;
        }
    }
    return -EFAULT;
}

void *
blkd_mem_ptr(struct blkd_mem *m, uint64_t gpa, uint64_t len, bool write)
{
    unsigned bank;
    uint64_t off;

    if (hv_layout_find(&m->hv.ram, gpa, len, &bank, &off) < 0) {
        return NULL;
    }
    if (m->reg[bank].host) {
        return m->reg[bank].host + off;
    }
    return blkd_mem_gnt_ptr(m, bank, off, len, write);
}

void
blkd_mem_release(struct blkd_mem *m)
{
    if (m->nreq) {
        m->reg[m->req[0].reg].gnt.requests++;
    }
    for (unsigned i = 0; i < m->nreq; i++) {
        blkd_gnt_unmap(&m->reg[m->req[i].reg].gnt, &m->req[i]);
    }
    m->nreq = 0;
}

int
blkd_mem_pin(struct blkd_mem *m, unsigned key, uint64_t gpa, uint64_t len,
             bool write)
{
    unsigned bank;
    uint64_t off;

    if (hv_layout_find(&m->hv.ram, gpa, len, &bank, &off) < 0) {
        return -EFAULT;
    }
    if (m->reg[bank].host) {
        return 0;
    }
    for (unsigned i = 0; i < BLKD_NR_QUEUES * 3; i++) {
        struct blkd_pin *p = &m->pin[i];

        if (!p->m.host) {
            uint64_t ref, count, in_page;

            blkd_mem_refs(m, bank, off, len, &ref, &count, &in_page);
            if (count > BLKD_GNT_MAX_COUNT ||
                blkd_gnt_map(&m->reg[bank].gnt, (uint32_t)ref,
                             (uint32_t)count, write, &p->m) < 0) {
                return -EFAULT;
            }
            p->m.reg = bank;
            p->key = key;
            p->gpa = gpa;
            p->len = len;
            return 0;
        }
    }
    return -ENOSPC;
}

void
blkd_mem_unpin(struct blkd_mem *m, unsigned key)
{
    for (unsigned i = 0; i < BLKD_NR_QUEUES * 3; i++) {
        struct blkd_pin *p = &m->pin[i];

        if (p->m.host && p->key == key) {
            blkd_gnt_unmap(&m->reg[p->m.reg].gnt, &p->m);
        }
    }
}
