/*
 * log: leveled, timestamped lines on stderr.  The level is the only
 * mutable state and belongs to the daemon's top (set once at start-up).
 */
#include <config.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "log.h"

static enum log_level log_level_max = LOG_LVL_INFO;

void
log_set_level(enum log_level lvl)
{
    log_level_max = lvl;
}

enum log_level
log_get_level(void)
{
    return log_level_max;
}

int
log_parse_level(const char *s, enum log_level *out)
{
    static const char *const names[] = { "err", "warn", "info", "debug" };

    for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcmp(s, names[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    }
    return -EINVAL;
}

uint64_t
log_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

void
log_msg(enum log_level lvl, const char *fmt, ...)
{
    static const char *const tags[] = { "error", "warn", "info", "debug" };
    int saved_errno = errno;
    char line[1024];
    va_list ap;
    uint64_t ns;

    if (lvl > log_level_max) {
        errno = saved_errno;
        return;
    }
    ns = log_now_ns();
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    fprintf(stderr, "[%5llu.%06llu] %s: %s\n",
            (unsigned long long)(ns / 1000000000ULL),
            (unsigned long long)(ns % 1000000000ULL / 1000ULL),
            tags[lvl], line);
    errno = saved_errno;
}

void
log_rl_msg(struct log_ratelimit *rl, enum log_level lvl, const char *fmt, ...)
{
    int saved_errno = errno;
    char line[1024];
    uint64_t missed;
    va_list ap;

    if (lvl > log_level_max || !log_ratelimit_ok(rl)) {
        errno = saved_errno;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    missed = rl->suppressed - rl->reported;
    rl->reported = rl->suppressed;
    if (missed) {
        log_msg(lvl, "%s [%llu more like this suppressed]", line,
                (unsigned long long)missed);
    } else {
        log_msg(lvl, "%s", line);
    }
    errno = saved_errno;
}

bool
log_ratelimit_ok(struct log_ratelimit *rl)
{
    uint64_t now = log_now_ns();
    uint64_t interval_ns = (uint64_t)rl->interval_ms * 1000000ULL;

    if (rl->burst == 0) {
        rl->burst = 10;
        rl->interval_ms = rl->interval_ms ? rl->interval_ms : 1000;
        rl->tokens = rl->burst;
        interval_ns = (uint64_t)rl->interval_ms * 1000000ULL;
    }
    if (rl->last_ns == 0) {
        rl->last_ns = now;
    }
    if (interval_ns && now - rl->last_ns >= interval_ns) {
        uint64_t refill = (now - rl->last_ns) / interval_ns;

        rl->tokens = refill >= rl->burst ? rl->burst
                                         : rl->tokens + (unsigned)refill;
        if (rl->tokens > rl->burst) {
            rl->tokens = rl->burst;
        }
        rl->last_ns = now;
    }
    if (rl->tokens == 0) {
        rl->suppressed++;
        return false;
    }
    rl->tokens--;
    return true;
}

void
log_errbuf(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (!err || !errlen) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}
