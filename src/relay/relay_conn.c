/*
 * relay_conn: the lifecycle of a relay's connection to its backend.
 *
 * Concepts:
 *  - The connection is watched in the loop between requests: any byte or
 *    hang-up from the backend while no request is outstanding means it
 *    misbehaved or went away.  Requests the backend initiates come on a
 *    channel of their own (BACKEND_REQ, when offered): only a config
 *    change is served there (relay_cfg.c); losing that channel leaves the
 *    connection up.
 *  - Losing it keeps every piece of guest state: queues are unwired, not
 *    stopped.  Reconnection is retried with a bounded exponential back-off
 *    (RELAY_RECONNECT_MIN_MS doubling to RELAY_RECONNECT_MAX_MS).  A
 *    backend that has not come back after cfg.reconnect_giveup_ms
 *    (default RELAY_RECONNECT_GIVEUP_MS) makes the device report
 *    DEVICE_NEEDS_RESET; retries go on, so a reset after
 *    the backend returns brings the device back.
 *  - On a new connection the session (features, memory table) is sent
 *    again and every live queue is rewired with resume=true: the shadow
 *    mode republishes every request the old backend never answered, so the
 *    guest sees each one completed exactly once; the zero-copy mode cannot
 *    know which of them completed and fails the device instead.
 */
#include <config.h>

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>

#include "relay_priv.h"

#define RELAY_RECONNECT_MIN_MS 50u
#define RELAY_RECONNECT_MAX_MS 1000u

static void relay_conn_on_event(void *opaque, uint32_t events);
static void relay_conn_retry(void *opaque);

static int
relay_conn_handshake(struct relay *r, struct vhu_conn **out)
{
    uint64_t want = (1ULL << VHU_PF_MQ) | (1ULL << VHU_PF_REPLY_ACK) |
                    (1ULL << VHU_PF_CONFIG) | (1ULL << VHU_PF_BACKEND_REQ);
    struct vhu_conn *c;
    int rc;

    /* XEN_MMAP changes the memory table layout: ask for it only when the
     * guest's RAM needs it and zero-copy is (before the first connection)
     * not ruled out or (once the mode is chosen) the mode in use.  A shadow
     * device must never negotiate it: its memory table is the daemon's
     * own memfd, in the plain layout. */
    if ((r->ops ? r->mode == RELAY_MODE_ZEROCOPY
                : r->cfg.mode != RELAY_MODE_SHADOW) &&
        relay_ram_needs_xen(r)) {
        want |= 1ULL << VHU_PF_XEN_MMAP;
    }
    rc = vhu_connect(&c, r->socket_path, r->name, r->cfg.timeout_ms);
    if (rc < 0) {
        return rc;
    }
    vhu_set_deadline(c, r->step_end_ns);
    rc = vhu_handshake(c, want, &r->backend_features, &r->protocol);
    if (rc < 0) {
        vhu_close(c);
        return rc;
    }
    *out = c;
    return 0;
}

static void
relay_conn_close_backend(struct relay *r)
{
    if (r->bchan) {
        loop_del_fd(r->loop, vhu_fd(r->bchan));
        vhu_close(r->bchan);
        r->bchan = NULL;
    }
}

/* The backend sent a request on its channel. */
static void
relay_conn_on_backend(void *opaque, uint32_t events)
{
    struct relay *r = opaque;
    int req = vhu_backend_request(r->bchan,
                                  1ULL << VHU_BACKEND_CONFIG_CHANGE_MSG);

    (void)events;
    if (req < 0) {
        relay_log(r, RELAY_LOG_BACKEND, LOG_LVL_WARN,
                  "%s: backend request channel closed: %s", r->name,
                  strerror(-req));
        relay_conn_close_backend(r);
        return;
    }
    if (req != VHU_BACKEND_CONFIG_CHANGE_MSG) {
        relay_log(r, RELAY_LOG_BACKEND, LOG_LVL_WARN,
                  "%s: backend request %d refused", r->name, req);
        return;
    }
    relay_step_begin(r);
    if (relay_cfg_refresh(r) < 0 && r->conn && vhu_broken(r->conn)) {
        relay_conn_lost(r, "config read after a config change failed");
    }
    relay_step_end(r);
    relay_setup_poll(r);
}

