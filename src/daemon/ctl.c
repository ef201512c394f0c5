/*
 * ctl: the control socket (see ctl.h).
 *
 * Server: one listener on the loop; each accepted connection is checked
 * (SO_PEERCRED), reads one request line of at most CTL_REQ_MAX bytes
 * within CTL_TIMEOUT_MS, and is then answered through the instance's
 * callback, which may answer later (the service asks its workers first).
 * The answer is written as the socket takes it (EPOLLOUT), and a client
 * that does not take it within CTL_TIMEOUT_MS is dropped: nothing a client
 * does blocks the loop, which in the xl-spawned mode also serves the
 * guest's register accesses.
 *
 * Client: connect, send "status\n", read to EOF (bounded), parse.
 */
#include <config.h>

#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "ctl.h"
#include "log.h"

static const char *const ctl_state_names[] = {
    [CTL_DEV_WAITING] = "waiting",
    [CTL_DEV_STARTING] = "starting",
    [CTL_DEV_SERVING] = "serving",
    [CTL_DEV_CLOSING] = "closing",
};

const char *
ctl_dev_state_name(enum ctl_dev_state st)
{
    return (unsigned)st <= CTL_DEV_CLOSING ? ctl_state_names[st] : "?";
}

/* --- the answer --- */

static void
ctl_put_u64(struct json_object *o, const char *key, uint64_t v)
{
    json_object_object_add(o, key, json_object_new_uint64(v));
}

static void
ctl_put_queue(struct json_object *o, const struct relay_queue_stats *q)
{
    ctl_put_u64(o, "requests", q->requests);
    ctl_put_u64(o, "kicks_trapped", q->kicks_trapped);
    ctl_put_u64(o, "kicks_eventfd", q->kicks_eventfd);
    ctl_put_u64(o, "backend_kicks", q->backend_kicks);
    ctl_put_u64(o, "calls", q->calls);
    ctl_put_u64(o, "notifies", q->notifies);
    ctl_put_u64(o, "bytes_in", q->bytes_in);
    ctl_put_u64(o, "bytes_out", q->bytes_out);
    ctl_put_u64(o, "backpressure", q->backpressure);
}

/* A queue's notification paths: who answers QueueNotify, who interrupts. */
static void
ctl_put_paths(struct json_object *o, const struct relay_queue_stats *q)
{
    json_object_object_add(o, "kernel_ioeventfd",
                           json_object_new_boolean(q->kernel_ioeventfd));
    json_object_object_add(o, "kernel_irqfd",
                           json_object_new_boolean(q->kernel_irqfd));
}

static struct json_object *
ctl_counters_json(const struct relay_stats *st)
{
    struct json_object *o = json_object_new_object();
    struct json_object *err = json_object_new_object();
    struct json_object *mem = json_object_new_object();
    struct relay_queue_stats sum;
    uint64_t named = st->reg_queue_notify + st->reg_interrupt_status +
                     st->reg_interrupt_ack;
    uint64_t traps = st->reg_reads + st->reg_writes;

    relay_stats_sum(st, &sum);
    ctl_put_queue(o, &sum);
    ctl_put_u64(o, "reg_reads", st->reg_reads);
    ctl_put_u64(o, "reg_writes", st->reg_writes);
    ctl_put_u64(o, "reg_queue_notify", st->reg_queue_notify);
    ctl_put_u64(o, "reg_interrupt_status", st->reg_interrupt_status);
    ctl_put_u64(o, "reg_interrupt_ack", st->reg_interrupt_ack);
    ctl_put_u64(o, "reg_other", traps > named ? traps - named : 0);
    ctl_put_u64(o, "irqs", st->irqs);
    ctl_put_u64(o, "vhu_msgs", st->vhu_msgs);
    ctl_put_u64(o, "reconnects", st->reconnects);
    ctl_put_u64(o, "stop_drops", st->stop_drops);
    ctl_put_u64(o, "grant_copies", st->grant_copies);
    ctl_put_u64(o, "grant_maps", st->grant_maps);
    ctl_put_u64(err, "device", st->err_device);
    ctl_put_u64(err, "backend", st->err_backend);
    ctl_put_u64(err, "host", st->err_host);
    json_object_object_add(o, "errors", err);
    ctl_put_u64(mem, "hits", st->guest_mem.hits);
    ctl_put_u64(mem, "maps", st->guest_mem.maps);
    ctl_put_u64(mem, "evictions", st->guest_mem.evictions);
    ctl_put_u64(mem, "failures", st->guest_mem.failures);
    ctl_put_u64(mem, "pinned", st->guest_mem.pinned);
    json_object_object_add(o, "guest_mem", mem);
    return o;
}

