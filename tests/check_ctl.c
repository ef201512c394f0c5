/*
 * ctl: the status answer and its table, the control socket's protocol and
 * checks (bounded request, unknown requests, idle clients, too many
 * clients, file mode, deferred answers), the CLI's "nothing running", and
 * end to end: a relay on the simulator serving N requests to
 * qemu-storage-daemon, then its counters read back over the socket.
 *
 * The blocking client runs in a thread while the test's thread runs the
 * server's loop until the client has finished (a bounded poll).
 */
#include <config.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backend_proc.h"
#include "blkdrv.h"
#include "check_common.h"
#include "ctl.h"
#include "log.h"

#define WANT_ALL (~0ULL)

static struct ctl_dev
sample_dev(void)
{
    struct ctl_dev d;

    memset(&d, 0, sizeof(d));
    d.domid = 3;
    snprintf(d.guest, sizeof(d.guest), "web");
    snprintf(d.name, sizeof(d.name), "dom3/vbd51712");
    snprintf(d.socket, sizeof(d.socket), "/run/xen-vhost-master/3-51712.sock");
    d.mode = RELAY_MODE_SHADOW;
    d.state = CTL_DEV_SERVING;
    d.has_stats = true;
    d.stats.nr_queues = 2;
    d.stats.reg_reads = 30;
    d.stats.reg_writes = 20;
    d.stats.reg_queue_notify = 12;
    d.stats.reg_interrupt_status = 10;
    d.stats.reg_interrupt_ack = 10;
    d.stats.irqs = 10;
    d.stats.err_backend = 1;
    d.stats.guest_mem.maps = 7;
    d.stats.guest_mem.pinned = 2;
    d.stats.q[0].requests = 15;
    d.stats.q[1].requests = 5;
    d.stats.q[0].kicks_trapped = 8;
    d.stats.q[1].kicks_trapped = 4;
    d.stats.q[0].bytes_in = 1u << 20;
    d.stats.q[2].requests = 1000; /* beyond nr_queues: not counted */
    return d;
}

static uint64_t
jget(struct json_object *o, const char *k1, const char *k2)
{
    struct json_object *v;

    ck_assert(json_object_object_get_ex(o, k1, &v));
    if (k2) {
        ck_assert(json_object_object_get_ex(v, k2, &v));
    }
    return json_object_get_uint64(v);
}

/* The device's JSON: totals are the queue sums, "other" registers derived. */
START_TEST(test_status_json)
{
    struct ctl_dev d = sample_dev();
    struct json_object *o = ctl_status_json("service", &d, 1), *devs, *dev;
    struct json_object *qs, *c;

    ck_assert_ptr_nonnull(o);
    ck_assert(json_object_object_get_ex(o, "devices", &devs));
    ck_assert_uint_eq(json_object_array_length(devs), 1);
    dev = json_object_array_get_idx(devs, 0);
    ck_assert_str_eq(json_object_get_string(json_object_object_get(dev, "mode")),
                     "shadow");
    ck_assert_str_eq(json_object_get_string(json_object_object_get(dev, "state")),
                     "serving");
    ck_assert_uint_eq(jget(dev, "domid", NULL), 3);
    ck_assert(json_object_object_get_ex(dev, "counters", &c));
    ck_assert_uint_eq(jget(c, "requests", NULL), 20);
    ck_assert_uint_eq(jget(c, "kicks_trapped", NULL), 12);
    ck_assert_uint_eq(jget(c, "reg_other", NULL), 50 - 12 - 10 - 10);
    ck_assert_uint_eq(jget(c, "errors", "backend"), 1);
    ck_assert_uint_eq(jget(c, "guest_mem", "maps"), 7);
    ck_assert_uint_eq(jget(c, "guest_mem", "pinned"), 2);
    ck_assert(json_object_object_get_ex(dev, "queues", &qs));
    ck_assert_uint_eq(json_object_array_length(qs), 2);
    ck_assert_uint_eq(jget(json_object_array_get_idx(qs, 1), "requests", NULL), 5);
    json_object_put(o);

    /* No stats (device not served yet): no counters, mode "-". */
    d.has_stats = false;
    d.mode = RELAY_MODE_AUTO;
    d.state = CTL_DEV_WAITING;
    o = ctl_status_json("service", &d, 1);
    dev = json_object_array_get_idx(json_object_object_get(o, "devices"), 0);
    ck_assert(!json_object_object_get_ex(dev, "counters", NULL));
    ck_assert_str_eq(json_object_get_string(json_object_object_get(dev, "mode")),
                     "-");
    json_object_put(o);
}
END_TEST