/* Watch the connection; open the backend's channel when it offers one. */
static int
relay_conn_watch(struct relay *r)
{
    int rc = loop_add_fd(r->loop, vhu_fd(r->conn), EPOLLIN | EPOLLRDHUP,
                         relay_conn_on_event, r);

    if (rc < 0 || !(r->protocol & (1ULL << VHU_PF_BACKEND_REQ))) {
        return rc;
    }
    rc = vhu_backend_channel(r->conn, &r->bchan);
    if (rc == 0) {
        rc = loop_add_fd(r->loop, vhu_fd(r->bchan), EPOLLIN | EPOLLRDHUP,
                         relay_conn_on_backend, r);
        if (rc < 0) {
            vhu_close(r->bchan);
            r->bchan = NULL;
        }
    }
    if (rc < 0) {
        log_warn("%s: no backend request channel (%s): config changes are "
                 "seen on reconnect only", r->name, strerror(-rc));
    }
    return vhu_broken(r->conn) ? -EPIPE : 0;
}

/*
 * A configured queue count against the backend's GET_QUEUE_NUM answer,
 * which counts units of cfg.queue_num_unit queues (DPDK answers its
 * maximum number of net queue pairs, whatever it was started with).
 */
static int
relay_conn_check_queues(struct relay *r)
{
    unsigned need = r->cfg.nr_queues - (r->cfg.own ? 1 : 0);
    uint64_t n;
    int rc;

    if (!r->cfg.queue_num_unit) {
        return 0;
    }
    if (!(r->protocol & (1ULL << VHU_PF_MQ))) {
        /* Its count is unknown; a backend of pairs serves one pair. */
        if (r->cfg.queue_num_unit > 1 && need > r->cfg.queue_num_unit) {
            log_err("%s: %u backend queues configured, but the backend does "
                    "not offer the MQ protocol feature", r->name, need);
            return -ERANGE;
        }
        return 0;
    }
    rc = vhu_get_queue_num(r->conn, &n);
    if (rc < 0) {
        return rc;
    }
    if (n > UINT32_MAX / r->cfg.queue_num_unit ||
        n * r->cfg.queue_num_unit < need) {
        log_err("%s: %u backend queues configured, the backend serves %llu "
                "(GET_QUEUE_NUM %llu in units of %u)", r->name, need,
                (unsigned long long)(n > UINT32_MAX / r->cfg.queue_num_unit
                                         ? n
                                         : n * r->cfg.queue_num_unit),
                (unsigned long long)n, r->cfg.queue_num_unit);
        return -ERANGE;
    }
    return 0;
}

/*
 * One queue per guest vCPU: the backend's count *n cut to the guest's
 * vCPUs (when known) and to what the relay serves.
 */
static void
relay_conn_per_vcpu(const struct relay *r, uint64_t *n)
{
    uint64_t offered = *n;

    if (r->hv->nr_vcpus && *n > r->hv->nr_vcpus) {
        *n = r->hv->nr_vcpus;
    }
    if (*n > VMMIO_MAX_QUEUES) {
        *n = VMMIO_MAX_QUEUES;
    }
    log_info("%s: %llu queue(s): one per guest vCPU (%u%s), of the %llu the "
             "backend offers (the relay serves up to %u)", r->name,
             (unsigned long long)*n, r->hv->nr_vcpus,
             r->hv->nr_vcpus ? "" : ": unknown", (unsigned long long)offered,
             VMMIO_MAX_QUEUES);
}

