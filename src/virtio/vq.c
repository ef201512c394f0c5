/*
 * vq: the device side of a virtio 1.x split virtqueue in guest memory.
 *
 * Ring layout (all little-endian):
 *   desc  table: num x { le64 addr, le32 len, le16 flags, le16 next }
 *   avail ring:  le16 flags, le16 idx, le16 ring[num], le16 used_event
 *   used  ring:  le16 flags, le16 idx, { le32 id, le32 len }[num],
 *                le16 avail_event
 *
 * Trust boundary: the guest owns all of this memory and may rewrite any
 * byte at any moment.  Guest memory is reached only through hv_mem_read,
 * hv_mem_write and the hv_*_le helpers, which check every range against
 * guest RAM, or (the rings only, when the hv can) through direct pointers
 * hv_mem_ptr gave for the whole ring after the same check; the ring
 * accessors below hide which.  Each guest value (avail idx, ring entry,
 * 16-byte descriptor, used_event, flags) is copied into a local exactly
 * once (one atomic load per field on the direct path), checked there,
 * and only the copy is used.  The first violation breaks the queue for
 * good (vq->broken): from then on every call fails with -EIO and the
 * caller reports DEVICE_NEEDS_RESET to the driver.
 */
#include <config.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "le.h"
#include "vq.h"

#define VQ_DESC_LEN 16u

#define vq_warn(vq, ...) log_rl(&(vq)->rl, LOG_LVL_WARN, __VA_ARGS__)

/* One descriptor, decoded from the single copy taken of it. */
struct vq_desc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
    uint16_t next;
};

/* Where the chain walk currently reads descriptors from. */
struct vq_table {
    uint64_t gpa;
    uint32_t n;
    bool indirect;
};

