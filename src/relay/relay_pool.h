/*
 * relay_pool: the bounce-pool allocator of the shadow relay.
 *
 * Hands out byte ranges of a pool [0, len) and takes them back in any
 * order, so one request a backend holds for a long time never stalls the
 * ones behind it.  First fit over a list of free extents kept sorted by
 * offset, coalesced on free.  n live allocations split the free space
 * into at most n + 1 extents, so the list is sized once for the queue
 * (max_allocs + 1) and every call costs O(free extents) <= O(queue size).
 * Sizes are rounded up to RELAY_POOL_GRAIN, a page, so every offset is
 * page-aligned (the shadow relay lays page-sized buffers out on pages).
 * Metadata is private memory only; the pool's bytes live wherever the
 * caller keeps them (shared with the backend).
 */
#ifndef XVM_RELAY_POOL_H
#define XVM_RELAY_POOL_H

#include <stdint.h>

#define RELAY_POOL_GRAIN 4096u

struct relay_pool_extent {
    uint32_t off;
    uint32_t len;
};

struct relay_pool {
    uint32_t len;      /* pool size, a multiple of RELAY_POOL_GRAIN */
    uint32_t free_len; /* bytes free in total */
    unsigned n, cap;   /* free extents in use / allocated */
    unsigned live, max_live;
    struct relay_pool_extent *ext; /* sorted by off, never adjacent */
};

/*
 * A pool of len bytes (rounded down to the grain) for at most max_allocs
 * live allocations.  0 or -ENOMEM / -EINVAL.
 */
int relay_pool_init(struct relay_pool *p, uint32_t len, unsigned max_allocs);
void relay_pool_fini(struct relay_pool *p);

/*
 * Allocate len bytes (1..pool size): 0 and *off; -EAGAIN when no free
 * extent fits now (or max_allocs are live); -E2BIG when len can never fit.
 */
int relay_pool_alloc(struct relay_pool *p, uint32_t len, uint32_t *off);

/* Give back an allocation made with exactly this off and len. */
void relay_pool_free(struct relay_pool *p, uint32_t off, uint32_t len);

#endif
