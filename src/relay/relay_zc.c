/*
 * relay_zc: the zero-copy data path.
 *
 * Concepts: the backend maps guest RAM itself (SET_MEM_TABLE carries the
 * hv's regions and the fd hv_mem_share() gives for them: a memfd under the
 * simulator, under Xen a /dev/xen/privcmd fd restricted to this guest,
 * with XEN_MMAP flags; for a grant device the grant space as one GRANT
 * region and a gntdev of the guest's, hv_gnt.h; our copy is closed once
 * sent) and walks the guest's rings directly; the
 * relay only forwards kicks and calls.  Region userspace addresses equal
 * guest physical addresses, so ring addresses need no translation.  The
 * guest's rings were validated by vq_init() before being handed over; the
 * backend is trusted with guest memory in this mode, which is why it is
 * only chosen for backends that can map it.
 */
#include <config.h>

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "relay_priv.h"

static int
zc_mem_table(struct relay *r)
{
    struct hv_region reg[HV_MAX_BANKS];
    struct vhu_region vr[HV_MAX_BANKS];
    int n = hv_mem_regions(r->mem, reg, HV_MAX_BANKS);
    int fd, rc;

    if (n <= 0) {
        return n < 0 ? n : -ENODEV;
    }
    fd = hv_mem_share(r->mem);
    if (fd < 0) {
        log_err("%s: guest %s cannot be shared with the backend: %s",
                r->name, r->cfg.grants ? "grants" : "RAM", strerror(-fd));
        return fd;
    }
    for (int i = 0; i < n; i++) {
        vr[i] = (struct vhu_region){
            .gpa = reg[i].gpa,
            .len = reg[i].len,
            .uaddr = reg[i].gpa,
            .mmap_off = reg[i].fd_off,
            .fd = fd,
            .xen_mmap_flags = reg[i].xen_mmap_flags,
            .xen_domid = reg[i].xen_domid,
        };
    }
    rc = vhu_set_mem_table(r->conn, vr, (unsigned)n);
    close(fd);
    return rc;
}

/*
 * Requests completed since the last count: the backend writes the guest's
 * used ring itself, so the relay counts from the guest's used->idx (a
 * 16-bit window: informational, like every counter).
 */
static uint16_t
zc_completed(const struct relay *r, const struct relay_queue *q)
{
    uint16_t used;

    if (hv_read_le16(r->mem, q->gvq.used_gpa + 2, &used) < 0) {
        return 0;
    }
    return (uint16_t)(used - q->zc_used);
}

static void
zc_count(struct relay *r, struct relay_queue *q)
{
    uint16_t n = zc_completed(r, q);

    r->stats.q[q->idx].requests += n;
    q->zc_used = (uint16_t)(q->zc_used + n);
}

void
relay_zc_stats(const struct relay *r, struct relay_stats *st)
{
    for (unsigned i = 0; i < r->dev.nr_queues; i++) {
        if (r->q[i].started) {
            st->q[i].requests += zc_completed(r, &r->q[i]);
        }
    }
}

static int
zc_queue_start(struct relay *r, struct relay_queue *q)
{
    uint16_t used = 0;

    /* vq_init checked the ring; a failed read counts from 0. */
    hv_read_le16(r->mem, q->gvq.used_gpa + 2, &used);
    q->zc_used = used;
    return 0;
}

/*
 * A new backend would restart from an avail index; with out-of-order
 * completions no index separates answered from unanswered requests, so
 * resuming could lose one request and repeat another: refuse.
 */
static int
zc_queue_wire(struct relay *r, struct relay_queue *q, bool resume)
{
    if (resume) {
        return -ENOTSUP;
    }
    return vhu_set_vring_addr(r->conn, q->idx, q->gvq.desc_gpa,
                              q->gvq.used_gpa, q->gvq.avail_gpa);
}

/*
 * The guest stops q and still waits in the trap: the last moment its
 * used->idx means anything (it may reuse the ring once answered).
 */
static void
zc_stop_begin(struct relay *r, struct relay_queue *q)
{
    zc_count(r, q);
}

static void
zc_queue_stop(struct relay *r, struct relay_queue *q)
{
    (void)r;
    (void)q;
}

static void
zc_kick(struct relay *r, struct relay_queue *q)
{
    (void)r;
    relay_kick_backend(q);
}

static void
zc_call(struct relay *r, struct relay_queue *q)
{
    zc_count(r, q);
    /* The backend already applied the guest's notification suppression. */
    relay_notify_guest(r, q);
}

/*
 * After GET_VRING_BASE, gvq.last_avail holds the backend's consumed index;
 * the requests it took past the guest's used->idx at the stop
 * (zc_stop_begin) were in flight then, and may complete into guest
 * memory at any time: the guest's ring is not read again, as the guest
 * may have reused it since.
 */
static unsigned
zc_in_flight(struct relay *r, struct relay_queue *q)
{
    (void)r;
    return (uint16_t)(q->gvq.last_avail - q->zc_used);
}

static void
zc_fini(struct relay *r)
{
    (void)r;
}

const struct relay_mode_ops relay_zc_ops = {
    .name = "zero-copy",
    .direct_kick = true,
    .direct_call = true,
    .mem_table = zc_mem_table,
    .queue_start = zc_queue_start,
    .queue_wire = zc_queue_wire,
    .stop_begin = zc_stop_begin,
    .queue_stop = zc_queue_stop,
    .kick = zc_kick,
    .call = zc_call,
    .in_flight = zc_in_flight,
    .fini = zc_fini,
};
