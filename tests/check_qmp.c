/* Unit tests: qmp, on the conversations libxl was recorded having. */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "check_common.h"
#include "loop.h"
#include "qmp.h"

struct fake_dm {
    enum qmp_status status;
    int quits;
    int runs;
};

static enum qmp_status
fake_status(void *opaque)
{
    return ((struct fake_dm *)opaque)->status;
}

static void
fake_run(void *opaque, bool running)
{
    struct fake_dm *d = opaque;

    d->runs++;
    d->status = running ? QMP_STATUS_RUNNING : QMP_STATUS_PAUSED;
}

static void
fake_quit(void *opaque)
{
    ((struct fake_dm *)opaque)->quits++;
}

struct session {
    struct fake_dm dm;
    struct qmp_handler h;
    struct qmp_conn *c;
    struct qmp_buf out;
};

static void
session_open(struct session *s)
{
    memset(s, 0, sizeof(*s));
    s->h = (struct qmp_handler){ .opaque = &s->dm, .status = fake_status,
                                 .run = fake_run, .quit = fake_quit };
    ck_assert_int_eq(qmp_conn_new(&s->c, &s->h), 0);
    ck_assert_int_eq(qmp_conn_greeting(s->c, &s->out), 0);
}

static void
session_close(struct session *s)
{
    qmp_conn_free(s->c);
    qmp_buf_free(&s->out);
}

/* Feed `in`, expect `verdict` and exactly `want` out (then clear it). */
static void
expect(struct session *s, const char *in, int verdict, const char *want)
{
    int rc = qmp_conn_input(s->c, in, strlen(in), &s->out);

    ck_assert_int_eq(rc, verdict);
    ck_assert_msg(s->out.len == strlen(want) &&
                      !memcmp(s->out.data, want, s->out.len),
                  "sent %s\ngot  '%.*s'\nwant '%s'", in, (int)s->out.len,
                  s->out.data, want);
    s->out.len = 0;
}

static const char greeting[] =
    "{\"QMP\":{\"version\":{\"qemu\":{\"micro\":0,\"minor\":2,\"major\":9},"
    "\"package\":\"" PACKAGE_STRING "\"},\"capabilities\":[]}}\r\n";

START_TEST(test_probe_conversation)
{
    struct session s;

    session_open(&s);
    ck_assert_str_eq(s.out.data, greeting);
    s.out.len = 0;
    expect(&s, "{\"execute\":\"qmp_capabilities\",\"id\":2020372737}\r\n",
           QMP_KEEP, "{\"return\":{},\"id\":2020372737}\r\n");
    expect(&s, "{\"execute\":\"query-command-line-options\","
               "\"id\":2020372736}\r\n",
           QMP_KEEP, "{\"return\":[],\"id\":2020372736}\r\n");
    expect(&s, "{\"execute\":\"quit\",\"id\":2020372738}\r\n", QMP_QUIT,
           "{\"return\":{},\"id\":2020372738}\r\n");
    session_close(&s);
}
END_TEST

START_TEST(test_start_conversation)
{
    struct session s;

    session_open(&s);
    s.out.len = 0;
    expect(&s, "{ \"execute\": \"qmp_capabilities\", \"id\": 2020372737 }\r\n",
           QMP_KEEP, "{\"return\":{},\"id\":2020372737}\r\n");
    expect(&s, "{ \"execute\": \"query-chardev\", \"id\": 2020372736 }\r\n",
           QMP_KEEP, "{\"return\":[],\"id\":2020372736}\r\n");
    expect(&s, "{\"execute\":\"query-vnc\",\"id\":2020372738}\r\n", QMP_KEEP,
           "{\"return\":{\"enabled\":false},\"id\":2020372738}\r\n");
    expect(&s, "{\"execute\":\"change-vnc-password\",\"arguments\":"
               "{\"password\":\"s3cret\"},\"id\":2020372739}\r\n",
           QMP_KEEP, "{\"return\":{},\"id\":2020372739}\r\n");
    session_close(&s);
}
END_TEST

