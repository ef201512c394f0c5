/*
 * xvm-test-blkd: command line, listening socket and the poll() loop.
 *
 *   xvm-test-blkd --socket PATH --image FILE [--xen-mmap [--probe-privcmd]]
 *                 [--poll-us N [--poll-tick-us T] [--coalesce]] [--once]
 *                 [--debug]
 *
 * Serves one vhost-user-blk frontend at a time on PATH, backed by FILE
 * (its size rounded down to 512-byte sectors).  --xen-mmap offers the
 * XEN_MMAP protocol feature (guest RAM mapped through /dev/xen/privcmd);
 * --probe-privcmd tries, with each privcmd fd received, what only an
 * unrestricted one may do, and logs the errnos (the harness's proof that
 * the daemon restricted it); --poll-us keeps looking at the ring for N
 * microseconds after each batch before asking the guest for a kick (the
 * guest needs none meanwhile), looking every T microseconds in between
 * naps with --poll-tick-us instead of spinning, and --coalesce also holds
 * the call while the guest is batching (blkd_io.c); --once exits after
 * the first frontend disconnects.  SIGTERM/SIGINT end it cleanly; they
 * and SIGUSR1 log what serving the ring cost (struct blkd_stats: kicks,
 * wakeups, calls, time waiting and working).  Logs go to stderr.
 *
 * Trust boundary: see blkd.h; this file only moves fds and bytes to
 * blkd_msg/blkd_io.  A frontend that stalls mid-message is cut off by
 * the socket's receive timeout.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "blkd.h"
#include "log.h"

#define BLKD_IO_TIMEOUT_S 5

static void
blkd_usage(FILE *f)
{
    fprintf(f, "usage: xvm-test-blkd --socket PATH --image FILE [--xen-mmap "
               "[--probe-privcmd] [--probe-gntdev]] [--poll-us N "
               "[--poll-tick-us T] [--coalesce]] [--once] [--debug]\n");
}

/* `opt`'s value v: microseconds up to BLKD_POLL_US_MAX, as *ns.  0 or -1. */
static int
blkd_parse_us(const char *opt, const char *v, uint64_t *ns)
{
    char *end = NULL;
    unsigned long us = 0;

    if (v) {
        errno = 0;
        us = strtoul(v, &end, 10);
    }
    if (!end || end == v || *end || errno || us > BLKD_POLL_US_MAX) {
        fprintf(stderr, "xvm-test-blkd: %s needs a number of microseconds "
                "up to %lu\n", opt, BLKD_POLL_US_MAX);
        return -1;
    }
    *ns = (uint64_t)us * 1000u;
    return 0;
}

/* 0, or 2 (usage error, message printed). */
static int
blkd_parse_args(struct blkd *d, const char **image, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];

        if (!strcmp(a, "--socket") || !strcmp(a, "--image")) {
            if (i + 1 >= argc || !argv[i + 1][0]) {
                fprintf(stderr, "xvm-test-blkd: %s needs a value\n", a);
                return 2;
            }
            if (a[2] == 's') {
                d->sock_path = argv[++i];
            } else {
                *image = argv[++i];
            }
        } else if (!strcmp(a, "--xen-mmap")) {
            d->xen_mmap = true;
        } else if (!strcmp(a, "--probe-privcmd")) {
            d->probe_privcmd = true;
        } else if (!strcmp(a, "--probe-gntdev")) {
            d->probe_gntdev = true;
        } else if (!strcmp(a, "--poll-us") || !strcmp(a, "--poll-tick-us")) {
            if (blkd_parse_us(a, i + 1 < argc ? argv[++i] : NULL,
                              strcmp(a, "--poll-us") ? &d->tick_ns
                                                     : &d->poll_ns) < 0) {
                return 2;
            }
        } else if (!strcmp(a, "--coalesce")) {
            d->coalesce = true;
        } else if (!strcmp(a, "--once")) {
            d->once = true;
        } else if (!strcmp(a, "--debug")) {
            log_set_level(LOG_LVL_DEBUG);
        } else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            blkd_usage(stdout);
            exit(0);
        } else {
            fprintf(stderr, "xvm-test-blkd: unknown option '%s'\n", a);
            blkd_usage(stderr);
            return 2;
        }
    }
    if ((d->probe_privcmd || d->probe_gntdev) && !d->xen_mmap) {
        fprintf(stderr, "xvm-test-blkd: --probe-%s needs --xen-mmap\n",
                d->probe_privcmd ? "privcmd" : "gntdev");
        return 2;
    }
    if ((d->coalesce || d->tick_ns) && !d->poll_ns) {
        fprintf(stderr, "xvm-test-blkd: --%s needs --poll-us\n",
                d->coalesce ? "coalesce" : "poll-tick-us");
        return 2;
    }
    if (!d->sock_path || !*image) {
        fprintf(stderr, "xvm-test-blkd: --socket and --image are required\n");
        blkd_usage(stderr);
        return 2;
    }
    if (strlen(d->sock_path) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
        fprintf(stderr, "xvm-test-blkd: socket path '%s' is too long\n",
                d->sock_path);
        return 2;
    }
    return 0;
}

static int
blkd_open_image(struct blkd *d, const char *image)
{
    off_t end;

    d->img_fd = open(image, O_RDWR | O_CLOEXEC);
    if (d->img_fd < 0) {
        log_err("blkd: %s: %s", image, strerror(errno));
        return -errno;
    }
    end = lseek(d->img_fd, 0, SEEK_END); /* regular file or block device */
    if (end < (off_t)BLKD_SECTOR) {
        log_err("blkd: %s: smaller than one sector", image);
        return -EINVAL;
    }
    d->img_bytes = (uint64_t)end / BLKD_SECTOR * BLKD_SECTOR;
    return 0;
}

