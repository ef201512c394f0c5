/*
 * Benchmark: the simulator driver against qemu-storage-daemon through the
 * relay, zero-copy and shadow side by side in one run (alternating rounds,
 * median of each).  Not a test: it prints numbers.
 *
 *   bench_blk [--seconds S] [--rounds N] [--image PATH|ram|null] [--only MODE]
 *
 * ram (default): a 1 GiB file of data in /dev/shm, so the backend reads RAM.
 * null: qemu's null-co driver (no data moved by the backend at all).
 *             [--requests N]   (fixed request count: for callgrind)
 *             [--job NAME]     (run one job only)
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "backend_proc.h"
#include "blkdrv.h"
#include "log.h"

#define DISK_BYTES (1ULL << 30)

struct job {
    const char *name;
    uint32_t bs;
    unsigned qd;
    bool random;
};

static const struct job jobs[] = {
    { "4k-randread-qd1", 4096, 1, true },
    { "4k-randread-qd32", 4096, 32, true },
    { "128k-seqread-qd8", 131072, 8, false },
};
#define NJOBS (sizeof(jobs) / sizeof(jobs[0]))

static uint64_t
xs(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

/*
 * Run one job; returns requests per second (or requests done if fixed),
 * and adds the requests done to *count.
 */
static double
run_job(struct blkdrv *b, const struct job *j, double seconds,
        unsigned long fixed, uint64_t *count)
{
    uint64_t x = 88172645463325252ULL, lba = 0;
    uint64_t sectors = DISK_BYTES / 512, per = j->bs / 512;
    uint64_t t0 = log_now_ns(), deadline = t0 + (uint64_t)(seconds * 1e9);
    unsigned long done = 0, issued = 0;

    for (;;) {
        struct blkreq *r;

        while (b->inflight < j->qd && (!fixed || issued < fixed)) {
            uint64_t at = j->random ? (xs(&x) % (sectors / per)) * per : lba;

            lba = (lba + per) % sectors;
            if (blkdrv_submit(b, VIRTIO_BLK_T_IN, at, j->bs, 1, false, &r) < 0) {
                break;
            }
            issued++;
        }
        blkdrv_kick(b);
        if (b->inflight == 0) {
            break;
        }
        if (blkdrv_wait(b, &r, 10000) < 0) {
            fprintf(stderr, "bench: request failed\n");
            exit(1);
        }
        /* As a guest's interrupt handler does: every completion there is,
         * then refill and kick once. */
        do {
            if (blkdrv_status(b, r) != 0) {
                fprintf(stderr, "bench: request failed\n");
                exit(1);
            }
            blkdrv_release(b, r);
            done++;
        } while (blkdrv_take(b, &r) == 1);
        if (!fixed && log_now_ns() >= deadline) {
            while (b->inflight) {
                if (blkdrv_wait(b, &r, 10000) < 0) {
                    exit(1);
                }
                blkdrv_release(b, r);
                done++;
            }
            break;
        }
    }
    *count += done;
    if (fixed) {
        return (double)done;
    }
    return (double)done / ((double)(log_now_ns() - t0) / 1e9);
}

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

/*
 * CPU time (user + system) used so far by this process (the relay and the
 * simulated guest) and by the backend process, in seconds.  The backend's
 * comes from /proc in clock ticks; 0 when it cannot be read.
 */
static void
cpu_seconds(pid_t backend, double *self, double *be)
{
    struct rusage ru;
    char path[64], buf[1024];
    unsigned long long ut = 0, st = 0;
    const char *p;
    FILE *fp;

    getrusage(RUSAGE_SELF, &ru);
    *self = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
            (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
    *be = 0;
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)backend);
    fp = fopen(path, "r");
    if (!fp) {
        return;
    }
    /* Fields 14 and 15 (utime, stime); the name in field 2 may hold
     * blanks, so count from its closing parenthesis (field 3 follows). */
    if (fgets(buf, sizeof(buf), fp) && (p = strrchr(buf, ')')) &&
        sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
               &ut, &st) == 2) {
        *be = (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
    }
    fclose(fp);
}

