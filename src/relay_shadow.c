/*
 * relay_shadow: the shadow (copy) data path, for backends that cannot map
 * guest memory (every unmodified backend under Xen).
 *
 * Concepts and trust:
 *  - The relay owns a memfd ("shadow RAM") shared with the backend through
 *    SET_MEM_TABLE.  Per queue it holds a shadow split ring (the relay is
 *    its driver) and a bounce pool.  The backend never sees guest memory.
 *  - Guest kick: pop validated chains from the guest ring (vq), copy the
 *    driver->device bytes into the bounce pool, publish a shadow chain with
 *    the same segment structure (or one indirect table), kick the backend.
 *  - Backend call: read the shadow used ring.  The backend is untrusted:
 *    each used id must name a chain it holds, the count of new entries can
 *    not exceed what it holds, and a length beyond the chain's writable
 *    bytes is a protocol error.  Device->driver bytes are copied back into
 *    the guest's own writable buffers only, never more than the backend
 *    reported nor more than the guest offered.  Then the guest's used ring
 *    is written and the guest interrupted if its ring asks for it.
 *  - Bounce pool exhaustion is back-pressure: the popped chain waits and is
 *    retried when completions free space.  The pool is reclaimed out of
 *    order (relay_pool.c), so a request the backend holds for a long time
 *    never stalls the others.  A request larger than the pool (up to
 *    cfg.max_request_kib) uses the queue's oversize window right after
 *    the pool, one at a time; its pages are touched only then and given
 *    back (hole punched) when it completes.
 *  - Metadata (slots, free lists, allocator) lives in private memory,
 *    never in the shared memfd.
 */
#include <config.h>

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "le.h"
#include "relay_pool.h"
#include "relay_priv.h"

/* Where the shadow memfd appears in the backend's address space. */
#define SHADOW_GPA 0x100000000ULL
#define SHADOW_ALIGN_MIN 512u   /* segments this large start 512-aligned */
#define PAGE_ALIGN(x) (((x) + 4095ULL) & ~4095ULL)

struct shadow_seg {
    uint64_t gpa;
    uint32_t len;
    uint32_t off; /* in the bounce pool */
};

struct shadow_slot {
    bool busy;
    bool oversize;     /* bounce space is the oversize window */
    uint16_t guest_head;
    uint16_t ndesc;
    uint16_t nin;
    uint16_t in_cap;
    uint32_t bounce_off;  /* in the pool (or window, past pool_len) */
    uint32_t bounce_len;
    uint64_t seq;         /* submission order, for resubmitting */
    uint64_t in_bytes;
    struct shadow_seg *in;
};

struct shadow_queue {
    uint16_t num;
    bool event_idx, indirect;
    uint8_t *desc, *avail, *used, *pool;
    uint64_t desc_gpa, avail_gpa, used_gpa, pool_gpa;
    uint32_t pool_len;
    uint32_t window_len;     /* oversize window, right after the pool */
    uint64_t window_memfd_off;
    bool window_busy;
    struct shadow_dev *sd;
    uint16_t avail_idx, used_seen;
    uint16_t free_head, nfree;
    uint16_t *next_free;   /* free list links */
    uint16_t *chain_next;  /* private copy of each chain's links */
    uint16_t *order;       /* scratch: heads to resubmit, oldest first */
    struct shadow_slot *slot;
    struct relay_pool alloc;
    uint64_t next_seq;
    unsigned inflight;
    bool has_pending;
    struct vq_chain pending;
};

/*
 * Shadow RAM comes in generations: each connection gets a memfd of its
 * own (SET_MEM_TABLE), so whatever a backend writes through an older
 * connection's mapping (late completions after a reset, a dropped
 * connection still finishing requests) lands in memory the relay no
 * longer reads.
 */
struct shadow_dev {
    int fd;
    uint8_t *base;
    uint64_t len;
    uint64_t per_queue;   /* rings, pool, window */
    uint64_t window;      /* oversize window per queue (0: none) */
    bool handed;   /* this generation was given to a connection */
};

