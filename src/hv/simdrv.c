/*
 * simdrv: a virtio-mmio guest driver for the simulator (see simdrv.h).
 *
 * It plays the guest, so it trusts nothing the device does either: used
 * ring ids are checked against what was posted before a chain is freed.
 */
#include <config.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hv_gnt.h"
#include "le.h"
#include "log.h"
#include "simdrv.h"
#include "vmmio.h"
#include "vq.h"

/* Consecutive refs granted for one range (count 0: none). */
struct simdrv_grant {
    uint32_t ref;
    uint32_t count;
};

struct simdrv_queue {
    uint16_t num;
    struct simdrv_grant ring_gnt[3];  /* desc, avail, used */
    struct simdrv_grant **chain_gnt;  /* per head: buffers, then table */
    unsigned *chain_ngnt;
    uint64_t desc_gpa, avail_gpa, used_gpa;
    uint8_t *desc, *avail, *used; /* direct pointers into sim RAM */
    uint16_t free_head;
    uint16_t nfree;
    uint16_t *next_free;          /* free list links */
    uint16_t *chain_len;          /* descriptors held by a posted head */
    uint64_t *indirect_gpa;       /* indirect table of a posted head, 0 none */
    uint16_t avail_idx;
    uint16_t kicked_avail;        /* avail_idx at the last kick decision */
    uint16_t last_used;
    unsigned inflight;
};

struct simdrv {
    struct hv_sim *sim;
    struct loop *loop;
    uint64_t base;
    unsigned irq;
    uint64_t features;
    unsigned nr_queues;
    uint64_t edges_seen;
    unsigned isr_reads;   /* InterruptStatus reads this driver made */
    uint64_t alloc_gpa;   /* bump pointer */
    unsigned alloc_bank;
    struct simdrv_queue q[SIMDRV_MAX_QUEUES];
    bool grants;
    unsigned revoke_busy;
    uint8_t gref_used[HV_SIM_MAX_GREFS];  /* ref 0 is never handed out */
};

/*
 * Grant [gpa, gpa+len) read-only or writable on the first run of free
 * consecutive refs: the address the device gets, or 0 when out of refs.
 */
static uint64_t
simdrv_grant(struct simdrv *d, uint64_t gpa, uint64_t len, bool readonly,
             struct simdrv_grant *g)
{
    uint64_t page = gpa & ~(uint64_t)(HV_GNT_PAGE_SIZE - 1);
    uint32_t count = (uint32_t)((gpa + len - page + HV_GNT_PAGE_SIZE - 1) /
                                HV_GNT_PAGE_SIZE);
    uint32_t run = 0;

    for (uint32_t r = 1; r < HV_SIM_MAX_GREFS; r++) {
        run = d->gref_used[r] ? 0 : run + 1;
        if (run < count) {
            continue;
        }
        g->ref = r + 1 - count;
        g->count = count;
        for (uint32_t i = 0; i < count; i++) {
            if (hv_sim_grant(d->sim, g->ref + i, page + i * HV_GNT_PAGE_SIZE,
                             readonly) < 0) {
                return 0;
            }
            d->gref_used[g->ref + i] = 1;
        }
        return HV_GNT_ADDR_BIT | ((uint64_t)g->ref << HV_GNT_PAGE_SHIFT) |
               (gpa - page);
    }
    return 0;
}

/* End the device's access, as Linux does when a DMA mapping goes. */
static void
simdrv_ungrant(struct simdrv *d, struct simdrv_grant *g)
{
    for (uint32_t i = 0; i < g->count; i++) {
        int rc = hv_sim_revoke(d->sim, g->ref + i);

        if (rc == -EBUSY) {
            d->revoke_busy++; /* still mapped: the ref leaks, as in Linux */
        } else {
            d->gref_used[g->ref + i] = 0;
        }
    }
    g->count = 0;
}

