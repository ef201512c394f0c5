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
 *  - Backend call: read the shadow used ring (a batch: every entry the
 *    backend wrote by now).  The backend is untrusted:
 *    each used id must name a chain it holds, the count of new entries can
 *    not exceed what it holds, and a length beyond the chain's writable
 *    bytes is a protocol error.  Device->driver bytes are copied back into
 *    the guest's own writable buffers only, never more than the backend
 *    reported nor more than the guest offered.  The guest's used elements
 *    are written as they come; used->idx once for the batch, and the
 *    guest interrupted once if its ring asks for it (used_event).
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

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "le.h"
#include "relay_shadow.h"

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
    int fd = memfd_create("xvm-shadow", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    void *base;
    int rc;

    /* The backend gets this fd: sealed, it cannot shrink the file under
     * our mapping (SIGBUS in the worker) or grow it. */
    if (fd < 0 || ftruncate(fd, (off_t)len) < 0 ||
        fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) <
            0) {
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
void
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
