/*
 * worker: serving one guest's devices (Xen builds only).
 *
 * A worker_guest owns the guest's hv (hv_xen_open, then optionally
 * hv_xen_restrict) and one relay per device.  The service runs it in a
 * forked process per guest, driven by fixed-size messages on a
 * SOCK_SEQPACKET control socket (worker_process); the xl-spawned mode
 * runs it in-process.  Which backend socket a device uses is decided
 * by resolve_device() (resolve.h), the same way for both.
 *
 * Trust boundary: the guest (through hv and relay) and the backend
 * (through relay).  Control messages come from our own parent process;
 * they are size-checked and their strings forced to terminate anyway.
 */
#ifndef XVM_WORKER_H
#define XVM_WORKER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "cfg.h"
#include "disc.h"
#include "loop.h"
#include "relay.h"

#define WORKER_MAX_DEVS 32

/* Everything one relay needs, resolved by the parent. */
struct worker_dev {
    uint32_t kind;            /* enum disc_kind */
    uint32_t devid;
    uint64_t base;
    uint32_t irq;
    uint32_t device_id;
    uint32_t mode;            /* enum relay_mode */
    uint32_t queue_size;
    uint32_t bounce_kib;
    uint32_t timeout_ms;
    uint32_t grants;          /* buffers shared by grant reference */
    char socket[CFG_SOCK_MAX];
    char name[48];            /* "dom3/virtio0" */
    struct devtype_settings set;  /* per-type settings (devtype.h) */
};

struct worker_opts {
    unsigned mapcache_mib;
    bool restrict_domid;      /* hv_xen_restrict after opening */
    bool has_user;
    uid_t uid;
    gid_t gid;
};

enum worker_op {
    WORKER_ADD = 1,           /* parent -> worker */
    WORKER_DEL,               /* parent -> worker */
    WORKER_UP,                /* worker -> parent: relay serving */
    WORKER_DOWN,              /* worker -> parent: relay gone */
    WORKER_FAILED,            /* worker -> parent: relay_new failed (err) */
    /*
     * parent -> worker: report every device; worker -> parent: one
     * WORKER_STATS per device (dev.mode: the mode in use, stats set),
     * then WORKER_STATS_END.
     */
    WORKER_STATS,
    WORKER_STATS_END,
};

struct worker_msg {
    uint32_t op;
    int32_t err;
    struct worker_dev dev;
    struct relay_stats stats; /* WORKER_STATS replies */
};

struct worker_guest;

/*
 * Control messages, both ways.  A WORKER_ADD of a grant device may carry
 * two fds (SCM_RIGHTS): the gntdev fds the service opened for the worker,
 * [0] for the worker's own grant copies and maps, [1] for its zero-copy
 * backends to map through (two opens: a backend never shares the
 * worker's mappings).  send: 0 or -errno (fds[i] -1: none; not closed).
 * recv (non-blocking): the bytes read or -errno; fds[] the passed fds or
 * -1, and any fd that rides on anything but a whole WORKER_ADD of a grant
 * device is closed.
 */
#define WORKER_GNT_FDS 2
int worker_msg_send(int sock, const struct worker_msg *m,
                    const int fds[WORKER_GNT_FDS]);
ssize_t worker_msg_recv(int sock, struct worker_msg *m,
                        int fds[WORKER_GNT_FDS]);
/*
 * The service's side of the decision: fds[] are the fds to pass with d's
 * WORKER_ADD, two fresh /dev/xen/gntdev opens for a grant device, -1
 * (nothing) for any other.  0, or -errno when gntdev cannot be opened
 * (fds[] all -1).
 */
int worker_gntdev_for(const struct worker_dev *d, int fds[WORKER_GNT_FDS]);

/* Open the guest's hv (and restrict as asked).  0 or -errno. */
int worker_guest_new(struct worker_guest **out, struct loop *loop,
                     uint32_t domid, const struct worker_opts *o);
/*
 * Start a relay for `d`.  A grant device first gets gntdev: `gnt_fds`
 * (owned; from the service, whose workers cannot open it any more) or,
 * when -1, opened here (hv_xen_gnt_attach).  A device without grants
 * never keeps one: `gnt_fds` are closed.  0, -EEXIST, -ENOSPC, the
 * attach's or relay_new's error.
 */
int worker_guest_add(struct worker_guest *g, const struct worker_dev *d,
                     const int gnt_fds[WORKER_GNT_FDS]);
/* Stop a device's relay.  0 or -ENOENT. */
int worker_guest_del(struct worker_guest *g, uint32_t kind, uint32_t devid);
unsigned worker_guest_count(const struct worker_guest *g);
/*
 * Slot `i` (< WORKER_MAX_DEVS): its device (mode: the one in use) and
 * counters.  0, or -ENOENT for a free slot.
 */
int worker_guest_stats(const struct worker_guest *g, unsigned i,
                       struct worker_dev *d, struct relay_stats *st);
/* Stop every relay, close the hv. */
void worker_guest_free(struct worker_guest *g);

/*
 * Body of a forked worker process: serve `domid` from messages on
 * `ctl_fd` until it closes or SIGTERM/SIGHUP/SIGINT.  Returns the exit
 * status for _exit().
 */
int worker_process(int ctl_fd, uint32_t domid, const struct worker_opts *o);

#endif