static uint64_t
shadow_ring_bytes(uint16_t num)
{
    return PAGE_ALIGN(VQ_DESC_BYTES(num)) + PAGE_ALIGN(VQ_AVAIL_BYTES(num)) +
           PAGE_ALIGN(VQ_USED_BYTES(num));
}

/* A zeroed shared memfd of len bytes, mapped: 0 or -errno. */
static int
shadow_mem_new(struct relay *r, uint64_t len, int *fd_out, uint8_t **base_out)
{
    int fd = memfd_create("xvm-shadow", MFD_CLOEXEC);
    void *base;
    int rc;

    if (fd < 0 || ftruncate(fd, (off_t)len) < 0) {
        goto fail;
    }
    base = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (base == MAP_FAILED) {
        goto fail;
    }
    *fd_out = fd;
    *base_out = base;
    return 0;

fail:
    rc = -errno;
    log_err("%s: cannot create shadow RAM: %s", r->name, strerror(errno));
    if (fd >= 0) {
        close(fd);
    }
    return rc;
}

/* The device's shadow RAM, created on first use. */
static struct shadow_dev *
shadow_dev_get(struct relay *r)
{
    struct shadow_dev *sd = r->mode_state;

    if (sd) {
        return sd;
    }
    sd = calloc(1, sizeof(*sd));
    if (!sd) {
        return NULL;
    }
    if (r->cfg.max_request_kib > r->cfg.bounce_kib) {
        sd->window = PAGE_ALIGN((uint64_t)r->cfg.max_request_kib * 1024);
    }
    sd->per_queue = shadow_ring_bytes(r->dev.q[0].num_max) +
                    PAGE_ALIGN((uint64_t)r->cfg.bounce_kib * 1024) + sd->window;
    sd->len = sd->per_queue * r->dev.nr_queues;
    if (shadow_mem_new(r, sd->len, &sd->fd, &sd->base) < 0) {
        free(sd);
        return NULL;
    }
    r->mode_state = sd;
    log_info("%s: shadow RAM %llu KiB (%u queues; %llu KiB each of it an "
             "oversize window, committed only while used)", r->name,
             (unsigned long long)(sd->len >> 10), r->dev.nr_queues,
             (unsigned long long)(sd->window >> 10));
    return sd;
}

/*
 * A new generation of shadow RAM for a new connection.  Live queues (a
 * reconnect that resumes them) keep their rings and bounce data: their
 * share is copied and their pointers moved; the guest-physical layout
 * the backend sees is unchanged.
 */
static int
shadow_dev_renew(struct relay *r, struct shadow_dev *sd)
{
    uint8_t *base;
    int fd, rc;

    rc = shadow_mem_new(r, sd->len, &fd, &base);
    if (rc < 0) {
        return rc;
    }
    for (unsigned i = 0; i < r->dev.nr_queues; i++) {
        struct shadow_queue *sq = r->q[i].sh;
        uint64_t off = sd->per_queue * i;

        if (!sq) {
            continue;
        }
        /* Rings, then the bounce space of chains still held: copying
         * the whole pool and window would commit all their pages. */
        memcpy(base + off, sd->base + off, shadow_ring_bytes(sq->num));
        for (unsigned h = 0; h < sq->num; h++) {
            const struct shadow_slot *sl = &sq->slot[h];

            if (sl->busy) {
                memcpy(base + (sq->pool - sd->base) + sl->bounce_off,
                       sq->pool + sl->bounce_off, sl->bounce_len);
            }
        }
        sq->desc = base + (sq->desc - sd->base);
        sq->avail = base + (sq->avail - sd->base);
        sq->used = base + (sq->used - sd->base);
        sq->pool = base + (sq->pool - sd->base);
    }
    munmap(sd->base, sd->len);
    close(sd->fd);
    sd->base = base;
    sd->fd = fd;
    sd->handed = false;
    return 0;
}