/* dm_restrict: start-up confirmed by query-status. */
START_TEST(test_status_and_hmp)
{
    struct session s;

    session_open(&s);
    s.dm.status = QMP_STATUS_PRELAUNCH;
    s.out.len = 0;
    expect(&s, "{\"execute\":\"qmp_capabilities\",\"id\":1}\r\n", QMP_KEEP,
           "{\"return\":{},\"id\":1}\r\n");
    expect(&s, "{\"execute\":\"query-status\",\"id\":2}\r\n", QMP_KEEP,
           "{\"return\":{\"status\":\"prelaunch\",\"singlestep\":false,"
           "\"running\":false},\"id\":2}\r\n");
    expect(&s, "{\"execute\":\"human-monitor-command\",\"arguments\":"
               "{\"command-line\":\"info status\"},\"id\":3}\r\n",
           QMP_KEEP,
           "{\"return\":\"VM status: paused (prelaunch)\\r\\n\",\"id\":3}\r\n");
    expect(&s, "{\"execute\":\"cont\",\"id\":4}\r\n", QMP_KEEP,
           "{\"return\":{},\"id\":4}\r\n");
    ck_assert_int_eq(s.dm.runs, 1);
    expect(&s, "{\"execute\":\"query-status\",\"id\":5}\r\n", QMP_KEEP,
           "{\"return\":{\"status\":\"running\",\"singlestep\":false,"
           "\"running\":true},\"id\":5}\r\n");
    expect(&s, "{\"execute\":\"human-monitor-command\",\"arguments\":"
               "{\"command-line\":\"info bogus\"},\"id\":6}\r\n",
           QMP_KEEP,
           "{\"return\":\"unknown command: 'info bogus'\\r\\n\",\"id\":6}\r\n");
    expect(&s, "{\"execute\":\"human-monitor-command\",\"id\":7}\r\n",
           QMP_KEEP,
           "{\"error\":{\"class\":\"GenericError\",\"desc\":\"Parameter "
           "'command-line' is missing or not a string\"},\"id\":7}\r\n");
    session_close(&s);
}
END_TEST

START_TEST(test_errors_keep_connection)
{
    struct session s;

    session_open(&s);
    s.out.len = 0;
    /* before negotiation */
    expect(&s, "{\"execute\":\"query-chardev\",\"id\":1}\r\n", QMP_KEEP,
           "{\"error\":{\"class\":\"GenericError\",\"desc\":\"Expecting "
           "capabilities negotiation with 'qmp_capabilities'\"},\"id\":1}\r\n");
    expect(&s, "{\"execute\":\"qmp_capabilities\",\"id\":2}\r\n", QMP_KEEP,
           "{\"return\":{},\"id\":2}\r\n");
    expect(&s, "{\"execute\":\"qmp_capabilities\",\"id\":3}\r\n", QMP_KEEP,
           "{\"error\":{\"class\":\"GenericError\",\"desc\":\"Capabilities "
           "negotiation is already complete, command ignored\"},\"id\":3}\r\n");
    /* unknown command */
    expect(&s, "{\"execute\":\"device_add\",\"id\":4}\r\n", QMP_KEEP,
           "{\"error\":{\"class\":\"GenericError\",\"desc\":\"The command "
           "device_add has not been found\"},\"id\":4}\r\n");
    /* shape errors */
    expect(&s, "[1,2]\r\n", QMP_KEEP,
           "{\"error\":{\"class\":\"GenericError\",\"desc\":\"QMP input must "
           "be a JSON object\"}}\r\n");
    expect(&s, "{\"id\":5}\r\n", QMP_KEEP,
           "{\"error\":{\"class\":\"GenericError\",\"desc\":\"QMP input lacks "
           "member 'execute' (a string)\"},\"id\":5}\r\n");
    expect(&s, "{\"execute\":7,\"id\":6}\r\n", QMP_KEEP,
           "{\"error\":{\"class\":\"GenericError\",\"desc\":\"QMP input lacks "
           "member 'execute' (a string)\"},\"id\":6}\r\n");
    expect(&s, "{\"execute\":\"query-vnc\",\"arguments\":[],\"id\":8}\r\n",
           QMP_KEEP,
           "{\"error\":{\"class\":\"GenericError\",\"desc\":\"QMP input member "
           "'arguments' must be an object\"},\"id\":8}\r\n");
    expect(&s, "{\"execute\":\"query-vnc\",\"bogus\":1,\"id\":9}\r\n",
           QMP_KEEP,
           "{\"error\":{\"class\":\"GenericError\",\"desc\":\"QMP input member "
           "'bogus' is unexpected\"},\"id\":9}\r\n");
    /* malformed JSON: one error, then the next line is served */
    s.out.len = 0;
    ck_assert_int_eq(qmp_conn_input(s.c, "{\"execute\":,,}\r\n", 16, &s.out),
                     QMP_KEEP);
    ck_assert(strstr(s.out.data, "JSON parse error"));
    ck_assert(strstr(s.out.data, "GenericError"));
    s.out.len = 0;
    expect(&s, "{\"execute\":\"query-chardev\",\"id\":10}\r\n", QMP_KEEP,
           "{\"return\":[],\"id\":10}\r\n");
    session_close(&s);
}
END_TEST

