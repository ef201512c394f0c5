/*
 * xvm-test-blkd's notifications, end to end on the simulator (simulated
 * guest -> virtio-mmio -> relay in zero-copy mode -> xvm-test-blkd):
 * what it counts and logs on SIGUSR1 (kicks, wakeups, requests, calls),
 * and --poll-us, under which the guest needs no kick while the backend is
 * still looking at the ring.  The counts are read from the backend's own
 * log, so each test knows exactly what the backend saw.
 */
#include <config.h>

#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backend_proc.h"
#include "blkd_proc.h"
#include "blkdrv.h"
#include "check_common.h"

#define DISK_BYTES (4ULL << 20)
#define WANT_ALL (~0ULL)
/* Longer than any test: the window never closes while one runs. */
#define POLL_FOREVER_US "60000000"

struct fixture {
    struct blkd_proc p;
    unsigned stats_seen; /* "stats (SIGUSR1)" lines taken so far */
};

/* The counters of one stats line. */
struct stats {
    uint64_t requests, polled, kicks, kick_reads, wakeups, empty, calls;
};

/* Start xvm-test-blkd with extra options (NULL-terminated, at most
 * BLKD_PROC_MAX_OPTS), its log in f->p.log. */
static void
fixture_up(struct fixture *f, const char *const *opts)
{
    memset(f, 0, sizeof(*f));
    ck_assert_int_eq(blkd_proc_start(&f->p, BLKD_PATH, DISK_BYTES, opts, true),
                     0);
}

/* SIGTERM: the backend logs its exit stats and exits 0 within 10 s. */
static void
fixture_down(struct fixture *f)
{
    ck_assert_msg(blkd_proc_stop(&f->p) == 0,
                  "xvm-test-blkd did not exit cleanly on SIGTERM");
}

/* The value after " key " in line, or UINT64_MAX when absent. */
static uint64_t
stats_field(const char *line, const char *key)
{
    char pat[40];
    const char *p;

    snprintf(pat, sizeof(pat), " %s ", key);
    p = strstr(line, pat);
    return p ? strtoull(p + strlen(pat), NULL, 10) : UINT64_MAX;
}

/*
 * SIGUSR1, then wait (bounded) for the backend's next stats line and
 * parse it.  The relay's loop runs meanwhile (nothing is owed to it here).
 */
static void
stats_take(struct fixture *f, struct stats *s)
{
    char line[512];

    kill(f->p.pid, SIGUSR1);
    for (int waited = 0; waited < 10000; waited += 10) {
        FILE *fp = fopen(f->p.log, "r");
        unsigned n = 0;

        ck_assert_ptr_nonnull(fp);
        while (fgets(line, sizeof(line), fp)) {
            if (strstr(line, "stats (SIGUSR1)") && ++n > f->stats_seen) {
                break;
            }
        }
        fclose(fp);
        if (n > f->stats_seen) {
            f->stats_seen = n;
            *s = (struct stats){
                .requests = stats_field(line, "requests"),
                .polled = stats_field(line, "polled"),
                .kicks = stats_field(line, "kicks"),
                .kick_reads = stats_field(line, "kick_reads"),
                .wakeups = stats_field(line, "wakeups"),
                .empty = stats_field(line, "empty"),
                .calls = stats_field(line, "calls"),
            };
            ck_assert_uint_ne(s->calls, UINT64_MAX);
            return;
        }
        usleep(10000);
    }
    ck_abort_msg("no stats line from xvm-test-blkd after SIGUSR1");
}

/* One 4 KiB read posted at lba; whether the device asked for a kick. */
static bool
post_read(struct blkdrv *b, uint64_t lba)
{
    struct blkreq *r;

    ck_assert_int_eq(blkdrv_submit(b, VIRTIO_BLK_T_IN, lba, 4096, 1, false,
                                   &r), 0);
    return blkdrv_kick(b);
}

/* Wait for one completion; it must be a success. */
static void
take_one(struct blkdrv *b)
{
    struct blkreq *done;

    ck_assert_int_eq(blkdrv_wait(b, &done, 10000), 0);
    ck_assert_uint_eq(blkdrv_status(b, done), VIRTIO_BLK_S_OK);
    blkdrv_release(b, done);
}