/* Mark the queue broken for good and say exactly why (rate-limited). */
static int vq_break(struct vq *vq, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
vq_break(struct vq *vq, const char *fmt, ...)
{
    char why[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    vq->broken = true;
    vq_warn(vq, "%s: queue broken: %s", vq->name, why);
    return -EIO;
}

static bool
vq_pow2(uint32_t n)
{
    return n != 0 && (n & (n - 1)) == 0;
}

/* Offsets of the event-idx fields inside their rings. */
static uint64_t
vq_used_event_off(const struct vq *vq)
{
    return 4 + 2ULL * vq->num;
}

static uint64_t
vq_avail_event_off(const struct vq *vq)
{
    return 4 + 8ULL * vq->num;
}

/*
 * Ring access.  With direct pointers (checked against the hv's map_gen
 * once per entry point, vq_map_check, and taken again when it moved),
 * each field is one atomic load or store; without, one hv_mem_read/write.
 * Either way a value is fetched once, here.  The pointers pin what maps
 * them (under Xen, a foreign mapping) from the first access after
 * vq_init() until vq_fini() or their renewal.
 */
static void
vq_map_put(struct vq *vq)
{
    hv_mem_ptr_put(vq->hv, vq->map.desc);
    hv_mem_ptr_put(vq->hv, vq->map.avail);
    hv_mem_ptr_put(vq->hv, vq->map.used);
    vq->map.desc = vq->map.avail = vq->map.used = NULL;
    vq->map.ok = false;
}

static void __attribute__((noinline))
vq_map_take(struct vq *vq)
{
    vq_map_put(vq);
    vq->map.taken = true;
    vq->map.gen = vq->hv->map_gen;
    if (vq->map.done) {
        return;
    }
    vq->map.desc = hv_mem_ptr(vq->hv, vq->desc_gpa, VQ_DESC_BYTES(vq->num));
    vq->map.avail = hv_mem_ptr(vq->hv, vq->avail_gpa, VQ_AVAIL_BYTES(vq->num));
    vq->map.used = hv_mem_ptr(vq->hv, vq->used_gpa, VQ_USED_BYTES(vq->num));
    vq->map.ok = vq->map.desc && vq->map.avail && vq->map.used;
    if (!vq->map.ok) {
        vq_map_put(vq); /* all three or none: hold nothing unused */
    }
}

void
vq_fini(struct vq *vq)
{
    vq_map_put(vq);
    vq->map.done = true;
}

static inline void
vq_map_check(struct vq *vq)
{
    if (!vq->map.taken || vq->map.gen != vq->hv->map_gen) {
        vq_map_take(vq);
    }
}

/* The 16-bit avail-ring field at byte offset off. */
static inline int
vq_avail_load16(struct vq *vq, uint64_t off, uint16_t *v)
{
    if (vq->map.ok) {
        *v = le16_load_once(vq->map.avail + off);
        return 0;
    }
    return hv_read_le16(vq->hv, vq->avail_gpa + off, v);
}

/* The 16-bit used-ring field at byte offset off. */
static inline int
vq_used_store16(struct vq *vq, uint64_t off, uint16_t v)
{
    if (vq->map.ok) {
        le16_store_once(vq->map.used + off, v);
        return 0;
    }
    return hv_write_le16(vq->hv, vq->used_gpa + off, v);
}

/* Used ring element `slot`. */
static inline int
vq_used_store_elem(struct vq *vq, uint16_t slot, uint32_t id, uint32_t len)
{
    uint8_t elem[8];

    if (vq->map.ok) {
        le32_store_once(vq->map.used + 4 + 8ULL * slot, id);
        le32_store_once(vq->map.used + 8 + 8ULL * slot, len);
        return 0;
    }
    le32_store(elem, id);
    le32_store(elem + 4, len);
    return hv_mem_write(vq->hv, vq->used_gpa + 4 + 8ULL * slot, elem,
                        sizeof(elem));
}

int
vq_init(struct vq *vq, struct hv *hv, const char *name, uint16_t num,
        uint64_t desc_gpa, uint64_t avail_gpa, uint64_t used_gpa,
        uint64_t features)
{
    const char *why = NULL;
    int rc = -EINVAL;

    memset(vq, 0, sizeof(*vq));
    vq->hv = hv;
    vq->name = name ? name : "?";
    vq->rl.burst = 10;
    vq->rl.interval_ms = 1000;
    vq->rl.tokens = 10;
    if (!vq_pow2(num) || num > VQ_MAX_SIZE) {
        why = "size is not a power of two in 1..32768";
    } else if (desc_gpa % 16 || avail_gpa % 2 || used_gpa % 4) {
        why = "ring misaligned (desc 16, avail 2, used 4)";
    } else if (!hv_mem_valid(hv, desc_gpa, VQ_DESC_BYTES(num))) {
        why = "descriptor table not wholly in guest RAM";
        rc = -EFAULT;
    } else if (!hv_mem_valid(hv, avail_gpa, VQ_AVAIL_BYTES(num))) {
        why = "avail ring not wholly in guest RAM";
        rc = -EFAULT;
    } else if (!hv_mem_valid(hv, used_gpa, VQ_USED_BYTES(num))) {
        why = "used ring not wholly in guest RAM";
        rc = -EFAULT;
    }
    if (why) {
        vq->broken = true;
        vq_warn(vq, "%s: queue refused (num %u, desc 0x%llx, avail 0x%llx, "
                    "used 0x%llx): %s",
                vq->name, num, (unsigned long long)desc_gpa,
                (unsigned long long)avail_gpa, (unsigned long long)used_gpa,
                why);
        return rc;
    }
    vq->num = num;
    vq->desc_gpa = desc_gpa;
    vq->avail_gpa = avail_gpa;
    vq->used_gpa = used_gpa;
    vq->event_idx = (features >> VQ_F_EVENT_IDX_BIT) & 1;
    vq->indirect = (features >> VQ_F_INDIRECT_DESC_BIT) & 1;
    return 0;
}

void
vq_set_indices(struct vq *vq, uint16_t last_avail, uint16_t used_idx)
{
    vq->last_avail = last_avail;
    vq->used_idx = used_idx;
    vq->used_shown = used_idx;
    vq->signalled_used = used_idx;
    vq->signalled_used_valid = false;
}

/* Read avail->idx once; 0 and the pending count, or -EIO. */
static int
vq_read_pending(struct vq *vq, uint16_t *pending)
{
    uint16_t idx;
    uint16_t n;

    if (vq_avail_load16(vq, 2, &idx) < 0) {
        return vq_break(vq, "cannot read avail idx");
    }
    n = (uint16_t)(idx - vq->last_avail);
    if (n > vq->num) {
        return vq_break(vq, "avail idx %u is %u ahead of %u, queue size %u",
                        idx, n, vq->last_avail, vq->num);
    }
    *pending = n;
    return 0;
}

/* Copy one 16-byte descriptor out of guest memory, once. */
static int
vq_read_desc(struct vq *vq, const struct vq_table *t, uint32_t i,
             struct vq_desc *d)
{
    uint8_t raw[VQ_DESC_LEN];

    if (!t->indirect && vq->map.ok) {
        const uint8_t *p = vq->map.desc + (uint64_t)i * VQ_DESC_LEN;

        d->addr = le64_load_once(p);
        d->len = le32_load_once(p + 8);
        d->flags = le16_load_once(p + 12);
        d->next = le16_load_once(p + 14);
        return 0;
    }
    if (hv_mem_read(vq->hv, t->gpa + (uint64_t)i * VQ_DESC_LEN, raw,
                    sizeof(raw)) < 0) {
        return vq_break(vq, "cannot read %sdescriptor %u",
                        t->indirect ? "indirect " : "", i);
    }
    d->addr = le_load(raw, 8);
    d->len = (uint32_t)le_load(raw + 8, 4);
    d->flags = (uint16_t)le_load(raw + 12, 2);
    d->next = (uint16_t)le_load(raw + 14, 2);
    return 0;
}

/* Switch the walk to the indirect table `d` refers to, after checking it. */
static int
vq_enter_indirect(struct vq *vq, uint16_t head, const struct vq_desc *d,
                  struct vq_table *t)
{
    if (!vq->indirect) {
        return vq_break(vq, "chain %u: indirect descriptor without "
                            "VIRTIO_F_INDIRECT_DESC",
                        head);
    }
    if (t->indirect) {
        return vq_break(vq, "chain %u: indirect table inside an indirect "
                            "table",
                        head);
    }
    if (d->flags & VQ_DESC_F_NEXT) {
        return vq_break(vq, "chain %u: indirect descriptor with NEXT (must "
                            "end the chain)",
                        head);
    }
    if (d->len < VQ_DESC_LEN || d->len % VQ_DESC_LEN) {
        return vq_break(vq, "chain %u: indirect table length %u is not a "
                            "non-zero multiple of 16",
                        head, d->len);
    }
    if (d->len / VQ_DESC_LEN > VQ_MAX_SEGS) {
        return vq_break(vq, "chain %u: indirect table of %u entries exceeds "
                            "%u",
                        head, d->len / VQ_DESC_LEN, VQ_MAX_SEGS);
    }
    if (!hv_mem_valid(vq->hv, d->addr, d->len)) {
        return vq_break(vq, "chain %u: indirect table [0x%llx, +%u) not "
                            "wholly in guest RAM",
                        head, (unsigned long long)d->addr, d->len);
    }
    t->gpa = d->addr;
    t->n = d->len / VQ_DESC_LEN;
    t->indirect = true;
    return 0;
}

/* Append one buffer descriptor to the chain after checking it. */
static int
vq_add_seg(struct vq *vq, uint16_t head, const struct vq_desc *d,
           struct vq_chain *c)
{
    bool write = d->flags & VQ_DESC_F_WRITE;
    struct vq_seg *s;

    if (d->len == 0) {
        return vq_break(vq, "chain %u: zero-length descriptor", head);
    }
    if (!write && c->nseg > c->nout) {
        return vq_break(vq, "chain %u: readable descriptor after a writable "
                            "one",
                        head);
    }
    if (c->nseg >= VQ_MAX_SEGS) {
        return vq_break(vq, "chain %u: more than %u segments", head,
                        VQ_MAX_SEGS);
    }
    if (!hv_mem_valid(vq->hv, d->addr, d->len)) {
        return vq_break(vq, "chain %u: buffer [0x%llx, +%u) not wholly in "
                            "guest RAM",
                        head, (unsigned long long)d->addr, d->len);
    }
    if (c->out_bytes + c->in_bytes + d->len > UINT32_MAX) {
        return vq_break(vq, "chain %u: more than 4 GiB of buffers", head);
    }
    s = &c->seg[c->nseg++];
    s->gpa = d->addr;
    s->len = d->len;
    s->write = write;
    if (write) {
        c->in_bytes += d->len;
    } else {
        c->nout++;
        c->out_bytes += d->len;
    }
    return 0;
}

/* Walk the chain starting at `head` (already checked < num) into *c. */
static int
vq_walk(struct vq *vq, uint16_t head, struct vq_chain *c)
{
    struct vq_table t = { .gpa = vq->desc_gpa, .n = vq->num };
    uint32_t i = head;
    uint32_t hops = 0;
    struct vq_desc d = { 0 };
    int rc;

    c->head = head;
    c->nseg = 0;
    c->nout = 0;
    c->out_bytes = 0;
    c->in_bytes = 0;
    for (;;) {
        /* A chain can visit each entry of its table at most once. */
        if (++hops > t.n) {
            return vq_break(vq, "chain %u: longer than its %s table of %u "
                                "(loop)",
                            head, t.indirect ? "indirect" : "descriptor",
                            t.n);
        }
        rc = vq_read_desc(vq, &t, i, &d);
        if (rc < 0) {
            return rc;
        }
        if (d.flags & VQ_DESC_F_INDIRECT) {
            rc = vq_enter_indirect(vq, head, &d, &t);
            if (rc < 0) {
                return rc;
            }
            i = 0;
            hops = 0;
            continue;
        }
        rc = vq_add_seg(vq, head, &d, c);
        if (rc < 0) {
            return rc;
        }
        if (!(d.flags & VQ_DESC_F_NEXT)) {
            return 0;
        }
        if (d.next >= t.n) {
            return vq_break(vq, "chain %u: next %u beyond %s table of %u",
                            head, d.next,
                            t.indirect ? "indirect" : "descriptor", t.n);
        }
        i = d.next;
    }
}

int
vq_pop(struct vq *vq, struct vq_chain *chain)
{
    uint16_t pending = 0;
    uint16_t head;
    int rc;

    if (vq->broken) {
        return -EIO;
    }
    vq_map_check(vq);
    rc = vq_read_pending(vq, &pending);
    if (rc < 0) {
        return rc;
    }
    if (pending == 0) {
        if (!vq->event_idx) {
            return 0;
        }
        /* Ask for a kick when the driver publishes entry last_avail. */
        if (vq_used_store16(vq, vq_avail_event_off(vq), vq->last_avail) < 0) {
            return vq_break(vq, "cannot write avail_event");
        }
        /*
         * Full barrier: our avail_event store must be visible before we
         * re-read avail idx.  Pairs with the driver's barrier between its
         * write of avail idx and its read of avail_event.
         */
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        rc = vq_read_pending(vq, &pending);
        if (rc < 0 || pending == 0) {
            return rc;
        }
    }
    /*
     * Read barrier: ring entries and descriptors are read only after avail
     * idx.  Pairs with the driver's write barrier before it writes avail idx.
     */
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    if (vq_avail_load16(vq, 4 + 2ULL * (vq->last_avail % vq->num), &head) <
        0) {
        return vq_break(vq, "cannot read avail ring entry %u",
                        vq->last_avail % vq->num);
    }
    if (head >= vq->num) {
        return vq_break(vq, "avail ring entry %u: head %u beyond queue size "
                            "%u",
                        vq->last_avail % vq->num, head, vq->num);
    }
    rc = vq_walk(vq, head, chain);
    if (rc < 0) {
        return rc;
    }
    vq->last_avail++;
    return 1;
}

int
vq_avail_pending(struct vq *vq)
{
    uint16_t pending = 0;
    int rc;

    if (vq->broken) {
        return -EIO;
    }
    vq_map_check(vq);
    rc = vq_read_pending(vq, &pending);
    return rc < 0 ? rc : pending;
}

int
vq_add_used(struct vq *vq, uint16_t head, uint32_t len)
{
    if (vq->broken) {
        return -EIO;
    }
    vq_map_check(vq);
    if (head >= vq->num) {
        log_err("%s: internal error: push of head %u beyond queue size %u",
                vq->name, head, vq->num);
        return -EINVAL;
    }
    if (vq_used_store_elem(vq, vq->used_idx % vq->num, head, len) < 0) {
        return vq_break(vq, "cannot write used ring entry %u",
                        vq->used_idx % vq->num);
    }
    vq->used_idx++;
    return 0;
}

int
vq_flush_used(struct vq *vq)
{
    if (vq->broken) {
        return -EIO;
    }
    vq_map_check(vq);
    if (vq->used_shown == vq->used_idx) {
        return 0;
    }
    /*
     * Write barrier: the elements before the index.  Pairs with the
     * driver's read barrier after it reads used idx.
     */
    __atomic_thread_fence(__ATOMIC_RELEASE);
    if (vq_used_store16(vq, 2, vq->used_idx) < 0) {
        return vq_break(vq, "cannot write used idx");
    }
    vq->used_shown = vq->used_idx;
    return 0;
}

int
vq_push(struct vq *vq, uint16_t head, uint32_t len)
{
    int rc = vq_add_used(vq, head, len);

    return rc < 0 ? rc : vq_flush_used(vq);
}

bool
vq_need_notify(struct vq *vq)
{
    uint16_t old, v;

    if (vq_flush_used(vq) < 0) {
        return false;
    }
    /*
     * Full barrier: used idx stores before reading used_event/flags.
     * Pairs with the driver's barrier between writing used_event (or
     * flags) and re-reading used idx.
     */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    if (vq->event_idx) {
        if (vq_avail_load16(vq, vq_used_event_off(vq), &v) < 0) {
            vq_break(vq, "cannot read used_event");
            return false;
        }
        old = vq->signalled_used;
        vq->signalled_used = vq->used_idx;
        if (!vq->signalled_used_valid) {
            vq->signalled_used_valid = true;
            return true;
        }
        return vq_need_event(v, vq->used_idx, old);
    }
    if (vq_avail_load16(vq, 0, &v) < 0) {
        vq_break(vq, "cannot read avail flags");
        return false;
    }
    return !(v & VQ_AVAIL_F_NO_INTERRUPT);
}