/* Ids are echoed as the same JSON value; no id, no id. */
START_TEST(test_ids)
{
    struct session s;

    session_open(&s);
    s.out.len = 0;
    expect(&s, "{\"execute\":\"qmp_capabilities\"}\r\n", QMP_KEEP,
           "{\"return\":{}}\r\n");
    expect(&s, "{\"execute\":\"query-chardev\",\"id\":\"abc\"}\r\n", QMP_KEEP,
           "{\"return\":[],\"id\":\"abc\"}\r\n");
    expect(&s, "{\"id\":9007199254740993,\"execute\":\"query-chardev\"}\r\n",
           QMP_KEEP, "{\"return\":[],\"id\":9007199254740993}\r\n");
    expect(&s, "{\"execute\":\"query-chardev\",\"id\":{\"a\":[1]}}\r\n",
           QMP_KEEP, "{\"return\":[],\"id\":{\"a\":[1]}}\r\n");
    session_close(&s);
}
END_TEST

/* Byte-at-a-time input and several messages in one read. */
START_TEST(test_framing)
{
    static const char two[] =
        "{\"execute\":\"qmp_capabilities\",\"id\":1}\r\n"
        "{\"execute\":\"query-chardev\",\"id\":2}\r\n";
    static const char want[] =
        "{\"return\":{},\"id\":1}\r\n{\"return\":[],\"id\":2}\r\n";
    struct session s;

    session_open(&s);
    s.out.len = 0;
    for (size_t i = 0; i < strlen(two); i++) {
        ck_assert_int_eq(qmp_conn_input(s.c, two + i, 1, &s.out), QMP_KEEP);
    }
    ck_assert_uint_eq(s.out.len, strlen(want));
    ck_assert_int_eq(memcmp(s.out.data, want, s.out.len), 0);
    session_close(&s);

    session_open(&s);
    s.out.len = 0;
    expect(&s, two, QMP_KEEP, want);
    /* anything after quit in the same read is not executed */
    expect(&s, "{\"execute\":\"quit\",\"id\":3}{\"execute\":\"stop\"}",
           QMP_QUIT, "{\"return\":{},\"id\":3}\r\n");
    ck_assert_int_eq(s.dm.runs, 0);
    session_close(&s);
}
END_TEST

