/*
 * relay_shadow_io: the shadow relay's per-request path.  A guest kick pops
 * validated chains (vq), copies the driver->device bytes into the bounce
 * pool and publishes a shadow chain; a backend call reaps the shadow used
 * ring, copies device->driver bytes back into the guest's writable
 * buffers and completes the guest chains.  Trust rules: relay_shadow.c.
 */
#include <config.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "le.h"
#include "relay_shadow.h"

/*
 * Bounce space of len bytes for the chain at shadow head `head`: from the
 * pool, or the oversize window for a request larger than the pool.
 * -EAGAIN: not now (back-pressure); -E2BIG: never.
 */
static int
bounce_alloc(struct shadow_queue *sq, uint16_t head, uint64_t len)
{
    struct shadow_slot *s = &sq->slot[head];
    int rc;

    s->oversize = len > sq->pool_len;
    s->bounce_len = (uint32_t)len;
    if (!s->oversize) {
        return relay_pool_alloc(&sq->alloc, (uint32_t)(len ? len : 1),
                                &s->bounce_off);
    }
    rc = len > sq->window_len ? -E2BIG : sq->window_busy ? -EAGAIN : 0;
    if (rc == 0) {
        sq->window_busy = true;
        s->bounce_off = sq->pool_len;
    }
    return rc;
}

static void
bounce_free(struct shadow_queue *sq, uint16_t head)
{
    struct shadow_slot *s = &sq->slot[head];

    if (s->oversize) {
        shadow_window_release(sq);
    } else {
        relay_pool_free(&sq->alloc, s->bounce_off,
                        s->bounce_len ? s->bounce_len : 1);
    }
}

static uint16_t
desc_take(struct shadow_queue *sq)
{
    uint16_t i = sq->free_head;

    sq->free_head = sq->next_free[i];
    sq->nfree--;
    return i;
}

static void
desc_put(struct shadow_queue *sq, uint16_t i)
{
    sq->next_free[i] = sq->free_head;
    sq->free_head = i;
    sq->nfree++;
}

static uint64_t
align_up(uint64_t v, uint64_t a)
{
    return (v + a - 1) & ~(a - 1);
}

uint64_t
shadow_bounce_layout(const struct vq_chain *c, bool indirect,
                     uint32_t *seg_off, uint32_t *table_off)
{
    uint64_t cur = 0;

    for (unsigned i = 0; i < c->nseg; i++) {
        if (c->seg[i].len >= SHADOW_PAGE) {
            cur = align_up(cur, SHADOW_PAGE);
            seg_off[i] = (uint32_t)cur;
            cur += c->seg[i].len;
        }
    }
    cur = align_up(cur, 16);
    *table_off = (uint32_t)cur;
    cur += indirect ? 16ULL * c->nseg : 0;
    for (unsigned i = 0; i < c->nseg; i++) {
        if (c->seg[i].len < SHADOW_PAGE) {
            if (c->seg[i].len >= SHADOW_ALIGN_MIN) {
                cur = align_up(cur, SHADOW_ALIGN_MIN);
            }
            seg_off[i] = (uint32_t)cur;
            cur += c->seg[i].len;
        }
    }
    return cur;
}

static void
slot_release(struct shadow_queue *sq, uint16_t head)
{
    struct shadow_slot *s = &sq->slot[head];
    uint16_t cur = head;

    /* Links come from private memory: the backend may scribble on the
     * shared descriptor table. */
    for (uint16_t i = 0; i < s->ndesc; i++) {
        uint16_t next = sq->chain_next[cur];

        desc_put(sq, cur);
        cur = next;
    }
    s->busy = false;
    sq->inflight--;
    bounce_free(sq, head);
}

/*
 * Copy one guest chain into bounce space and publish it on the shadow ring.
 * -EAGAIN: no room now (back-pressure); other errors fail the device.
 */
