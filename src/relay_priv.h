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

struct relay;
struct relay_queue;
struct shadow_queue;

/* One data-path mode.  Every op returns 0 or -errno. */
struct relay_mode_ops {
    const char *name;
    /* A guest kick can go straight to the backend (nothing to copy). */
    bool direct_kick;
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
    /* q is stopped (drained or its backend gone): drop mode state. */
    void (*queue_stop)(struct relay *r, struct relay_queue *q);
    /* Guest kicked q. */
    void (*kick)(struct relay *r, struct relay_queue *q);
    /* Backend signalled q's call eventfd. */
    void (*call)(struct relay *r, struct relay_queue *q);
    /* Chains the backend still holds on q (for drains). */
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
extern const struct relay_mode_ops relay_shadow_ops;

struct relay_queue {
    struct relay *r;
    unsigned idx;
    bool started;          /* guest ring live in this session */
    bool wired;            /* rings handed to the current connection */
    bool handed;           /* rings handed to any connection this session */
    struct vq gvq;         /* the guest's ring */
    int kick_fd;           /* we write: backend's kick */
    int call_fd;           /* backend writes: completion */
    int notify_fd;         /* kernel ioeventfd we watch (shadow), or -1 */
    bool ioeventfd;        /* QueueNotify bypasses the trap for this queue */
    uint16_t zc_used;      /* zero-copy: guest used->idx counted so far */
    char name[80];
    struct shadow_queue *sh;  /* shadow mode only */
};

struct relay {
    struct hv *hv;
    struct loop *loop;
    char name[64];
    char *socket_path;
    struct relay_config cfg;
    const struct relay_mode_ops *ops;
    enum relay_mode mode;
    struct vmmio_dev dev;
    struct vhu_conn *conn;     /* NULL while disconnected */
    int reconnect_timer;       /* loop timer id, 0 = none */
    unsigned reconnect_ms;     /* current back-off */
    uint64_t lost_ns;          /* when the connection was lost */
    uint64_t backend_features;  /* as offered, incl. bit 30 */
    uint64_t protocol;
    bool running;              /* DRIVER_OK session active */
    bool line;                 /* interrupt line level we drive */
    bool no_ioeventfd;         /* the hv cannot: kicks come as traps */
    struct relay_queue q[VMMIO_MAX_QUEUES];
    struct relay_stats stats;
    struct log_ratelimit rl;
    void *mode_state;          /* shadow: struct shadow_dev */
};

/* Device side: signal the guest for q if its ring asks for it. */
void relay_notify_guest(struct relay *r, struct relay_queue *q);
/* Guest-visible failure: DEVICE_NEEDS_RESET + config interrupt. */
void relay_fail(struct relay *r, const char *why);
/* Kick the backend for q. */
void relay_kick_backend(struct relay_queue *q);

/* relay_conn.c: the backend connection's lifecycle. */
/* First connection: connect, handshake, queue count, config. */
int relay_conn_open(struct relay *r, uint8_t *config, uint32_t *config_len,
                    uint64_t *nr_queues);
/* The connection failed or hung up: unwire queues, start reconnecting. */
void relay_conn_lost(struct relay *r, const char *why);
/* Stop watching and close the connection, cancel reconnects. */
void relay_conn_close(struct relay *r);
/* relay.c: session helpers used on reconnect. */
bool relay_ram_needs_xen(struct relay *r);
int relay_session_send(struct relay *r);
int relay_queue_wire(struct relay *r, struct relay_queue *q, bool resume);
void relay_queue_unwire(struct relay *r, struct relay_queue *q);

#endif