static int
shadow_mem_table(struct relay *r)
{
    struct shadow_dev *sd = shadow_dev_get(r);
    struct vhu_region vr;
    int rc;

    if (!sd) {
        return -ENOMEM;
    }
    if (sd->handed) {
        rc = shadow_dev_renew(r, sd);
        if (rc < 0) {
            return rc;
        }
    }
    sd->handed = true;
    vr = (struct vhu_region){
        .gpa = SHADOW_GPA,
        .len = sd->len,
        .uaddr = SHADOW_GPA,
        .mmap_off = 0,
        .fd = sd->fd,
    };
    return vhu_set_mem_table(r->conn, &vr, 1);
}

/* Give the oversize window's pages back (both sides' mappings stay). */
static void
shadow_window_release(struct shadow_queue *sq)
{
    if (fallocate(sq->sd->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                  (off_t)sq->window_memfd_off, (off_t)sq->window_len) < 0) {
        log_debug("shadow: cannot release the oversize window: %s",
                  strerror(errno));
    }
    sq->window_busy = false;
}

static void
shadow_queue_free(struct relay_queue *q)
{
    struct shadow_queue *sq = q->sh;

    if (!sq) {
        return;
    }
    if (sq->slot) {
        for (unsigned i = 0; i < sq->num; i++) {
            free(sq->slot[i].in);
        }
    }
    free(sq->slot);
    free(sq->next_free);
    free(sq->chain_next);
    free(sq->order);
    relay_pool_fini(&sq->alloc);
    if (sq->window_busy) {
        shadow_window_release(sq);
    }
    free(sq);
    q->sh = NULL;
}

static int
shadow_queue_start(struct relay *r, struct relay_queue *q)
{
    struct shadow_dev *sd = shadow_dev_get(r);
    struct shadow_queue *sq;
    uint64_t off;
    uint16_t num = q->gvq.num;

    if (!sd) {
        return -ENOMEM;
    }
    off = sd->per_queue * q->idx;
    shadow_queue_free(q);
    sq = calloc(1, sizeof(*sq));
    if (!sq) {
        return -ENOMEM;
    }
    q->sh = sq;
    sq->num = num;
    sq->event_idx = q->gvq.event_idx;
    sq->indirect = q->gvq.indirect;
    sq->next_free = calloc(num, sizeof(*sq->next_free));
    sq->chain_next = calloc(num, sizeof(*sq->chain_next));
    sq->slot = calloc(num, sizeof(*sq->slot));
    sq->order = calloc(num, sizeof(*sq->order));
    sq->sd = sd;
    if (!sq->next_free || !sq->chain_next || !sq->slot || !sq->order ||
        relay_pool_init(&sq->alloc, r->cfg.bounce_kib * 1024u, num) < 0) {
        shadow_queue_free(q);
        return -ENOMEM;
    }
    /* Ring layout inside this queue's share of shadow RAM. */
    sq->desc = sd->base + off;
    sq->desc_gpa = SHADOW_GPA + off;
    off += PAGE_ALIGN(VQ_DESC_BYTES(num));
    sq->avail = sd->base + off;
    sq->avail_gpa = SHADOW_GPA + off;
    off += PAGE_ALIGN(VQ_AVAIL_BYTES(num));
    sq->used = sd->base + off;
    sq->used_gpa = SHADOW_GPA + off;
    off = sd->per_queue * q->idx + shadow_ring_bytes(r->dev.q[0].num_max);
    sq->pool = sd->base + off;
    sq->pool_gpa = SHADOW_GPA + off;
    sq->pool_len = sq->alloc.len;
    sq->window_len = (uint32_t)sd->window;
    sq->window_memfd_off = off + PAGE_ALIGN((uint64_t)r->cfg.bounce_kib * 1024);
    memset(sq->desc, 0, shadow_ring_bytes(num)); /* all three rings */
    for (uint16_t i = 0; i < num; i++) {
        sq->next_free[i] = (uint16_t)(i + 1);
    }
    sq->nfree = num;
    return 0;
}

