/*
 * relay_pool: first-fit bounce-pool allocator with out-of-order frees (see
 * relay_pool.h).  Only the shadow relay's own bookkeeping reaches it; the
 * backend never sees these structures.
 */
#include <config.h>

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "relay_pool.h"

static uint32_t
relay_pool_round(uint32_t len)
{
    return (len + RELAY_POOL_GRAIN - 1) & ~(RELAY_POOL_GRAIN - 1);
}

int
relay_pool_init(struct relay_pool *p, uint32_t len, unsigned max_allocs)
{
    memset(p, 0, sizeof(*p));
    len &= ~(RELAY_POOL_GRAIN - 1);
    if (len == 0 || max_allocs == 0) {
        return -EINVAL;
    }
    p->cap = max_allocs + 1;
    p->ext = calloc(p->cap, sizeof(*p->ext));
    if (!p->ext) {
        return -ENOMEM;
    }
    p->len = p->free_len = len;
    p->max_live = max_allocs;
    p->ext[0] = (struct relay_pool_extent){ 0, len };
    p->n = 1;
    return 0;
}

void
relay_pool_fini(struct relay_pool *p)
{
    free(p->ext);
    p->ext = NULL;
    p->n = p->cap = 0;
}

int
relay_pool_alloc(struct relay_pool *p, uint32_t len, uint32_t *off)
{
    uint32_t want;

    if (len == 0 || len > p->len) {
        return -E2BIG;
    }
    want = relay_pool_round(len);
    if (p->live >= p->max_live || want > p->free_len) {
        return -EAGAIN;
    }
    for (unsigned i = 0; i < p->n; i++) {
        struct relay_pool_extent *e = &p->ext[i];

        if (e->len < want) {
            continue;
        }
        *off = e->off;
        e->off += want;
        e->len -= want;
        if (e->len == 0) {
            memmove(e, e + 1, (p->n - i - 1) * sizeof(*e));
            p->n--;
        }
        p->free_len -= want;
        p->live++;
        return 0;
    }
    return -EAGAIN;
}

void
relay_pool_free(struct relay_pool *p, uint32_t off, uint32_t len)
{
    uint32_t size = relay_pool_round(len);
    unsigned lo = 0, hi = p->n;
    bool join_prev, join_next;

    /* First extent after the freed range. */
    while (lo < hi) {
        unsigned mid = (lo + hi) / 2;

        if (p->ext[mid].off < off) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    join_prev = lo > 0 && p->ext[lo - 1].off + p->ext[lo - 1].len == off;
    join_next = lo < p->n && off + size == p->ext[lo].off;
    if (join_prev && join_next) {
        p->ext[lo - 1].len += size + p->ext[lo].len;
        memmove(&p->ext[lo], &p->ext[lo + 1], (p->n - lo - 1) * sizeof(*p->ext));
        p->n--;
    } else if (join_prev) {
        p->ext[lo - 1].len += size;
    } else if (join_next) {
        p->ext[lo].off = off;
        p->ext[lo].len += size;
    } else {
        /* cap = max_allocs + 1 always has room: see relay_pool.h */
        memmove(&p->ext[lo + 1], &p->ext[lo], (p->n - lo) * sizeof(*p->ext));
        p->ext[lo] = (struct relay_pool_extent){ off, size };
        p->n++;
    }
    p->free_len += size;
    p->live--;
}