static int
shadow_submit(struct relay *r, struct relay_queue *q, const struct vq_chain *c)
{
    struct shadow_queue *sq = q->sh;
    bool use_ind = sq->indirect && c->nseg > 1;
    uint16_t ndesc = use_ind ? 1 : c->nseg;
    uint32_t seg_off[VQ_MAX_SEGS], table_off;
    struct shadow_slot *s;
    uint64_t total;
    uint32_t base;
    uint16_t head, cur;
    int rc;

    if (ndesc > sq->num) {
        return -E2BIG;
    }
    total = shadow_bounce_layout(c, use_ind, seg_off, &table_off);
    if (total > sq->pool_len && total > sq->window_len) {
        log_rl(&r->rl, LOG_LVL_ERR, "%s: request of %llu bytes exceeds the "
               "%u-byte limit (max_request_kib)", q->name,
               (unsigned long long)total,
               sq->window_len > sq->pool_len ? sq->window_len : sq->pool_len);
        return -E2BIG;
    }
    if (sq->nfree < ndesc) {
        return -EAGAIN;
    }
    head = sq->free_head;
    s = &sq->slot[head];
    if (c->nseg - c->nout > s->in_cap) {
        struct shadow_seg *in = realloc(s->in, sizeof(*in) * (c->nseg - c->nout));

        if (!in) {
            return -ENOMEM;
        }
        s->in = in;
        s->in_cap = (uint16_t)(c->nseg - c->nout);
    }
    rc = bounce_alloc(sq, head, total);
    if (rc < 0) {
        return rc;
    }
    base = s->bounce_off;
    for (unsigned i = 0; i < c->nout; i++) {
        rc = hv_mem_read(r->mem, c->seg[i].gpa, sq->pool + base + seg_off[i],
                         c->seg[i].len);
        if (rc < 0) {
            bounce_free(sq, head);
            return rc;
        }
    }
    s->nin = 0;
    for (unsigned i = c->nout; i < c->nseg; i++) {
        s->in[s->nin++] = (struct shadow_seg){ c->seg[i].gpa, c->seg[i].len,
                                               base + seg_off[i] };
    }
    s->guest_head = c->head;
    s->in_bytes = c->in_bytes;
    s->ndesc = ndesc;
    s->busy = true;
    s->seq = sq->next_seq++;
    sq->inflight++;

    if (use_ind) {
        uint8_t *tbl = sq->pool + base + table_off;

        desc_take(sq);
        for (unsigned i = 0; i < c->nseg; i++) {
            le_desc_store(tbl + 16 * i, sq->pool_gpa + base + seg_off[i],
                    c->seg[i].len,
                    (uint16_t)((c->seg[i].write ? VQ_DESC_F_WRITE : 0) |
                               (i + 1 < c->nseg ? VQ_DESC_F_NEXT : 0)),
                    (uint16_t)(i + 1 < c->nseg ? i + 1 : 0));
        }
        le_desc_store(sq->desc + 16 * head, sq->pool_gpa + base + table_off,
                16u * c->nseg, VQ_DESC_F_INDIRECT, 0);
    } else {
        cur = desc_take(sq);
        for (unsigned i = 0; i < c->nseg; i++) {
            uint16_t next = i + 1 < c->nseg ? desc_take(sq) : 0;

            le_desc_store(sq->desc + 16 * cur, sq->pool_gpa + base + seg_off[i],
                    c->seg[i].len,
                    (uint16_t)((c->seg[i].write ? VQ_DESC_F_WRITE : 0) |
                               (i + 1 < c->nseg ? VQ_DESC_F_NEXT : 0)),
                    next);
            sq->chain_next[cur] = next;
            cur = next;
        }
    }
    le16_store(sq->avail + 4 + 2 * (sq->avail_idx % sq->num), head);
    sq->avail_idx++;
    r->stats.q[q->idx].bytes_in += c->out_bytes;
    return 0;
}

/*
 * Does the backend want a kick for the shadow avail entries [old, new)?
 * As a driver does (Linux's virtqueue_kick_prepare): with EVENT_IDX when
 * they step over its avail_event, else unless it set NO_NOTIFY.  Either
 * field is the backend's to write: one that asks for no kick only delays
 * its own requests.
 */
static bool
shadow_backend_wants_kick(const struct shadow_queue *sq, uint16_t old)
{
    if (sq->event_idx) {
        return vq_need_event(le16_load_once(sq->used + 4 + 8 * sq->num),
                             sq->avail_idx, old);
    }
    return !(le16_load_once(sq->used) & VQ_USED_F_NO_NOTIFY);
}

