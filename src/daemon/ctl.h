/*
 * ctl: the control socket (`xen-vhost-master --status`).
 *
 * A running instance (the service, or one xl-spawned device model per
 * guest) listens on a UNIX stream socket in its run directory:
 * CTL_SERVICE_SOCK for the service, CTL_DM_SOCK_FMT (by domid) for an
 * xl-spawned one.  A client sends one request line ("status"), the
 * instance answers with one JSON object (ctl_status_json) and closes.
 * The CLI asks every control socket in the directory and prints a table
 * (ctl_print_table) or the JSON array of the answers.
 *
 * Trust boundary: the socket is a privileged interface.  Its file is mode
 * 0600 (0660 with the group of --user), and every connection's peer
 * credentials are checked again (root, our own uid, or that group); the
 * request is bounded (CTL_REQ_MAX bytes, CTL_TIMEOUT_MS), must be exactly
 * a known word, and at most CTL_MAX_CLIENTS are served at once.  Answers
 * of other instances, read by the CLI, are parsed with a size bound.
 */
#ifndef XVM_CTL_H
#define XVM_CTL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include <json-c/json.h>

#include "loop.h"
#include "relay.h"

#define CTL_SERVICE_SOCK "ctl.sock"
#define CTL_DM_SOCK_FMT "ctl-dom%u.sock"
#define CTL_REQ_MAX 64
#define CTL_MAX_CLIENTS 8
#define CTL_TIMEOUT_MS 2000
/* Largest answer the CLI accepts from one instance. */
#define CTL_REPLY_MAX (4u << 20)

/* Exit statuses of the CLI. */
#define CTL_EXIT_OK 0
#define CTL_EXIT_NONE 1

enum ctl_dev_state {
    CTL_DEV_WAITING = 0, /* no backend socket yet, or a retry pending */
    CTL_DEV_STARTING,    /* handed to the worker, not serving yet */
    CTL_DEV_SERVING,
    CTL_DEV_CLOSING,
};

/* What an instance reports about one device. */
struct ctl_dev {
    uint32_t domid;
    char guest[64];          /* "" when unknown */
    char name[48];           /* "dom3/vbd51712" */
    char socket[108];        /* backend's vhost-user socket */
    enum relay_mode mode;    /* AUTO until the relay chose */
    enum ctl_dev_state state;
    bool has_stats;          /* stats below are valid */
    struct relay_stats stats;
};

const char *ctl_dev_state_name(enum ctl_dev_state st);

/*
 * One instance's answer: {"instance", "pid", "devices": [...]}, each
 * device with its counters (totals first) and per-queue counters.  NULL
 * only when out of memory.
 */
struct json_object *ctl_status_json(const char *instance,
                                    const struct ctl_dev *devs, unsigned n);

/*
 * Print the answers (a JSON array of ctl_status_json objects) as a table,
 * one line per device, like `xl list`.  Malformed entries are shown as
 * "?" rather than trusted.
 */
void ctl_print_table(struct json_object *answers, FILE *out);

/* --- server --- */

/*
 * A client asked for the status: answer, now or later, with
 * ctl_server_reply(token).  Tokens of clients that went away are ignored.
 */
typedef void (*ctl_status_fn)(void *opaque, uint64_t token);

struct ctl_server;

/*
 * Listen on `path` (a stale socket there is replaced; anything else is
 * -EEXIST).  `gid` (gid_t)-1: file mode 0600, else 0660 owned by that
 * group, whose members may connect too.  0 or -errno.
 */
int ctl_server_new(struct ctl_server **out, struct loop *loop,
                   const char *path, gid_t gid, ctl_status_fn fn,
                   void *opaque);
/* Answer the client behind `token` with `status` (always consumed). */
void ctl_server_reply(struct ctl_server *s, uint64_t token,
                      struct json_object *status);
/* Close every connection and the listener, unlink the socket. */
void ctl_server_free(struct ctl_server *s);

/* --- client --- */

/*
 * Ask one control socket for its status.  0 with *out (the caller puts
 * it), or -errno: -ECONNREFUSED/-ENOENT when nothing listens, -ETIMEDOUT,
 * -EPROTO for an answer that is not a JSON object (or too big).
 */
int ctl_query(const char *path, unsigned timeout_ms,
              struct json_object **out);

/*
 * `--status [--json]`: ask every control socket in `dir`, print the table
 * (or the JSON array) to `out`.  CTL_EXIT_OK, or CTL_EXIT_NONE with a
 * message on `err` when no instance answered.
 */
int ctl_status_main(const char *dir, bool json, FILE *out, FILE *err);

#endif
