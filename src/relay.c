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
 *    queue, and at its end every queue is stopped and drained (bounded) so
 *    nothing completes into guest memory after the guest reset the device.
 *  - Where it blocks, and for how long: only on backend round trips (each
 *    bounded by cfg.timeout_ms) and, at a queue stop, polling for the
 *    backend's last completions (1 ms steps).  In the loop (every guest
 *    register access, every reconnect attempt, teardown) all of a step's
 *    waits together end by cfg.step_budget_ms (relay_step_begin), except
 *    the backend's replies that start a device or a connection (features,
 *    memory table, rings: bounded by timeout_ms, relay_step_setup); a step
 *    that hits the bound loses the connection, the access is answered at
 *    once, and recovery (reconnect, resume) continues from the loop.
 *  - The interrupt line follows InterruptStatus != 0; it is raised only on
 *    the 0 -> 1 transition and lowered when the guest acknowledges, so an
 *    edge-triggered SPI never misses a completion (relay_sync_line).
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
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

/*
 * The backend's setup replies (features, memory table, rings) are how a
 * device starts: SET_MEM_TABLE may map the whole guest RAM first (a
 * zero-copy backend under Xen takes far longer than a step).  They get
 * the per-request bound, timeout_ms, from here on; stopping and resetting
 * keep the step budget.
 */
static void
relay_step_setup(struct relay *r)
{
    uint64_t end;

    if (r->step_end_ns == 0) {
        return;
    }
    end = log_now_ns() + r->cfg.timeout_ms * 1000000ULL;
    if (end > r->step_end_ns) {
        r->step_end_ns = end;
        if (r->conn) {
            vhu_set_deadline(r->conn, end);
        }
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

    q->r->stats.q[q->idx].backend_kicks++;
    if (write(q->kick_fd, &one, sizeof(one)) < 0 && errno != EAGAIN) {
        q->r->stats.err_host++;
        relay_log(q->r, RELAY_LOG_IO, LOG_LVL_WARN, "%s: kick failed: %s",
                  q->name, strerror(errno));
    }
}

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
    if (q->started && q->wired) {
        q->r->stats.q[q->idx].kicks_eventfd++;
        q->r->ops->kick(q->r, q);
    }
}

/*
 * Let the kernel deliver q's QueueNotify writes as an eventfd signal: to
 * the backend's kick fd directly when the mode has nothing to do on a kick
 * (zero-copy), else to an eventfd the loop watches.  Optional: without it
 * (-EOPNOTSUPP, logged once by the hv) kicks arrive as trapped writes.
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

void
relay_queue_unwire(struct relay *r, struct relay_queue *q)
{
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
}

/* Hand q's rings to the current connection (fresh, or resuming). */
int
relay_queue_wire(struct relay *r, struct relay_queue *q, bool resume)
{
    int rc;

    q->kick_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    q->call_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (q->kick_fd < 0 || q->call_fd < 0) {
        rc = -errno;
        goto fail;
    }
    if ((rc = vhu_set_vring_num(r->conn, q->idx, q->gvq.num)) < 0 ||
        (rc = vhu_set_vring_base(r->conn, q->idx, 0)) < 0 ||
        (rc = r->ops->queue_wire(r, q, resume)) < 0 ||
        /* CALL before KICK: a backend may start the ring on KICK and
         * complete at once, and must have its call fd by then. */
        (rc = vhu_set_vring_call(r->conn, q->idx, q->call_fd)) < 0 ||
        (rc = vhu_set_vring_kick(r->conn, q->idx, q->kick_fd)) < 0) {
        goto fail;
    }
    rc = loop_add_fd(r->loop, q->call_fd, EPOLLIN, relay_on_call, q);
    if (rc < 0) {
        goto fail;
    }
    q->wired = true;
    q->handed = true;
    if (r->backend_features & (1ULL << VHU_F_PROTOCOL_FEATURES)) {
        rc = vhu_set_vring_enable(r->conn, q->idx, true);
        if (rc < 0) {
            goto fail;
        }
    }
    relay_queue_ioeventfd(r, q);
    relay_queue_irqfd(r, q);
    return 0;

fail:
    relay_queue_unwire(r, q);
    relay_log(r, RELAY_LOG_BACKEND, LOG_LVL_ERR,
              "%s: backend refused the queue: %s", q->name, strerror(-rc));
    return rc;
}

/*
 * After GET_VRING_BASE: what the backend still holds, after giving it
 * until the end of the current step (never longer; no wait without a
 * step) to finish.  Polled: libvhost-user closes the call fd on
 * GET_VRING_BASE but still completes what it popped.  The zero-copy
 * count comes from the guest's used->idx, so a guest scribbling it
 * delays only its own access, by at most the step.  Waiting at all is
 * worth it there: a zero-copy backend completes straight into guest
 * memory, which a guest reuses right after a reset (kexec, kdump).
 */
static unsigned
relay_queue_drain(struct relay *r, struct relay_queue *q)
{
    unsigned held = r->ops->in_flight(r, q);

    while (held > 0 && r->step_end_ns != 0 && log_now_ns() < r->step_end_ns) {
        usleep(1000);
        held = r->ops->in_flight(r, q);
    }
    return held;
}

/*
 * Stop one queue: GET_VRING_BASE, a drain bounded by the step, then local
 * state.  A backend that still holds requests may complete them at any
 * later time, so its connection is dropped (a well-behaved backend
 * finishes them before it serves the next connection) and the next
 * connection gets fresh shadow memory, where such late completions
 * cannot land.
 */
