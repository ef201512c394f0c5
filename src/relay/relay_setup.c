/*
 * relay_setup: handing a session and its rings to the backend without
 * waiting for it (the guest's DRIVER_OK, QueueReady=1, a reconnect).
 *
 * Concepts:
 *  - The setup requests (SET_FEATURES, SET_MEM_TABLE, and per queue
 *    SET_VRING_NUM/BASE/ADDR/CALL/KICK/ENABLE) are pipelined with their
 *    REPLY_ACKs deferred (vhu_defer_acks): the access that caused them
 *    is answered as soon as they are sent.  A zero-copy backend under
 *    Xen maps the guest's RAM at SET_MEM_TABLE, which takes far longer
 *    than a register access may; meanwhile the guest's other devices on
 *    the same loop keep serving.
 *  - The acks are taken as they arrive, when the loop sees the socket
 *    readable (relay_conn.c), never waited for.  A queue is "live" once
 *    the backend acknowledged every request up to its last one
 *    (q->setup_mark): only then does the relay kick the backend for it
 *    or let the kernel's ioeventfd do so.  A guest kick that comes
 *    earlier is remembered (q->kick_pending) and delivered then.
 *  - Bound: the backend gets timeout_ms per step of progress (an ack);
 *    after that without one, or on a refusal, the device reports
 *    DEVICE_NEEDS_RESET.  A timeout also drops the connection, which is
 *    then out of step.
 *  - The guest stopping the device (reset, QueueReady=0) while acks are
 *    owed takes those that have arrived; if any are still owed the setup
 *    is abandoned at once: the connection is dropped, so nothing of the
 *    half-built session survives on the backend, and reconnecting starts
 *    from a clean one (relay_setup_finish).  Waiting instead would hold
 *    the guest's access for as long as the backend takes.
 *  - Without REPLY_ACK a backend acknowledges nothing: its queues are
 *    live at once, as before.
 */
#include <config.h>

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "relay_priv.h"

static void
relay_on_call(void *opaque, uint32_t events)
{
    struct relay_queue *q = opaque;
    uint64_t n;

    (void)events;
    if (read(q->call_fd, &n, sizeof(n)) < 0 && errno != EAGAIN) {
        return;
    }
    if (q->started && q->wired) {
        q->r->stats.q[q->idx].calls++;
        q->r->ops->call(q->r, q);
    }
}

static void
relay_close_fd(int *fd)
{
    if (*fd >= 0) {
        close(*fd);
        *fd = -1;
    }
}

static void
relay_on_notify(void *opaque, uint32_t events)
{
    struct relay_queue *q = opaque;
    uint64_t n;

    (void)events;
    if (read(q->notify_fd, &n, sizeof(n)) < 0 && errno != EAGAIN) {
        return;
    }
    /* The same rule the register model applies to trapped kicks. */
    if (q->r->dev.status &
        (VIRTIO_STATUS_NEEDS_RESET | VIRTIO_STATUS_FAILED)) {
        return;
    }
    if (q->started && q->live) {
        q->r->stats.q[q->idx].kicks_eventfd++;
        q->r->ops->kick(q->r, q);
    }
}

/*
 * Let the kernel deliver q's QueueNotify writes as an eventfd signal: to
 * the backend's kick fd directly when the mode has nothing to do on a kick
 * (zero-copy), else to an eventfd the loop watches.  Optional: without it
 * (-EOPNOTSUPP, logged once by the hv) kicks arrive as trapped writes.
 * Only for a live queue: until then every kick must reach the relay.
 */
static void
relay_queue_ioeventfd(struct relay *r, struct relay_queue *q)
{
    uint64_t addr = r->cfg.mmio_base + VMMIO_QUEUE_NOTIFY;
    int fd = q->kick_fd;
    int rc;

    if (r->no_ioeventfd) {
        return;
    }
    if (!r->ops->direct_kick) {
        q->notify_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (q->notify_fd < 0 ||
            loop_add_fd(r->loop, q->notify_fd, EPOLLIN, relay_on_notify, q) < 0) {
            relay_close_fd(&q->notify_fd);
            return;
        }
        fd = q->notify_fd;
    }
    rc = hv_ioeventfd_add(r->hv, addr, q->idx, fd);
    if (rc == 0) {
        q->ioeventfd = true;
        log_debug("%s: QueueNotify delivered by ioeventfd%s", q->name,
                  r->ops->direct_kick ? " straight to the backend" : "");
        return;
    }
    if (rc == -EOPNOTSUPP) {
        r->no_ioeventfd = true;
    }
    if (q->notify_fd >= 0) {
        loop_del_fd(r->loop, q->notify_fd);
        relay_close_fd(&q->notify_fd);
    }
}

