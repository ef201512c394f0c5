/*
 * Unit tests for the worker's control channel: a grant device's
 * WORKER_ADD carries the gntdev fd the service opened for the worker
 * (which cannot open it after dropping root), and no fd rides on
 * anything else.  A memfd stands in for /dev/xen/gntdev.
 */
#include <config.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check_common.h"
#include "worker.h"

static unsigned
open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    unsigned n = 0;

    ck_assert_ptr_nonnull(d);
    while (readdir(d)) {
        n++;
    }
    closedir(d);
    return n;
}

static void
pair(int sv[2])
{
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv),
                     0);
}

static int
fake_gntdev(void)
{
    int fd = memfd_create("gntdev", MFD_CLOEXEC);

    ck_assert_int_ge(fd, 0);
    return fd;
}

static struct worker_msg
add_msg(bool grants)
{
    struct worker_msg m;

    memset(&m, 0, sizeof(m));
    m.op = WORKER_ADD;
    m.dev.devid = 3;
    m.dev.grants = grants;
    snprintf(m.dev.name, sizeof(m.dev.name), "dom5/declared3");
    return m;
}

START_TEST(test_grant_add_carries_gntdev)
{
    struct worker_msg m = add_msg(true), got;
    int sv[2], g[2] = { fake_gntdev(), fake_gntdev() }, fd[WORKER_GNT_FDS];

    pair(sv);
    ck_assert_int_eq(worker_msg_send(sv[0], &m, g), 0);
    ck_assert_int_eq(worker_msg_recv(sv[1], &got, fd), (ssize_t)sizeof(got));
    /* both, in order: the worker's own, then the backends' */
    for (unsigned i = 0; i < WORKER_GNT_FDS; i++) {
        ck_assert_int_ge(fd[i], 0);
        ck_assert(check_same_file(fd[i], g[i]));
        ck_assert_int_eq(fcntl(fd[i], F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
        close(fd[i]);
        close(g[i]);
    }
    ck_assert_str_eq(got.dev.name, "dom5/declared3");
    ck_assert_uint_eq(got.dev.grants, 1);
    close(sv[0]);
    close(sv[1]);
}
END_TEST

START_TEST(test_fd_dropped_unless_grant_add)
{
    struct worker_msg plain = add_msg(false), del = add_msg(true), got;
    int sv[2], g = fake_gntdev(), gg[WORKER_GNT_FDS] = { g, g };
    int fd[WORKER_GNT_FDS];
    unsigned before;

    del.op = WORKER_DEL;
    pair(sv);
    before = open_fds();
    ck_assert_int_eq(worker_msg_send(sv[0], &plain, gg), 0);
    ck_assert_int_eq(worker_msg_recv(sv[1], &got, fd), (ssize_t)sizeof(got));
    ck_assert_int_eq(fd[0], -1);
    ck_assert_int_eq(fd[1], -1);
    ck_assert_int_eq(worker_msg_send(sv[0], &del, gg), 0);
    ck_assert_int_eq(worker_msg_recv(sv[1], &got, fd), (ssize_t)sizeof(got));
    ck_assert_int_eq(fd[0], -1);
    ck_assert_int_eq(fd[1], -1);
    /* A short message with an fd: the fd is closed, the size reported. */
    {
        union {
            struct cmsghdr align;
            char buf[CMSG_SPACE(sizeof(int))];
        } ctl;
        struct iovec iov = { .iov_base = &del, .iov_len = 8 };
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
                             .msg_control = ctl.buf,
                             .msg_controllen = sizeof(ctl.buf) };
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);

        memset(&ctl, 0, sizeof(ctl));
        c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &g, sizeof(int));
        ck_assert_int_eq(sendmsg(sv[0], &mh, 0), 8);
        ck_assert_int_eq(worker_msg_recv(sv[1], &got, fd), 8);
        ck_assert_int_eq(fd[0], -1);
    }
    /* Nothing received stayed open. */
    ck_assert_uint_eq(open_fds(), before);
    ck_assert_int_eq(worker_msg_recv(sv[1], &got, fd), -EAGAIN);
    close(g);
    close(sv[0]);
    close(sv[1]);
}
END_TEST

START_TEST(test_no_fd_without_one)
{
    struct worker_msg m = add_msg(true), got;
    int sv[2], fd[WORKER_GNT_FDS];

    pair(sv);
    ck_assert_int_eq(worker_msg_send(sv[0], &m, NULL), 0);
    ck_assert_int_eq(worker_msg_recv(sv[1], &got, fd), (ssize_t)sizeof(got));
    ck_assert_int_eq(fd[0], -1);
    ck_assert_int_eq(fd[1], -1);
    close(sv[0]);
    ck_assert_int_eq(worker_msg_recv(sv[1], &got, fd), 0);
    close(sv[1]);
}
END_TEST

/* Only grant devices make the service open gntdev. */
START_TEST(test_gntdev_only_for_grant_devices)
{
    struct worker_msg plain = add_msg(false), gr = add_msg(true);
    int fd[WORKER_GNT_FDS] = { 42, 43 }, rc;

    ck_assert_int_eq(worker_gntdev_for(&plain.dev, fd), 0);
    ck_assert_int_eq(fd[0], -1);
    ck_assert_int_eq(fd[1], -1);
    rc = worker_gntdev_for(&gr.dev, fd);
    if (access("/dev/xen/gntdev", F_OK) == 0) {
        /* A Xen dom0: two separate opens when root, refused otherwise. */
        ck_assert(rc == 0 ? fd[0] >= 0 && fd[1] >= 0 && !check_same_file(fd[0], fd[1])
                          : fd[0] == -1 && fd[1] == -1);
    } else {
        ck_assert_int_eq(rc, -ENOENT);
        ck_assert_int_eq(fd[0], -1);
        ck_assert_int_eq(fd[1], -1);
    }
    for (unsigned i = 0; i < WORKER_GNT_FDS; i++) {
        if (fd[i] >= 0) {
            close(fd[i]);
        }
    }
}
END_TEST

static Suite *
make_suite(void)
{
    Suite *s = suite_create("worker");

    CHECK_ADD(s, test_grant_add_carries_gntdev, 5);
    CHECK_ADD(s, test_fd_dropped_unless_grant_add, 5);
    CHECK_ADD(s, test_no_fd_without_one, 5);
    CHECK_ADD(s, test_gntdev_only_for_grant_devices, 5);
    return s;
}

CHECK_MAIN(make_suite)
