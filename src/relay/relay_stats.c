/*
 * relay_stats: a relay's counters (include/relay.h struct relay_stats):
 * the snapshot callers get, their per-queue sum and the count of guest
 * register accesses the trap callback makes.
 */
#include <config.h>

#include <string.h>

#include "hv_gnt.h"
#include "relay_priv.h"

void
relay_count_access(struct relay_stats *st, uint64_t off, bool is_write)
{
    if (!is_write) {
        st->reg_reads++;
        st->reg_interrupt_status += off == VMMIO_INTERRUPT_STATUS;
        return;
    }
    st->reg_writes++;
    st->reg_queue_notify += off == VMMIO_QUEUE_NOTIFY;
    st->reg_interrupt_ack += off == VMMIO_INTERRUPT_ACK;
}

_Static_assert(RELAY_MAX_QUEUES == VMMIO_MAX_QUEUES,
               "relay_stats has a slot for every queue");

void
relay_get_stats(const struct relay *r, struct relay_stats *out)
{
    *out = r->stats;
    out->nr_queues = r->dev.nr_queues;
    for (unsigned i = 0; i < out->nr_queues; i++) {
        out->q[i].kernel_ioeventfd = r->q[i].ioeventfd;
        out->q[i].kernel_irqfd = r->q[i].irqfd;
    }
    hv_mem_stats(r->hv, &out->guest_mem);
    if (r->conn) {
        out->vhu_msgs += vhu_sent(r->conn);
    }
    if (r->mode == RELAY_MODE_ZEROCOPY) {
        relay_zc_stats(r, out);
    }
    if (r->cfg.grants) {
        struct hv_gnt_stats g;

        hv_gnt_get_stats(r->mem, &g);
        out->grant_copies = g.copies;
        out->grant_maps = g.maps;
    }
}

void
relay_stats_sum(const struct relay_stats *st, struct relay_queue_stats *sum)
{
    memset(sum, 0, sizeof(*sum));
    for (unsigned i = 0; i < st->nr_queues && i < RELAY_MAX_QUEUES; i++) {
        const struct relay_queue_stats *q = &st->q[i];

        sum->kicks_trapped += q->kicks_trapped;
        sum->kicks_eventfd += q->kicks_eventfd;
        sum->backend_kicks += q->backend_kicks;
        sum->calls += q->calls;
        sum->notifies += q->notifies;
        sum->requests += q->requests;
        sum->bytes_in += q->bytes_in;
        sum->bytes_out += q->bytes_out;
        sum->backpressure += q->backpressure;
    }
}