/* The backend acknowledged q's SET_VRING_KICK: it may be using the ring. */
static void
relay_queue_note_handed(struct relay *r, struct relay_queue *q)
{
    if (q->wired && r->conn && vhu_acked(r->conn) >= q->kick_mark) {
        q->handed = true;
    }
}

void
relay_queue_unwire(struct relay *r, struct relay_queue *q)
{
    relay_queue_note_handed(r, q);
    if (q->ioeventfd) {
        hv_ioeventfd_del(r->hv, r->cfg.mmio_base + VMMIO_QUEUE_NOTIFY,
                         q->notify_fd >= 0 ? q->notify_fd : q->kick_fd);
        q->ioeventfd = false;
    }
    if (q->notify_fd >= 0) {
        loop_del_fd(r->loop, q->notify_fd);
        relay_close_fd(&q->notify_fd);
    }
    relay_queue_irqfd_del(r, q);
    if (q->call_fd >= 0) {
        loop_del_fd(r->loop, q->call_fd);
    }
    relay_close_fd(&q->call_fd);
    relay_close_fd(&q->kick_fd);
    q->wired = false;
    q->live = false;
}

/*
 * Hand q's rings to the current connection (fresh, or resuming), held
 * disabled if relay_own says so.  Nothing is waited for: q goes live,
 * and its pending kick is delivered, once the backend acknowledged it
 * all (relay_setup_poll).
 */
int
relay_queue_wire(struct relay *r, struct relay_queue *q, bool resume)
{
    int rc;

    q->kick_mark = UINT64_MAX;
    q->kick_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    q->call_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (q->kick_fd < 0 || q->call_fd < 0) {
        rc = -errno;
        goto fail;
    }
    vhu_defer_acks(r->conn, true);
    if ((rc = vhu_set_vring_num(r->conn, q->idx, q->gvq.num)) < 0 ||
        (rc = vhu_set_vring_base(r->conn, q->idx, 0)) < 0 ||
        (rc = r->ops->queue_wire(r, q, resume)) < 0 ||
        /* CALL before KICK: a backend may start the ring on KICK and
         * complete at once, and must have its call fd by then. */
        (rc = vhu_set_vring_call(r->conn, q->idx, q->call_fd)) < 0 ||
        (rc = vhu_set_vring_kick(r->conn, q->idx, q->kick_fd)) < 0) {
        goto fail;
    }
    q->kick_mark = vhu_deferred(r->conn);
    rc = loop_add_fd(r->loop, q->call_fd, EPOLLIN, relay_on_call, q);
    if (rc < 0) {
        goto fail;
    }
    q->wired = true;
    if (r->backend_features & (1ULL << VHU_F_PROTOCOL_FEATURES)) {
        rc = vhu_set_vring_enable(r->conn, q->idx, true);
        if (rc == 0) {
            rc = relay_enable_wired(r, q);
        }
        if (rc < 0) {
            goto fail;
        }
    }
    vhu_defer_acks(r->conn, false);
    q->setup_mark = vhu_deferred(r->conn);
    q->kick_pending = true; /* what the guest posted before: picked up */
    return 0;

fail:
    vhu_defer_acks(r->conn, false);
    relay_queue_unwire(r, q);
    relay_log(r, RELAY_LOG_BACKEND, LOG_LVL_ERR,
              "%s: backend refused the queue: %s", q->name, strerror(-rc));
    return rc;
}

/* Features and memory table for the session, acks deferred. */
int
relay_session_send(struct relay *r)
{
    uint64_t features = r->dev.driver_features & ~r->cfg.own_features;
    int rc;

    features |= r->backend_features & (1ULL << VHU_F_PROTOCOL_FEATURES);
    /* Grants are between the guest and us: the backend sees our memory. */
    features &= ~(1ULL << VIRTIO_F_ACCESS_PLATFORM);
    vhu_defer_acks(r->conn, true);
    rc = vhu_set_features(r->conn, features);
    if (rc == 0) {
        rc = r->ops->mem_table(r);
    }
    vhu_defer_acks(r->conn, false);
    return rc;
}