static struct json_object *
ctl_dev_json(const struct ctl_dev *d)
{
    struct json_object *o = json_object_new_object();
    struct json_object *qs;

    json_object_object_add(o, "domid", json_object_new_int64(d->domid));
    json_object_object_add(o, "guest", json_object_new_string(d->guest));
    json_object_object_add(o, "device", json_object_new_string(d->name));
    json_object_object_add(o, "mode", json_object_new_string(
                                          d->mode == RELAY_MODE_AUTO
                                              ? "-"
                                              : relay_mode_name(d->mode)));
    json_object_object_add(o, "backend", json_object_new_string(d->socket));
    json_object_object_add(o, "state", json_object_new_string(
                                           ctl_dev_state_name(d->state)));
    if (!d->has_stats) {
        return o;
    }
    json_object_object_add(o, "counters", ctl_counters_json(&d->stats));
    qs = json_object_new_array();
    for (unsigned i = 0; i < d->stats.nr_queues && i < RELAY_MAX_QUEUES; i++) {
        struct json_object *q = json_object_new_object();

        json_object_object_add(q, "index", json_object_new_int(i));
        ctl_put_queue(q, &d->stats.q[i]);
        ctl_put_paths(q, &d->stats.q[i]);
        json_object_array_add(qs, q);
    }
    json_object_object_add(o, "queues", qs);
    return o;
}

struct json_object *
ctl_status_json(const char *instance, const struct ctl_dev *devs, unsigned n)
{
    struct json_object *o = json_object_new_object();
    struct json_object *a = json_object_new_array();

    if (!o || !a) {
        json_object_put(o);
        json_object_put(a);
        return NULL;
    }
    json_object_object_add(o, "instance", json_object_new_string(instance));
    json_object_object_add(o, "pid", json_object_new_int64(getpid()));
    for (unsigned i = 0; i < n; i++) {
        json_object_array_add(a, ctl_dev_json(&devs[i]));
    }
    json_object_object_add(o, "devices", a);
    return o;
}

/* --- the table --- */

static const char *
ctl_str(struct json_object *o, const char *key)
{
    struct json_object *v;

    if (!json_object_object_get_ex(o, key, &v) ||
        !json_object_is_type(v, json_type_string)) {
        return "?";
    }
    return json_object_get_string(v);
}

static bool
ctl_u64(struct json_object *o, const char *key, uint64_t *out)
{
    struct json_object *v;

    if (!o || !json_object_object_get_ex(o, key, &v) ||
        !json_object_is_type(v, json_type_int)) {
        return false;
    }
    *out = json_object_get_uint64(v);
    return true;
}

/* "12.34" per request, or "-" without requests. */
static void
ctl_per_req(char *buf, size_t len, uint64_t n, uint64_t req)
{
    if (req == 0) {
        snprintf(buf, len, "-");
    } else {
        snprintf(buf, len, "%.2f", (double)n / (double)req);
    }
}

