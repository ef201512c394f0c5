/*
 * relay: one virtio-mmio device of a guest served by one vhost-user backend.
 *
 * Concepts:
 *  - The guest talks to the register model (vmmio); every access arrives
 *    through the hv trap callback relay_mmio() and is answered there.
 *  - The backend is untrusted (vhu checks its replies); what it writes
 *    into rings is checked by the mode that owns those rings.
 *  - A "session" is the time between DRIVER_OK and reset/FAILED: features
 *    and memory table are sent at its start, rings are handed over per
 *    queue, and at its end every queue is stopped and drained (bounded);
 *    a backend that still holds requests then loses its connection.  The
 *    stop sends GET_VRING_BASE and takes the reply from the loop
 *    (relay_stop_poll), bounded by cfg.timeout_ms like the setup; a
 *    DRIVER_OK or QueueReady=1 meanwhile is set up after it.
 *  - Where it blocks, and for how long: only on backend round trips and,
 *    after a stop's reply, polling for the backend's last completions
 *    (1 ms steps).  In the loop (every guest register access, every reconnect
 *    attempt, teardown) all of a step's waits together end by
 *    cfg.step_budget_ms (relay_step_begin); a step that hits the bound
 *    loses the connection, the access is answered at once, and recovery
 *    (reconnect, resume) continues from the loop.  Setting a device up
 *    (features, memory table, rings) waits for nothing: the requests are
 *    pipelined and their acks taken from the loop (relay_setup.c), each
 *    step of progress bounded by cfg.timeout_ms.  Only the first
 *    connection (relay_new) waits, up to timeout_ms per reply.
 *  - The interrupt line follows InterruptStatus != 0; it is raised only on
 *    the 0 -> 1 transition and lowered when the guest acknowledges, so an
 *    edge-triggered SPI never misses a completion (relay_sync_line).
 */
#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hv_gnt.h"
#include "relay_priv.h"

/* Transport features the relay can honour; device bits 0-23 pass through. */
#define RELAY_DEVICE_BITS 0x00ffffffULL
#define RELAY_TRANSPORT_BITS                                                   \
    ((1ULL << VIRTIO_F_INDIRECT_DESC) | (1ULL << VIRTIO_F_EVENT_IDX) |          \
     (1ULL << VIRTIO_F_VERSION_1))
#define RELAY_VENDOR_ID 0x4d4d5658u /* "XVMM" */

static const char *const mode_names[] = {
    [RELAY_MODE_AUTO] = "auto",
    [RELAY_MODE_SHADOW] = "shadow",
    [RELAY_MODE_ZEROCOPY] = "zero-copy",
};

const char *
relay_mode_name(enum relay_mode m)
{
    return (unsigned)m < 3 ? mode_names[m] : "?";
}

int
relay_parse_mode(const char *s, enum relay_mode *out)
{
    for (unsigned i = 0; i < 3; i++) {
        if (strcmp(s, mode_names[i]) == 0) {
            *out = (enum relay_mode)i;
            return 0;
        }
    }
    if (strcmp(s, "zerocopy") == 0) {
        *out = RELAY_MODE_ZEROCOPY;
        return 0;
    }
    return -EINVAL;
}

enum relay_mode
relay_mode(const struct relay *r)
{
    return r->mode;
}

/* Drive the line from InterruptStatus: raise on 0->1, lower on ->0. */
void
relay_sync_line(struct relay *r)
{
    bool want = vmmio_line(&r->dev);

    if (want == r->line) {
        return;
    }
    if (hv_irq_set(r->hv, r->cfg.irq, want) < 0) {
        r->stats.err_host++;
        relay_log(r, RELAY_LOG_IO, LOG_LVL_ERR, "%s: cannot set irq %u to %d",
                  r->name, r->cfg.irq, want);
        return;
    }
    r->line = want;
    if (want) {
        r->stats.irqs++;
    }
}