int
relay_conn_open(struct relay *r, uint8_t *config, uint32_t *config_len,
                uint64_t *nr_queues)
{
    int rc;

    rc = relay_conn_handshake(r, &r->conn);
    if (rc < 0) {
        log_err("%s: cannot connect to backend %s: %s", r->name,
                r->socket_path, strerror(-rc));
        r->conn = NULL;
        return rc;
    }
    if (!(r->backend_features & (1ULL << VIRTIO_F_VERSION_1))) {
        log_err("%s: backend does not offer VIRTIO_F_VERSION_1", r->name);
        return -ENOTSUP;
    }
    *nr_queues = 1;
    if (r->cfg.nr_queues) {
        *nr_queues = r->cfg.nr_queues;
        rc = relay_conn_check_queues(r);
        if (rc < 0) {
            return rc;
        }
    } else if (r->protocol & (1ULL << VHU_PF_MQ)) {
        rc = vhu_get_queue_num(r->conn, nr_queues);
        if (rc < 0) {
            return rc;
        }
        if (r->cfg.queue_per_vcpu) {
            relay_conn_per_vcpu(r, nr_queues);
        }
    }
    if (*nr_queues == 0 || *nr_queues > VMMIO_MAX_QUEUES) {
        log_err("%s: backend has %llu queues, the relay serves 1..%u", r->name,
                (unsigned long long)*nr_queues, VMMIO_MAX_QUEUES);
        return -ERANGE;
    }
    if (r->cfg.config_len > VMMIO_CONFIG_MAX) {
        return -EINVAL;
    }
    *config_len = 0;
    if ((r->protocol & (1ULL << VHU_PF_CONFIG)) && r->cfg.config_len &&
        !r->cfg.own_config) {
        rc = vhu_get_config(r->conn, 0, config, r->cfg.config_len);
        if (rc < 0) {
            return rc;
        }
        *config_len = r->cfg.config_len;
        r->config_from_backend = true;
        relay_cfg_fix_queues(r, config, *config_len,
                             (unsigned)*nr_queues - (r->cfg.own ? 1u : 0u));
    } else if (r->cfg.config && r->cfg.config_len) {
        memcpy(config, r->cfg.config, r->cfg.config_len);
        *config_len = r->cfg.config_len;
        memcpy(r->own_config, config, *config_len);
        r->own_config_len = *config_len;
    } else if (r->cfg.config_required) {
        log_err("%s: the backend serves no config space (no CONFIG protocol "
                "feature) and the configuration gives none for this device "
                "type", r->name);
        return -ENOTSUP;
    }
    return relay_conn_watch(r);
}

void
relay_conn_close(struct relay *r)
{
    relay_setup_cancel(r);
    relay_conn_close_backend(r);
    if (r->reconnect_timer) {
        loop_cancel_timer(r->loop, r->reconnect_timer);
        r->reconnect_timer = 0;
    }
    if (r->conn) {
        r->stats.vhu_msgs += vhu_sent(r->conn);
        loop_del_fd(r->loop, vhu_fd(r->conn));
        vhu_close(r->conn);
        r->conn = NULL;
    }
}

static void
relay_conn_schedule(struct relay *r)
{
    int id = loop_add_timer(r->loop, r->reconnect_ms, relay_conn_retry, r);

    r->reconnect_timer = id > 0 ? id : 0;
    if (id <= 0) {
        relay_fail(r, "cannot schedule a reconnect");
    }
}

void
relay_conn_session_waits(struct relay *r)
{
    if (r->conn || !r->reconnect_timer) {
        return;
    }
    loop_cancel_timer(r->loop, r->reconnect_timer);
    r->reconnect_timer = 0;
    r->lost_ns = log_now_ns();
    r->reconnect_ms = RELAY_RECONNECT_MIN_MS;
    relay_conn_schedule(r);
}

void
relay_conn_lost(struct relay *r, const char *why)
{
    if (!r->conn) {
        return;
    }
    r->stats.err_backend++;
    relay_log(r, RELAY_LOG_BACKEND, LOG_LVL_WARN,
              "%s: backend connection lost (%s); reconnecting to %s", r->name,
              why, r->socket_path);
    for (unsigned i = 0; i < VMMIO_MAX_QUEUES; i++) {
        struct relay_queue *q = &r->q[i];

        if (q->wired) {
            relay_queue_unwire(r, q);
        }
        /* The closed connection ends the backend's use of the rings. */
        if (q->stopping) {
            q->stopping = false;
            relay_queue_release(r, q);
        }
    }
    relay_conn_close(r);
    r->lost_ns = log_now_ns();
    r->reconnect_ms = RELAY_RECONNECT_MIN_MS;
    relay_conn_schedule(r);
}

/*
 * Protocol features the device, as set up on the first connection,
 * depends on; 0 when the returning backend has them all, else the first
 * one missing (as a bit number + 1).
 */
static unsigned
relay_conn_missing_protocol(struct relay *r)
{
    if (r->mode == RELAY_MODE_ZEROCOPY && relay_ram_needs_xen(r) &&
        !(r->protocol & (1ULL << VHU_PF_XEN_MMAP))) {
        return VHU_PF_XEN_MMAP + 1;
    }
    if (r->dev.nr_queues > 1 && !r->cfg.nr_queues &&
        !(r->protocol & (1ULL << VHU_PF_MQ))) {
        return VHU_PF_MQ + 1;
    }
    return 0;
}