/*
 * Hand the shadow ring to a connection.  On resume, the ring restarts at
 * index 0 holding every request the lost backend never answered, oldest
 * first; their descriptors and bounce data are still in place.
 */
static int
shadow_queue_wire(struct relay *r, struct relay_queue *q, bool resume)
{
    struct shadow_queue *sq = q->sh;

    if (resume) {
        uint16_t n = 0;

        /* Oldest first: insertion by submission order (rare path). */
        for (uint16_t head = 0; head < sq->num; head++) {
            uint16_t at;

            if (!sq->slot[head].busy) {
                continue;
            }
            for (at = n; at > 0; at--) {
                if (sq->slot[sq->order[at - 1]].seq < sq->slot[head].seq) {
                    break;
                }
                sq->order[at] = sq->order[at - 1];
            }
            sq->order[at] = head;
            n++;
        }
        for (uint16_t i = 0; i < n; i++) {
            le16_store(sq->avail + 4 + 2 * i, sq->order[i]);
        }
        memset(sq->used, 0, VQ_USED_BYTES(sq->num));
        le16_store(sq->avail + 4 + 2 * sq->num, 0); /* used_event */
        sq->avail_idx = n;
        sq->used_seen = 0;
        /* Pairs with the backend's read barrier after reading avail->idx. */
        __atomic_thread_fence(__ATOMIC_RELEASE);
        le16_store(sq->avail + 2, n);
        if (n) {
            log_info("%s: resubmitting %u requests to the new backend",
                     q->name, n);
        }
    }
    return vhu_set_vring_addr(r->conn, q->idx, sq->desc_gpa, sq->used_gpa,
                              sq->avail_gpa);
}

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

/* Bounce layout: optional indirect table, then segments, large ones 512-aligned. */
static uint64_t
bounce_layout(const struct vq_chain *c, bool indirect, uint32_t *seg_off)
{
    uint64_t cur = indirect ? 16ULL * c->nseg : 0;

    for (unsigned i = 0; i < c->nseg; i++) {
        if (c->seg[i].len >= SHADOW_ALIGN_MIN) {
            cur = (cur + SHADOW_ALIGN_MIN - 1) & ~(uint64_t)(SHADOW_ALIGN_MIN - 1);
        }
        seg_off[i] = (uint32_t)cur;
        cur += c->seg[i].len;
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
    uint32_t seg_off[VQ_MAX_SEGS];
    struct shadow_slot *s;
    uint64_t total;
    uint32_t base;
    uint16_t head, cur;
    int rc;

    if (ndesc > sq->num) {
        return -E2BIG;
    }
    total = bounce_layout(c, use_ind, seg_off);
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
        rc = hv_mem_read(r->hv, c->seg[i].gpa, sq->pool + base + seg_off[i],
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
        uint8_t *tbl = sq->pool + base;

        desc_take(sq);
        for (unsigned i = 0; i < c->nseg; i++) {
            le_desc_store(tbl + 16 * i, sq->pool_gpa + base + seg_off[i],
                    c->seg[i].len,
                    (uint16_t)((c->seg[i].write ? VQ_DESC_F_WRITE : 0) |
                               (i + 1 < c->nseg ? VQ_DESC_F_NEXT : 0)),
                    (uint16_t)(i + 1 < c->nseg ? i + 1 : 0));
        }
        le_desc_store(sq->desc + 16 * head, sq->pool_gpa + base, 16u * c->nseg,
                VQ_DESC_F_INDIRECT, 0);
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
    r->stats.bytes_in += c->out_bytes;
    return 0;
}

static void
shadow_kick(struct relay *r, struct relay_queue *q)
{
    struct shadow_queue *sq = q->sh;
    unsigned submitted = 0;
    int rc;

    if (!sq) {
        return;
    }
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
            r->stats.backpressure++;
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
        /* Pairs with the backend's barrier between used and avail_event. */
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        relay_kick_backend(q);
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
        int rc = hv_mem_write(r->hv, s->in[i].gpa, sq->pool + s->in[i].off, n);

        if (rc < 0) {
            return rc;
        }
        left -= n;
    }
    return 0;
}

/*
 * Backend-written fields of the shadow used ring, each fetched exactly
 * once: an atomic load cannot be split or repeated by the compiler the way
 * plain reads of shared memory may be.  The ring layout keeps them aligned
 * (idx at +2 of a page-aligned ring, elements at +4 + 8n).
 */
static uint16_t
shared_le16(const uint8_t *p)
{
    return le16toh(__atomic_load_n((const uint16_t *)(const void *)p,
                                   __ATOMIC_RELAXED));
}

static uint32_t
shared_le32(const uint8_t *p)
{
    return le32toh(__atomic_load_n((const uint32_t *)(const void *)p,
                                   __ATOMIC_RELAXED));
}

/* Consume shadow used entries; copy back into the guest unless draining. */
static unsigned
shadow_reap(struct relay *r, struct relay_queue *q, bool deliver)
{
    struct shadow_queue *sq = q->sh;
    unsigned done = 0;
    uint16_t used_idx;

again:
    used_idx = shared_le16(sq->used + 2);
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
        uint32_t id = shared_le32(e), len = shared_le32(e + 4);
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
                vq_push(&q->gvq, s->guest_head, len) < 0) {
                slot_release(sq, (uint16_t)id);
                relay_fail(r, "guest ring or buffer not writable");
                return done;
            }
            r->stats.requests++;
            r->stats.bytes_out += len;
        }
        slot_release(sq, (uint16_t)id);
        done++;
    }
    if (sq->event_idx) {
        /* used_event: call us on the next completion. */
        le16_store(sq->avail + 4 + 2 * sq->num, sq->used_seen);
        /* Pairs with the backend's barrier before it reads used_event. */
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        if (shared_le16(sq->used + 2) != sq->used_seen) {
            goto again;
        }
    }
    return done;
}