void
relay_notify_guest(struct relay *r, struct relay_queue *q)
{
    r->stats.q[q->idx].notifies++;
    vmmio_raise(&r->dev, VMMIO_INT_VRING);
    relay_sync_line(r);
}

void
relay_fail(struct relay *r, const char *why)
{
    if (r->draining) {
        /* The old session's rings: the guest has moved on; the caller
         * drops the connection instead. */
        r->drain_failed = true;
        relay_log(r, RELAY_LOG_BACKEND, LOG_LVL_WARN,
                  "%s: backend broke the stopped session's rings: %s",
                  r->name, why);
        return;
    }
    r->stats.err_device++;
    relay_log(r, RELAY_LOG_FAIL, LOG_LVL_ERR, "%s: device needs reset: %s",
              r->name, why);
    vmmio_set_needs_reset(&r->dev);
    relay_sync_line(r);
}

/*
 * A backend request failed.  A broken connection is recovered by
 * reconnecting (guest state kept); anything else fails the device.
 * Returns 0 when recovery is under way, else rc.
 */
static int
relay_backend_failed(struct relay *r, int rc, const char *what)
{
    if (r->conn && vhu_broken(r->conn)) {
        relay_conn_lost(r, what);
        return 0;
    }
    relay_fail(r, what);
    return rc;
}

void
relay_step_begin(struct relay *r)
{
    r->step_end_ns = log_now_ns() + r->cfg.step_budget_ms * 1000000ULL;
    if (r->conn) {
        vhu_set_deadline(r->conn, r->step_end_ns);
    }
}

void
relay_step_end(struct relay *r)
{
    r->step_end_ns = 0;
    if (r->conn) {
        vhu_set_deadline(r->conn, 0);
    }
}

void
relay_kick_backend(struct relay_queue *q)
{
    uint64_t one = 1;

    if (q->kick_fd < 0) {
        return; /* not wired to a backend: the wiring picks the ring up */
    }
    q->r->stats.q[q->idx].backend_kicks++;
    if (write(q->kick_fd, &one, sizeof(one)) < 0 && errno != EAGAIN) {
        q->r->stats.err_host++;
        relay_log(q->r, RELAY_LOG_IO, LOG_LVL_WARN, "%s: kick failed: %s",
                  q->name, strerror(errno));
    }
}

/*
 * After GET_VRING_BASE: what the backend still holds, after giving it
 * until the end of the current step (never longer; no wait without a
 * step) to finish.  Polled: libvhost-user closes the call fd on
 * GET_VRING_BASE but still completes what it popped.  Shadow mode only:
 * the zero-copy count was fixed at the stop, while the guest still
 * waited for its access (zc_stop_begin), and cannot change.
 */
static unsigned
relay_queue_drain(struct relay *r, struct relay_queue *q)
{
    unsigned held = r->ops->in_flight(r, q);

    while (held > 0 && r->mode == RELAY_MODE_SHADOW && !r->drain_failed &&
           r->step_end_ns != 0 && log_now_ns() < r->step_end_ns) {
        usleep(1000);
        held = r->ops->in_flight(r, q);
    }
    return held;
}

void
relay_queue_release(struct relay *r, struct relay_queue *q)
{
    r->ops->queue_stop(r, q);
    vq_fini(&q->gvq);
}

/*
 * The backend answered q's GET_VRING_BASE (its base is taken): the drain,
 * bounded by the caller's step, then local state.  A backend that still
 * holds requests may complete them at any later time, so its connection
 * is dropped (a well-behaved backend finishes them before it serves the
 * next connection) and the next connection gets fresh shadow memory,
 * where such late completions cannot land.  The drain never writes guest
 * memory (the guest may have reused its rings since the reset).
 */