/* What one job in one mode added up to over all rounds. */
struct tally {
    uint64_t reqs;
    uint64_t kicks;    /* QueueNotify writes trapped by the daemon */
    uint64_t irqs;     /* interrupts injected into the guest */
    uint64_t bkicks;   /* kicks the daemon wrote to the backend */
    uint64_t calls;    /* backend completion signals the daemon handled */
    double cpu_self;   /* s of CPU: daemon and simulated guest */
    double cpu_be;     /* s of CPU: the backend */
};

/*
 * One result line: median rate, notifications per request both ways
 * (guest <-> daemon, daemon <-> backend), CPU time per request.
 */
static void
print_row(const struct job *j, enum relay_mode mode, double iops,
          const struct tally *t)
{
    double n = t->reqs ? (double)t->reqs : 1.0;

    printf("%-18s %-9s %10.0f IOPS %9.1f MiB/s   kicks/req %.3f irqs/req "
           "%.3f backend kicks/req %.3f calls/req %.3f   CPU/req %.1f us "
           "(daemon+guest %.1f, backend %.1f)\n",
           j->name, relay_mode_name(mode), iops, iops * j->bs / 1048576.0,
           (double)t->kicks / n, (double)t->irqs / n, (double)t->bkicks / n,
           (double)t->calls / n, (t->cpu_self + t->cpu_be) * 1e6 / n,
           t->cpu_self * 1e6 / n, t->cpu_be * 1e6 / n);
}

