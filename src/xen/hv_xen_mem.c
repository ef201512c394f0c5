/*
 * hv_xen_mem: a bounded cache of foreign mappings of guest RAM, and the
 * Arm guest RAM layout.
 *
 * Concepts: guest RAM is mapped in 1 MiB buckets (aligned on guest
 * addresses) through a mapper function; at most `max` buckets are mapped
 * at any time and the least recently used unpinned one is unmapped to
 * make room.  A pointer a copy takes into a bucket never outlives one
 * memcpy: every copy looks its bucket up again, so an INVALIDATE (or an
 * eviction) between two pieces of a copy cannot leave a stale pointer
 * behind.  The one exception is a pin (direct ring pointers, hv_mem_ptr):
 * its bucket is never evicted, and an INVALIDATE retires it instead of
 * unmapping it (copies and new pins then map the guest's pages afresh,
 * as after any invalidate), so the pointer stays safe to use until it is
 * given back; hv_xen moves map_gen at the invalidate, so its holders take
 * new ones.  Pins hold at most half the cache, leaving the rest to copies.
 *
 * Trust boundary: addresses arrive already checked against the RAM banks
 * by hv.c; what can still go wrong is the mapping itself (a page the
 * guest ballooned out, ENOMEM), and that is -EFAULT, never a SIGBUS: pages
 * the mapper reported as failed are remembered and never touched.
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "hv_xen_mem.h"
#include "log.h"

/* Arm bank 1 size (Xen public/arch-arm.h GUEST_RAM1_SIZE, 1016 GiB). */
#define HV_XEN_ARM_RAM1_MAX 0xfe00000000ULL

int
hv_xen_mapcache_init(struct hv_xen_mapcache *mc,
                     const struct hv_xen_mapper *mapper, unsigned mib)
{
    unsigned max = mib ? mib : 64;

    memset(mc, 0, sizeof(*mc));
    /* One bucket is 1 MiB, so the bound in MiB is the bucket count. */
    mc->b = calloc(max, sizeof(*mc->b));
    if (mc->b == NULL) {
        return -ENOMEM;
    }
    mc->mapper = *mapper;
    mc->max = max;
    return 0;
}

static void
bucket_drop(struct hv_xen_mapcache *mc, struct hv_xen_bucket *b)
{
    if (b->va == NULL) {
        return;
    }
    mc->mapper.unmap(mc->mapper.opaque, b->va, HV_XEN_BUCKET_PAGES);
    memset(b, 0, sizeof(*b));
    mc->live--;
    mc->st.unmaps++;
}

void
hv_xen_mapcache_invalidate(struct hv_xen_mapcache *mc)
{
    for (unsigned i = 0; i < mc->max; i++) {
        if (mc->b[i].pins > 0) {
            mc->b[i].retired = true;
        } else {
            bucket_drop(mc, &mc->b[i]);
        }
    }
    mc->st.invalidations++;
}

void
hv_xen_mapcache_fini(struct hv_xen_mapcache *mc)
{
    if (mc->b == NULL) {
        return;
    }
    for (unsigned i = 0; i < mc->max; i++) {
        bucket_drop(mc, &mc->b[i]);
    }
    free(mc->b);
    mc->b = NULL;
    mc->pinned = 0;
}

/*
 * A free slot if there is one, else the least recently used unpinned
 * bucket: never NULL, since pins hold at most half the slots
 * (hv_xen_mapcache_pin).
 */
static struct hv_xen_bucket *
lru_victim(struct hv_xen_mapcache *mc)
{
    struct hv_xen_bucket *victim = NULL;

    for (unsigned i = 0; i < mc->max; i++) {
        struct hv_xen_bucket *b = &mc->b[i];

        if (b->va == NULL) {
            return b;
        }
        if (b->pins == 0 &&
            (victim == NULL || b->last_use < victim->last_use)) {
            victim = b;
        }
    }
    return victim;
}

/* The bucket mapping `gpa` (bucket-aligned), mapping it if needed. */
static struct hv_xen_bucket *
bucket_get(struct hv_xen_mapcache *mc, uint64_t gpa, int *rc)
{
    int page_err[HV_XEN_BUCKET_PAGES];
    uint64_t bad[HV_XEN_BUCKET_PAGES / 64];
    struct hv_xen_bucket *victim;
    uint8_t *va;

    for (unsigned i = 0; i < mc->max; i++) {
        if (mc->b[i].va != NULL && !mc->b[i].retired && mc->b[i].gpa == gpa) {
            mc->b[i].last_use = ++mc->tick;
            mc->st.hits++;
            return &mc->b[i];
        }
    }

    /* Make room first, so the bound holds even while mapping. */
    if (mc->live == mc->max) {
        bucket_drop(mc, lru_victim(mc));
        mc->st.evictions++;
    }
    /*
     * The slot is chosen after the mapper returns: the mapper may run
     * arbitrary code (an invalidate, in tests), so no slot is held across.
     */
    memset(page_err, 0, sizeof(page_err));
    va = mc->mapper.map(mc->mapper.opaque, gpa, HV_XEN_BUCKET_PAGES, page_err,
                        rc);
    if (va == NULL) {
        /* Whatever the mapper's reason, the caller sees a bad address. */
        mc->st.failures++;
        *rc = -EFAULT;
        return NULL;
    }
    mc->st.maps++;
    memset(bad, 0, sizeof(bad));
    for (unsigned p = 0; p < HV_XEN_BUCKET_PAGES; p++) {
        if (page_err[p] != 0) {
            bad[p / 64] |= UINT64_C(1) << (p % 64);
        }
    }
    victim = lru_victim(mc);
    if (victim->va != NULL) {
        bucket_drop(mc, victim);
        mc->st.evictions++;
    }
    victim->gpa = gpa;
    victim->va = va;
    victim->last_use = ++mc->tick;
    memcpy(victim->bad, bad, sizeof(bad));
    mc->live++;
    return victim;
}