START_TEST(test_oversize_and_depth)
{
    struct session s;
    char *big = malloc(QMP_MSG_MAX + 100);
    char deep[200];

    ck_assert_ptr_nonnull(big);
    session_open(&s);
    s.out.len = 0;
    strcpy(big, "{\"execute\":\"");
    memset(big + 12, 'a', QMP_MSG_MAX + 80);
    big[QMP_MSG_MAX + 92] = '\0';
    ck_assert_int_eq(qmp_conn_input(s.c, big, strlen(big), &s.out), QMP_CLOSE);
    ck_assert(strstr(s.out.data, "too long"));
    session_close(&s);
    free(big);

    /* nesting beyond the tokener's depth is a parse error, not a crash */
    session_open(&s);
    s.out.len = 0;
    memset(deep, '[', 100);
    strcpy(deep + 100, "\r\n");
    ck_assert_int_eq(qmp_conn_input(s.c, deep, strlen(deep), &s.out),
                     QMP_KEEP);
    ck_assert(strstr(s.out.data, "JSON parse error"));
    session_close(&s);
}
END_TEST

/* Every reply ends in \r\n and holds no other raw newline. */
START_TEST(test_line_endings)
{
    struct session s;

    session_open(&s);
    ck_assert_int_eq(qmp_conn_input(s.c,
                                    "{\"execute\":\"qmp_capabilities\"}"
                                    "{\"execute\":\"query-commands\"}"
                                    "{\"execute\":\"query-version\"}"
                                    "{\"execute\":\"human-monitor-command\","
                                    "\"arguments\":{\"command-line\":"
                                    "\"help\"}}", 150, &s.out) >= 0, 1);
    for (size_t i = 0; i < s.out.len; i++) {
        if (s.out.data[i] == '\n') {
            ck_assert(i > 0 && s.out.data[i - 1] == '\r');
        }
    }
    ck_assert_int_eq(s.out.data[s.out.len - 1], '\n');
    session_close(&s);
}
END_TEST

/* --- sockets --- */

static int
client_connect(const char *path)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    return fd;
}

/* Run the loop until the client has a line (or 2 s pass). */
static void
client_read(struct loop *loop, int fd, char *buf, size_t len)
{
    size_t got = 0;

    for (int i = 0; i < 200 && (got < 2 || memcmp(buf + got - 2, "\r\n", 2));
         i++) {
        struct pollfd p = { .fd = fd, .events = POLLIN };

        loop_run_once(loop, 10);
        if (poll(&p, 1, 0) == 1) {
            ssize_t n = recv(fd, buf + got, len - 1 - got, MSG_DONTWAIT);

            if (n <= 0) {
                break;
            }
            got += (size_t)n;
        }
    }
    buf[got] = '\0';
}

static void
client_say(struct loop *loop, int fd, const char *msg, const char *want)
{
    char buf[1024];

    ck_assert_int_eq(send(fd, msg, strlen(msg), MSG_NOSIGNAL),
                     (ssize_t)strlen(msg));
    client_read(loop, fd, buf, sizeof(buf));
    ck_assert_msg(strstr(buf, want), "got '%s' want '%s'", buf, want);
}

START_TEST(test_socket_path)
{
    char dir[] = "/tmp/xvm-qmp-XXXXXX";
    char path[128], buf[1024];
    struct loop *loop = loop_new();
    struct fake_dm dm = { .status = QMP_STATUS_RUNNING };
    struct qmp_handler h = { .opaque = &dm, .quit = fake_quit };
    struct qmp_server *srv;

    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/qmp-libxl-1", dir);
    ck_assert_int_eq(qmp_server_new(&srv, loop, &h), 0);
    ck_assert_int_eq(qmp_server_listen_path(srv, path), 0);
    /* sequential connections, as libxl makes them */
    for (int i = 0; i < 3; i++) {
        int fd = client_connect(path);

        client_read(loop, fd, buf, sizeof(buf));
        ck_assert_str_eq(buf, greeting);
        client_say(loop, fd, "{\"execute\":\"qmp_capabilities\",\"id\":1}\r\n",
                   "{\"return\":{},\"id\":1}\r\n");
        client_say(loop, fd, "{\"execute\":\"query-chardev\",\"id\":2}\r\n",
                   "{\"return\":[],\"id\":2}\r\n");
        close(fd);
        loop_run_once(loop, 10);
    }
    /* quit: reply, close, then the callback */
    int fd = client_connect(path);

    client_read(loop, fd, buf, sizeof(buf));
    client_say(loop, fd, "{\"execute\":\"qmp_capabilities\"}\r\n",
               "{\"return\":{}}\r\n");
    client_say(loop, fd, "{\"execute\":\"quit\",\"id\":3}\r\n",
               "{\"return\":{},\"id\":3}\r\n");
    for (int i = 0; i < 10 && !dm.quits; i++) {
        loop_run_once(loop, 10);
    }
    ck_assert_int_eq(dm.quits, 1);
    ck_assert_int_eq(recv(fd, buf, sizeof(buf), 0), 0); /* closed */
    close(fd);
    /* a non-socket file in the way is not removed */
    qmp_server_free(srv);
    ck_assert_int_ne(access(path, F_OK), 0);
    ck_assert_int_eq(qmp_server_new(&srv, loop, &h), 0);
    fd = open(path, O_CREAT | O_WRONLY, 0600);
    close(fd);
    ck_assert_int_eq(qmp_server_listen_path(srv, path), -EEXIST);
    unlink(path);
    qmp_server_free(srv);
    rmdir(dir);
    loop_free(loop);
}
END_TEST