void
shadow_kick(struct relay *r, struct relay_queue *q)
{
    struct shadow_queue *sq = q->sh;
    unsigned submitted = 0;
    uint16_t old;
    int rc;

    if (!sq) {
        return;
    }
    old = sq->avail_idx;
    for (;;) {
        if (!sq->has_pending) {
            rc = vq_pop(&q->gvq, &sq->pending);
            if (rc < 0) {
                relay_fail(r, "guest ring broken");
                break;
            }
            if (rc == 0) {
                break;
            }
            sq->has_pending = true;
        }
        rc = shadow_submit(r, q, &sq->pending);
        if (rc == -EAGAIN) {
            r->stats.q[q->idx].backpressure++;
            break;
        }
        if (rc < 0) {
            sq->has_pending = false;
            relay_fail(r, rc == -EFAULT ? "guest buffer unreadable"
                                        : "request cannot be relayed");
            break;
        }
        sq->has_pending = false;
        submitted++;
    }
    if (submitted) {
        /* Pairs with the backend's read barrier after reading avail->idx. */
        __atomic_thread_fence(__ATOMIC_RELEASE);
        le16_store(sq->avail + 2, sq->avail_idx);
        /* Pairs with the backend's barrier between writing avail_event
         * (or used->flags) and re-reading avail->idx. */
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        if (shadow_backend_wants_kick(sq, old)) {
            relay_kick_backend(q);
        }
    }
}

/* Copy device->driver bytes back into the guest's writable buffers. */
static int
shadow_copy_back(struct relay *r, struct shadow_queue *sq,
                 const struct shadow_slot *s, uint32_t len)
{
    uint32_t left = len;

    for (unsigned i = 0; i < s->nin && left; i++) {
        uint32_t n = s->in[i].len < left ? s->in[i].len : left;
        int rc = hv_mem_write(r->mem, s->in[i].gpa, sq->pool + s->in[i].off, n);

        if (rc < 0) {
            return rc;
        }
        left -= n;
    }
    return 0;
}

/* Consume shadow used entries; copy back into the guest unless draining. */
unsigned
shadow_reap(struct relay *r, struct relay_queue *q, bool deliver)
{
    struct shadow_queue *sq = q->sh;
    unsigned done = 0;
    uint16_t used_idx;

again:
    used_idx = le16_load_once(sq->used + 2);
    /* Pairs with the backend's write barrier before it wrote used->idx. */
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    if ((uint16_t)(used_idx - sq->used_seen) > sq->inflight) {
        log_rl(&r->rl, LOG_LVL_ERR, "%s: backend used index jumped from %u to "
               "%u with %u requests held", q->name, sq->used_seen, used_idx,
               sq->inflight);
        relay_fail(r, "backend protocol error");
        return done;
    }
    while (sq->used_seen != used_idx) {
        const uint8_t *e = sq->used + 4 + 8 * (sq->used_seen % sq->num);
        uint32_t id = le32_load_once(e), len = le32_load_once(e + 4);
        struct shadow_slot *s;

        sq->used_seen++;
        if (id >= sq->num || !sq->slot[id].busy) {
            log_rl(&r->rl, LOG_LVL_ERR, "%s: backend completed id %u it does "
                   "not hold", q->name, id);
            relay_fail(r, "backend protocol error");
            return done;
        }
        s = &sq->slot[id];
        if (len > s->in_bytes) {
            log_rl(&r->rl, LOG_LVL_ERR, "%s: backend reported %u bytes for a "
                   "chain with %llu writable; clamped", q->name, len,
                   (unsigned long long)s->in_bytes);
            len = (uint32_t)s->in_bytes;
        }
        if (deliver) {
            if (shadow_copy_back(r, sq, s, len) < 0 ||
                vq_add_used(&q->gvq, s->guest_head, len) < 0) {
                slot_release(sq, (uint16_t)id);
                relay_fail(r, "guest ring or buffer not writable");
                return done;
            }
            r->stats.q[q->idx].requests++;
            r->stats.q[q->idx].bytes_out += len;
        }
        slot_release(sq, (uint16_t)id);
        done++;
    }
    if (sq->event_idx) {
        /* used_event: call us on the next completion. */
        le16_store(sq->avail + 4 + 2 * sq->num, sq->used_seen);
        /* Pairs with the backend's barrier before it reads used_event. */
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        if (le16_load_once(sq->used + 2) != sq->used_seen) {
            goto again;
        }
    }
    return done;
}

void
shadow_call(struct relay *r, struct relay_queue *q)
{
    if (!q->sh) {
        return;
    }
    if (shadow_reap(r, q, true) > 0 && vq_need_notify(&q->gvq)) {
        relay_notify_guest(r, q);
    }
    if (q->sh->has_pending) {
        shadow_kick(r, q); /* space was freed: resume back-pressured work */
    }
}
