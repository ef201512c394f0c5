/*
 * hv_xen_mem: guest RAM through foreign mappings, behind a bounded cache
 * of 1 MiB buckets with LRU eviction, pins for direct ring pointers, plus
 * the Arm guest RAM layout.
 *
 * Trust boundary: gpa and len come from the guest (through the hv layer,
 * which has already checked them against the RAM banks).  The mapper may
 * fail as a whole or per page (a ballooned-out or unpopulated page); any
 * such failure is -EFAULT to the caller, never a fault in this process.
 */
#ifndef XVM_HV_XEN_MEM_H
#define XVM_HV_XEN_MEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hv.h"

#define HV_XEN_PAGE_SHIFT 12
#define HV_XEN_PAGE_SIZE (1u << HV_XEN_PAGE_SHIFT)
#define HV_XEN_BUCKET_SHIFT 20
#define HV_XEN_BUCKET_SIZE (1ull << HV_XEN_BUCKET_SHIFT)
#define HV_XEN_BUCKET_PAGES (HV_XEN_BUCKET_SIZE >> HV_XEN_PAGE_SHIFT)

/*
 * Map `pages` guest pages starting at page-aligned `gpa`, read-write.
 * Returns the address, or NULL with *rc = -errno when nothing was mapped.
 * On success page_err[i] is 0, or -errno for a page that is not usable.
 */
typedef void *(*hv_xen_map_fn)(void *opaque, uint64_t gpa, unsigned pages,
                               int *page_err, int *rc);
typedef void (*hv_xen_unmap_fn)(void *opaque, void *va, unsigned pages);

struct hv_xen_mapper {
    hv_xen_map_fn map;
    hv_xen_unmap_fn unmap;
    void *opaque;
};

struct hv_xen_bucket {
    uint64_t gpa;       /* bucket-aligned guest address */
    uint8_t *va;        /* NULL: slot free */
    uint64_t last_use;  /* LRU tick */
    unsigned pins;      /* pointers hv_xen_mapcache_pin() gave out */
    bool retired;       /* invalidated while pinned: no lookup finds it,
                         * unmapped with its last pin */
    uint64_t bad[HV_XEN_BUCKET_PAGES / 64]; /* pages that failed to map */
};

struct hv_xen_mapcache_stats {
    uint64_t hits;
    uint64_t maps;
    uint64_t unmaps;
    uint64_t evictions;
    uint64_t invalidations;
    uint64_t failures;
};

struct hv_xen_mapcache {
    struct hv_xen_mapper mapper;
    struct hv_xen_bucket *b;
    unsigned max;        /* bound: at most max buckets mapped */
    unsigned live;
    unsigned pinned;     /* buckets with pins (at most max / 2) */
    uint64_t tick;
    struct hv_xen_mapcache_stats st;
};

/* Bound the cache to `mib` MiB (0: 64).  0 or -ENOMEM. */
int hv_xen_mapcache_init(struct hv_xen_mapcache *mc,
                         const struct hv_xen_mapper *mapper, unsigned mib);
/* Unmap everything and free the bucket table. */
void hv_xen_mapcache_fini(struct hv_xen_mapcache *mc);
/*
 * Drop every mapping (IOREQ_TYPE_INVALIDATE).  A pinned bucket stays
 * mapped for the pointers into it, retired: later copies and pins map the
 * guest's pages afresh; it is unmapped with its last pin.
 */
void hv_xen_mapcache_invalidate(struct hv_xen_mapcache *mc);

/*
 * Copy between guest RAM and buf, bucket by bucket.  0, or -EFAULT when a
 * bucket cannot be mapped or a page in range failed (the part of buf
 * before it may already have been copied).
 */
int hv_xen_mapcache_read(struct hv_xen_mapcache *mc, uint64_t gpa, void *buf,
                         size_t len);
int hv_xen_mapcache_write(struct hv_xen_mapcache *mc, uint64_t gpa,
                          const void *buf, size_t len);

/*
 * A pointer to [gpa, gpa+len) that stays valid until
 * hv_xen_mapcache_unpin(): the bucket holding the range is pinned (never
 * evicted; an invalidate only retires it).  NULL, and nothing pinned, when
 * len is 0, the range crosses a bucket boundary, any page of it failed to
 * map, the bucket cannot be mapped, or pinning one more bucket would take
 * more than half the cache from copies.  The caller copies instead.
 */
void *hv_xen_mapcache_pin(struct hv_xen_mapcache *mc, uint64_t gpa,
                          size_t len);
/* Give back one pointer hv_xen_mapcache_pin() returned. */
void hv_xen_mapcache_unpin(struct hv_xen_mapcache *mc, const void *p);

/*
 * Arm guest RAM banks for a guest of `bytes` of RAM: bank 0 at
 * HV_ARM_RAM0_GPA up to 3 GiB, the rest in bank 1 at HV_ARM_RAM1_GPA.
 * 0, -EINVAL (bytes 0) or -E2BIG (larger than both banks).
 */
int hv_xen_layout_from_size(uint64_t bytes, struct hv_layout *out);

#endif