static void
ctl_print_dev(struct json_object *inst, struct json_object *d, FILE *out)
{
    struct json_object *c = NULL, *e = NULL;
    uint64_t domid = 0, req = 0, rd = 0, wr = 0, irqs = 0, in = 0, o = 0;
    uint64_t ed = 0, eb = 0, eh = 0;
    char traps[24], ipr[24], reqs[24], guest[24];

    json_object_object_get_ex(d, "counters", &c);
    if (c) {
        json_object_object_get_ex(c, "errors", &e);
    }
    ctl_u64(d, "domid", &domid);
    snprintf(guest, sizeof(guest), "%s", ctl_str(d, "guest"));
    if (!c || !ctl_u64(c, "requests", &req)) {
        snprintf(reqs, sizeof(reqs), "-");
        snprintf(traps, sizeof(traps), "-");
        snprintf(ipr, sizeof(ipr), "-");
    } else {
        ctl_u64(c, "reg_reads", &rd);
        ctl_u64(c, "reg_writes", &wr);
        ctl_u64(c, "irqs", &irqs);
        ctl_u64(c, "bytes_in", &in);
        ctl_u64(c, "bytes_out", &o);
        ctl_u64(e, "device", &ed);
        ctl_u64(e, "backend", &eb);
        ctl_u64(e, "host", &eh);
        snprintf(reqs, sizeof(reqs), "%llu", (unsigned long long)req);
        ctl_per_req(traps, sizeof(traps), rd + wr, req);
        ctl_per_req(ipr, sizeof(ipr), irqs, req);
    }
    fprintf(out, "%-20s %5llu %-22s %-9s %-8s %10s %9s %8s %9.1f %9.1f %6llu  %s (%s)\n",
            guest[0] ? guest : "-", (unsigned long long)domid,
            ctl_str(d, "device"), ctl_str(d, "mode"), ctl_str(d, "state"),
            reqs, traps, ipr, (double)in / 1048576.0, (double)o / 1048576.0,
            (unsigned long long)(ed + eb + eh), ctl_str(d, "backend"),
            ctl_str(inst, "instance"));
}

void
ctl_print_table(struct json_object *answers, FILE *out)
{
    size_t n = json_object_is_type(answers, json_type_array)
                   ? json_object_array_length(answers)
                   : 0;

    fprintf(out, "%-20s %5s %-22s %-9s %-8s %10s %9s %8s %9s %9s %6s  %s\n",
            "Name", "ID", "Device", "Mode", "State", "Requests", "Traps/req",
            "Irqs/req", "In(MiB)", "Out(MiB)", "Errors",
            "Backend (instance)");
    for (size_t i = 0; i < n; i++) {
        struct json_object *inst = json_object_array_get_idx(answers, i);
        struct json_object *devs;

        if (!json_object_object_get_ex(inst, "devices", &devs) ||
            !json_object_is_type(devs, json_type_array)) {
            continue;
        }
        for (size_t j = 0; j < json_object_array_length(devs); j++) {
            ctl_print_dev(inst, json_object_array_get_idx(devs, j), out);
        }
    }
}

/* --- server --- */

struct ctl_server;

/* A connection reads its request, waits for the instance, writes. */
enum ctl_phase {
    CTL_READING = 0,         /* fd watched for input, timer running */
    CTL_ASKED,               /* the instance has the token */
    CTL_WRITING,             /* fd watched for output, timer running */
};

struct ctl_client {
    struct ctl_server *srv;
    int fd;
    enum ctl_phase phase;
    int timer;               /* 0: none */
    uint64_t token;          /* from CTL_ASKED on */
    size_t len;
    char req[CTL_REQ_MAX + 1];
    char *out;               /* the answer, from CTL_WRITING on */
    size_t out_len, out_off;
};

struct ctl_server {
    struct loop *loop;
    int fd;
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    gid_t gid;
    ctl_status_fn fn;
    void *opaque;
    uint64_t next_token;
    struct ctl_client *clients[CTL_MAX_CLIENTS];
    struct log_ratelimit rl;
};

static void
ctl_client_free(struct ctl_client *cl)
{
    struct ctl_server *s = cl->srv;

    for (unsigned i = 0; i < CTL_MAX_CLIENTS; i++) {
        if (s->clients[i] == cl) {
            s->clients[i] = NULL;
        }
    }
    if (cl->timer > 0) {
        loop_cancel_timer(s->loop, cl->timer);
    }
    if (cl->phase != CTL_ASKED) {
        loop_del_fd(s->loop, cl->fd);
    }
    close(cl->fd);
    free(cl->out);
    free(cl);
}

/* A client that neither finishes its request nor takes its answer in time. */
static void
ctl_client_timeout(void *opaque)
{
    struct ctl_client *cl = opaque;

    cl->timer = 0;
    log_rl(&cl->srv->rl, LOG_LVL_WARN, "ctl: client %s within %d ms",
           cl->phase == CTL_READING ? "sent no request" : "took no answer",
           CTL_TIMEOUT_MS);
    ctl_client_free(cl);
}

static void
ctl_client_timer(struct ctl_client *cl)
{
    cl->timer = loop_add_timer(cl->srv->loop, CTL_TIMEOUT_MS,
                               ctl_client_timeout, cl);
    cl->timer = cl->timer < 0 ? 0 : cl->timer;
}