static void
relay_queue_stopped(struct relay *r, struct relay_queue *q)
{
    unsigned held;

    q->stopping = false;
    q->gvq.last_avail = (uint16_t)vhu_vring_base(r->conn, q->idx);
    r->draining = true;
    r->drain_failed = false;
    held = relay_queue_drain(r, q);
    r->draining = false;
    relay_queue_unwire(r, q);
    if (r->drain_failed) {
        relay_conn_lost(r, "protocol error in a stopped ring");
    } else if (held > 0) {
        r->stats.stop_drops++;
        relay_log(r, RELAY_LOG_SESSION, LOG_LVL_WARN,
                  "%s: backend still holds %u requests after stop",
                  q->name, held);
        relay_conn_lost(r, "requests outstanding after stop");
    }
    relay_queue_release(r, q);
}

/*
 * Stop one queue: send GET_VRING_BASE and return; the reply is taken from
 * the loop (relay_stop_poll), bounded by timeout_ms like the setup's acks
 * (relay_setup.c), so a slow backend keeps its connection and the
 * guest's access is answered at once.  Until then q is neither started
 * nor live (no kick reaches the backend) and keeps its mode state, which
 * the backend may still be using.
 */
static void
relay_queue_stop(struct relay *r, struct relay_queue *q)
{
    if (!q->started) {
        return;
    }
    q->started = false;
    if (r->ops->stop_begin) {
        r->ops->stop_begin(r, q);
    }
    if (q->wired && !q->live) {
        relay_setup_finish(r, "the guest stopped a queue the backend was "
                              "still setting up");
    }
    if (!q->wired) {
        relay_queue_release(r, q);
        return;
    }
    q->live = false;
    q->kick_pending = false;
    if (vhu_request_vring_base(r->conn, q->idx) < 0) {
        /* Reconnect now, not at the next DRIVER_OK; the closed
         * connection also ends the backend's use of the rings. */
        relay_conn_lost(r, "backend did not stop the ring");
        relay_queue_release(r, q);
        return;
    }
    q->stopping = true;
    q->stop_mark = vhu_deferred(r->conn);
    if (r->mode == RELAY_MODE_ZEROCOPY) {
        /* The backend reaches the guest's rings itself (foreign mapping or
         * ring grants) until it has stopped them: even a well-behaved one
         * still writes avail_event and used flags when it last looks at
         * an empty ring.  The guest may reuse (or revoke) that memory as
         * soon as its access is answered, so the reply is waited for
         * within the step; without it the connection is closed, which
         * ends the backend's use of the rings. */
        if (vhu_settle(r->conn) < 0) {
            relay_conn_lost(r, "backend did not stop the ring");
        } else {
            relay_queue_stopped(r, q);
        }
    }
}

bool
relay_stop_pending(const struct relay *r)
{
    for (unsigned i = 0; i < VMMIO_MAX_QUEUES; i++) {
        if (r->q[i].stopping) {
            return true;
        }
    }
    return false;
}

static int
relay_queue_start(struct relay *r, struct relay_queue *q)
{
    struct vmmio_queue *mq = &r->dev.q[q->idx];
    int rc;

    if (q->own) {
        return relay_own_start(r, q);
    }
    rc = vq_init(&q->gvq, r->mem, q->name, mq->num, mq->desc_gpa,
                 mq->avail_gpa, mq->used_gpa, r->dev.driver_features);
    if (rc == 0) {
        rc = relay_queue_map(r, q);
    }
    if (rc < 0) {
        relay_fail(r, "queue rings rejected");
        return rc;
    }
    rc = r->ops->queue_start(r, q);
    if (rc < 0) {
        relay_fail(r, "no memory for the queue");
        return rc;
    }
    q->started = true;
    q->handed = false;
    log_debug("%s: started, %u entries", q->name, mq->num);
    if (r->conn) {
        /* Buffers posted before DRIVER_OK are picked up once live. */
        rc = relay_queue_wire(r, q, false);
        if (rc < 0) {
            return relay_backend_failed(r, rc, "backend refused the queue");
        }
        return 0;
    }
    r->ops->kick(r, q);
    return 0;
}