int
main(int argc, char **argv)
{
    static const enum relay_mode modes[2] = { RELAY_MODE_ZEROCOPY,
                                              RELAY_MODE_SHADOW };
    double seconds = 2.0, res[2][NJOBS][16];
    struct tally tally[2][NJOBS];
    unsigned rounds = 3, only = 2;
    unsigned long fixed = 0;
    const char *image = "ram";
    bool made_image = false;
    const char *only_job = NULL;
    char dir[256], img[300];
    struct backend_proc qsd;

    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--seconds") && i + 1 < argc) {
            seconds = atof(argv[++i]);
        } else if (!strcmp(argv[i], "--rounds") && i + 1 < argc) {
            rounds = (unsigned)atoi(argv[++i]);
        } else if (!strcmp(argv[i], "--image") && i + 1 < argc) {
            image = argv[++i];
        } else if (!strcmp(argv[i], "--job") && i + 1 < argc) {
            only_job = argv[++i];
        } else if (!strcmp(argv[i], "--requests") && i + 1 < argc) {
            fixed = strtoul(argv[++i], NULL, 0);
        } else if (!strcmp(argv[i], "--only") && i + 1 < argc) {
            enum relay_mode m;

            if (relay_parse_mode(argv[++i], &m) < 0 || m == RELAY_MODE_AUTO) {
                fprintf(stderr, "bench: bad mode '%s'\n", argv[i]);
                return 2;
            }
            only = m == RELAY_MODE_ZEROCOPY ? 0 : 1;
        } else {
            fprintf(stderr, "bench: unknown argument '%s'\n", argv[i]);
            return 2;
        }
    }
    if (rounds == 0 || rounds > 16) {
        fprintf(stderr, "bench: --rounds must be 1..16\n");
        return 2;
    }
    log_set_level(LOG_LVL_WARN);
    if (backend_tmpdir(dir, sizeof(dir)) < 0) {
        return 1;
    }
    if (!strcmp(image, "null")) {
        snprintf(img, sizeof(img), "null-co:%llu", (unsigned long long)DISK_BYTES);
    } else if (!strcmp(image, "ram")) {
        int fd;

        snprintf(img, sizeof(img), "%s/bench.img",
                 access("/dev/shm", W_OK) == 0 ? "/dev/shm" : dir);
        if (!strcmp(img, "/dev/shm/bench.img")) {
            snprintf(img, sizeof(img), "/dev/shm/xvm-bench-%d.img", (int)getpid());
        }
        fd = open(img, O_CREAT | O_RDWR | O_TRUNC, 0600);
        if (fd < 0) {
            fprintf(stderr, "bench: cannot create %s\n", img);
            return 1;
        }
        /* Real pages, not holes: a disk that holds data. */
        {
            static uint8_t chunk[1 << 20];
            uint64_t x = 1;

            for (size_t i = 0; i < sizeof(chunk); i += 8) {
                uint64_t v = xs(&x);

                memcpy(chunk + i, &v, 8);
            }
            for (uint64_t off = 0; off < DISK_BYTES; off += sizeof(chunk)) {
                if (write(fd, chunk, sizeof(chunk)) != (ssize_t)sizeof(chunk)) {
                    fprintf(stderr, "bench: cannot fill %s\n", img);
                    unlink(img);
                    return 1;
                }
            }
        }
        close(fd);
        made_image = true;
    } else {
        snprintf(img, sizeof(img), "%s", image);
    }
    if (backend_start_qsd(&qsd, dir, "bench", img) < 0) {
        fprintf(stderr, "bench: cannot start qemu-storage-daemon\n");
        return 1;
    }
    printf("backend: qemu-storage-daemon, %s export; %u rounds of %.1f s per "
           "job and mode, alternating modes\n",
           made_image ? "RAM-backed (tmpfs) file"
                      : strncmp(img, "null-co:", 8) ? img : "null-co",
           rounds, seconds);
    memset(tally, 0, sizeof(tally));
    for (unsigned r = 0; r < rounds; r++) {
        for (unsigned m = 0; m < 2; m++) {
            struct blkdrv b;

            if (only != 2 && only != m) {
                continue;
            }
            if (blkdrv_open(&b, qsd.sock, modes[m], ~0ULL, 32) < 0) {
                fprintf(stderr, "bench: cannot open device\n");
                return 1;
            }
            for (unsigned j = 0; j < NJOBS; j++) {
                if (only_job && strcmp(only_job, jobs[j].name)) {
                    res[m][j][r] = 0;
                    continue;
                }
                struct tally *t = &tally[m][j];
                struct relay_stats s0, s1;
                double self0, be0, self1, be1;

                relay_get_stats(b.relay, &s0);
                cpu_seconds(qsd.pid, &self0, &be0);
                res[m][j][r] = run_job(&b, &jobs[j], seconds, fixed, &t->reqs);
                cpu_seconds(qsd.pid, &self1, &be1);
                relay_get_stats(b.relay, &s1);
                t->kicks += s1.q[0].kicks_trapped - s0.q[0].kicks_trapped;
                t->irqs += s1.irqs - s0.irqs;
                t->bkicks += s1.q[0].backend_kicks - s0.q[0].backend_kicks;
                t->calls += s1.q[0].calls - s0.q[0].calls;
                t->cpu_self += self1 - self0;
                t->cpu_be += be1 - be0;
            }
            blkdrv_close(&b);
        }
    }
    backend_stop(&qsd);
    if (made_image) {
        unlink(img);
    }
    backend_rmtree(dir);
    if (fixed) {
        printf("fixed run: %lu requests per job done\n", fixed);
        return 0;
    }
    for (unsigned j = 0; j < NJOBS; j++) {
        double med[2];

        for (unsigned m = 0; m < 2; m++) {
            qsort(res[m][j], rounds, sizeof(double), cmp_double);
            med[m] = res[m][j][rounds / 2];
        }
        if (only != 2) {
            print_row(&jobs[j], modes[only], med[only], &tally[only][j]);
            continue;
        }
        for (unsigned m = 0; m < 2; m++) {
            print_row(&jobs[j], modes[m], med[m], &tally[m][j]);
        }
        res[0][j][0] = med[0];
        res[1][j][0] = med[1];
    }
    if (only == 2) {
        printf("shadow/zero-copy 4k qd1 iops ratio: %.2f\n",
               res[1][0][0] / res[0][0][0]);
        printf("shadow/zero-copy 128k seq throughput ratio: %.2f\n",
               res[1][2][0] / res[0][2][0]);
        printf("shadow/zero-copy 4k qd32 iops ratio: %.2f\n",
               res[1][1][0] / res[0][1][0]);
    }
    return 0;
}