static void
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

/*
 * After GET_VRING_BASE (q->gvq.last_avail = its base) the backend has
 * stopped the ring.  Whatever it completed is reaped (and dropped: the
 * guest reset the device); what it took and still holds it may complete
 * later, into this generation of shadow RAM only, never into guest
 * memory.  A base that does not fit what was published counts as
 * holding everything.
 */
static unsigned
shadow_in_flight(struct relay *r, struct relay_queue *q)
{
    struct shadow_queue *sq = q->sh;
    uint16_t unseen;

    if (!sq) {
        return 0;
    }
    shadow_reap(r, q, false);
    /* Chains published past the backend's base were never taken. */
    unseen = (uint16_t)(sq->avail_idx - q->gvq.last_avail);
    return unseen <= sq->inflight ? sq->inflight - unseen : sq->inflight;
}

static void
shadow_queue_stop(struct relay *r, struct relay_queue *q)
{
    (void)r;
    shadow_queue_free(q);
}

static void
shadow_fini(struct relay *r)
{
    struct shadow_dev *sd = r->mode_state;

    for (unsigned i = 0; i < VMMIO_MAX_QUEUES; i++) {
        shadow_queue_free(&r->q[i]);
    }
    if (!sd) {
        return;
    }
    if (sd->base) {
        munmap(sd->base, sd->len);
    }
    if (sd->fd >= 0) {
        close(sd->fd);
    }
    free(sd);
    r->mode_state = NULL;
}

const struct relay_mode_ops relay_shadow_ops = {
    .name = "shadow",
    .mem_table = shadow_mem_table,
    .queue_start = shadow_queue_start,
    .queue_wire = shadow_queue_wire,
    .queue_stop = shadow_queue_stop,
    .kick = shadow_kick,
    .call = shadow_call,
    .in_flight = shadow_in_flight,
    .fini = shadow_fini,
};