/* The backend acknowledged all of q's setup: kicks flow from now on. */
static void
relay_queue_live(struct relay *r, struct relay_queue *q)
{
    q->live = true;
    relay_queue_ioeventfd(r, q);
    relay_queue_irqfd(r, q);
    if (q->kick_pending) {
        q->kick_pending = false;
        r->ops->kick(r, q);
    }
    if (q->resume_kick) {
        q->resume_kick = false;
        relay_kick_backend(q);
    }
}

void
relay_setup_cancel(struct relay *r)
{
    if (r->setup_timer) {
        loop_cancel_timer(r->loop, r->setup_timer);
        r->setup_timer = 0;
    }
}

static void relay_setup_timeout(void *opaque);

void
relay_setup_poll(struct relay *r)
{
    uint64_t acked;
    int id;

    relay_stop_poll(r);
    if (!r->conn) {
        relay_setup_cancel(r);
        return;
    }
    if (vhu_take_refused(r->conn)) {
        relay_fail(r, "backend refused a request of the device setup");
    }
    acked = vhu_acked(r->conn);
    for (unsigned i = 0; i < r->dev.nr_queues; i++) {
        struct relay_queue *q = &r->q[i];

        relay_queue_note_handed(r, q);
        /* After a failure nothing flows until the guest resets. */
        if (q->wired && !q->live && !q->stopping && acked >= q->setup_mark &&
            !(r->dev.status & VIRTIO_STATUS_NEEDS_RESET)) {
            relay_queue_live(r, q);
        }
    }
    if (vhu_pending(r->conn) == 0) {
        relay_setup_cancel(r);
    } else if (!r->setup_timer || acked != r->setup_acked) {
        relay_setup_cancel(r);
        id = loop_add_timer(r->loop, r->cfg.timeout_ms, relay_setup_timeout, r);
        r->setup_timer = id > 0 ? id : 0;
        if (id <= 0) {
            relay_fail(r, "cannot time the backend's setup");
        }
    }
    r->setup_acked = acked;
}

/* Acks of the device setup owed (not GET_VRING_BASE replies). */
static unsigned
relay_setup_owed(const struct relay *r)
{
    return vhu_pending(r->conn) - vhu_pending_bases(r->conn);
}

/* timeout_ms passed without an ack while some were owed. */
static void
relay_setup_timeout(void *opaque)
{
    struct relay *r = opaque;
    int owed;

    r->setup_timer = 0;
    if (!r->conn) {
        return;
    }
    relay_step_begin(r);
    owed = vhu_collect(r->conn);
    relay_step_end(r);
    if (owed < 0) {
        relay_conn_lost(r, "setup replies broken");
    } else if (owed > 0 && vhu_acked(r->conn) == r->setup_acked) {
        if (vhu_pending_bases(r->conn) > 0) {
            relay_log(r, RELAY_LOG_BACKEND, LOG_LVL_WARN,
                      "%s: no reply to GET_VRING_BASE within %u ms",
                      r->name, r->cfg.timeout_ms);
        }
        if (relay_setup_owed(r) > 0) {
            relay_log(r, RELAY_LOG_BACKEND, LOG_LVL_ERR,
                      "%s: backend did not answer the device setup within "
                      "%u ms (%u replies owed)", r->name, r->cfg.timeout_ms,
                      relay_setup_owed(r));
            relay_fail(r, "backend did not finish setting the device up");
        }
        relay_conn_lost(r, "backend did not answer within timeout_ms");
    }
    relay_setup_poll(r);
}

bool
relay_setup_pending(const struct relay *r)
{
    return r->conn && vhu_pending(r->conn) > 0;
}

void
relay_setup_finish(struct relay *r, const char *why)
{
    if (!r->conn || relay_setup_owed(r) == 0) {
        return;
    }
    if (vhu_collect(r->conn) < 0 || relay_setup_owed(r) > 0) {
        relay_conn_lost(r, why);
    }
}