/* The address the device is given for a range: its gpa, or a grant. */
static uint64_t
simdrv_dma(struct simdrv *d, uint64_t gpa, uint64_t len, bool readonly,
           struct simdrv_grant *g)
{
    g->count = 0;
    return d->grants ? simdrv_grant(d, gpa, len, readonly, g) : gpa;
}

/* Revoke what chain `head` of q was granted. */
static void
simdrv_ungrant_chain(struct simdrv *d, struct simdrv_queue *q, uint16_t head)
{
    if (!q->chain_gnt || !q->chain_gnt[head]) {
        return;
    }
    for (unsigned i = 0; i < q->chain_ngnt[head]; i++) {
        simdrv_ungrant(d, &q->chain_gnt[head][i]);
    }
    free(q->chain_gnt[head]);
    q->chain_gnt[head] = NULL;
}

static uint32_t
rd(struct simdrv *d, uint32_t off)
{
    return hv_sim_read32(d->sim, d->base + off);
}

static void
wr(struct simdrv *d, uint32_t off, uint32_t v)
{
    hv_sim_write32(d->sim, d->base + off, v);
}

int
simdrv_new(struct simdrv **out, struct hv_sim *sim, struct loop *loop,
           uint64_t mmio_base, unsigned irq)
{
    struct simdrv *d = calloc(1, sizeof(*d));
    struct hv *hv = hv_sim_hv(sim);

    if (!d) {
        return -ENOMEM;
    }
    d->sim = sim;
    d->loop = loop;
    d->base = mmio_base;
    d->irq = irq;
    d->alloc_bank = 0;
    /* Leave the first MiB of bank 0 to tests that want fixed addresses. */
    d->alloc_gpa = hv->ram.bank[0].gpa + (1u << 20);
    *out = d;
    return 0;
}

static void
simdrv_free_queues(struct simdrv *d)
{
    for (unsigned i = 0; i < SIMDRV_MAX_QUEUES; i++) {
        struct simdrv_queue *q = &d->q[i];

        for (unsigned h = 0; q->chain_gnt && h < q->num; h++) {
            simdrv_ungrant_chain(d, q, (uint16_t)h);
        }
        for (unsigned r = 0; r < 3; r++) {
            simdrv_ungrant(d, &q->ring_gnt[r]);
        }
        free(q->chain_gnt);
        free(q->chain_ngnt);
        free(d->q[i].next_free);
        free(d->q[i].chain_len);
        free(d->q[i].indirect_gpa);
        memset(&d->q[i], 0, sizeof(d->q[i]));
    }
}

void
simdrv_free(struct simdrv *d)
{
    if (d) {
        simdrv_free_queues(d);
        free(d);
    }
}

uint64_t
simdrv_alloc(struct simdrv *d, uint64_t len, uint64_t align)
{
    struct hv *hv = hv_sim_hv(d->sim);

    if (align == 0) {
        align = 1;
    }
    while (d->alloc_bank < hv->ram.nr) {
        const struct hv_bank *b = &hv->ram.bank[d->alloc_bank];
        uint64_t gpa = (d->alloc_gpa + align - 1) & ~(align - 1);

        if (gpa >= b->gpa && gpa - b->gpa <= b->len &&
            len <= b->len - (gpa - b->gpa)) {
            d->alloc_gpa = gpa + len;
            return gpa;
        }
        d->alloc_bank++;
        if (d->alloc_bank < hv->ram.nr) {
            d->alloc_gpa = hv->ram.bank[d->alloc_bank].gpa;
        }
    }
    return 0;
}

void *
simdrv_ptr(struct simdrv *d, uint64_t gpa, uint64_t len)
{
    return hv_sim_ram(d->sim, gpa, len);
}

uint32_t
simdrv_device_id(struct simdrv *d)
{
    return rd(d, VMMIO_DEVICE_ID);
}

uint32_t
simdrv_status(struct simdrv *d)
{
    return rd(d, VMMIO_STATUS);
}

