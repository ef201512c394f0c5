/*
 * hv_gnt: a grant-based device's address space as a struct hv (see
 * hv_gnt.h).
 *
 * Concepts: the derived hv owns no guest memory; it forwards to the
 * guest's hv grant ops.  Its one RAM bank is the grant space, so
 * hv_mem_read()/hv_mem_write() have already proven [addr, addr+len) in
 * range (refs < HV_GNT_MAX_REFS, no wrap) before mem_read/mem_write run.
 * Mappings are the relay's (rings); the guest cannot add one.
 */
#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hv_gnt.h"
#include "log.h"

struct hv_gnt_map {
    bool used;
    bool writable;
    unsigned key;
    uint64_t off;            /* offset in the grant space (page aligned) */
    uint64_t len;            /* whole pages */
    uint32_t ref;
    uint32_t count;
    uint8_t *ptr;
};

struct hv_gnt {
    struct hv hv;            /* first: container_of by cast */
    struct hv *guest;
    struct hv_gnt_stats stats;
    struct hv_gnt_map map[HV_GNT_MAX_MAPS];
};

static struct hv_gnt *
gnt_of(const struct hv *hv)
{
    return (struct hv_gnt *)hv;
}

int
hv_gnt_decode(uint64_t addr, uint32_t *ref, uint32_t *off)
{
    uint64_t r = (addr & ~HV_GNT_ADDR_BIT) >> HV_GNT_PAGE_SHIFT;

    if (!(addr & HV_GNT_ADDR_BIT) || r >= HV_GNT_MAX_REFS) {
        return -EINVAL;
    }
    *ref = (uint32_t)r;
    *off = (uint32_t)(addr & (HV_GNT_PAGE_SIZE - 1));
    return 0;
}

/*
 * The live mapping holding all of [off, off+len), writable if `write`
 * (a guest may lay a ring over another ring's read-only pages), or NULL.
 */
static const struct hv_gnt_map *
gnt_find_map(const struct hv_gnt *g, uint64_t off, size_t len, bool write)
{
    for (unsigned i = 0; i < HV_GNT_MAX_MAPS; i++) {
        const struct hv_gnt_map *m = &g->map[i];

        if (m->used && (m->writable || !write) && off >= m->off &&
            len <= m->len &&
            off - m->off <= m->len - len) {
            return m;
        }
    }
    return NULL;
}

/* Copy [off, off+len) of grant space in batches of page segments. */
static int
gnt_copy(struct hv_gnt *g, uint64_t off, uint8_t *buf, size_t len,
         bool to_guest)
{
    struct hv_gnt_seg seg[HV_GNT_BATCH];

    while (len > 0) {
        unsigned n = 0;
        size_t batch = 0;
        uint64_t t0;
        int rc;

        while (n < HV_GNT_BATCH && len > 0) {
            uint32_t in_page = (uint32_t)(off & (HV_GNT_PAGE_SIZE - 1));
            uint32_t chunk = HV_GNT_PAGE_SIZE - in_page;

            if (chunk > len) {
                chunk = (uint32_t)len;
            }
            seg[n++] = (struct hv_gnt_seg){
                .ref = (uint32_t)(off >> HV_GNT_PAGE_SHIFT),
                .off = in_page,
                .len = chunk,
                .buf = buf,
            };
            off += chunk;
            buf += chunk;
            len -= chunk;
            batch += chunk;
        }
        t0 = log_now_ns();
        rc = g->guest->ops->gnt_copy(g->guest, seg, n, to_guest);
        if (rc < 0) {
            return rc;
        }
        g->stats.copy_ns += log_now_ns() - t0;
        g->stats.copies++;
        g->stats.copy_bytes += batch;
    }
    return 0;
}

static int
gnt_mem_read(struct hv *hv, unsigned bank, uint64_t off, void *buf,
             size_t len)
{
    struct hv_gnt *g = gnt_of(hv);
    const struct hv_gnt_map *m = gnt_find_map(g, off, len, false);

    if (m) {
        memcpy(buf, m->ptr + (off - m->off), len);
        return 0;
    }
    return gnt_copy(g, off, buf, len, false);
}

static int
gnt_mem_write(struct hv *hv, unsigned bank, uint64_t off, const void *buf,
              size_t len)
{
    struct hv_gnt *g = gnt_of(hv);
    const struct hv_gnt_map *m = gnt_find_map(g, off, len, true);

    if (m) {
        memcpy(m->ptr + (off - m->off), buf, len);
        return 0;
    }
    /* gnt_copy only reads `buf` when copying to the guest. */
    return gnt_copy(g, off, (uint8_t *)(uintptr_t)buf, len, true);
}

/* The device window and interrupt stay on the guest's own hv. */
static int
gnt_mmio_add(struct hv *hv, uint64_t base, uint64_t len, hv_mmio_fn fn,
             void *opaque)
{
    return -EOPNOTSUPP;
}

static void
gnt_mmio_del(struct hv *hv, uint64_t base)
{
}

static int
gnt_irq_set(struct hv *hv, unsigned irq, bool level)
{
    return -EOPNOTSUPP;
}

