/*
 * relay_shadow: the shadow (copy) data path, for backends that cannot map
 * guest memory (every unmodified backend under Xen).
 *
 * Concepts and trust:
 *  - The relay owns a memfd ("shadow RAM") shared with the backend through
 *    SET_MEM_TABLE.  Per queue it holds a shadow split ring (the relay is
 *    its driver) and a bounce pool.  The backend never sees guest memory;
 *    the memfd is sealed against resizing (nothing else it could do with
 *    it reaches beyond this device).
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
 *    retried when completions free space.
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

/*
 * One bounce-pool allocation, in allocation order.  A slot's head can be
 * reused while an older allocation still holds the pool's tail, so the
 * same head may appear twice: liveness is per allocation (`done`), never
 * looked up through the slot.
 */
struct shadow_alloc {
    uint16_t head;
    bool done;
    uint32_t end; /* pool offset just past the allocation */
};

struct shadow_slot {
    bool busy;
    uint16_t fifo_pos; /* this chain's entry in shadow_queue.fifo */
    uint16_t guest_head;
    uint16_t ndesc;
    uint16_t nin;
    uint16_t in_cap;
    uint32_t pool_start; /* allocator bookkeeping: start incl. wrap waste */
    uint32_t pool_end;
    uint64_t in_bytes;
    struct shadow_seg *in;
};

struct shadow_queue {
    uint16_t num;
    bool event_idx, indirect;
    uint8_t *desc, *avail, *used, *pool;
    uint64_t desc_gpa, avail_gpa, used_gpa, pool_gpa;
    uint32_t pool_len;
    uint16_t avail_idx, used_seen;
    uint16_t free_head, nfree;
    uint16_t *next_free;   /* free list links */
    uint16_t *chain_next;  /* private copy of each chain's links */
    struct shadow_slot *slot;
    /* Pool allocator: live bytes are [tail, head) modulo wrap; heads of
     * the live allocations in allocation order in fifo[]. */
    uint32_t pool_head, pool_tail;
    struct shadow_alloc *fifo;
    uint16_t fifo_rd, fifo_n;
    unsigned inflight;
    bool has_pending;
    struct vq_chain pending;
};

struct shadow_dev {
    int fd;
    uint8_t *base;
    uint64_t len;
    uint64_t per_queue;
};

