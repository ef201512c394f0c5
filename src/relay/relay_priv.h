/*
 * relay internals shared by relay.c (device lifecycle, registers, backend
 * session) and the two data-path modes behind struct relay_mode_ops:
 * relay_zc.c (zero-copy) and relay_shadow.c (shadow copy).
 */
#ifndef XVM_RELAY_PRIV_H
#define XVM_RELAY_PRIV_H

#include <stdbool.h>
#include <stdint.h>

#include "hv.h"
#include "log.h"
#include "loop.h"
#include "relay.h"
#include "vhu.h"
#include "vmmio.h"
#include "vq.h"

/* Default of relay_config.reconnect_giveup_ms. */
#define RELAY_RECONNECT_GIVEUP_MS 15000u
/* Default of relay_config.step_budget_ms. */
#define RELAY_STEP_BUDGET_MS 30u

struct relay;
struct relay_queue;
struct shadow_queue;

/*
 * Kinds of log line a guest (or backend) can repeat at will; each kind
 * of each device has its own rate limit (relay.log[]).
 */
enum relay_log_kind {
    RELAY_LOG_SESSION = 0, /* DRIVER_OK, reset, queue stop: guest cycles */
    RELAY_LOG_CONFIG,      /* config-space writes */
    RELAY_LOG_FAIL,        /* DEVICE_NEEDS_RESET */
    RELAY_LOG_IO,          /* kicks and interrupt lines */
    RELAY_LOG_BACKEND,     /* connection lost, back, refusing */
    RELAY_LOG_KINDS,
};

#define relay_log(r, kind, lvl, ...)                                           \
    log_rl(&(r)->log[kind], (lvl), __VA_ARGS__)

/* One data-path mode.  Every op returns 0 or -errno. */
struct relay_mode_ops {
    const char *name;
    /* A guest kick can go straight to the backend (nothing to copy). */
    bool direct_kick;
    /* A backend completion needs nothing but the guest's interrupt. */
    bool direct_call;
    /* SET_MEM_TABLE for this mode (after SET_FEATURES). */
    int (*mem_table)(struct relay *r);
    /* Set up mode state for q (guest rings already validated in q->gvq). */
    int (*queue_start)(struct relay *r, struct relay_queue *q);
    /*
     * Hand q's rings to the current backend connection: SET_VRING_ADDR.
     * `resume`: a new connection after the old one was lost, with requests
     * possibly still unanswered; -ENOTSUP if the mode cannot resume them.
     */
    int (*queue_wire)(struct relay *r, struct relay_queue *q, bool resume);
    /*
     * The guest stops q (its access not yet answered): note what the
     * stop needs from guest memory.  Optional.
     */
    void (*stop_begin)(struct relay *r, struct relay_queue *q);
    /* q is stopped (drained or its backend gone): drop mode state. */
    void (*queue_stop)(struct relay *r, struct relay_queue *q);
    /* Guest kicked q. */
    void (*kick)(struct relay *r, struct relay_queue *q);
    /* Backend signalled q's call eventfd. */
    void (*call)(struct relay *r, struct relay_queue *q);
    /*
     * After GET_VRING_BASE (q->gvq.last_avail = the backend's base):
     * reap what the backend completed, return how many chains it still
     * holds.  Never waits.
     */
    unsigned (*in_flight)(struct relay *r, struct relay_queue *q);
    /* Free mode state of the whole device. */
    void (*fini)(struct relay *r);
};

extern const struct relay_mode_ops relay_zc_ops;
/*
 * Zero-copy: add to st the completions of started queues the backend
 * published after the last counted call (it may suppress calls).
 */
void relay_zc_stats(const struct relay *r, struct relay_stats *st);
/*
 * q is stopped (drained or its backend gone): the mode drops its state,
 * and the guest's rings their direct pointers (vq_fini).
 */
void relay_queue_release(struct relay *r, struct relay_queue *q);
/* relay_stats.c: count one guest register access. */
void relay_count_access(struct relay_stats *st, uint64_t off, bool is_write);
/* relay_gnt.c (grant devices; no-ops otherwise): map q's rings, 0 or
 * -errno; unmap those of queues [first, first + n). */
int relay_queue_map(struct relay *r, struct relay_queue *q);
void relay_queue_unmap(struct relay *r, unsigned first, unsigned n);
extern const struct relay_mode_ops relay_shadow_ops;

