/*
 * Test support: xvm-test-blkd (the project's vhost-user-blk backend) as a
 * child process on a fresh disk image, for the suites that drive it.
 */
#ifndef XVM_TEST_BLKD_PROC_H
#define XVM_TEST_BLKD_PROC_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define BLKD_PROC_MAX_OPTS 4

struct blkd_proc {
    char dir[256];   /* temporary directory holding the two below */
    char image[300]; /* the disk image */
    char sock[300];  /* its vhost-user socket */
    char log[300];   /* its stderr, when started with to_log */
    pid_t pid;
};

/*
 * Start `path` on a zeroed image of `bytes` in a new temporary directory,
 * with `opts` (NULL-terminated, at most BLKD_PROC_MAX_OPTS) after --socket
 * and --image, and wait up to 10 s for its socket.  Its stderr goes to
 * p->log when `to_log`, else to /dev/null unless XVM_TEST_BACKEND_LOG is
 * set in the environment.  0 or -errno.
 */
int blkd_proc_start(struct blkd_proc *p, const char *path, uint64_t bytes,
                    const char *const *opts, bool to_log);
/*
 * Wait up to timeout_ms for pid to exit: its exit status (128 + the signal
 * when killed by one), or -1 when it had not exited (it is then killed).
 */
int blkd_proc_wait_exit(pid_t pid, int timeout_ms);
/* SIGTERM, then blkd_proc_wait_exit(10 s); the directory is removed. */
int blkd_proc_stop(struct blkd_proc *p);

#endif
