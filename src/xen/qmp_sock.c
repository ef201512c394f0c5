/*
 * qmp_sock: the QMP server's sockets on the event loop.
 *
 * Listening sockets come from qmp_server_listen_path() (we bind) or
 * qmp_server_listen_fd() (libxl bound it and passed it down, as in the
 * capability probe's fd=16).  Each accepted connection gets the greeting
 * and a struct qmp_conn; replies are written without blocking, the rest
 * kept until EPOLLOUT.  At most QMP_MAX_CONNS connections at once; one
 * more is accepted and closed at once so the listener never spins.
 *
 * Trust boundary: peers of the socket; input handling is qmp_conn's.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "qmp.h"

#define QMP_MAX_LISTEN 4

struct qmp_server;

struct qmp_client {
    struct qmp_server *srv;
    int fd;
    struct qmp_conn *conn;
    struct qmp_buf out;
    int verdict;            /* enum qmp_verdict once input ended */
};

struct qmp_listener {
    struct qmp_server *srv;
    int fd;
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)]; /* "" = fd= */
};

struct qmp_server {
    struct loop *loop;
    const struct qmp_handler *h;
    unsigned nr_listen;
    struct qmp_listener listen[QMP_MAX_LISTEN];
    struct qmp_client *clients[QMP_MAX_CONNS];
};

int
qmp_server_new(struct qmp_server **out, struct loop *loop,
               const struct qmp_handler *h)
{
    struct qmp_server *s = calloc(1, sizeof(*s));

    if (!s) {
        return -ENOMEM;
    }
    s->loop = loop;
    s->h = h;
    *out = s;
    return 0;
}

static void
qmp_client_free(struct qmp_client *cl)
{
    struct qmp_server *s = cl->srv;

    for (unsigned i = 0; i < QMP_MAX_CONNS; i++) {
        if (s->clients[i] == cl) {
            s->clients[i] = NULL;
        }
    }
    loop_del_fd(s->loop, cl->fd);
    close(cl->fd);
    cl->fd = -1;
    qmp_conn_free(cl->conn);
    qmp_buf_free(&cl->out);
    free(cl);
}

/* End a client; `quit` tells the daemon once the socket is gone. */
static void
qmp_client_end(struct qmp_client *cl)
{
    const struct qmp_handler *h = cl->srv->h;
    bool quit = cl->verdict == QMP_QUIT;

    qmp_client_free(cl);
    if (quit && h && h->quit) {
        h->quit(h->opaque);
    }
}

/* Write what we can; 0 when all is out, 1 when some is left, -errno. */
static int
qmp_client_flush(struct qmp_client *cl)
{
    while (cl->out.len) {
        ssize_t n = send(cl->fd, cl->out.data, cl->out.len,
                         MSG_NOSIGNAL | MSG_DONTWAIT);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return 1;
        }
        if (n < 0) {
            return -errno;
        }
        qmp_buf_consume(&cl->out, (size_t)n);
    }
    return 0;
}

static void
qmp_client_io(void *opaque, uint32_t events)
{
    struct qmp_client *cl = opaque;
    char buf[4096];
    int rc;

    if ((events & EPOLLIN) && cl->verdict == QMP_KEEP) {
        ssize_t n = recv(cl->fd, buf, sizeof(buf), MSG_DONTWAIT);

        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR &&
                       errno != EWOULDBLOCK)) {
            qmp_client_end(cl);
            return;
        }
        if (n > 0) {
            rc = qmp_conn_input(cl->conn, buf, (size_t)n, &cl->out);
            if (rc < 0) {
                log_warn("qmp: connection dropped: %s", strerror(-rc));
                qmp_client_end(cl);
                return;
            }
            cl->verdict = rc;
        }
    } else if ((events & (EPOLLHUP | EPOLLERR)) && !(events & EPOLLOUT)) {
        qmp_client_end(cl);
        return;
    }
    rc = qmp_client_flush(cl);
    if (rc < 0 || (rc == 0 && cl->verdict != QMP_KEEP)) {
        qmp_client_end(cl);
        return;
    }
    loop_mod_fd(cl->srv->loop, cl->fd,
                rc ? EPOLLOUT : (cl->verdict == QMP_KEEP ? EPOLLIN : 0));
}