/*
 * Backend up (options as fixture_up), driver on it, and a first request
 * served: it asks for a kick, which also takes the relay's kick at queue
 * start.
 */
static void
start(struct fixture *f, struct blkdrv *b, const char *const *opts)
{
    fixture_up(f, opts);
    ck_assert_int_eq(blkdrv_open(b, f->p.sock, RELAY_MODE_ZEROCOPY, WANT_ALL, 4),
                     0);
    ck_assert(post_read(b, 0));
    take_one(b);
}

/*
 * The counters: each request waited for alone takes one kick, one
 * wakeup and one call; SIGUSR1 logs them and the backend keeps serving.
 */
START_TEST(test_blkd_stats)
{
    struct fixture f;
    struct blkdrv b;
    struct stats s0, s1;

    start(&f, &b, NULL);
    stats_take(&f, &s0);
    for (unsigned i = 1; i < 5; i++) {
        ck_assert(post_read(&b, 8 * i));
        take_one(&b);
    }
    stats_take(&f, &s1);
    ck_assert_uint_eq(s1.requests - s0.requests, 4);
    ck_assert_uint_eq(s1.polled - s0.polled, 0);
    ck_assert_uint_eq(s1.kicks - s0.kicks, 4);
    ck_assert_uint_eq(s1.kick_reads - s0.kick_reads, 4);
    ck_assert_uint_eq(s1.wakeups - s0.wakeups, 4);
    ck_assert_uint_eq(s1.empty - s0.empty, 0);
    ck_assert_uint_eq(s1.calls - s0.calls, 4);
    /* Still serving after SIGUSR1. */
    ck_assert(post_read(&b, 64));
    take_one(&b);
    blkdrv_close(&b);
    fixture_down(&f);
}
END_TEST

/*
 * --poll-us: after a batch the backend keeps looking at the ring without
 * asking for a kick, so requests the guest posts meanwhile need none
 * (EVENT_IDX: avail_event stays behind) and are served all the same,
 * each batch with its call.  Without the option the next request needs
 * its kick.
 */
START_TEST(test_blkd_poll_no_kick)
{
    /* Spinning, and napping 1 ms between looks. */
    static const char *const polls[][5] = {
        { "--poll-us", POLL_FOREVER_US, NULL },
        { "--poll-us", POLL_FOREVER_US, "--poll-tick-us", "1000", NULL },
    };
    struct fixture f;
    struct blkdrv b;
    struct stats s0, s1;

    for (unsigned p = 0; p < 2; p++) {
        start(&f, &b, polls[p]);
        stats_take(&f, &s0);
        for (unsigned i = 1; i < 5; i++) {
            ck_assert_msg(!post_read(&b, 8 * i), "%s: request %u asked for a "
                          "kick", polls[p][2] ? "napping" : "spinning", i);
            take_one(&b);
        }
        stats_take(&f, &s1);
        ck_assert_uint_eq(s1.requests - s0.requests, 4);
        ck_assert_uint_eq(s1.polled - s0.polled, 4);
        ck_assert_uint_eq(s1.calls - s0.calls, 4);
        /* The only kicks: the relay's at queue start and the first
         * request's (read whenever the loop gets to them). */
        ck_assert_uint_le(s1.kicks, 2);
        blkdrv_close(&b);
        fixture_down(&f);
    }

    start(&f, &b, NULL);
    ck_assert(post_read(&b, 8));
    take_one(&b);
    blkdrv_close(&b);
    fixture_down(&f);
}
END_TEST

/* Take one completion from the used ring without waiting for a call. */
static void
take_unsignalled(struct blkdrv *b)
{
    struct blkreq *done;

    for (int waited = 0; waited < 10000; waited++) {
        int rc = blkdrv_take(b, &done);

        ck_assert_int_ge(rc, 0);
        if (rc == 1) {
            ck_assert_uint_eq(blkdrv_status(b, done), VIRTIO_BLK_S_OK);
            blkdrv_release(b, done);
            return;
        }
        usleep(1000);
    }
    ck_abort_msg("no completion in the used ring within 10 s");
}

