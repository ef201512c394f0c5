/*
 * log: leveled logging to stderr for the daemon and its modules.
 *
 * Every message names its subject (guest, device) in the text; the logger
 * only adds a timestamp and the level.  Logging never changes errno.
 * Lines a guest or backend can trigger at will go through a log_ratelimit.
 */
#ifndef XVM_LOG_H
#define XVM_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum log_level {
    LOG_LVL_ERR = 0,
    LOG_LVL_WARN,
    LOG_LVL_INFO,
    LOG_LVL_DEBUG,
};

/* Messages above this level are dropped (daemon top-level setting). */
void log_set_level(enum log_level lvl);
enum log_level log_get_level(void);

/* Parse "err", "warn", "info", "debug"; returns 0 or -EINVAL. */
int log_parse_level(const char *s, enum log_level *out);

void log_msg(enum log_level lvl, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define log_err(...) log_msg(LOG_LVL_ERR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LVL_DEBUG, __VA_ARGS__)

/*
 * Token bucket for guest-triggerable messages: at most `burst` lines,
 * refilled at one line per `interval_ms`.  Zero-initialise, then set both.
 * Use one per subject and kind of message, so a flood of one kind cannot
 * hide another.
 */
struct log_ratelimit {
    unsigned burst;
    unsigned interval_ms;
    unsigned tokens;
    uint64_t last_ns;
    uint64_t suppressed;     /* lines refused so far */
    uint64_t reported;       /* of those, already counted in a line */
};

#define LOG_RATELIMIT_INIT { .burst = 10, .interval_ms = 1000, .tokens = 10 }

/* True when a line may be printed now; counts the ones that may not. */
bool log_ratelimit_ok(struct log_ratelimit *rl);

/*
 * Log through `rl`: the line is dropped when over the limit; the first
 * line let through after drops ends with how many were dropped.
 */
void log_rl_msg(struct log_ratelimit *rl, enum log_level lvl,
                const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#define log_rl(rl, lvl, ...) log_rl_msg((rl), (lvl), __VA_ARGS__)

/*
 * Format an error message into a caller's buffer (err may be NULL or
 * errlen 0: then nothing is written).  For parsers that report to callers.
 */
void log_errbuf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Monotonic clock in nanoseconds. */
uint64_t log_now_ns(void);

#endif