uint64_t
simdrv_features(const struct simdrv *d)
{
    return d->features;
}

void
simdrv_reset(struct simdrv *d)
{
    wr(d, VMMIO_STATUS, 0);
    simdrv_free_queues(d);
    d->nr_queues = 0;
}

void
simdrv_config(struct simdrv *d, uint32_t off, void *buf, uint32_t len)
{
    uint8_t *p = buf;

    for (uint32_t i = 0; i < len; i++) {
        uint64_t v = 0;

        hv_sim_mmio(d->sim, d->base + VMMIO_CONFIG_OFF + off + i, 1, false, &v);
        p[i] = (uint8_t)v;
    }
}

static int
simdrv_setup_queue(struct simdrv *d, unsigned qi, uint16_t qsize)
{
    struct simdrv_queue *q = &d->q[qi];
    uint64_t desc, avail, used;
    uint32_t max;

    wr(d, VMMIO_QUEUE_SEL, qi);
    if (rd(d, VMMIO_QUEUE_READY) != 0) {
        return -EBUSY;
    }
    max = rd(d, VMMIO_QUEUE_NUM_MAX);
    if (max == 0) {
        return -ENOENT;
    }
    q->num = qsize && qsize < max ? qsize : (uint16_t)max;
    q->desc_gpa = simdrv_alloc(d, VQ_DESC_BYTES(q->num), 4096);
    q->avail_gpa = simdrv_alloc(d, VQ_AVAIL_BYTES(q->num), 4096);
    q->used_gpa = simdrv_alloc(d, VQ_USED_BYTES(q->num), 4096);
    q->next_free = calloc(q->num, sizeof(*q->next_free));
    q->chain_len = calloc(q->num, sizeof(*q->chain_len));
    q->indirect_gpa = calloc(q->num, sizeof(*q->indirect_gpa));
    q->chain_gnt = calloc(q->num, sizeof(*q->chain_gnt));
    q->chain_ngnt = calloc(q->num, sizeof(*q->chain_ngnt));
    if (!q->desc_gpa || !q->avail_gpa || !q->used_gpa || !q->next_free ||
        !q->chain_len || !q->indirect_gpa || !q->chain_gnt ||
        !q->chain_ngnt) {
        return -ENOMEM;
    }
    desc = simdrv_dma(d, q->desc_gpa, VQ_DESC_BYTES(q->num), false,
                      &q->ring_gnt[0]);
    avail = simdrv_dma(d, q->avail_gpa, VQ_AVAIL_BYTES(q->num), false,
                       &q->ring_gnt[1]);
    used = simdrv_dma(d, q->used_gpa, VQ_USED_BYTES(q->num), false,
                      &q->ring_gnt[2]);
    if (!desc || !avail || !used) {
        return -ENOSPC;
    }
    q->desc = simdrv_ptr(d, q->desc_gpa, VQ_DESC_BYTES(q->num));
    q->avail = simdrv_ptr(d, q->avail_gpa, VQ_AVAIL_BYTES(q->num));
    q->used = simdrv_ptr(d, q->used_gpa, VQ_USED_BYTES(q->num));
    memset(q->desc, 0, VQ_DESC_BYTES(q->num));
    memset(q->avail, 0, VQ_AVAIL_BYTES(q->num));
    memset(q->used, 0, VQ_USED_BYTES(q->num));
    for (uint16_t i = 0; i < q->num; i++) {
        q->next_free[i] = (uint16_t)(i + 1);
    }
    q->free_head = 0;
    q->nfree = q->num;
    wr(d, VMMIO_QUEUE_NUM, q->num);
    wr(d, VMMIO_QUEUE_DESC_LOW, (uint32_t)desc);
    wr(d, VMMIO_QUEUE_DESC_HIGH, (uint32_t)(desc >> 32));
    wr(d, VMMIO_QUEUE_AVAIL_LOW, (uint32_t)avail);
    wr(d, VMMIO_QUEUE_AVAIL_HIGH, (uint32_t)(avail >> 32));
    wr(d, VMMIO_QUEUE_USED_LOW, (uint32_t)used);
    wr(d, VMMIO_QUEUE_USED_HIGH, (uint32_t)(used >> 32));
    wr(d, VMMIO_QUEUE_READY, 1);
    return rd(d, VMMIO_QUEUE_READY) == 1 ? 0 : -EINVAL;
}