static char *
table_of(struct json_object *answers)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    ck_assert_ptr_nonnull(f);
    ctl_print_table(answers, f);
    fclose(f);
    return buf;
}

START_TEST(test_table)
{
    struct ctl_dev d = sample_dev();
    struct json_object *a = json_object_new_array();
    char *t;

    json_object_array_add(a, ctl_status_json("service", &d, 1));
    t = table_of(a);
    ck_assert_ptr_nonnull(strstr(t, "Traps/req"));
    /* 50 traps and 10 interrupts for 20 requests */
    ck_assert_msg(strstr(t, "web") && strstr(t, "dom3/vbd51712") &&
                  strstr(t, "shadow") && strstr(t, "serving") &&
                  strstr(t, " 20 ") && strstr(t, "2.50") && strstr(t, "0.50") &&
                  strstr(t, "3-51712.sock (service)"), "table:\n%s", t);
    free(t);
    json_object_put(a);
}
END_TEST

/* Answers of other instances are not trusted: odd types print as "?"/"-". */
START_TEST(test_table_malformed)
{
    static const char *const bad[] = {
        "[1, \"x\", {\"devices\": 5}, {\"devices\": [7, {}]}]",
        ("[{\"instance\": 4, \"devices\": [{\"device\": [], \"counters\": "
         "{\"requests\": \"many\", \"errors\": 3}}]}]"),
        "{\"devices\": []}",
    };

    for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct json_object *a = json_tokener_parse(bad[i]);
        char *t;

        ck_assert_ptr_nonnull(a);
        t = table_of(a);
        ck_assert_ptr_nonnull(strstr(t, "Name"));
        free(t);
        json_object_put(a);
    }
}
END_TEST

/* --- the socket --- */

struct srv {
    char dir[256];
    char path[300];
    struct loop *loop;
    struct ctl_server *s;
    bool defer;              /* hold the answer until the test releases it */
    uint64_t held;
    unsigned asked;
};

static void
srv_status(void *opaque, uint64_t token)
{
    struct srv *v = opaque;
    struct ctl_dev d = sample_dev();

    v->asked++;
    if (v->defer) {
        v->held = token;
        return;
    }
    ctl_server_reply(v->s, token, ctl_status_json("test", &d, 1));
}

static void
srv_up(struct srv *v)
{
    memset(v, 0, sizeof(*v));
    ck_assert_int_eq(backend_tmpdir(v->dir, sizeof(v->dir)), 0);
    snprintf(v->path, sizeof(v->path), "%s/%s", v->dir, CTL_SERVICE_SOCK);
    v->loop = loop_new();
    ck_assert_ptr_nonnull(v->loop);
    ck_assert_int_eq(ctl_server_new(&v->s, v->loop, v->path, (gid_t)-1,
                                    srv_status, v), 0);
}

static void
srv_down(struct srv *v)
{
    ctl_server_free(v->s);
    ck_assert_int_ne(access(v->path, F_OK), 0); /* unlinked */
    loop_free(v->loop);
    backend_rmtree(v->dir);
}

/* A client thread: ctl_query, or a raw request and its raw answer. */
struct client {
    const char *path;
    const char *raw;         /* NULL: ctl_query */
    size_t raw_len;
    int rc;
    struct json_object *o;
    char answer[512];
    atomic_bool done;
};

