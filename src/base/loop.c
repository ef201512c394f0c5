/*
 * loop: epoll dispatch with removal-safe callbacks and one-shot timers.
 *
 * Each watched fd has an entry in a table indexed by fd; the epoll cookie
 * carries (generation << 32 | fd) so an event for an fd that was removed,
 * or removed and re-added, during the same dispatch round is dropped.
 * Timers live in a small array scanned on each round (the daemon has a
 * handful: reconnect back-off, timeouts), driven by epoll_wait's timeout.
 */
#include <config.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "log.h"
#include "loop.h"

#define LOOP_MAX_EVENTS 64
#define LOOP_MAX_TIMERS 256

struct loop_entry {
    loop_fd_fn fn;
    void *opaque;
    uint32_t gen;   /* 0 = slot unused */
};

struct loop_timer {
    int id;         /* 0 = slot unused */
    uint64_t due_ns;
    loop_timer_fn fn;
    void *opaque;
};

struct loop {
    int epfd;
    bool stop;
    uint32_t next_gen;
    int next_timer_id;
    size_t nr_entries;
    struct loop_entry *entries;
    struct loop_timer timers[LOOP_MAX_TIMERS];
};

struct loop *
loop_new(void)
{
    struct loop *loop = calloc(1, sizeof(*loop));

    if (!loop) {
        return NULL;
    }
    loop->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (loop->epfd < 0) {
        int err = errno;

        free(loop);
        errno = err;
        return NULL;
    }
    loop->next_gen = 1;
    loop->next_timer_id = 1;
    return loop;
}

void
loop_free(struct loop *loop)
{
    if (!loop) {
        return;
    }
    close(loop->epfd);
    free(loop->entries);
    free(loop);
}

static int
loop_grow(struct loop *loop, int fd)
{
    size_t want = (size_t)fd + 1;
    struct loop_entry *e;

    if (want <= loop->nr_entries) {
        return 0;
    }
    if (want < loop->nr_entries * 2) {
        want = loop->nr_entries * 2;
    }
    e = realloc(loop->entries, want * sizeof(*e));
    if (!e) {
        return -ENOMEM;
    }
    memset(e + loop->nr_entries, 0, (want - loop->nr_entries) * sizeof(*e));
    loop->entries = e;
    loop->nr_entries = want;
    return 0;
}

static struct loop_entry *
loop_entry(struct loop *loop, int fd)
{
    if (fd < 0 || (size_t)fd >= loop->nr_entries || !loop->entries[fd].gen) {
        return NULL;
    }
    return &loop->entries[fd];
}

int
loop_add_fd(struct loop *loop, int fd, uint32_t events, loop_fd_fn fn,
            void *opaque)
{
    struct epoll_event ev = { .events = events };
    struct loop_entry *e;
    int rc;

    if (fd < 0 || !fn) {
        return -EINVAL;
    }
    if (loop_entry(loop, fd)) {
        return -EEXIST;
    }
    rc = loop_grow(loop, fd);
    if (rc < 0) {
        return rc;
    }
    e = &loop->entries[fd];
    e->fn = fn;
    e->opaque = opaque;
    e->gen = loop->next_gen++;
    if (loop->next_gen == 0) {
        loop->next_gen = 1;
    }
    ev.data.u64 = ((uint64_t)e->gen << 32) | (uint32_t)fd;
    if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        rc = -errno;
        e->gen = 0;
        return rc;
    }
    return 0;
}

int
loop_mod_fd(struct loop *loop, int fd, uint32_t events)
{
    struct loop_entry *e = loop_entry(loop, fd);
    struct epoll_event ev = { .events = events };

    if (!e) {
        return -ENOENT;
    }
    ev.data.u64 = ((uint64_t)e->gen << 32) | (uint32_t)fd;
    return epoll_ctl(loop->epfd, EPOLL_CTL_MOD, fd, &ev) < 0 ? -errno : 0;
}

int
loop_del_fd(struct loop *loop, int fd)
{
    struct loop_entry *e = loop_entry(loop, fd);

    if (!e) {
        return -ENOENT;
    }
    /* The fd may already be closed by its owner: ignore EBADF. */
    epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL);
    e->gen = 0;
    return 0;
}

int
loop_add_timer(struct loop *loop, unsigned ms, loop_timer_fn fn, void *opaque)
{
    for (unsigned i = 0; i < LOOP_MAX_TIMERS; i++) {
        struct loop_timer *t = &loop->timers[i];

        if (t->id == 0) {
            t->id = loop->next_timer_id++;
            if (loop->next_timer_id <= 0) {
                loop->next_timer_id = 1;
            }
            t->due_ns = log_now_ns() + (uint64_t)ms * 1000000ULL;
            t->fn = fn;
            t->opaque = opaque;
            return t->id;
        }
    }
    return -ENOSPC;
}

void
loop_cancel_timer(struct loop *loop, int id)
{
    if (id <= 0) {
        return;
    }
    for (unsigned i = 0; i < LOOP_MAX_TIMERS; i++) {
        if (loop->timers[i].id == id) {
            loop->timers[i].id = 0;
        }
    }
}

/* Milliseconds until the next timer, capped by timeout_ms (-1: none). */
static int
loop_next_timeout(const struct loop *loop, int timeout_ms)
{
    uint64_t now = log_now_ns();
    int best = timeout_ms;

    for (unsigned i = 0; i < LOOP_MAX_TIMERS; i++) {
        const struct loop_timer *t = &loop->timers[i];
        int ms;

        if (t->id == 0) {
            continue;
        }
        ms = t->due_ns <= now ? 0
                              : (int)((t->due_ns - now + 999999ULL) / 1000000ULL);
        if (best < 0 || ms < best) {
            best = ms;
        }
    }
    return best;
}

static int
loop_fire_timers(struct loop *loop)
{
    uint64_t now = log_now_ns();
    int ran = 0;

    for (unsigned i = 0; i < LOOP_MAX_TIMERS; i++) {
        struct loop_timer *t = &loop->timers[i];

        if (t->id != 0 && t->due_ns <= now) {
            loop_timer_fn fn = t->fn;
            void *opaque = t->opaque;

            t->id = 0;
            fn(opaque);
            ran++;
        }
    }
    return ran;
}

int
loop_run_once(struct loop *loop, int timeout_ms)
{
    struct epoll_event evs[LOOP_MAX_EVENTS];
    int n, ran;

    n = epoll_wait(loop->epfd, evs, LOOP_MAX_EVENTS,
                   loop_next_timeout(loop, timeout_ms));
    if (n < 0) {
        return errno == EINTR ? 0 : -errno;
    }
    ran = 0;
    for (int i = 0; i < n; i++) {
        int fd = (int)(uint32_t)evs[i].data.u64;
        uint32_t gen = (uint32_t)(evs[i].data.u64 >> 32);
        struct loop_entry *e = loop_entry(loop, fd);

        if (!e || e->gen != gen) {
            continue; /* removed (or replaced) earlier in this round */
        }
        e->fn(e->opaque, evs[i].events);
        ran++;
    }
    return ran + loop_fire_timers(loop);
}

int
loop_run(struct loop *loop)
{
    loop->stop = false;
    while (!loop->stop) {
        int rc = loop_run_once(loop, -1);

        if (rc < 0) {
            return rc;
        }
    }
    return 0;
}

void
loop_stop(struct loop *loop)
{
    loop->stop = true;
}

bool
loop_stopping(const struct loop *loop)
{
    return loop->stop;
}
