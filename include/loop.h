/*
 * loop: the single epoll event loop that owns every file descriptor of a
 * daemon process (ioreq event channels, vhost-user sockets, call eventfds,
 * xenstore watches, QMP sockets, timers).
 *
 * Callbacks run on the loop's thread and must not block without a bound.
 * An fd may be removed from inside any callback, including its own.
 */
#ifndef XVM_LOOP_H
#define XVM_LOOP_H

#include <stdbool.h>
#include <stdint.h>

struct loop;

/* `events` is the epoll mask that fired (EPOLLIN, EPOLLHUP, ...). */
typedef void (*loop_fd_fn)(void *opaque, uint32_t events);
typedef void (*loop_timer_fn)(void *opaque);

/* Returns NULL with errno set on failure. */
struct loop *loop_new(void);
void loop_free(struct loop *loop);

/* Watch `fd` for `events` (EPOLLIN etc.).  0 or -errno (-EEXIST if watched). */
int loop_add_fd(struct loop *loop, int fd, uint32_t events, loop_fd_fn fn,
                void *opaque);
int loop_mod_fd(struct loop *loop, int fd, uint32_t events);
/* Stop watching; safe from inside callbacks.  0 or -ENOENT. */
int loop_del_fd(struct loop *loop, int fd);

/*
 * One-shot timer `ms` from now.  Returns a positive timer id or -errno.
 * loop_cancel_timer() on an id that already fired is harmless.
 */
int loop_add_timer(struct loop *loop, unsigned ms, loop_timer_fn fn,
                   void *opaque);
void loop_cancel_timer(struct loop *loop, int id);

/*
 * Wait at most `timeout_ms` (-1: forever) and dispatch what is ready.
 * Returns the number of callbacks run, or -errno (never -EINTR).
 */
int loop_run_once(struct loop *loop, int timeout_ms);

/* Run until loop_stop(); returns 0, or -errno on an epoll failure. */
int loop_run(struct loop *loop);
void loop_stop(struct loop *loop);
bool loop_stopping(const struct loop *loop);

#endif
