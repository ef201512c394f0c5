/*
 * relay_own: a queue the daemon serves itself instead of the backend.
 *
 * Concepts:
 *  - Some queues belong to the frontend in vhost-user: the net control
 *    queue is one (QEMU answers it; no net backend is given it).  The
 *    device's profile names that queue (relay_own_ops.queue, which for net
 *    depends on whether the driver accepted MQ) and answers its requests
 *    (relay_own_ops.serve); the relay only moves bytes.
 *  - The queue's rings are checked by vq like any other; they are never
 *    handed to the backend, so its kicks always arrive as traps.
 *  - Backend queues can be held disabled (the net pairs the driver has not
 *    asked for with VQ_PAIRS_SET): a held queue is wired as usual, then
 *    SET_VRING_ENABLE 0 follows, and relay_queues_enable() changes the set.
 *
 * Trust boundary: request bytes come from the guest through vq and hv;
 * the serve function sees a bounded copy, never guest memory.
 */
#include <config.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "relay_priv.h"

/* Readable bytes of one request copied for the serve function; longer
 * requests are refused.  A net MAC table of 256 addresses fits. */
#define RELAY_OWN_IN_MAX 4096u
#define RELAY_OWN_OUT_MAX 64u

unsigned
relay_nr_queues(const struct relay *r)
{
    return r->dev.nr_queues;
}

uint64_t
relay_driver_features(const struct relay *r)
{
    return r->dev.driver_features;
}

void
relay_own_session(struct relay *r)
{
    int own = r->cfg.own ? r->cfg.own->queue(r, r->dev.driver_features) : -1;
    unsigned n = r->cfg.own && r->cfg.own->initial_queues
                     ? r->cfg.own->initial_queues(r, r->dev.driver_features)
                     : 0;

    for (unsigned i = 0; i < r->dev.nr_queues; i++) {
        r->q[i].own = (int)i == own;
        r->q[i].disabled = n && i >= n && !r->q[i].own;
    }
}

int
relay_enable_wired(struct relay *r, struct relay_queue *q)
{
    if (!q->disabled || !q->wired ||
        !(r->backend_features & (1ULL << VHU_F_PROTOCOL_FEATURES))) {
        return 0;
    }
    return vhu_set_vring_enable(r->conn, q->idx, false);
}

void
relay_config_store(struct relay *r, uint32_t off, uint32_t len, uint64_t val)
{
    vmmio_config_store(&r->dev, off, len, val);
}

void
relay_own_reset(struct relay *r)
{
    if (r->own_config_len) {
        vmmio_update_config(&r->dev, r->own_config, r->own_config_len);
    }
}

int
relay_queues_enable(struct relay *r, unsigned n)
{
    int rc = 0;

    /* Acks deferred as in a setup (relay_setup.c): the guest's command is
     * answered at once, a refusal fails the device, and a backend still
     * busy with the session's setup is not mistaken for a dead one. */
    if (r->conn) {
        vhu_defer_acks(r->conn, true);
    }
    for (unsigned i = 0; i < r->dev.nr_queues; i++) {
        struct relay_queue *q = &r->q[i];
        bool off = i >= n;

        if (q->own || q->disabled == off) {
            continue;
        }
        q->disabled = off;
        if (rc == 0 && q->wired && r->conn &&
            (r->backend_features & (1ULL << VHU_F_PROTOCOL_FEATURES))) {
            rc = vhu_set_vring_enable(r->conn, q->idx, !off);
        }
    }
    if (r->conn) {
        vhu_defer_acks(r->conn, false);
    }
    if (rc < 0 && r->conn && vhu_broken(r->conn)) {
        /* The new connection wires the queues with the state kept here. */
        relay_conn_lost(r, "backend did not take a queue enable");
        rc = 0;
    } else if (r->conn) {
        relay_setup_poll(r);    /* times the acks now owed */
    }
    return rc;
}

int
relay_own_start(struct relay *r, struct relay_queue *q)
{
    struct vmmio_queue *mq = &r->dev.q[q->idx];
    int rc;

    rc = vq_init(&q->gvq, r->mem, q->name, mq->num, mq->desc_gpa,
                 mq->avail_gpa, mq->used_gpa, r->dev.driver_features);
    if (rc < 0) {
        relay_fail(r, "queue rings rejected");
        return rc;
    }
    q->started = true;
    log_debug("%s: started, %u entries, served by the daemon", q->name,
              mq->num);
    relay_own_kick(r, q);
    return 0;
}

/* Copy a chain's readable bytes (at most max); the count, or -errno. */
static int
relay_own_gather(struct relay *r, const struct vq_chain *c, uint8_t *buf,
                 uint32_t max)
{
    uint32_t n = 0;

    if (c->out_bytes > max) {
        return -EMSGSIZE;
    }
    for (unsigned i = 0; i < c->nout; i++) {
        int rc = hv_mem_read(r->mem, c->seg[i].gpa, buf + n, c->seg[i].len);

        if (rc < 0) {
            return rc;
        }
        n += c->seg[i].len;
    }
    return (int)n;
}

/* Write len reply bytes over the chain's writable segments. */
static int
relay_own_scatter(struct relay *r, const struct vq_chain *c,
                  const uint8_t *buf, uint32_t len)
{
    uint32_t done = 0;

    for (unsigned i = c->nout; i < c->nseg && done < len; i++) {
        uint32_t n = c->seg[i].len < len - done ? c->seg[i].len : len - done;
        int rc = hv_mem_write(r->mem, c->seg[i].gpa, buf + done, n);

        if (rc < 0) {
            return rc;
        }
        done += n;
    }
    return (int)done;
}

void
relay_own_kick(struct relay *r, struct relay_queue *q)
{
    uint8_t in[RELAY_OWN_IN_MAX], out[RELAY_OWN_OUT_MAX];
    struct vq_chain *c = malloc(sizeof(*c)); /* 24 KiB; control requests
                                                are rare */
    bool pushed = false;
    int rc = 0;

    if (!c) {
        relay_log(r, RELAY_LOG_IO, LOG_LVL_WARN,
                  "%s: no memory for a request; retried on the next kick",
                  q->name);
        return;
    }
    while (q->started && (rc = vq_pop(&q->gvq, c)) == 1) {
        int n = relay_own_gather(r, c, in, sizeof(in));

        if (n == -EMSGSIZE) {
            relay_log(r, RELAY_LOG_IO, LOG_LVL_WARN,
                      "%s: request of %llu bytes refused: at most %u", q->name,
                      (unsigned long long)c->out_bytes, RELAY_OWN_IN_MAX);
            n = 0; /* the serve function refuses an empty request */
        }
        if (n >= 0) {
            uint32_t room = c->in_bytes < sizeof(out)
                                ? (uint32_t)c->in_bytes
                                : (uint32_t)sizeof(out);
            const char *refused = NULL;

            n = r->cfg.own->serve(r, in, (uint32_t)n, out, room, &refused);
            if (refused) {
                relay_log(r, RELAY_LOG_IO, LOG_LVL_WARN,
                          "%s: request refused: %s", q->name, refused);
            }
        }
        if (n >= 0) {
            n = relay_own_scatter(r, c, out, (uint32_t)n);
        }
        if (n < 0 || vq_push(&q->gvq, c->head, (uint32_t)n) < 0) {
            relay_fail(r, "a request on the daemon's own queue failed");
            goto out;
        }
        pushed = true;
    }
    if (rc < 0) {
        relay_fail(r, "the daemon's own queue is broken");
        goto out;
    }
    if (pushed && vq_need_notify(&q->gvq)) {
        relay_notify_guest(r, q);
    }
out:
    free(c);
}