/* Post two reads and kick once: the backend, asleep, finds both. */
static void
post_pair(struct blkdrv *b, uint64_t lba)
{
    struct blkreq *r;

    for (unsigned i = 0; i < 2; i++) {
        ck_assert_int_eq(blkdrv_submit(b, VIRTIO_BLK_T_IN, lba + 8 * i, 4096,
                                       1, false, &r), 0);
    }
    ck_assert(blkdrv_kick(b));
}

/*
 * --coalesce: once a call has covered two or more requests (the guest is
 * batching), the next requests are completed in the used ring as they
 * are served, with no call, until the window closes (nothing new for
 * --poll-us) or the held requests reach BLKD_HOLD_BYTES; a call that
 * covered one request (queue depth 1) is made at once and the ring runs
 * as without --poll-us.
 */
START_TEST(test_blkd_coalesce)
{
    static const char *const forever[] = { "--poll-us", POLL_FOREVER_US,
                                           "--coalesce", NULL };
    static const char *const short_window[] = { "--poll-us", "100000",
                                                "--coalesce", NULL };
    struct fixture f;
    struct blkdrv b;
    struct blkreq *r;
    struct stats s0, s1;

    /* A window longer than the test: only the rules above end a hold. */
    start(&f, &b, forever);
    ck_assert(post_read(&b, 8)); /* one at a time: armed, called at once */
    take_one(&b);
    post_pair(&b, 16);
    take_one(&b);
    take_one(&b);
    stats_take(&f, &s0);
    ck_assert(post_read(&b, 32)); /* wakes it; now it holds and polls */
    take_unsignalled(&b);
    ck_assert(!post_read(&b, 40));
    take_unsignalled(&b);
    stats_take(&f, &s1);
    ck_assert_uint_eq(s1.requests - s0.requests, 2);
    ck_assert_uint_eq(s1.calls - s0.calls, 0);
    /* 512 KiB more to hold than BLKD_HOLD_BYTES allows: the call. */
    ck_assert_int_eq(blkdrv_submit(&b, VIRTIO_BLK_T_IN, 64, 512 * 1024, 1,
                                   false, &r), 0);
    ck_assert(!blkdrv_kick(&b));
    take_one(&b);
    blkdrv_close(&b);
    fixture_down(&f);

    /* A held call comes when 100 ms pass with nothing new. */
    start(&f, &b, short_window);
    post_pair(&b, 16);
    take_one(&b);
    take_one(&b);
    ck_assert(post_read(&b, 32));
    take_one(&b);
    blkdrv_close(&b);
    fixture_down(&f);
}
END_TEST

/* Bad --poll-us values and --coalesce alone are usage errors (exit 2). */
START_TEST(test_blkd_poll_args)
{
    const char *bad[][2] = { { "--poll-us", "" }, { "--poll-us", "12x" },
                             { "--poll-us", "60000001" },
                             { "--poll-us", "-1" }, { "--coalesce", NULL },
                             { "--poll-tick-us", "10" },
                             { "--poll-tick-us", NULL } };

    for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        pid_t pid = fork();
        int st = -1;

        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
            char *argv[] = { (char *)BLKD_PATH, "--socket", "/x/s", "--image",
                             "/x/i", (char *)bad[i][0], (char *)bad[i][1],
                             NULL };
            int null = open("/dev/null", O_RDWR);

            dup2(null, 2);
            execv(BLKD_PATH, argv);
            _exit(127);
        }
        ck_assert_int_eq(waitpid(pid, &st, 0), pid);
        ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 2,
                      "case %u: status %d", i, st);
    }
}
END_TEST

static Suite *
make_suite(void)
{
    Suite *s = suite_create("blkd_notify");

    CHECK_ADD(s, test_blkd_stats, 60);
    CHECK_ADD(s, test_blkd_poll_no_kick, 60);
    CHECK_ADD(s, test_blkd_coalesce, 60);
    CHECK_ADD(s, test_blkd_poll_args, 30);
    return s;
}

CHECK_MAIN(make_suite)