static void
qmp_accept(void *opaque, uint32_t events)
{
    struct qmp_listener *l = opaque;
    struct qmp_server *s = l->srv;
    struct qmp_client *cl;
    unsigned slot;
    int fd, rc;

    fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
        if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED) {
            log_warn("qmp: accept: %s", strerror(errno));
        }
        return;
    }
    for (slot = 0; slot < QMP_MAX_CONNS && s->clients[slot]; slot++) {
    }
    if (slot == QMP_MAX_CONNS) {
        log_warn("qmp: %d connections open, refusing another",
                 QMP_MAX_CONNS);
        close(fd);
        return;
    }
    cl = calloc(1, sizeof(*cl));
    if (!cl) {
        close(fd);
        return;
    }
    cl->srv = s;
    cl->fd = fd;
    if (qmp_conn_new(&cl->conn, s->h) || qmp_conn_greeting(cl->conn,
                                                           &cl->out)) {
        goto free_client;
    }
    rc = loop_add_fd(s->loop, fd, EPOLLIN, qmp_client_io, cl);
    if (rc) {
        log_warn("qmp: cannot watch a connection: %s", strerror(-rc));
        goto free_client;
    }
    s->clients[slot] = cl;
    qmp_client_io(cl, 0); /* send the greeting */
    return;

free_client:
    qmp_conn_free(cl->conn);
    qmp_buf_free(&cl->out);
    close(fd);
    free(cl);
}

static int
qmp_server_add(struct qmp_server *s, int fd, const char *path)
{
    struct qmp_listener *l;
    int rc;

    if (s->nr_listen >= QMP_MAX_LISTEN) {
        return -ENOSPC;
    }
    l = &s->listen[s->nr_listen];
    l->srv = s;
    l->fd = fd;
    snprintf(l->path, sizeof(l->path), "%s", path ? path : "");
    rc = loop_add_fd(s->loop, fd, EPOLLIN, qmp_accept, l);
    if (rc) {
        return rc;
    }
    s->nr_listen++;
    return 0;
}

int
qmp_server_listen_path(struct qmp_server *s, const char *path)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    struct stat st;
    int fd, rc;

    if (strlen(path) >= sizeof(sa.sun_path)) {
        return -ENAMETOOLONG;
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    /* Replace a stale socket left by an earlier run, nothing else. */
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            return -EEXIST;
        }
        unlink(path);
    }
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -errno;
    }
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) ||
        listen(fd, QMP_MAX_CONNS)) {
        rc = -errno;
        goto close_fd;
    }
    rc = qmp_server_add(s, fd, path);
    if (rc) {
        unlink(path);
        goto close_fd;
    }
    return 0;

close_fd:
    close(fd);
    return rc;
}

int
qmp_server_listen_fd(struct qmp_server *s, int fd)
{
    int type = 0, acc = 0;
    socklen_t len = sizeof(type);

    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) ||
        type != SOCK_STREAM) {
        return -ENOTSOCK;
    }
    len = sizeof(acc);
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &len) || !acc) {
        return -EINVAL;
    }
    int fl = fcntl(fd, F_GETFL);

    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) ||
        fcntl(fd, F_SETFD, FD_CLOEXEC)) {
        return -errno;
    }
    return qmp_server_add(s, fd, NULL);
}

void
qmp_server_free(struct qmp_server *s)
{
    if (!s) {
        return;
    }
    for (unsigned i = 0; i < QMP_MAX_CONNS; i++) {
        if (s->clients[i]) {
            qmp_client_free(s->clients[i]);
        }
    }
    for (unsigned i = 0; i < s->nr_listen; i++) {
        loop_del_fd(s->loop, s->listen[i].fd);
        close(s->listen[i].fd);
        s->listen[i].fd = -1;
        if (s->listen[i].path[0]) {
            unlink(s->listen[i].path);
        }
    }
    free(s);
}