/* Write what the socket takes; the rest when it is writable again. */
static void
ctl_client_flush(struct ctl_client *cl)
{
    while (cl->out_off < cl->out_len) {
        ssize_t n = send(cl->fd, cl->out + cl->out_off,
                         cl->out_len - cl->out_off,
                         MSG_NOSIGNAL | MSG_DONTWAIT);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && errno == EAGAIN) {
            return;
        }
        if (n < 0) {
            log_rl(&cl->srv->rl, LOG_LVL_WARN, "ctl: answer not taken by "
                   "the client: %s", strerror(errno));
            break;
        }
        cl->out_off += (size_t)n;
    }
    ctl_client_free(cl);
}

static void
ctl_client_out(void *opaque, uint32_t events)
{
    (void)events;
    ctl_client_flush(opaque);
}

static void
ctl_client_answer(struct ctl_client *cl, struct json_object *o)
{
    struct ctl_server *s = cl->srv;
    const char *text = json_object_to_json_string_ext(
        o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    size_t len = text ? strlen(text) : 0;

    cl->out = text ? malloc(len + 1) : NULL;
    if (cl->out) {
        memcpy(cl->out, text, len);
        cl->out[len] = '\n';
        cl->out_len = len + 1;
    }
    json_object_put(o);
    if (cl->phase == CTL_READING) {
        loop_del_fd(s->loop, cl->fd);
    }
    if (cl->timer > 0) {
        loop_cancel_timer(s->loop, cl->timer);
        cl->timer = 0;
    }
    cl->phase = CTL_WRITING;
    if (!cl->out ||
        loop_add_fd(s->loop, cl->fd, EPOLLOUT, ctl_client_out, cl)) {
        cl->phase = CTL_ASKED; /* not watched */
        ctl_client_free(cl);
        return;
    }
    ctl_client_timer(cl);
    ctl_client_flush(cl);
}

static void
ctl_client_error(struct ctl_client *cl, const char *why)
{
    struct json_object *o = json_object_new_object();

    json_object_object_add(o, "error", json_object_new_string(why));
    ctl_client_answer(cl, o);
}

/* The request is complete: only "status" is known. */
static void
ctl_client_request(struct ctl_client *cl)
{
    struct ctl_server *s = cl->srv;

    if (cl->len > 0 && cl->req[cl->len - 1] == '\n') {
        cl->len--;
    }
    cl->req[cl->len] = '\0';
    if (strlen(cl->req) != cl->len || strcmp(cl->req, "status") != 0) {
        log_rl(&s->rl, LOG_LVL_WARN, "ctl: unknown request of %zu bytes "
               "refused", cl->len);
        ctl_client_error(cl, "unknown request: the only one is \"status\"");
        return;
    }
    loop_del_fd(s->loop, cl->fd);
    if (cl->timer > 0) {
        loop_cancel_timer(s->loop, cl->timer);
        cl->timer = 0;
    }
    cl->phase = CTL_ASKED;
    cl->token = ++s->next_token;
    s->fn(s->opaque, cl->token);
}

static void
ctl_client_in(void *opaque, uint32_t events)
{
    struct ctl_client *cl = opaque;
    ssize_t n;

    (void)events;
    n = recv(cl->fd, cl->req + cl->len, CTL_REQ_MAX + 1 - cl->len,
             MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        return;
    }
    if (n < 0 || (n == 0 && cl->len == 0)) {
        ctl_client_free(cl);
        return;
    }
    cl->len += (size_t)n;
    if (cl->len > CTL_REQ_MAX) {
        log_rl(&cl->srv->rl, LOG_LVL_WARN, "ctl: request longer than %d "
               "bytes refused", CTL_REQ_MAX);
        ctl_client_error(cl, "request too long");
        return;
    }
    if (n == 0 || memchr(cl->req, '\n', cl->len)) {
        ctl_client_request(cl);
    }
}

/* Root, our own uid, or the configured group. */
static bool
ctl_peer_ok(struct ctl_server *s, int fd)
{
    struct ucred uc;
    socklen_t len = sizeof(uc);

    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) ||
        len != sizeof(uc)) {
        return false;
    }
    return uc.uid == 0 || uc.uid == geteuid() ||
           (s->gid != (gid_t)-1 && uc.gid == s->gid);
}