/* Stop q, which may be the daemon's own (nothing held anywhere else). */
static void
relay_queue_end(struct relay *r, struct relay_queue *q)
{
    if (q->own) {
        q->started = false;
        vq_fini(&q->gvq);
        return;
    }
    relay_queue_stop(r, q);
}

static void
relay_session_stop(struct relay *r)
{
    if (!r->running) {
        return;
    }
    r->running = false;
    relay_setup_finish(r, "the guest reset the device before the backend "
                          "finished setting it up");
    for (unsigned i = 0; i < r->dev.nr_queues; i++) {
        relay_queue_end(r, &r->q[i]);
    }
    /* A refusal of the session that ended no longer matters. */
    if (r->conn) {
        (void)vhu_take_refused(r->conn);
    }
    relay_log(r, RELAY_LOG_SESSION, LOG_LVL_INFO, "%s: session stopped",
              r->name);
}

static int
relay_session_start(struct relay *r)
{
    int rc;

    r->running = true;
    relay_own_session(r);
    /* A device the guest initialized again gets the whole give-up window,
     * not what is left of the previous session's. */
    relay_conn_session_waits(r);
    if (r->conn) {
        rc = relay_session_send(r);
        if (rc < 0 && relay_backend_failed(r, rc, "backend refused features "
                                                  "or memory table") < 0) {
            return rc;
        }
    }
    for (unsigned i = 0; i < r->dev.nr_queues; i++) {
        if (r->dev.q[i].ready) {
            rc = relay_queue_start(r, &r->q[i]);
            if (rc < 0) {
                return rc;
            }
        }
    }
    relay_log(r, RELAY_LOG_SESSION, LOG_LVL_INFO,
              "%s: driver ready, features 0x%llx, %s mode%s", r->name,
              (unsigned long long)r->dev.driver_features, r->ops->name,
              r->conn ? "" : " (backend not connected yet)");
    return 0;
}

void
relay_stop_poll(struct relay *r)
{
    relay_step_begin(r);
    for (unsigned i = 0; i < VMMIO_MAX_QUEUES; i++) {
        struct relay_queue *q = &r->q[i];

        if (q->stopping && r->conn && vhu_acked(r->conn) >= q->stop_mark) {
            relay_queue_stopped(r, q);
        }
    }
    /* What the guest enabled while the stops were pending. */
    if (r->start_deferred && !relay_stop_pending(r)) {
        r->start_deferred = false;
        relay_session_start(r);
    }
    for (unsigned i = 0; r->running && i < r->dev.nr_queues; i++) {
        if (r->q[i].start_deferred && !relay_stop_pending(r)) {
            r->q[i].start_deferred = false;
            relay_queue_start(r, &r->q[i]);
        }
    }
    relay_step_end(r);
}

/* The device was reset: nothing the guest enabled before is to start. */
static void
relay_forget_starts(struct relay *r)
{
    r->start_deferred = false;
    for (unsigned i = 0; i < VMMIO_MAX_QUEUES; i++) {
        r->q[i].start_deferred = false;
    }
}

