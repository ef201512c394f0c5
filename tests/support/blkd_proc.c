/*
 * blkd_proc: xvm-test-blkd as a child process (see blkd_proc.h).
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backend_proc.h"
#include "blkd_proc.h"

static int
make_image(const char *image, uint64_t bytes)
{
    int fd = open(image, O_CREAT | O_RDWR | O_TRUNC | O_CLOEXEC, 0600);
    int rc = 0;

    if (fd < 0) {
        return -errno;
    }
    if (ftruncate(fd, (off_t)bytes) < 0) {
        rc = -errno;
    }
    close(fd);
    return rc;
}

/* In the child: stderr where blkd_proc_start says, then exec. */
static _Noreturn void
exec_blkd(const struct blkd_proc *p, const char *path,
          const char *const *opts, bool to_log)
{
    char *argv[6 + BLKD_PROC_MAX_OPTS] = { (char *)path, "--socket",
                                           (char *)p->sock, "--image",
                                           (char *)p->image };
    int fd = -1;

    for (unsigned i = 0; opts && opts[i] && i < BLKD_PROC_MAX_OPTS; i++) {
        argv[5 + i] = (char *)opts[i];
    }
    if (to_log) {
        fd = open(p->log, O_CREAT | O_WRONLY | O_APPEND | O_CLOEXEC, 0600);
    } else if (!getenv("XVM_TEST_BACKEND_LOG")) {
        fd = open("/dev/null", O_RDWR);
    }
    if (fd >= 0) {
        dup2(fd, 2);
    }
    execv(path, argv);
    _exit(127);
}

int
blkd_proc_start(struct blkd_proc *p, const char *path, uint64_t bytes,
                const char *const *opts, bool to_log)
{
    int rc;

    memset(p, 0, sizeof(*p));
    p->pid = -1;
    rc = backend_tmpdir(p->dir, sizeof(p->dir));
    if (rc < 0) {
        return rc;
    }
    snprintf(p->image, sizeof(p->image), "%s/disk.img", p->dir);
    snprintf(p->sock, sizeof(p->sock), "%s/blkd.sock", p->dir);
    snprintf(p->log, sizeof(p->log), "%s/blkd.log", p->dir);
    rc = make_image(p->image, bytes);
    if (rc < 0) {
        return rc;
    }
    p->pid = fork();
    if (p->pid < 0) {
        return -errno;
    }
    if (p->pid == 0) {
        exec_blkd(p, path, opts, to_log);
    }
    return backend_wait_socket(p->sock, 10000);
}

int
blkd_proc_wait_exit(pid_t pid, int timeout_ms)
{
    for (int waited = 0; waited <= timeout_ms; waited += 10) {
        int st;

        if (waitpid(pid, &st, WNOHANG) == pid) {
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        }
        usleep(10000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return -1;
}

int
blkd_proc_stop(struct blkd_proc *p)
{
    int st = -1;

    if (p->pid > 0) {
        kill(p->pid, SIGTERM);
        st = blkd_proc_wait_exit(p->pid, 10000);
        p->pid = -1;
    }
    backend_rmtree(p->dir);
    return st;
}