static void
sun_set(struct sockaddr_un *sa, const char *path)
{
    ck_assert_uint_lt(strlen(path), sizeof(sa->sun_path));
    memcpy(sa->sun_path, path, strlen(path) + 1);
}

static int
raw_connect(const char *path)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    ck_assert_int_ge(fd, 0);
    sun_set(&sa, path);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    return fd;
}

static void *
client_main(void *opaque)
{
    struct client *c = opaque;

    if (!c->raw) {
        c->rc = ctl_query(c->path, 5000, &c->o);
    } else {
        int fd = raw_connect(c->path);
        size_t len = 0;
        ssize_t n;

        c->rc = send(fd, c->raw, c->raw_len, MSG_NOSIGNAL) ==
                        (ssize_t)c->raw_len ? 0 : -errno;
        while ((n = recv(fd, c->answer + len, sizeof(c->answer) - 1 - len,
                         0)) > 0) {
            len += (size_t)n;
        }
        c->answer[len] = '\0';
        close(fd);
    }
    atomic_store(&c->done, true);
    return NULL;
}

/* Run the server's loop until the client finished (at most 10 s). */
static void
run_client(struct srv *v, struct client *c)
{
    pthread_t th;

    atomic_store(&c->done, false);
    c->path = v->path;
    ck_assert_int_eq(pthread_create(&th, NULL, client_main, c), 0);
    for (int i = 0; i < 1000 && !atomic_load(&c->done); i++) {
        loop_run_once(v->loop, 10);
    }
    ck_assert(atomic_load(&c->done));
    pthread_join(th, NULL);
}

START_TEST(test_server_status)
{
    struct srv v;
    struct client c = { 0 };
    struct stat st;

    srv_up(&v);
    ck_assert_int_eq(stat(v.path, &st), 0);
    ck_assert_uint_eq(st.st_mode & 0777, 0600);
    run_client(&v, &c);
    ck_assert_int_eq(c.rc, 0);
    ck_assert_str_eq(json_object_get_string(json_object_object_get(c.o, "instance")),
                     "test");
    ck_assert_int_eq(json_object_get_int64(json_object_object_get(c.o, "pid")),
                     getpid());
    json_object_put(c.o);
    srv_down(&v);
}
END_TEST

/* Anything but "status" is refused with a reason; nothing is asked. */
START_TEST(test_server_bad_requests)
{
    static const struct { const char *req; size_t len; const char *why; } cases[] = {
        { "hello\n", 6, "unknown request" },
        { "status extra\n", 13, "unknown request" },
        { "stat\0us\n", 8, "unknown request" },
        { "\n", 1, "unknown request" },
    };
    char longreq[CTL_REQ_MAX + 10];
    struct srv v;

    srv_up(&v);
    for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct client c = { .raw = cases[i].req, .raw_len = cases[i].len };

        run_client(&v, &c);
        ck_assert_msg(strstr(c.answer, cases[i].why), "case %u: '%s'", i,
                      c.answer);
    }
    /* longer than CTL_REQ_MAX without a newline */
    memset(longreq, 's', sizeof(longreq));
    {
        struct client c = { .raw = longreq, .raw_len = sizeof(longreq) };

        run_client(&v, &c);
        ck_assert_msg(strstr(c.answer, "request too long"), "'%s'", c.answer);
    }
    ck_assert_uint_eq(v.asked, 0);
    srv_down(&v);
}
END_TEST

/*
 * The file mode keeps others out; should it not (here: opened up on
 * purpose), the peer's credentials still do.  Needs root to become another
 * user; as anyone else only the mode is checked.
 */