static void
ctl_accept(void *opaque, uint32_t events)
{
    struct ctl_server *s = opaque;
    struct ctl_client *cl;
    unsigned slot;
    int fd;

    (void)events;
    fd = accept4(s->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
        return;
    }
    if (!ctl_peer_ok(s, fd)) {
        log_rl(&s->rl, LOG_LVL_WARN, "ctl: connection from an unprivileged "
               "peer refused");
        close(fd);
        return;
    }
    for (slot = 0; slot < CTL_MAX_CLIENTS && s->clients[slot]; slot++) {
    }
    cl = slot < CTL_MAX_CLIENTS ? calloc(1, sizeof(*cl)) : NULL;
    if (!cl) {
        log_rl(&s->rl, LOG_LVL_WARN, "ctl: %d clients busy, one refused",
               CTL_MAX_CLIENTS);
        close(fd);
        return;
    }
    cl->srv = s;
    cl->fd = fd;
    if (loop_add_fd(s->loop, fd, EPOLLIN, ctl_client_in, cl)) {
        close(fd);
        free(cl);
        return;
    }
    ctl_client_timer(cl);
    s->clients[slot] = cl;
}

int
ctl_server_new(struct ctl_server **out, struct loop *loop, const char *path,
               gid_t gid, ctl_status_fn fn, void *opaque)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    struct ctl_server *s;
    struct stat st;
    int rc;

    if (strlen(path) >= sizeof(sa.sun_path)) {
        return -ENAMETOOLONG;
    }
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            return -EEXIST;
        }
        unlink(path);
    }
    s = calloc(1, sizeof(*s));
    if (!s) {
        return -ENOMEM;
    }
    s->loop = loop;
    s->gid = gid;
    s->fn = fn;
    s->opaque = opaque;
    s->rl = (struct log_ratelimit)LOG_RATELIMIT_INIT;
    memcpy(sa.sun_path, path, strlen(path) + 1);
    s->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s->fd < 0) {
        rc = -errno;
        goto free_s;
    }
    if (bind(s->fd, (struct sockaddr *)&sa, sizeof(sa))) {
        rc = -errno;
        goto close_fd;
    }
    /* Only then does the file exist: set its mode before anyone may connect. */
    if ((gid != (gid_t)-1 && chown(path, (uid_t)-1, gid)) ||
        chmod(path, gid != (gid_t)-1 ? 0660 : 0600) ||
        listen(s->fd, CTL_MAX_CLIENTS)) {
        rc = -errno;
        goto unlink_path;
    }
    rc = loop_add_fd(loop, s->fd, EPOLLIN, ctl_accept, s);
    if (rc) {
        goto unlink_path;
    }
    snprintf(s->path, sizeof(s->path), "%s", path);
    *out = s;
    return 0;

unlink_path:
    unlink(path);
close_fd:
    close(s->fd);
free_s:
    free(s);
    return rc;
}

void
ctl_server_reply(struct ctl_server *s, uint64_t token,
                 struct json_object *status)
{
    for (unsigned i = 0; token && i < CTL_MAX_CLIENTS; i++) {
        if (s->clients[i] && s->clients[i]->phase == CTL_ASKED &&
            s->clients[i]->token == token) {
            if (!status) {
                ctl_client_error(s->clients[i], "out of memory");
                return;
            }
            ctl_client_answer(s->clients[i], status);
            return;
        }
    }
    json_object_put(status);
}

void
ctl_server_free(struct ctl_server *s)
{
    if (!s) {
        return;
    }
    for (unsigned i = 0; i < CTL_MAX_CLIENTS; i++) {
        if (s->clients[i]) {
            ctl_client_free(s->clients[i]);
        }
    }
    loop_del_fd(s->loop, s->fd);
    close(s->fd);
    unlink(s->path);
    free(s);
}

/* --- client --- */

/* Wait for `events` on fd until deadline_ns.  0 or -errno (-ETIMEDOUT). */
static int
ctl_wait(int fd, short events, uint64_t deadline_ns)
{
    uint64_t now = log_now_ns();
    struct pollfd p = { .fd = fd, .events = events };
    int rc;

    if (now >= deadline_ns) {
        return -ETIMEDOUT;
    }
    rc = poll(&p, 1, (int)((deadline_ns - now) / 1000000ULL) + 1);
    if (rc < 0) {
        return errno == EINTR ? 0 : -errno;
    }
    return rc == 0 ? -ETIMEDOUT : 0;
}