static void
gnt_unmap_one(struct hv_gnt *g, struct hv_gnt_map *m)
{
    g->guest->ops->gnt_unmap(g->guest, m->ptr, m->ref, m->count);
    m->used = false;
    g->stats.live_maps--;
}

static void
gnt_free(struct hv *hv)
{
    struct hv_gnt *g = gnt_of(hv);

    for (unsigned i = 0; i < HV_GNT_MAX_MAPS; i++) {
        if (g->map[i].used) {
            gnt_unmap_one(g, &g->map[i]);
        }
    }
    free(g);
}

/*
 * Zero-copy: the whole grant space as one region in rust-vmm's layout
 * (GRANT | NO_ADVANCE_MAP, address (1 << 63) | (ref << 12), data = the
 * granting guest's domid): the backend maps the refs of each access
 * through the fd gnt_share gives, offset 0 for the whole space.
 */
static int
gnt_mem_regions(struct hv *hv, struct hv_region *out, unsigned max)
{
    struct hv_gnt *g = gnt_of(hv);

    if (!g->guest->ops->gnt_share) {
        return -EOPNOTSUPP;
    }
    if (max < 1) {
        return -ENOSPC;
    }
    out[0] = (struct hv_region){
        .gpa = hv->ram.bank[0].gpa,
        .len = hv->ram.bank[0].len,
        .fd_off = 0,
        .xen_mmap_flags = HV_XEN_MMAP_GRANT | HV_XEN_MMAP_NO_ADVANCE_MAP,
        .xen_domid = hv->domid,
    };
    return 1;
}

static int
gnt_mem_share(struct hv *hv)
{
    struct hv_gnt *g = gnt_of(hv);

    if (!g->guest->ops->gnt_share) {
        return -EOPNOTSUPP;
    }
    return g->guest->ops->gnt_share(g->guest);
}

static const struct hv_ops hv_gnt_ops = {
    .name = "grant",
    .mem_read = gnt_mem_read,
    .mem_write = gnt_mem_write,
    .mem_regions = gnt_mem_regions,
    .mem_share = gnt_mem_share,
    .mmio_add = gnt_mmio_add,
    .mmio_del = gnt_mmio_del,
    .irq_set = gnt_irq_set,
    .free = gnt_free,
};

int
hv_gnt_new(struct hv **out, struct hv *guest)
{
    struct hv_gnt *g;
    int rc;

    if (!guest->ops->gnt_copy || !guest->ops->gnt_map ||
        !guest->ops->gnt_unmap) {
        return -EOPNOTSUPP;
    }
    g = calloc(1, sizeof(*g));
    if (!g) {
        return -ENOMEM;
    }
    g->hv.ops = &hv_gnt_ops;
    g->hv.domid = guest->domid;
    snprintf(g->hv.name, sizeof(g->hv.name), "%.27s/gnt", guest->name);
    g->guest = guest;
    rc = hv_layout_add(&g->hv.ram, HV_GNT_ADDR_BIT,
                       (uint64_t)HV_GNT_MAX_REFS << HV_GNT_PAGE_SHIFT);
    if (rc) {
        free(g);
        return rc;
    }
    *out = &g->hv;
    return 0;
}

int
hv_gnt_map(struct hv *gnt, unsigned key, uint64_t addr, uint64_t len,
           bool writable)
{
    struct hv_gnt *g = gnt_of(gnt);
    struct hv_gnt_map *m = NULL;
    uint64_t first, last, t0;
    unsigned bank;
    uint64_t off;
    void *p;
    int rc;

    if (hv_layout_find(&gnt->ram, addr, len, &bank, &off)) {
        return -EFAULT;
    }
    for (unsigned i = 0; i < HV_GNT_MAX_MAPS && !m; i++) {
        m = g->map[i].used ? NULL : &g->map[i];
    }
    if (!m) {
        return -ENOSPC;
    }
    first = off >> HV_GNT_PAGE_SHIFT;
    last = (off + (len ? len : 1) - 1) >> HV_GNT_PAGE_SHIFT;
    t0 = log_now_ns();
    rc = g->guest->ops->gnt_map(g->guest, (uint32_t)first,
                                (uint32_t)(last - first + 1), writable, &p);
    if (rc < 0) {
        return rc;
    }
    g->stats.map_ns += log_now_ns() - t0;
    g->stats.maps++;
    g->stats.live_maps++;
    *m = (struct hv_gnt_map){
        .used = true,
        .writable = writable,
        .key = key,
        .off = first << HV_GNT_PAGE_SHIFT,
        .len = (last - first + 1) << HV_GNT_PAGE_SHIFT,
        .ref = (uint32_t)first,
        .count = (uint32_t)(last - first + 1),
        .ptr = p,
    };
    return 0;
}

void
hv_gnt_unmap(struct hv *gnt, unsigned key)
{
    struct hv_gnt *g = gnt_of(gnt);

    for (unsigned i = 0; i < HV_GNT_MAX_MAPS; i++) {
        if (g->map[i].used && g->map[i].key == key) {
            gnt_unmap_one(g, &g->map[i]);
        }
    }
}

void
hv_gnt_get_stats(const struct hv *gnt, struct hv_gnt_stats *out)
{
    *out = gnt_of(gnt)->stats;
}