static void
relay_queue_stop(struct relay *r, struct relay_queue *q)
{
    unsigned base = 0, held;

    if (!q->started) {
        return;
    }
    q->started = false;
    if (q->wired) {
        if (vhu_get_vring_base(r->conn, q->idx, &base) < 0) {
            base = 0;
            if (vhu_broken(r->conn)) {
                /* Reconnect now, not at the next DRIVER_OK; the closed
                 * connection also ends the backend's use of the rings. */
                relay_conn_lost(r, "backend did not stop the ring");
                r->ops->queue_stop(r, q);
                return;
            }
        }
        q->gvq.last_avail = (uint16_t)base;
        held = relay_queue_drain(r, q);
        relay_queue_unwire(r, q);
        if (held > 0) {
            r->stats.stop_drops++;
            relay_log(r, RELAY_LOG_SESSION, LOG_LVL_WARN,
                      "%s: backend still holds %u requests after stop",
                      q->name, held);
            relay_conn_lost(r, "requests outstanding after stop");
        }
    }
    r->ops->queue_stop(r, q);
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
    if (r->conn) {
        relay_step_setup(r);
        rc = relay_queue_wire(r, q, false);
        if (rc == 0) {
            rc = relay_enable_wired(r, q);
        }
        if (rc < 0) {
            return relay_backend_failed(r, rc, "backend refused the queue");
        }
    }
    log_debug("%s: started, %u entries", q->name, mq->num);
    /* Buffers posted before DRIVER_OK are picked up now. */
    r->ops->kick(r, q);
    return 0;
}

/* Stop q, which may be the daemon's own (nothing held anywhere else). */
static void
relay_queue_end(struct relay *r, struct relay_queue *q)
{
    if (q->own) {
        q->started = false;
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
    for (unsigned i = 0; i < r->dev.nr_queues; i++) {
        relay_queue_end(r, &r->q[i]);
    }
    relay_log(r, RELAY_LOG_SESSION, LOG_LVL_INFO, "%s: session stopped",
              r->name);
}

/* Features and memory table for the session, on the current connection. */
int
relay_session_send(struct relay *r)
{
    uint64_t features = r->dev.driver_features & ~r->cfg.own_features;
    int rc;

    relay_step_setup(r);
    features |= r->backend_features & (1ULL << VHU_F_PROTOCOL_FEATURES);
    /* Grants are between the guest and us: the backend sees our memory. */
    features &= ~(1ULL << VIRTIO_F_ACCESS_PLATFORM);
    rc = vhu_set_features(r->conn, features);
    if (rc == 0) {
        rc = r->ops->mem_table(r);
    }
    return rc;
}

static int
relay_session_start(struct relay *r)
{
    int rc;

    r->running = true;
    relay_own_session(r);
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
        relay_session_stop(r);
        relay_queue_unmap(r, 0, r->dev.nr_queues);
        relay_own_reset(r);
        break;
    case VMMIO_EV_FAILED:
        relay_session_stop(r);
        relay_queue_unmap(r, 0, r->dev.nr_queues);
        break;
    case VMMIO_EV_DRIVER_OK:
        relay_session_start(r);
        break;
    case VMMIO_EV_QUEUE_READY:
        if (r->running) {
            relay_queue_start(r, &r->q[ev.queue]);
        }
        break;
    case VMMIO_EV_QUEUE_DISABLE:
        relay_queue_end(r, &r->q[ev.queue]);
        relay_queue_unmap(r, ev.queue, 1);
        break;
    case VMMIO_EV_NOTIFY:
        r->stats.q[ev.queue].kicks_trapped++;
        /* While reconnecting, the kick is picked up once rewired. */
        if (r->q[ev.queue].own) {
            relay_own_kick(r, &r->q[ev.queue]);
        } else if (r->q[ev.queue].wired) {
            r->ops->kick(r, &r->q[ev.queue]);
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
    relay_sync_line(r);
}

bool
relay_ram_needs_xen(struct relay *r)
{
    struct hv_region reg[HV_MAX_BANKS];

    return hv_mem_regions(r->hv, reg, HV_MAX_BANKS) > 0 &&
           reg[0].xen_mmap_flags != 0;
}

/* Why the device runs in its mode, in words for the log and the demo. */
static const char *
relay_mode_reason(const struct relay *r, bool shareable, bool needs_xen)
{
    bool xen_mmap = r->protocol & (1ULL << VHU_PF_XEN_MMAP);

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
    int n = hv_mem_regions(r->hv, reg, HV_MAX_BANKS);
    bool needs_xen = n > 0 && reg[0].xen_mmap_flags != 0;
    bool zc_ok = n > 0 && (!needs_xen || (r->protocol & (1ULL << VHU_PF_XEN_MMAP)));

    r->mode = r->cfg.mode;
    if (r->cfg.grants) {
        if (r->mode == RELAY_MODE_ZEROCOPY) {
            log_err("%s: zero-copy requested, but a grant device is served "
                    "in shadow mode only", r->name);
            return -ENOTSUP;
        }
        r->mode = RELAY_MODE_SHADOW;
    }
    if (r->mode == RELAY_MODE_AUTO) {
        r->mode = zc_ok ? RELAY_MODE_ZEROCOPY : RELAY_MODE_SHADOW;
    }
    if (r->mode == RELAY_MODE_ZEROCOPY && !zc_ok) {
        log_err("%s: zero-copy requested but %s", r->name,
                n <= 0 ? "guest RAM cannot be shared"
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
    relay_step_begin(r);
    relay_session_stop(r);
    relay_step_end(r);
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