static uint64_t
shadow_ring_bytes(uint16_t num)
{
    return PAGE_ALIGN(VQ_DESC_BYTES(num)) + PAGE_ALIGN(VQ_AVAIL_BYTES(num)) +
           PAGE_ALIGN(VQ_USED_BYTES(num));
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
    sd->per_queue = shadow_ring_bytes(r->dev.q[0].num_max) +
                    PAGE_ALIGN((uint64_t)r->cfg.bounce_kib * 1024);
    sd->len = sd->per_queue * r->dev.nr_queues;
    /* The backend gets this fd: sealed, it cannot shrink the file under
     * our mapping (SIGBUS in the worker) or grow it. */
    sd->fd = memfd_create("xvm-shadow", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (sd->fd < 0 || ftruncate(sd->fd, (off_t)sd->len) < 0 ||
        fcntl(sd->fd, F_ADD_SEALS,
              F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0) {
        goto fail;
    }
    sd->base = mmap(NULL, sd->len, PROT_READ | PROT_WRITE, MAP_SHARED, sd->fd, 0);
    if (sd->base == MAP_FAILED) {
        goto fail;
    }
    r->mode_state = sd;
    log_info("%s: shadow RAM %llu KiB (%u queues)", r->name,
             (unsigned long long)(sd->len >> 10), r->dev.nr_queues);
    return sd;

fail:
    log_err("%s: cannot create shadow RAM: %s", r->name, strerror(errno));
    if (sd->fd >= 0) {
        close(sd->fd);
    }
    free(sd);
    return NULL;
}

static int
shadow_mem_table(struct relay *r)
{
    struct shadow_dev *sd = shadow_dev_get(r);
    struct vhu_region vr;

    if (!sd) {
        return -ENOMEM;
    }
    vr = (struct vhu_region){
        .gpa = SHADOW_GPA,
        .len = sd->len,
        .uaddr = SHADOW_GPA,
        .mmap_off = 0,
        .fd = sd->fd,
    };
    return vhu_set_mem_table(r->conn, &vr, 1);
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
    free(sq->fifo);
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
    sq->fifo = calloc(num, sizeof(*sq->fifo));
    if (!sq->next_free || !sq->chain_next || !sq->slot || !sq->fifo) {
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
    sq->pool_len = r->cfg.bounce_kib * 1024u;
    memset(sq->desc, 0, shadow_ring_bytes(num));
    memset(sq->avail, 0, VQ_AVAIL_BYTES(num));
    memset(sq->used, 0, VQ_USED_BYTES(num));
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

        for (uint16_t i = 0; i < sq->fifo_n; i++) {
            const struct shadow_alloc *a =
                &sq->fifo[(sq->fifo_rd + i) % sq->num];
            uint16_t head = a->head;

            if (!a->done) {
                le16_store(sq->avail + 4 + 2 * n, head);
                n++;
            }
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

/* Allocate len bytes of bounce pool for shadow head `head`. */
static int
pool_alloc(struct shadow_queue *sq, uint16_t head, uint32_t len, uint32_t *off)
{
    struct shadow_slot *s = &sq->slot[head];
    uint32_t start = sq->pool_head;

    if (sq->fifo_n == 0) {
        sq->pool_head = sq->pool_tail = start = 0;
    }
    if (sq->fifo_n >= sq->num) {
        return -EAGAIN; /* every fifo entry in use: wait for the oldest */
    }
    if (sq->fifo_n == 0 || sq->pool_head > sq->pool_tail ||
        (sq->pool_head == sq->pool_tail && sq->fifo_n == 0)) {
        /* live region is [tail, head): room at the end, or wrap to 0 */
        if (sq->pool_len - sq->pool_head >= len) {
            *off = sq->pool_head;
        } else if (len <= sq->pool_tail) {
            *off = 0;
        } else {
            return -EAGAIN;
        }
    } else {
        /* wrapped (or full): room is [head, tail) */
        if (sq->pool_tail - sq->pool_head < len) {
            return -EAGAIN;
        }
        *off = sq->pool_head;
    }
    s->pool_start = start;
    s->pool_end = *off + len;
    sq->pool_head = s->pool_end;
    s->fifo_pos = (uint16_t)((sq->fifo_rd + sq->fifo_n) % sq->num);
    sq->fifo[s->fifo_pos] = (struct shadow_alloc){ head, false, s->pool_end };
    sq->fifo_n++;
    return 0;
}

/* Undo the newest allocation (it was never published). */
static void
pool_unalloc(struct shadow_queue *sq, uint16_t head)
{
    sq->fifo_n--;
    sq->pool_head = sq->slot[head].pool_start;
    if (sq->fifo_n == 0) {
        sq->pool_head = sq->pool_tail = 0;
    }
}

/* Reclaim pool space of completed allocations, oldest first. */
static void
pool_reclaim(struct shadow_queue *sq)
{
    while (sq->fifo_n > 0 && sq->fifo[sq->fifo_rd].done) {
        sq->pool_tail = sq->fifo[sq->fifo_rd].end;
        sq->fifo_rd = (uint16_t)((sq->fifo_rd + 1) % sq->num);
        sq->fifo_n--;
    }
    if (sq->fifo_n == 0) {
        sq->pool_head = sq->pool_tail = 0;
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
    sq->fifo[s->fifo_pos].done = true;
    sq->inflight--;
    pool_reclaim(sq);
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
    if (total > sq->pool_len) {
        log_rl(&r->rl, LOG_LVL_ERR, "%s: request of %llu bytes exceeds the "
               "%u-byte bounce pool", q->name, (unsigned long long)total,
               sq->pool_len);
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
    rc = pool_alloc(sq, head, (uint32_t)(total ? total : 1), &base);
    if (rc < 0) {
        return rc;
    }
    for (unsigned i = 0; i < c->nout; i++) {
        rc = hv_mem_read(r->hv, c->seg[i].gpa, sq->pool + base + seg_off[i],
                         c->seg[i].len);
        if (rc < 0) {
            pool_unalloc(sq, head);
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
 * After GET_VRING_BASE the backend has stopped the ring.  Whatever it
 * completed is reaped (and dropped: the guest reset the device); what it
 * still holds can only ever land in shadow RAM, never in guest memory, so
 * there is nothing to wait for.
 */
static unsigned
shadow_in_flight(struct relay *r, struct relay_queue *q)
{
    if (q->sh) {
        shadow_reap(r, q, false);
    }
    return 0;
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