uint64_t
simdrv_device_features(struct simdrv *d)
{
    uint64_t f;

    wr(d, VMMIO_DEVICE_FEATURES_SEL, 1);
    f = (uint64_t)rd(d, VMMIO_DEVICE_FEATURES) << 32;
    wr(d, VMMIO_DEVICE_FEATURES_SEL, 0);
    return f | rd(d, VMMIO_DEVICE_FEATURES);
}

int
simdrv_init(struct simdrv *d, uint64_t want, unsigned nr_queues,
            uint16_t qsize)
{
    int rc;

    if (nr_queues == 0 || nr_queues > SIMDRV_MAX_QUEUES) {
        return -EINVAL;
    }
    if (rd(d, VMMIO_MAGIC_VALUE) != VMMIO_MAGIC ||
        rd(d, VMMIO_VERSION_REG) != VMMIO_VERSION ||
        rd(d, VMMIO_DEVICE_ID) == 0) {
        return -ENODEV;
    }
    simdrv_reset(d);
    if (d->grants) {
        want |= 1ULL << VIRTIO_F_ACCESS_PLATFORM;
    }
    wr(d, VMMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
    wr(d, VMMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    d->features = simdrv_device_features(d) & want;
    wr(d, VMMIO_DRIVER_FEATURES_SEL, 1);
    wr(d, VMMIO_DRIVER_FEATURES, (uint32_t)(d->features >> 32));
    wr(d, VMMIO_DRIVER_FEATURES_SEL, 0);
    wr(d, VMMIO_DRIVER_FEATURES, (uint32_t)d->features);
    wr(d, VMMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
                            VIRTIO_STATUS_FEATURES_OK);
    if (!(rd(d, VMMIO_STATUS) & VIRTIO_STATUS_FEATURES_OK)) {
        return -ENOTSUP;
    }
    for (unsigned i = 0; i < nr_queues; i++) {
        rc = simdrv_setup_queue(d, i, qsize);
        if (rc < 0) {
            return rc;
        }
    }
    d->nr_queues = nr_queues;
    d->edges_seen = hv_sim_irq_edges(d->sim, d->irq);
    wr(d, VMMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
                            VIRTIO_STATUS_FEATURES_OK |
                            VIRTIO_STATUS_DRIVER_OK);
    return (rd(d, VMMIO_STATUS) & VIRTIO_STATUS_DRIVER_OK) ? 0 : -EIO;
}

static uint16_t
take_desc(struct simdrv_queue *q)
{
    uint16_t i = q->free_head;

    q->free_head = q->next_free[i];
    q->nfree--;
    return i;
}

int
simdrv_submit(struct simdrv *d, unsigned qi, const struct simdrv_buf *b,
              unsigned n, bool indirect, uint16_t *head_out)
{
    struct simdrv_queue *q;
    struct simdrv_grant *g = NULL;
    uint64_t *addr;
    uint16_t head, prev = 0;
    unsigned need;

    if (qi >= d->nr_queues || n == 0) {
        return -EINVAL;
    }
    q = &d->q[qi];
    need = indirect ? 1 : n;
    if (q->nfree < need || n > VQ_MAX_SEGS) {
        return -ENOSPC;
    }
    addr = calloc(n, sizeof(*addr));
    g = calloc(n + 1, sizeof(*g));
    if (!addr || !g) {
        free(addr);
        free(g);
        return -ENOMEM;
    }
    for (unsigned i = 0; i < n; i++) {
        addr[i] = simdrv_dma(d, b[i].gpa, b[i].len, !b[i].write, &g[i]);
        if (d->grants && !addr[i]) {
            for (unsigned j = 0; j <= i; j++) {
                simdrv_ungrant(d, &g[j]);
            }
            free(addr);
            free(g);
            return -ENOSPC;
        }
    }
    if (indirect) {
        uint64_t tbl = simdrv_alloc(d, 16ULL * n, 16);
        uint8_t *t = tbl ? simdrv_ptr(d, tbl, 16ULL * n) : NULL;
        uint64_t tbl_addr = t ? simdrv_dma(d, tbl, 16ULL * n, true, &g[n])
                              : 0;

        if (!tbl_addr) {
            for (unsigned j = 0; j <= n; j++) {
                simdrv_ungrant(d, &g[j]);
            }
            free(addr);
            free(g);
            return -ENOMEM;
        }
        for (unsigned i = 0; i < n; i++) {
            le_desc_store(t + 16 * i, addr[i], b[i].len,
                     (uint16_t)((b[i].write ? VQ_DESC_F_WRITE : 0) |
                                (i + 1 < n ? VQ_DESC_F_NEXT : 0)),
                     (uint16_t)(i + 1 < n ? i + 1 : 0));
        }
        head = take_desc(q);
        le_desc_store(q->desc + 16 * head, tbl_addr, (uint32_t)(16 * n),
                 VQ_DESC_F_INDIRECT, 0);
        q->indirect_gpa[head] = tbl;
    } else {
        head = take_desc(q);
        prev = head;
        for (unsigned i = 0; i < n; i++) {
            uint16_t cur = i == 0 ? head : take_desc(q);

            if (i > 0) {
                /* link the previous descriptor to this one */
                le16_store(q->desc + 16 * prev + 12,
                      (uint16_t)(le16_load(q->desc + 16 * prev + 12) |
                                 VQ_DESC_F_NEXT));
                le16_store(q->desc + 16 * prev + 14, cur);
            }
            le_desc_store(q->desc + 16 * cur, addr[i], b[i].len,
                     b[i].write ? VQ_DESC_F_WRITE : 0, 0);
            prev = cur;
        }
    }
    q->chain_len[head] = (uint16_t)need;
    free(addr);
    if (d->grants) {
        q->chain_gnt[head] = g;
        q->chain_ngnt[head] = n + 1;
    } else {
        free(g);
    }
    le16_store(q->avail + 4 + 2 * (q->avail_idx % q->num), head);
    /* Pairs with the device's acquire after reading avail->idx. */
    __atomic_thread_fence(__ATOMIC_RELEASE);
    q->avail_idx++;
    le16_store(q->avail + 2, q->avail_idx);
    q->inflight++;
    if (d->features & (1ULL << VIRTIO_F_EVENT_IDX)) {
        /* used_event: interrupt for every completion */
        le16_store(q->avail + 4 + 2 * q->num, q->last_used);
    }
    if (head_out) {
        *head_out = head;
    }
    return 0;
}

/*
 * As Linux's virtqueue_kick_prepare: with EVENT_IDX, notify only when the
 * entries added since the last kick step over the device's avail_event
 * (the device is not already working through them); without it, unless
 * the device set VRING_USED_F_NO_NOTIFY.
 */
bool
simdrv_kick(struct simdrv *d, unsigned qi)
{
    struct simdrv_queue *q;
    uint16_t old, new_idx, event;
    bool need;

    if (qi >= d->nr_queues) {
        return false;
    }
    q = &d->q[qi];
    old = q->kicked_avail;
    new_idx = q->avail_idx;
    q->kicked_avail = new_idx;
    /* Pairs with the device's barrier between writing avail_event and
     * re-reading avail->idx. */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    if (d->features & (1ULL << VIRTIO_F_EVENT_IDX)) {
        event = le16_load(q->used + 4 + 8 * q->num);
        need = vq_need_event(event, new_idx, old);
    } else {
        need = !(le16_load(q->used) & VQ_USED_F_NO_NOTIFY);
    }
    if (need) {
        wr(d, VMMIO_QUEUE_NOTIFY, qi);
    }
    return need;
}

int
simdrv_poll(struct simdrv *d, unsigned qi, uint16_t *head, uint32_t *len)
{
    struct simdrv_queue *q = &d->q[qi];
    uint16_t used_idx, id;
    const uint8_t *e;

    if (qi >= d->nr_queues) {
        return 0;
    }
    used_idx = le16_load(q->used + 2);
    if (used_idx == q->last_used &&
        (d->features & (1ULL << VIRTIO_F_EVENT_IDX))) {
        /* As Linux's virtqueue_enable_cb_prepare + virtqueue_poll: publish
         * used_event, then look again.  Without the full barrier the
         * store can pass the load: the device, reading a stale
         * used_event, skips the interrupt while we saw a stale used->idx
         * and go to wait for it (a hang against a backend in another
         * process). */
        le16_store(q->avail + 4 + 2 * q->num, q->last_used);
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        used_idx = le16_load(q->used + 2);
    }
    if (used_idx == q->last_used) {
        return 0;
    }
    /* Pairs with the device's release before writing used->idx. */
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    e = q->used + 4 + 8 * (q->last_used % q->num);
    id = (uint16_t)le32_load(e);
    if (id >= q->num || q->chain_len[id] == 0) {
        log_err("simdrv: device returned bad used id %u", id);
        return -EIO;
    }
    *head = id;
    *len = le32_load(e + 4);
    q->last_used++;
    if (d->features & (1ULL << VIRTIO_F_EVENT_IDX)) {
        le16_store(q->avail + 4 + 2 * q->num, q->last_used);
    }
    /* Give the chain's descriptors back. */
    for (uint16_t i = 0, cur = id; i < q->chain_len[id]; i++) {
        uint16_t nxt = le16_load(q->desc + 16 * cur + 14);

        q->next_free[cur] = q->free_head;
        q->free_head = cur;
        q->nfree++;
        cur = nxt;
    }
    q->chain_len[id] = 0;
    q->indirect_gpa[id] = 0;
    q->inflight--;
    /* The device is done with the buffers: end its access to them. */
    simdrv_ungrant_chain(d, q, id);
    return 1;
}

void
simdrv_set_grants(struct simdrv *d, bool on)
{
    d->grants = on;
}

unsigned
simdrv_revoke_busy(const struct simdrv *d)
{
    return d->revoke_busy;
}

int
simdrv_buf_ref(const struct simdrv *d, unsigned qi, uint16_t head,
               unsigned i, uint32_t *ref)
{
    const struct simdrv_queue *q = qi < d->nr_queues ? &d->q[qi] : NULL;

    if (!q || head >= q->num || !q->chain_gnt || !q->chain_gnt[head] ||
        i >= q->chain_ngnt[head] || q->chain_gnt[head][i].count == 0) {
        return -ENOENT;
    }
    *ref = q->chain_gnt[head][i].ref;
    return 0;
}

int
simdrv_wait_irq(struct simdrv *d, int timeout_ms)
{
    uint32_t status;
    int rc = hv_sim_wait_edge(d->sim, d->loop, d->irq, &d->edges_seen,
                              timeout_ms);

    if (rc < 0) {
        return rc;
    }
    status = rd(d, VMMIO_INTERRUPT_STATUS);
    d->isr_reads++;
    wr(d, VMMIO_INTERRUPT_ACK, status);
    return (int)status;
}

unsigned
simdrv_isr_reads(const struct simdrv *d)
{
    return d->isr_reads;
}

unsigned
simdrv_inflight(const struct simdrv *d, unsigned qi)
{
    return qi < SIMDRV_MAX_QUEUES ? d->q[qi].inflight : 0;
}