/* The trap callback: every guest access to the window comes here. */
static void
relay_mmio(void *opaque, uint64_t off, unsigned size, bool is_write,
           uint64_t *val)
{
    struct relay *r = opaque;
    struct vmmio_event ev;

    relay_step_begin(r);
    relay_count_access(&r->stats, off, is_write);
    ev = vmmio_access(&r->dev, off, size, is_write, val);
    switch (ev.type) {
    case VMMIO_EV_RESET:
        relay_forget_starts(r);
        relay_session_stop(r);
        relay_queue_unmap(r, 0, r->dev.nr_queues);
        relay_own_reset(r);
        break;
    case VMMIO_EV_FAILED:
        relay_forget_starts(r);
        relay_session_stop(r);
        relay_queue_unmap(r, 0, r->dev.nr_queues);
        break;
    case VMMIO_EV_DRIVER_OK:
        /* Set up behind the stops still pending (relay_stop_poll). */
        if (relay_stop_pending(r)) {
            r->start_deferred = true;
        } else {
            relay_session_start(r);
        }
        break;
    case VMMIO_EV_QUEUE_READY:
        if (r->running && relay_stop_pending(r)) {
            r->q[ev.queue].start_deferred = true;
        } else if (r->running) {
            relay_queue_start(r, &r->q[ev.queue]);
        }
        break;
    case VMMIO_EV_QUEUE_DISABLE:
        r->q[ev.queue].start_deferred = false;
        relay_queue_end(r, &r->q[ev.queue]);
        relay_queue_unmap(r, ev.queue, 1);
        break;
    case VMMIO_EV_NOTIFY:
        r->stats.q[ev.queue].kicks_trapped++;
        /* While reconnecting, the kick is picked up once rewired. */
        if (r->q[ev.queue].own) {
            relay_own_kick(r, &r->q[ev.queue]);
        } else if (r->q[ev.queue].live) {
            r->ops->kick(r, &r->q[ev.queue]);
        } else if (r->q[ev.queue].wired) {
            r->q[ev.queue].kick_pending = true; /* delivered once live */
        }
        break;
    case VMMIO_EV_CONFIG_WRITE:
        relay_cfg_write(r, ev.off, ev.len, ev.val);
        break;
    case VMMIO_EV_FEATURES_OK:
    case VMMIO_EV_IRQ_ACK:
    case VMMIO_EV_NONE:
        break;
    }
    relay_step_end(r);
    relay_setup_poll(r);
    relay_sync_line(r);
}

bool
relay_ram_needs_xen(struct relay *r)
{
    struct hv_region reg[HV_MAX_BANKS];

    return hv_mem_regions(r->mem, reg, HV_MAX_BANKS) > 0 &&
           reg[0].xen_mmap_flags != 0;
}

/* Why the device runs in its mode, in words for the log and the demo. */
static const char *
relay_mode_reason(const struct relay *r, bool shareable, bool needs_xen)
{
    bool xen_mmap = r->protocol & (1ULL << VHU_PF_XEN_MMAP);

    if (r->cfg.grants && r->mode == RELAY_MODE_ZEROCOPY) {
        return "grant device: the backend maps the granted pages itself "
               "through a gntdev of the guest's (XEN_MMAP GRANT), no foreign "
               "mapping";
    }
    if (r->cfg.grants) {
        return "grant device: guest memory by grant copy, rings by grant "
               "map, no foreign mapping";
    }
    if (r->mode == RELAY_MODE_ZEROCOPY) {
        return needs_xen ? "the backend maps the guest's RAM itself through "
                           "Xen foreign mappings (XEN_MMAP)"
                         : "the backend maps the guest's RAM from a shared fd";
    }
    if (r->cfg.mode == RELAY_MODE_AUTO && !shareable) {
        return "guest RAM cannot be shared with the backend; requests are "
               "copied through the daemon's shadow memory";
    }
    if (r->cfg.mode == RELAY_MODE_AUTO && needs_xen && !xen_mmap) {
        return "the backend does not offer XEN_MMAP, so it cannot map Xen "
               "guest RAM; requests are copied through the daemon's shadow "
               "memory";
    }
    return "requests are copied through the daemon's shadow memory";
}