struct relay_queue {
    struct relay *r;
    unsigned idx;
    bool started;          /* guest ring live in this session */
    bool wired;            /* rings handed to the current connection */
    bool handed;           /* rings handed to any connection this session
                            * (its SET_VRING_KICK acknowledged) */
    struct vq gvq;         /* the guest's ring */
    int kick_fd;           /* we write: backend's kick */
    int call_fd;           /* backend writes: completion */
    int notify_fd;         /* kernel ioeventfd we watch (shadow), or -1 */
    bool ioeventfd;        /* QueueNotify bypasses the trap for this queue */
    bool irqfd;            /* the kernel raises the interrupt on call_fd */
    bool own;              /* served by the daemon (cfg.own), not the backend */
    bool disabled;         /* backend queue held disabled (relay_queues_enable) */
    bool live;             /* backend acknowledged its setup: kicks flow */
    bool kick_pending;     /* kick the mode (ops->kick) once live */
    bool resume_kick;      /* kick the backend too once live (rewired) */
    uint64_t setup_mark;   /* live once vhu_acked() reaches it */
    uint64_t kick_mark;    /* handed once vhu_acked() reaches it */
    bool stopping;         /* GET_VRING_BASE sent, its reply awaited */
    uint64_t stop_mark;    /* stopped once vhu_acked() reaches it */
    bool start_deferred;   /* QueueReady=1 waits for the stops pending */
    uint16_t zc_used;      /* zero-copy: guest used->idx counted so far
                            * (at the stop: as the stop found it) */
    char name[80];
    struct shadow_queue *sh;  /* shadow mode only */
};

struct relay {
    struct hv *hv;             /* the guest: MMIO window, interrupt */
    struct hv *mem;            /* its memory as the device sees it: hv, or
                                * the grant space (hv_gnt) in grant mode */
    struct loop *loop;
    char name[64];
    char *socket_path;
    struct relay_config cfg;
    const struct relay_mode_ops *ops;
    enum relay_mode mode;
    struct vmmio_dev dev;
    struct vhu_conn *conn;     /* NULL while disconnected */
    struct vhu_conn *bchan;    /* backend's request channel, or NULL */
    int reconnect_timer;       /* loop timer id, 0 = none */
    int setup_timer;           /* relay_setup.c: loop timer id, 0 = none */
    uint64_t setup_acked;      /* vhu_acked() when it was last armed */
    unsigned reconnect_ms;     /* current back-off */
    uint64_t lost_ns;          /* when the connection was lost */
    uint64_t step_end_ns;      /* budget of the current step; 0: none */
    uint64_t backend_features;  /* as offered, incl. bit 30 */
    uint64_t protocol;
    bool running;              /* DRIVER_OK session active */
    bool start_deferred;       /* DRIVER_OK waits for the stops pending */
    bool draining;             /* a stopped ring is drained (relay_fail
                                * must not fail the next session) */
    bool drain_failed;         /* ... and the backend broke it */
    bool line;                 /* interrupt line level we drive */
    bool no_ioeventfd;         /* the hv cannot: kicks come as traps */
    bool no_irqfd;             /* the hv cannot: the daemon reads calls */
    struct relay_queue q[VMMIO_MAX_QUEUES];
    struct relay_stats stats;
    struct log_ratelimit rl;   /* the data path's complaints */
    struct log_ratelimit log[RELAY_LOG_KINDS];
    bool config_from_backend;  /* config space read with GET_CONFIG */
    uint32_t config_written;   /* bit i: cfg.writable[i] written by guest */
    void *mode_state;          /* shadow: struct shadow_dev */
    /* Config space the daemon built (cfg.config): restored at reset, as
     * the device logic it stands for may change it (net MAC_ADDR_SET). */
    uint8_t own_config[VMMIO_CONFIG_MAX];
    uint32_t own_config_len;
};

/* relay_irqfd.c: completions raise the interrupt in the kernel. */
/*
 * After q is wired: give q's call eventfd to the hv's irqfd when the mode
 * has nothing to do on a call; the loop stops watching it.
 */
void relay_queue_irqfd(struct relay *r, struct relay_queue *q);
/* Before q's call eventfd goes: take it back from the kernel. */
void relay_queue_irqfd_del(struct relay *r, struct relay_queue *q);

/* relay_own.c: the queue the daemon serves itself (cfg.own). */
/* At DRIVER_OK: which queue is the daemon's, which backend queues start
 * enabled. */