static int
blkd_listen(struct blkd *d)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    struct stat st;

    if (stat(d->sock_path, &st) == 0 && S_ISSOCK(st.st_mode)) {
        unlink(d->sock_path); /* a stale socket of an earlier run */
    }
    memcpy(sa.sun_path, d->sock_path, strlen(d->sock_path));
    d->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (d->listen_fd < 0 ||
        bind(d->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        listen(d->listen_fd, 1) < 0) {
        log_err("blkd: listen on %s: %s", d->sock_path, strerror(errno));
        return -errno;
    }
    return 0;
}

static void
blkd_accept(struct blkd *d)
{
    struct timeval tv = { .tv_sec = BLKD_IO_TIMEOUT_S };
    int fd = accept4(d->listen_fd, NULL, NULL, SOCK_CLOEXEC);

    if (fd < 0) {
        log_warn("blkd: accept: %s", strerror(errno));
        return;
    }
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    d->conn_fd = fd;
    log_info("blkd: frontend connected");
}

/* Drop the frontend.  Returns true when the daemon should exit (--once). */
static bool
blkd_disconnect(struct blkd *d, int why)
{
    log_info("blkd: frontend gone (%s)", strerror(-why));
    blkd_conn_reset(d);
    close(d->conn_fd);
    d->conn_fd = -1;
    return d->once;
}

static void
blkd_on_kick(struct blkd *d, struct blkd_vring *vr)
{
    uint64_t cnt;

    if (read(vr->kick_fd, &cnt, sizeof(cnt)) == (ssize_t)sizeof(cnt)) {
        d->st.kick_reads++;
        d->st.kicks += cnt;
    } else if (errno != EAGAIN) {
        log_warn("blkd: kick eventfd: %s", strerror(errno));
    }
    blkd_io_process(d, vr);
}

/* SIGUSR1 logs the statistics; true for the signals that end the loop. */
static bool
blkd_on_signal(struct blkd *d, int sig_fd)
{
    struct signalfd_siginfo si;

    if (read(sig_fd, &si, sizeof(si)) == (ssize_t)sizeof(si) &&
        si.ssi_signo == SIGUSR1) {
        blkd_stats_log(&d->st, "SIGUSR1");
        return false;
    }
    log_info("blkd: signal received, exiting");
    blkd_stats_log(&d->st, "exit");
    return true;
}

/* The loop: signals, the listening socket or the connection, the kick. */
static int
blkd_run(struct blkd *d, int sig_fd)
{
    for (;;) {
        struct pollfd p[3] = {
            { .fd = sig_fd, .events = POLLIN },
            { .fd = d->conn_fd >= 0 ? d->conn_fd : d->listen_fd,
              .events = POLLIN },
            { .fd = d->vr[0].kick_fd, .events = POLLIN },
        };
        bool more = d->vr[0].more;
        uint64_t t = log_now_ns();
        int n = poll(p, 3, more ? 0 : -1);

        d->st.wait_ns += log_now_ns() - t;

        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            log_err("blkd: poll: %s", strerror(errno));
            return 1;
        }
        if (p[0].revents) {
            if (blkd_on_signal(d, sig_fd)) {
                return 0;
            }
            continue;
        }
        if (p[1].revents && d->conn_fd < 0) {
            blkd_accept(d);
            continue;
        }
        if (p[1].revents) {
            int rc = blkd_msg_handle(d);

            if (rc < 0 && blkd_disconnect(d, rc)) {
                return 0;
            }
            continue; /* the kick fd may have changed */
        }
        if (p[2].revents || more) {
            if (p[2].revents) {
                blkd_on_kick(d, &d->vr[0]);
            } else {
                blkd_io_process(d, &d->vr[0]);
            }
        }
    }
}

int
main(int argc, char **argv)
{
    struct blkd *d = calloc(1, sizeof(*d));
    const char *image = NULL;
    sigset_t sigs;
    int sig_fd = -1, rc = 1;

    if (!d) {
        return 1;
    }
    d->img_fd = d->listen_fd = d->conn_fd = -1;
    for (unsigned i = 0; i < BLKD_NR_QUEUES; i++) {
        d->vr[i].kick_fd = d->vr[i].call_fd = d->vr[i].err_fd = -1;
    }
    d->rl = (struct log_ratelimit)LOG_RATELIMIT_INIT;
    blkd_mem_init(&d->mem);
    rc = blkd_parse_args(d, &image, argc, argv);
    if (rc) {
        goto out_free;
    }
    rc = 1;
    d->chain = calloc(1, sizeof(*d->chain));
    if (!d->chain || blkd_open_image(d, image) < 0) {
        goto out_close;
    }
    signal(SIGPIPE, SIG_IGN);
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGUSR1);
    sigprocmask(SIG_BLOCK, &sigs, NULL);
    sig_fd = signalfd(-1, &sigs, SFD_CLOEXEC);
    if (sig_fd < 0 || blkd_listen(d) < 0) {
        goto out_close;
    }
    log_info("blkd: serving %s (%llu sectors) on %s%s%s", image,
             (unsigned long long)(d->img_bytes / BLKD_SECTOR), d->sock_path,
             d->xen_mmap ? ", XEN_MMAP offered" : "",
             d->once ? ", one connection" : "");
    rc = blkd_run(d, sig_fd);
    unlink(d->sock_path);

out_close:
    if (d->conn_fd >= 0) {
        blkd_conn_reset(d);
        close(d->conn_fd);
    }
    if (d->listen_fd >= 0) {
        close(d->listen_fd);
    }
    if (sig_fd >= 0) {
        close(sig_fd);
    }
    if (d->img_fd >= 0) {
        close(d->img_fd);
    }
    free(d->chain);
out_free:
    free(d);
    return rc;
}