/* True when any page of [off, off+len) inside the bucket failed to map. */
static bool
bucket_range_bad(const struct hv_xen_bucket *b, uint64_t off, size_t len)
{
    uint64_t first = off >> HV_XEN_PAGE_SHIFT;
    uint64_t last = (off + len - 1) >> HV_XEN_PAGE_SHIFT;

    for (uint64_t p = first; p <= last; p++) {
        if (b->bad[p / 64] & (UINT64_C(1) << (p % 64))) {
            return true;
        }
    }
    return false;
}

static int
mapcache_copy(struct hv_xen_mapcache *mc, uint64_t gpa, void *rbuf,
              const void *wbuf, size_t len)
{
    size_t done = 0;

    if (len != 0 && gpa + (len - 1) < gpa) {
        return -EFAULT;
    }
    while (done < len) {
        uint64_t cur = gpa + done;
        uint64_t base = cur & ~(HV_XEN_BUCKET_SIZE - 1);
        uint64_t off = cur - base;
        size_t piece = len - done;
        struct hv_xen_bucket *b;
        int rc = 0;

        if (piece > HV_XEN_BUCKET_SIZE - off) {
            piece = HV_XEN_BUCKET_SIZE - off;
        }
        b = bucket_get(mc, base, &rc);
        if (b == NULL) {
            return rc;
        }
        if (bucket_range_bad(b, off, piece)) {
            mc->st.failures++;
            return -EFAULT;
        }
        if (rbuf != NULL) {
            memcpy((uint8_t *)rbuf + done, b->va + off, piece);
        } else {
            memcpy(b->va + off, (const uint8_t *)wbuf + done, piece);
        }
        done += piece;
    }
    return 0;
}

int
hv_xen_mapcache_read(struct hv_xen_mapcache *mc, uint64_t gpa, void *buf,
                     size_t len)
{
    return mapcache_copy(mc, gpa, buf, NULL, len);
}

int
hv_xen_mapcache_write(struct hv_xen_mapcache *mc, uint64_t gpa,
                      const void *buf, size_t len)
{
    return mapcache_copy(mc, gpa, NULL, buf, len);
}

void *
hv_xen_mapcache_pin(struct hv_xen_mapcache *mc, uint64_t gpa, size_t len)
{
    uint64_t base = gpa & ~(HV_XEN_BUCKET_SIZE - 1);
    uint64_t off = gpa - base;
    struct hv_xen_bucket *b;
    int rc = 0;

    /* Subtract, then compare: off < BUCKET_SIZE, so no overflow. */
    if (len == 0 || len > HV_XEN_BUCKET_SIZE - off) {
        return NULL;
    }
    b = bucket_get(mc, base, &rc);
    if (b == NULL || bucket_range_bad(b, off, len)) {
        return NULL;
    }
    if (b->pins == 0) {
        if (mc->pinned + 1 > mc->max / 2) {
            return NULL;
        }
        mc->pinned++;
    }
    b->pins++;
    return b->va + off;
}

void
hv_xen_mapcache_unpin(struct hv_xen_mapcache *mc, const void *p)
{
    uintptr_t at = (uintptr_t)p;

    for (unsigned i = 0; i < mc->max; i++) {
        struct hv_xen_bucket *b = &mc->b[i];
        uintptr_t va = (uintptr_t)b->va;

        if (b->pins == 0 || at < va || at - va >= HV_XEN_BUCKET_SIZE) {
            continue;
        }
        if (--b->pins == 0) {
            mc->pinned--;
            if (b->retired) {
                bucket_drop(mc, b);
            }
        }
        return;
    }
    log_err("mapcache: unpin of %p, which no pin gave out", p);
}

int
hv_xen_layout_from_size(uint64_t bytes, struct hv_layout *out)
{
    uint64_t low = bytes < HV_ARM_RAM0_MAX ? bytes : HV_ARM_RAM0_MAX;
    uint64_t high = bytes - low;
    int rc;

    memset(out, 0, sizeof(*out));
    if (bytes == 0) {
        return -EINVAL;
    }
    if (high > HV_XEN_ARM_RAM1_MAX) {
        return -E2BIG;
    }
    rc = hv_layout_add(out, HV_ARM_RAM0_GPA, low);
    if (rc == 0 && high != 0) {
        rc = hv_layout_add(out, HV_ARM_RAM1_GPA, high);
    }
    return rc;
}