void relay_own_session(struct relay *r);
/* The driver reset the device: config the daemon built is as at start. */
void relay_own_reset(struct relay *r);
/* Start the daemon's queue q (q->own): its rings are checked, never wired. */
int relay_own_start(struct relay *r, struct relay_queue *q);
/* The guest kicked the daemon's queue: answer every request on it. */
void relay_own_kick(struct relay *r, struct relay_queue *q);
/* A backend queue was just wired: tell the backend if it is held disabled. */
int relay_enable_wired(struct relay *r, struct relay_queue *q);

/* Device side: signal the guest for q if its ring asks for it. */
void relay_notify_guest(struct relay *r, struct relay_queue *q);
/* Guest-visible failure: DEVICE_NEEDS_RESET + config interrupt. */
void relay_fail(struct relay *r, const char *why);
/* Kick the backend for q. */
void relay_kick_backend(struct relay_queue *q);
/* Drive the interrupt line from InterruptStatus (after raising bits). */
void relay_sync_line(struct relay *r);

/* relay_cfg.c: config space. */
/* The guest wrote val to config[off, off+len): forward it or drop it. */
void relay_cfg_write(struct relay *r, uint32_t off, uint32_t len,
                     uint64_t val);
/*
 * On a new connection: write again what the guest wrote, then
 * relay_cfg_refresh().  0 or -errno.
 */
int relay_cfg_resume(struct relay *r);
/*
 * Read the backend's config; if it differs from the guest's copy, replace
 * it (new ConfigGeneration) and, after DRIVER_OK, raise a config
 * interrupt.  0 or -errno.
 */
int relay_cfg_refresh(struct relay *r);
/*
 * In a config read from the backend, cap the queue count field
 * (cfg.queue_count_off) at the nq queues the relay serves.
 */
void relay_cfg_fix_queues(const struct relay *r, uint8_t *config,
                          uint32_t len, unsigned nq);
/*
 * A step run from the loop (guest access, reconnect attempt): every
 * backend round trip until relay_step_end() ends by now + step_budget_ms.
 */
void relay_step_begin(struct relay *r);
void relay_step_end(struct relay *r);

/* relay_conn.c: the backend connection's lifecycle. */
/* First connection: connect, handshake, queue count, config. */
int relay_conn_open(struct relay *r, uint8_t *config, uint32_t *config_len,
                    uint64_t *nr_queues);
/* The connection failed or hung up: unwire queues, start reconnecting. */
void relay_conn_lost(struct relay *r, const char *why);
/*
 * The guest started a session while the backend is away: the give-up
 * window (cfg.reconnect_giveup_ms) restarts now, and the next attempt
 * comes at the shortest interval.  A no-op while connected.
 */
void relay_conn_session_waits(struct relay *r);
/* Stop watching and close the connection, cancel reconnects. */
void relay_conn_close(struct relay *r);
/* relay.c */
bool relay_ram_needs_xen(struct relay *r);
/*
 * Finish the queue stops whose GET_VRING_BASE was answered (drain, drop
 * the connection if the backend still holds requests); once none is
 * pending, start what the guest enabled meanwhile (DRIVER_OK,
 * QueueReady=1).  Called from the loop, outside a step.
 */
void relay_stop_poll(struct relay *r);
/* A queue stop awaits its GET_VRING_BASE reply. */
bool relay_stop_pending(const struct relay *r);

/* relay_setup.c: handing the session and rings over without waiting. */
/* SET_FEATURES and SET_MEM_TABLE, acks deferred.  0 or -errno. */
int relay_session_send(struct relay *r);
/*
 * Hand q's rings to the current connection, acks deferred; q goes live
 * in relay_setup_poll().  0 or -errno (logged, q unwired).
 */
int relay_queue_wire(struct relay *r, struct relay_queue *q, bool resume);
/* Take q's rings back from the connection (fds closed, not live). */
void relay_queue_unwire(struct relay *r, struct relay_queue *q);
/*
 * After a step that sent setup requests or took acks: act on a refusal
 * (NEEDS_RESET), make the queues whose setup is acknowledged live
 * (delivering the kicks they missed), and time what is still owed
 * (timeout_ms without progress: NEEDS_RESET, connection dropped).
 */
void relay_setup_poll(struct relay *r);
/* Stop timing the setup (the connection is going away). */
void relay_setup_cancel(struct relay *r);
/*
 * The guest stops the device (or a queue) while acks are owed: take those
 * that arrived; if any are still owed, drop the connection (logged with
 * `why`).
 */
void relay_setup_finish(struct relay *r, const char *why);

#endif