START_TEST(test_server_unprivileged_peer)
{
    struct srv v;
    pid_t pid;
    int st = -1;

    srv_up(&v);
    if (geteuid() != 0) {
        srv_down(&v);
        return;
    }
    ck_assert_int_eq(chmod(v.dir, 0711), 0);
    ck_assert_int_eq(chmod(v.path, 0666), 0);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        char b[64];
        int fd;

        if (setgid(65534) || setuid(65534)) {
            _exit(3);
        }
        fd = socket(AF_UNIX, SOCK_STREAM, 0);
        memcpy(sa.sun_path, v.path, strlen(v.path) + 1);
        if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
            _exit(4);
        }
        send(fd, "status\n", 7, MSG_NOSIGNAL);
        /* refused: EOF (or a reset) and no answer */
        _exit(recv(fd, b, sizeof(b), 0) <= 0 ? 0 : 5);
    }
    for (int i = 0; i < 1000 && waitpid(pid, &st, WNOHANG) == 0; i++) {
        loop_run_once(v.loop, 10);
    }
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status 0x%x", st);
    ck_assert_uint_eq(v.asked, 0);
    srv_down(&v);
}
END_TEST

/* A client that sends nothing is dropped after CTL_TIMEOUT_MS. */
START_TEST(test_server_idle_client)
{
    struct srv v;
    struct pollfd p;
    int fd;
    char b;

    srv_up(&v);
    fd = raw_connect(v.path);
    p = (struct pollfd){ .fd = fd, .events = POLLIN };
    for (int i = 0; i < 400 && poll(&p, 1, 0) == 0; i++) {
        loop_run_once(v.loop, 10);
    }
    ck_assert_int_eq(poll(&p, 1, 0), 1);
    ck_assert_int_eq(recv(fd, &b, 1, 0), 0); /* EOF */
    close(fd);
    ck_assert_uint_eq(v.asked, 0);
    srv_down(&v);
}
END_TEST

/* Beyond CTL_MAX_CLIENTS, a connection is closed at once. */
START_TEST(test_server_too_many)
{
    int fd[CTL_MAX_CLIENTS + 1];
    struct srv v;
    char b;

    srv_up(&v);
    for (unsigned i = 0; i <= CTL_MAX_CLIENTS; i++) {
        fd[i] = raw_connect(v.path);
        loop_run_once(v.loop, 100);
    }
    ck_assert_int_eq(recv(fd[CTL_MAX_CLIENTS], &b, 1, 0), 0);
    for (unsigned i = 0; i <= CTL_MAX_CLIENTS; i++) {
        close(fd[i]);
    }
    srv_down(&v);
}
END_TEST

/* An answer given later reaches its client; one for a gone client is dropped. */
START_TEST(test_server_deferred)
{
    struct srv v;
    struct client c = { .raw = "status\n", .raw_len = 7 };
    struct ctl_dev d = sample_dev();
    pthread_t th;

    srv_up(&v);
    v.defer = true;
    c.path = v.path;
    ck_assert_int_eq(pthread_create(&th, NULL, client_main, &c), 0);
    for (int i = 0; i < 1000 && v.held == 0; i++) {
        loop_run_once(v.loop, 10);
    }
    ck_assert_uint_ne(v.held, 0);
    ck_assert(!atomic_load(&c.done));
    ctl_server_reply(v.s, v.held, ctl_status_json("later", &d, 1));
    pthread_join(th, NULL);
    ck_assert_ptr_nonnull(strstr(c.answer, "\"later\""));
    /* the same token again, and one never given: ignored */
    ctl_server_reply(v.s, v.held, ctl_status_json("again", &d, 1));
    ctl_server_reply(v.s, 999, ctl_status_json("never", &d, 1));
    srv_down(&v);
}
END_TEST

/*
 * A client that asks and then does not read: an answer larger than the
 * socket takes is written as it drains, never blocking the loop (which in
 * the xl-spawned mode serves the guest's registers too), and the client is
 * dropped after CTL_TIMEOUT_MS.
 */