/* The probe's fd=16: a socket libxl bound and set listening. */
START_TEST(test_socket_fd)
{
    char dir[] = "/tmp/xvm-qmp-XXXXXX";
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    char buf[1024];
    struct loop *loop = loop_new();
    struct fake_dm dm = { .status = QMP_STATUS_RUNNING };
    struct qmp_handler h = { .opaque = &dm, .quit = fake_quit };
    struct qmp_server *srv;
    int lfd, fd, notlisten;

    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/probe", dir);
    lfd = socket(AF_UNIX, SOCK_STREAM, 0);
    ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    ck_assert_int_eq(listen(lfd, 1), 0);
    ck_assert_int_eq(qmp_server_new(&srv, loop, &h), 0);
    notlisten = socket(AF_UNIX, SOCK_STREAM, 0);
    ck_assert_int_eq(qmp_server_listen_fd(srv, notlisten), -EINVAL);
    close(notlisten);
    ck_assert_int_eq(qmp_server_listen_fd(srv, lfd), 0);
    fd = client_connect(sa.sun_path);
    client_read(loop, fd, buf, sizeof(buf));
    ck_assert_str_eq(buf, greeting);
    client_say(loop, fd, "{\"execute\":\"qmp_capabilities\",\"id\":2020372737}"
               "\r\n", "{\"return\":{},\"id\":2020372737}\r\n");
    client_say(loop, fd, "{\"execute\":\"query-command-line-options\","
               "\"id\":2020372736}\r\n", "{\"return\":[],\"id\":2020372736}");
    client_say(loop, fd, "{\"execute\":\"quit\",\"id\":2020372738}\r\n",
               "{\"return\":{},\"id\":2020372738}");
    for (int i = 0; i < 10 && !dm.quits; i++) {
        loop_run_once(loop, 10);
    }
    ck_assert_int_eq(dm.quits, 1);
    close(fd);
    qmp_server_free(srv);   /* closes lfd; an fd= socket is not unlinked */
    ck_assert_int_eq(access(sa.sun_path, F_OK), 0);
    unlink(sa.sun_path);
    rmdir(dir);
    loop_free(loop);
}
END_TEST

static Suite *
make_suite(void)
{
    Suite *s = suite_create("qmp");

    CHECK_ADD(s, test_probe_conversation, 5);
    CHECK_ADD(s, test_start_conversation, 5);
    CHECK_ADD(s, test_status_and_hmp, 5);
    CHECK_ADD(s, test_errors_keep_connection, 5);
    CHECK_ADD(s, test_ids, 5);
    CHECK_ADD(s, test_framing, 5);
    CHECK_ADD(s, test_oversize_and_depth, 5);
    CHECK_ADD(s, test_line_endings, 5);
    CHECK_ADD(s, test_socket_path, 10);
    CHECK_ADD(s, test_socket_fd, 10);
    return s;
}

CHECK_MAIN(make_suite)