static int
relay_choose_mode(struct relay *r)
{
    struct hv_region reg[HV_MAX_BANKS];
    /* A grant device's backend maps grant space, not the guest's RAM. */
    int n = hv_mem_regions(r->mem, reg, HV_MAX_BANKS);
    bool needs_xen = n > 0 && reg[0].xen_mmap_flags != 0;
    bool zc_ok = n > 0 && (!needs_xen || (r->protocol & (1ULL << VHU_PF_XEN_MMAP)));

    r->mode = r->cfg.mode;
    if (r->mode == RELAY_MODE_AUTO) {
        r->mode = zc_ok ? RELAY_MODE_ZEROCOPY : RELAY_MODE_SHADOW;
    }
    if (r->mode == RELAY_MODE_ZEROCOPY && !zc_ok) {
        log_err("%s: zero-copy requested but %s", r->name,
                n <= 0 ? (r->cfg.grants ? "the guest's grants cannot be "
                                          "shared (no gntdev)"
                                        : "guest RAM cannot be shared")
                       : "the backend does not offer XEN_MMAP");
        return -ENOTSUP;
    }
    r->ops = r->mode == RELAY_MODE_ZEROCOPY ? &relay_zc_ops : &relay_shadow_ops;
    log_info("%s: %s mode (%s: %s)", r->name, r->ops->name,
             r->cfg.mode == RELAY_MODE_AUTO ? "chosen automatically" : "as configured",
             relay_mode_reason(r, n > 0, needs_xen));
    return 0;
}

static int
relay_connect(struct relay *r)
{
    uint8_t config[VMMIO_CONFIG_MAX];
    uint32_t config_len = 0;
    uint64_t offered, nq = 1;
    int rc;

    rc = relay_conn_open(r, config, &config_len, &nq);
    if (rc < 0) {
        return rc;
    }
    rc = relay_choose_mode(r);
    if (rc < 0) {
        return rc;
    }
    offered = r->backend_features & (RELAY_DEVICE_BITS | RELAY_TRANSPORT_BITS) &
              ~r->cfg.own_features;
    if (r->cfg.mask_features &&
        (offered & RELAY_DEVICE_BITS & ~r->cfg.device_features)) {
        log_info("%s: backend features 0x%llx not offered: the device "
                 "profile cannot serve them (or their config fields lie "
                 "beyond the %u bytes relayed)", r->name,
                 (unsigned long long)(offered & RELAY_DEVICE_BITS &
                                      ~r->cfg.device_features),
                 r->cfg.config_len);
        offered &= ~(RELAY_DEVICE_BITS & ~r->cfg.device_features);
    }
    offered |= r->cfg.own_features & RELAY_DEVICE_BITS;
    if (r->cfg.grants) {
        offered |= 1ULL << VIRTIO_F_ACCESS_PLATFORM;
    }
    return vmmio_init(&r->dev, r->name, r->cfg.device_id, RELAY_VENDOR_ID,
                      offered, (unsigned)nq, r->cfg.queue_size, config,
                      config_len);
}