START_TEST(test_server_client_not_reading)
{
    enum { NDEV = 1500 };
    struct ctl_dev *devs = calloc(NDEV, sizeof(*devs));
    struct json_object *big;
    struct srv v;
    struct pollfd p;
    size_t got = 0;
    char buf[65536], last = 0;
    ssize_t n;
    int fd;

    ck_assert_ptr_nonnull(devs);
    for (unsigned i = 0; i < NDEV; i++) {
        devs[i] = sample_dev();
    }
    srv_up(&v);
    v.defer = true;
    fd = raw_connect(v.path);
    ck_assert_int_eq(send(fd, "status\n", 7, 0), 7);
    for (int i = 0; i < 1000 && v.held == 0; i++) {
        loop_run_once(v.loop, 10);
    }
    ck_assert_uint_ne(v.held, 0);
    /*
     * The client never reads, so a reply (or a loop step) that waited for
     * the socket to drain would never return: reaching the next line is
     * the proof, not a time bound (one of 500 ms failed on a loaded
     * machine, where serializing 1500 devices under ASan alone can take
     * that long).
     */
    big = ctl_status_json("big", devs, NDEV);
    ctl_server_reply(v.s, v.held, big);
    for (int i = 0; i < 5; i++) {
        loop_run_once(v.loop, 0);
    }
    /* still not reading: dropped after the timeout, the rest never sent */
    p = (struct pollfd){ .fd = fd, .events = POLLIN };
    for (int i = 0; i < 400; i++) {
        loop_run_once(v.loop, 10);
    }
    while (poll(&p, 1, 0) == 1 && (n = recv(fd, buf, sizeof(buf), 0)) > 0) {
        got += (size_t)n;
        last = buf[n - 1];
    }
    ck_assert_uint_gt(got, 0);
    ck_assert_int_ne(last, '\n');                       /* cut short */
    ck_assert_int_eq(recv(fd, buf, 1, MSG_DONTWAIT), 0); /* EOF: dropped */
    close(fd);
    free(devs);
    srv_down(&v);
}
END_TEST

/* `--status` with nothing listening: exit 1 and a message saying so. */
START_TEST(test_status_nothing_running)
{
    char dir[256], path[300], *out = NULL, *err = NULL;
    size_t ol = 0, el = 0;
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    FILE *fo, *fe;
    int fd;

    ck_assert_int_eq(backend_tmpdir(dir, sizeof(dir)), 0);
    /* a stale socket of an instance that is gone */
    snprintf(path, sizeof(path), "%s/ctl-dom7.sock", dir);
    sun_set(&sa, path);
    fd = socket(AF_UNIX, SOCK_STREAM, 0);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    close(fd);
    fo = open_memstream(&out, &ol);
    fe = open_memstream(&err, &el);
    ck_assert_int_eq(ctl_status_main(dir, false, fo, fe), CTL_EXIT_NONE);
    fclose(fo);
    fclose(fe);
    ck_assert_str_eq(out, "");
    ck_assert_ptr_nonnull(strstr(err, "nothing running"));
    free(out);
    free(err);
    backend_rmtree(dir);
}
END_TEST

/* --- end to end: counters of real I/O read back over the socket --- */

struct e2e {
    struct srv v;
    struct blkdrv b;
};

static void
e2e_status(void *opaque, uint64_t token)
{
    struct e2e *e = opaque;
    struct ctl_dev d;

    memset(&d, 0, sizeof(d));
    snprintf(d.name, sizeof(d.name), "sim/blk0");
    d.mode = relay_mode(e->b.relay);
    d.state = CTL_DEV_SERVING;
    d.has_stats = true;
    relay_get_stats(e->b.relay, &d.stats);
    ctl_server_reply(e->v.s, token, ctl_status_json("sim", &d, 1));
}