/* Read to EOF into a malloc'd, terminated buffer of at most CTL_REPLY_MAX. */
static int
ctl_read_all(int fd, uint64_t deadline_ns, char **out)
{
    size_t len = 0, cap = 4096;
    char *buf = malloc(cap);
    int rc = 0;

    if (!buf) {
        return -ENOMEM;
    }
    for (;;) {
        ssize_t n;

        if (len + 1 == cap) {
            char *nb;

            if (cap >= CTL_REPLY_MAX) {
                rc = -EPROTO;
                break;
            }
            nb = realloc(buf, cap * 2);
            if (!nb) {
                rc = -ENOMEM;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        n = recv(fd, buf + len, cap - 1 - len, MSG_DONTWAIT);
        if (n > 0) {
            len += (size_t)n;
            continue;
        }
        if (n == 0) {
            break;
        }
        if (errno != EAGAIN && errno != EINTR) {
            rc = -errno;
            break;
        }
        rc = ctl_wait(fd, POLLIN, deadline_ns);
        if (rc) {
            break;
        }
    }
    if (rc) {
        free(buf);
        return rc;
    }
    buf[len] = '\0';
    *out = buf;
    return 0;
}

int
ctl_query(const char *path, unsigned timeout_ms, struct json_object **out)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    uint64_t deadline = log_now_ns() + timeout_ms * 1000000ULL;
    struct json_object *o;
    char *text = NULL;
    int fd, rc;

    if (strlen(path) >= sizeof(sa.sun_path)) {
        return -ENAMETOOLONG;
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        return -errno;
    }
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
        rc = -errno;
        goto close_fd;
    }
    if (send(fd, "status\n", 7, MSG_NOSIGNAL) != 7) {
        rc = -errno;
        goto close_fd;
    }
    rc = ctl_read_all(fd, deadline, &text);
    if (rc) {
        goto close_fd;
    }
    o = json_tokener_parse(text);
    free(text);
    if (!json_object_is_type(o, json_type_object)) {
        json_object_put(o);
        rc = -EPROTO;
        goto close_fd;
    }
    *out = o;
close_fd:
    close(fd);
    return rc;
}

static bool
ctl_is_ctl_sock(const char *name)
{
    unsigned domid;
    char tail;

    return strcmp(name, CTL_SERVICE_SOCK) == 0 ||
           sscanf(name, "ctl-dom%u.soc%c", &domid, &tail) == 2;
}

int
ctl_status_main(const char *dir, bool json, FILE *out, FILE *err)
{
    struct json_object *answers = json_object_new_array();
    char path[sizeof(((struct sockaddr_un *)0)->sun_path) + 1];
    struct dirent *de;
    DIR *d = opendir(dir);
    size_t n;

    if (!answers) {
        fprintf(err, "xen-vhost-master: out of memory\n");
        return CTL_EXIT_NONE;
    }
    while (d && (de = readdir(d)) != NULL) {
        struct json_object *o;
        int rc;

        if (!ctl_is_ctl_sock(de->d_name) ||
            snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >=
                (int)sizeof(path) - 1) {
            continue;
        }
        rc = ctl_query(path, CTL_TIMEOUT_MS, &o);
        if (rc == 0) {
            json_object_array_add(answers, o);
        } else if (rc != -ECONNREFUSED && rc != -ENOENT) {
            fprintf(err, "xen-vhost-master: %s: %s\n", path, strerror(-rc));
        }
    }
    if (d) {
        closedir(d);
    }
    n = json_object_array_length(answers);
    if (n == 0) {
        fprintf(err, "xen-vhost-master: nothing running: no instance "
                "answers on a control socket in %s\n", dir);
        json_object_put(answers);
        return CTL_EXIT_NONE;
    }
    if (json) {
        fprintf(out, "%s\n", json_object_to_json_string_ext(
                                 answers, JSON_C_TO_STRING_PRETTY |
                                              JSON_C_TO_STRING_SPACED |
                                              JSON_C_TO_STRING_NOSLASHESCAPE));
    } else {
        ctl_print_table(answers, out);
    }
    json_object_put(answers);
    return CTL_EXIT_OK;
}
