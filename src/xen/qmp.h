/*
 * qmp: the QMP *server* face libxl talks to when it starts us as its
 * device model.  libxl is the client: it connects, reads the greeting,
 * sends qmp_capabilities and then a command or two (query-chardev,
 * query-vnc, query-status, quit, human-monitor-command, ...).
 *
 * Two parts:
 *  - struct qmp_conn: a pure message handler (bytes in -> bytes out), so
 *    the recorded libxl conversations are unit tests;
 *  - struct qmp_server: the sockets on the loop (listen on path= sockets,
 *    or accept on an inherited fd= listening socket; any number of
 *    sequential connections, a few at once).
 * Wire rules libxl depends on: every message ends in "\r\n"; a reply
 * echoes the request's id as the same JSON value (libxl uses integers).
 *
 * Trust boundary: whoever can connect to the socket (root's libxl, the
 * socket lives in a root-only directory).  Input is still bounded
 * (QMP_MSG_MAX per message, nesting depth) and malformed JSON gets an
 * error reply, never a crash.
 */
#ifndef XVM_QMP_H
#define XVM_QMP_H

#include <stdbool.h>
#include <stddef.h>

#include "loop.h"

#define QMP_MSG_MAX (64 * 1024)
#define QMP_MAX_CONNS 8

/* The run state reported by query-status and "info status". */
enum qmp_status {
    QMP_STATUS_RUNNING = 0,
    QMP_STATUS_PRELAUNCH,   /* started with -S, not yet cont */
    QMP_STATUS_PAUSED,
};

/* What the connection asks of the daemon; every member may be NULL. */
struct qmp_handler {
    void *opaque;
    enum qmp_status (*status)(void *opaque);
    /* "cont" (true) and "stop" (false). */
    void (*run)(void *opaque, bool running);
    /* "quit": called once its reply has been written. */
    void (*quit)(void *opaque);
};

/* Growable output buffer. */
struct qmp_buf {
    char *data;
    size_t len;
    size_t cap;
};

void qmp_buf_free(struct qmp_buf *b);
/* Drop the first n bytes (already written). */
void qmp_buf_consume(struct qmp_buf *b, size_t n);

/* Results of qmp_conn_input(). */
enum qmp_verdict {
    QMP_KEEP = 0,   /* keep reading */
    QMP_CLOSE = 1,  /* flush the replies, then close (input unusable) */
    QMP_QUIT = 2,   /* flush, close, and call handler->quit */
};

struct qmp_conn;

/* 0 or -ENOMEM.  `h` must outlive the connection. */
int qmp_conn_new(struct qmp_conn **out, const struct qmp_handler *h);
void qmp_conn_free(struct qmp_conn *c);

/* Append the greeting; 0 or -ENOMEM. */
int qmp_conn_greeting(struct qmp_conn *c, struct qmp_buf *out);

/*
 * Feed received bytes (any split).  Replies are appended to `out`.
 * Returns an enum qmp_verdict, or -ENOMEM.
 */
int qmp_conn_input(struct qmp_conn *c, const void *data, size_t len,
                   struct qmp_buf *out);

struct qmp_server;

int qmp_server_new(struct qmp_server **out, struct loop *loop,
                   const struct qmp_handler *h);
/* Bind and listen on a UNIX socket path (a stale file is replaced). */
int qmp_server_listen_path(struct qmp_server *s, const char *path);
/* Accept on an inherited listening socket; the server then owns `fd`. */
int qmp_server_listen_fd(struct qmp_server *s, int fd);
/* Close every socket, unlink the paths it bound, free. */
void qmp_server_free(struct qmp_server *s);

#endif