static void
counters_roundtrip(enum relay_mode mode)
{
    enum { N = 24 };
    char dir[256];
    struct backend_proc qsd;
    struct relay_stats before;
    struct e2e e;
    struct client c = { 0 };
    struct json_object *cnt;
    static uint8_t buf[4096];

    if (!backend_qsd_path()) {
        ck_abort_msg("qemu-storage-daemon is not installed "
                     "(package qemu-system-common)");
    }
    ck_assert_int_eq(backend_tmpdir(dir, sizeof(dir)), 0);
    ck_assert_int_eq(backend_start_qsd(&qsd, dir, "blk", "null-co:67108864"), 0);
    ck_assert_int_eq(blkdrv_open(&e.b, qsd.sock, mode, WANT_ALL, 4), 0);
    memset(&e.v, 0, sizeof(e.v));
    snprintf(e.v.path, sizeof(e.v.path), "%s/%s", dir, CTL_SERVICE_SOCK);
    e.v.loop = e.b.loop;
    ck_assert_int_eq(ctl_server_new(&e.v.s, e.b.loop, e.v.path, (gid_t)-1,
                                    e2e_status, &e), 0);
    relay_get_stats(e.b.relay, &before);
    for (unsigned i = 0; i < N; i++) {
        ck_assert_int_eq(blkdrv_sync(&e.b, i % 2 ? VIRTIO_BLK_T_IN
                                                 : VIRTIO_BLK_T_OUT,
                                     8 * i, buf, sizeof(buf)), 0);
    }
    run_client(&e.v, &c);
    ck_assert_int_eq(c.rc, 0);
    cnt = json_object_object_get(json_object_array_get_idx(
                                     json_object_object_get(c.o, "devices"), 0),
                                 "counters");
    ck_assert_ptr_nonnull(cnt);
    /* one request, one trapped QueueNotify per blkdrv_sync */
    ck_assert_uint_eq(jget(cnt, "requests", NULL) - before.q[0].requests, N);
    ck_assert_uint_eq(jget(cnt, "reg_queue_notify", NULL) - before.reg_queue_notify, N);
    ck_assert_uint_eq(jget(cnt, "kicks_trapped", NULL) - before.q[0].kicks_trapped, N);
    ck_assert_uint_ge(jget(cnt, "irqs", NULL) - before.irqs, 1);
    /* at most one per request, plus one the backend may signal when its
     * queue starts (qemu-storage-daemon does, in zero-copy mode) */
    ck_assert_uint_le(jget(cnt, "irqs", NULL) - before.irqs, N + 1);
    if (mode == RELAY_MODE_SHADOW) {
        /* 12 writes and 12 reads of 4 KiB, plus the 16-byte headers */
        ck_assert_uint_eq(jget(cnt, "bytes_in", NULL), N / 2 * 4096 + N * 16);
        ck_assert_uint_eq(jget(cnt, "bytes_out", NULL), N / 2 * 4096 + N);
    } else {
        ck_assert_uint_eq(jget(cnt, "bytes_in", NULL), 0);
        ck_assert_uint_eq(jget(cnt, "bytes_out", NULL), 0);
    }
    ck_assert_uint_eq(jget(cnt, "errors", "device"), 0);
    json_object_put(c.o);
    ctl_server_free(e.v.s);
    blkdrv_close(&e.b);
    backend_stop(&qsd);
    backend_rmtree(dir);
}

START_TEST(test_e2e_counters_shadow)
{
    counters_roundtrip(RELAY_MODE_SHADOW);
}
END_TEST

START_TEST(test_e2e_counters_zerocopy)
{
    counters_roundtrip(RELAY_MODE_ZEROCOPY);
}
END_TEST

static Suite *
make_suite(void)
{
    Suite *s = suite_create("ctl");

    CHECK_ADD(s, test_status_json, 10);
    CHECK_ADD(s, test_table, 10);
    CHECK_ADD(s, test_table_malformed, 10);
    CHECK_ADD(s, test_server_status, 20);
    CHECK_ADD(s, test_server_bad_requests, 20);
    CHECK_ADD(s, test_server_unprivileged_peer, 20);
    CHECK_ADD(s, test_server_idle_client, 20);
    CHECK_ADD(s, test_server_too_many, 20);
    CHECK_ADD(s, test_server_deferred, 20);
    CHECK_ADD(s, test_server_client_not_reading, 30);
    CHECK_ADD(s, test_status_nothing_running, 20);
    CHECK_ADD(s, test_e2e_counters_shadow, 60);
    CHECK_ADD(s, test_e2e_counters_zerocopy, 60);
    return s;
}

CHECK_MAIN(make_suite)