int
relay_new(struct relay **out, struct hv *hv, struct loop *loop,
          const struct relay_config *cfg)
{
    struct relay *r;
    int rc;

    if (!cfg->socket_path || cfg->device_id == 0 || cfg->nr_writable > 32 ||
        (cfg->nr_writable && !cfg->writable) ||
        (cfg->own && (!cfg->own->queue || !cfg->own->serve))) {
        return -EINVAL;
    }
    r = calloc(1, sizeof(*r));
    if (!r) {
        return -ENOMEM;
    }
    r->hv = hv;
    r->mem = hv;
    r->loop = loop;
    r->cfg = *cfg;
    r->cfg.name = NULL;
    r->cfg.socket_path = NULL;
    r->cfg.config = NULL;
    if (!r->cfg.queue_size) {
        r->cfg.queue_size = 256;
    }
    if (!r->cfg.bounce_kib) {
        r->cfg.bounce_kib = 8192;
    }
    if (!r->cfg.max_request_kib) {
        r->cfg.max_request_kib = 65536;
    }
    if (r->cfg.max_request_kib > (1u << 20)) {
        r->cfg.max_request_kib = 1u << 20;
    }
    if (!r->cfg.timeout_ms) {
        r->cfg.timeout_ms = 5000;
    }
    if (!r->cfg.step_budget_ms) {
        r->cfg.step_budget_ms = RELAY_STEP_BUDGET_MS;
    }
    if (!r->cfg.reconnect_giveup_ms) {
        r->cfg.reconnect_giveup_ms = RELAY_RECONNECT_GIVEUP_MS;
    }
    r->rl = (struct log_ratelimit)LOG_RATELIMIT_INIT;
    for (unsigned k = 0; k < RELAY_LOG_KINDS; k++) {
        r->log[k] = (struct log_ratelimit)LOG_RATELIMIT_INIT;
    }
    snprintf(r->name, sizeof(r->name), "%s", cfg->name ? cfg->name : "virtio");
    r->socket_path = strdup(cfg->socket_path);
    for (unsigned i = 0; i < VMMIO_MAX_QUEUES; i++) {
        struct relay_queue *q = &r->q[i];

        q->r = r;
        q->idx = i;
        q->kick_fd = -1;
        q->call_fd = -1;
        q->notify_fd = -1;
        snprintf(q->name, sizeof(q->name), "%s/q%u", r->name, i);
    }
    if (cfg->grants) {
        rc = hv_gnt_new(&r->mem, hv);
        if (rc < 0) {
            r->mem = hv;
            log_err("%s: grant device, but %s cannot %s", r->name, hv->name,
                    rc == -EOPNOTSUPP ? "copy or map grants"
                                      : "set up its grant space");
            goto fail;
        }
    }
    r->cfg.config = cfg->config; /* used only during relay_connect */
    rc = r->socket_path ? relay_connect(r) : -ENOMEM;
    r->cfg.config = NULL;
    if (rc < 0) {
        goto fail;
    }
    rc = hv_mmio_add(hv, cfg->mmio_base, VMMIO_WINDOW_LEN, relay_mmio, r);
    if (rc < 0) {
        log_err("%s: cannot trap MMIO window 0x%llx: %s", r->name,
                (unsigned long long)cfg->mmio_base, strerror(-rc));
        goto fail;
    }
    log_info("%s: serving device id %u at 0x%llx irq %u from %s (%u queues)",
             r->name, cfg->device_id, (unsigned long long)cfg->mmio_base,
             cfg->irq, r->socket_path, r->dev.nr_queues);
    *out = r;
    return 0;

fail:
    r->cfg.mmio_base = UINT64_MAX;
    relay_free(r);
    return rc;
}

void
relay_free(struct relay *r)
{
    if (!r) {
        return;
    }
    if (r->cfg.mmio_base != UINT64_MAX) {
        hv_mmio_del(r->hv, r->cfg.mmio_base);
    }
    /* Teardown has no loop to wait in: the stops get the step (as any
     * access), and a backend slower than that loses the connection,
     * which closes below anyway. */
    relay_forget_starts(r);
    relay_step_begin(r);
    relay_session_stop(r);
    if (r->conn && relay_stop_pending(r) && vhu_settle(r->conn) < 0) {
        relay_conn_lost(r, "backend did not stop the rings at teardown");
    }
    relay_step_end(r);
    relay_stop_poll(r);
    if (r->ops) {
        r->ops->fini(r);
    }
    if (r->line) {
        hv_irq_set(r->hv, r->cfg.irq, false);
    }
    relay_conn_close(r);
    if (r->mem != r->hv) {
        struct hv_gnt_stats g;

        hv_gnt_get_stats(r->mem, &g);
        log_info("%s: grant device: %llu grant copies (%llu bytes) in %llu "
                 "us, %llu ring ranges mapped in %llu us, no foreign mapping",
                 r->name, (unsigned long long)g.copies,
                 (unsigned long long)g.copy_bytes,
                 (unsigned long long)(g.copy_ns / 1000),
                 (unsigned long long)g.maps,
                 (unsigned long long)(g.map_ns / 1000));
        hv_free(r->mem);
    }
    free(r->socket_path);
    free(r);
}