/* A new connection: same features as before, then the session again. */
static int
relay_conn_resume(struct relay *r)
{
    /* What the guest was shown from the backend (not what the daemon
     * serves itself). */
    uint64_t need = r->dev.device_features & ~r->cfg.own_features;
    unsigned missing;

    /* A grant device's ACCESS_PLATFORM is the daemon's, not the backend's. */
    if (r->cfg.grants) {
        need &= ~(1ULL << VIRTIO_F_ACCESS_PLATFORM);
    }
    int rc;

    rc = relay_conn_handshake(r, &r->conn);
    if (rc < 0) {
        r->conn = NULL;
        return rc;
    }
    if ((r->backend_features & need) != need) {
        log_err("%s: returning backend offers features 0x%llx, without "
                "0x%llx of those the guest was shown", r->name,
                (unsigned long long)r->backend_features,
                (unsigned long long)(need & ~r->backend_features));
        relay_fail(r, "backend came back with fewer features");
        return relay_conn_watch(r);
    }
    missing = relay_conn_missing_protocol(r);
    if (missing) {
        log_err("%s: returning backend no longer offers protocol feature %s "
                "(offered 0x%llx), which this device's %s mode needs",
                r->name, missing == VHU_PF_XEN_MMAP + 1 ? "XEN_MMAP" : "MQ",
                (unsigned long long)r->protocol, r->ops->name);
        relay_fail(r, "backend came back without a protocol feature the "
                      "device needs");
        return relay_conn_watch(r);
    }
    rc = relay_conn_watch(r);
    if (rc == 0) {
        rc = relay_cfg_resume(r);
    }
    /* A device that needs a reset gets its session at the next DRIVER_OK. */
    if (rc < 0 || !r->running ||
        (r->dev.status & VIRTIO_STATUS_NEEDS_RESET)) {
        return rc;
    }
    rc = relay_session_send(r);
    for (unsigned i = 0; rc == 0 && i < r->dev.nr_queues; i++) {
        struct relay_queue *q = &r->q[i];

        if (!q->started || q->own) {
            continue;
        }
        /* A queue started while disconnected has nothing to resume. */
        rc = relay_queue_wire(r, q, q->handed);
        if (rc == -ENOTSUP) {
            relay_fail(r, "requests in flight cannot be recovered in this mode");
            rc = 0;
            continue;
        }
        /* Once live: what the old backend never answered, and new kicks. */
        q->resume_kick = rc == 0;
    }
    return rc;
}

static void
relay_conn_retry(void *opaque)
{
    struct relay *r = opaque;
    uint64_t gone_ms;
    int rc;

    r->reconnect_timer = 0;
    relay_step_begin(r);
    rc = relay_conn_resume(r);
    relay_step_end(r);
    if (rc == 0) {
        relay_setup_poll(r);
        r->stats.reconnects++;
        relay_log(r, RELAY_LOG_BACKEND, LOG_LVL_INFO,
                  "%s: backend reconnected after %llu ms", r->name,
                  (unsigned long long)((log_now_ns() - r->lost_ns) /
                                       1000000ULL));
        return;
    }
    if (r->conn) {
        /* connected, but the session could not be restored */
        relay_conn_close(r);
    }
    gone_ms = (log_now_ns() - r->lost_ns) / 1000000ULL;
    if (gone_ms >= r->cfg.reconnect_giveup_ms &&
        !(r->dev.status & VIRTIO_STATUS_NEEDS_RESET)) {
        relay_fail(r, "backend did not come back");
    }
    r->reconnect_ms = r->reconnect_ms * 2 > RELAY_RECONNECT_MAX_MS
                          ? RELAY_RECONNECT_MAX_MS
                          : r->reconnect_ms * 2;
    relay_conn_schedule(r);
}

/*
 * The connection is readable or hung up: the acks of a setup under way
 * (relay_setup.c) are taken; anything else means the backend misbehaved
 * or went away.
 */
static void
relay_conn_on_event(void *opaque, uint32_t events)
{
    struct relay *r = opaque;
    bool hup = events & (EPOLLHUP | EPOLLRDHUP | EPOLLERR);
    int owed = 0;

    if (r->conn && vhu_pending(r->conn) > 0 && (events & EPOLLIN)) {
        relay_step_begin(r);
        owed = vhu_collect(r->conn);
        relay_step_end(r);
        if (owed >= 0 && !hup) {
            relay_setup_poll(r);
            relay_sync_line(r);
            return;
        }
    }
    relay_conn_lost(r, owed < 0 ? "malformed or late setup replies"
                       : hup  ? "backend hung up"
                              : "unexpected message from the backend");
    relay_setup_poll(r); /* starts that waited for the stops */
    relay_sync_line(r);
}
