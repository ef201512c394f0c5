/* Test support: real vhost-user backends as child processes. */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "backend_proc.h"

static const char *
first_exec(const char *const *cands)
{
    for (unsigned i = 0; cands[i]; i++) {
        if (access(cands[i], X_OK) == 0) {
            return cands[i];
        }
    }
    return NULL;
}

const char *
backend_qsd_path(void)
{
    static const char *const c[] = { "/usr/bin/qemu-storage-daemon", NULL };

    return first_exec(c);
}

const char *
backend_virtiofsd_path(void)
{
    static const char *const c[] = { "/usr/libexec/virtiofsd",
                                     "/usr/lib/qemu/virtiofsd", NULL };

    return first_exec(c);
}

int
backend_tmpdir(char *out, size_t len)
{
    const char *base = getenv("TMPDIR");

    snprintf(out, len, "%s/xvm-test-XXXXXX", base ? base : "/tmp");
    return mkdtemp(out) ? 0 : -errno;
}

int
backend_wait_socket(const char *sock, unsigned timeout_ms)
{
    /* Some backends (C virtiofsd) serve exactly one connection, so the
     * socket is not probed by connecting: wait for it to exist. */
    for (unsigned waited = 0; waited <= timeout_ms; waited += 10) {
        struct stat st;

        if (stat(sock, &st) == 0 && S_ISSOCK(st.st_mode)) {
            usleep(50000); /* bind() precedes listen() */
            return 0;
        }
        usleep(10000);
    }
    return -ETIMEDOUT;
}

static int
spawn(struct backend_proc *b, char *const argv[])
{
    pid_t pid = fork();

    if (pid < 0) {
        return -errno;
    }
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR);

        if (null >= 0 && !getenv("XVM_TEST_BACKEND_LOG")) {
            dup2(null, 1);
            dup2(null, 2);
        }
        execv(argv[0], argv);
        _exit(127);
    }
    b->pid = pid;
    if (backend_wait_socket(b->sock, 10000) < 0) {
        backend_kill(b);
        return -ETIMEDOUT;
    }
    return 0;
}

int
backend_start_qsd(struct backend_proc *b, const char *dir, const char *name,
                  const char *image)
{
    return backend_start_qsd_mq(b, dir, name, image, 1);
}

int
backend_start_qsd_mq(struct backend_proc *b, const char *dir, const char *name,
                     const char *image, unsigned queues)
{
    char blockdev[512], export[512];
    const char *qsd = backend_qsd_path();

    if (!qsd) {
        return -ENOENT;
    }
    snprintf(b->sock, sizeof(b->sock), "%s/%s.sock", dir, name);
    unlink(b->sock);
    if (strncmp(image, "null-co:", 8) == 0) {
        /* RAM-less null device of the given size, for benchmarks */
        snprintf(blockdev, sizeof(blockdev),
                 "driver=null-co,node-name=f0,size=%s", image + 8);
    } else {
        snprintf(blockdev, sizeof(blockdev),
                 "driver=file,node-name=f0,filename=%s", image);
    }
    snprintf(export, sizeof(export),
             "type=vhost-user-blk,id=e0,node-name=f0,addr.type=unix,"
             "addr.path=%s,writable=on,num-queues=%u", b->sock,
             queues ? queues : 1);
    {
        char *const argv[] = { (char *)qsd, "--blockdev", blockdev,
                               "--export", export, NULL };

        return spawn(b, argv);
    }
}

int
backend_disk_up(struct backend_disk *d, uint64_t bytes, unsigned queues)
{
    int fd, rc;

    memset(d, 0, sizeof(*d));
    if (!backend_qsd_path()) {
        fprintf(stderr, "qemu-storage-daemon is not installed (package "
                "qemu-system-common)\n");
        return -ENOENT;
    }
    if ((rc = backend_tmpdir(d->dir, sizeof(d->dir))) < 0) {
        return rc;
    }
    snprintf(d->image, sizeof(d->image), "%s/disk.img", d->dir);
    fd = open(d->image, O_CREAT | O_RDWR | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        return -errno;
    }
    rc = ftruncate(fd, (off_t)bytes) < 0 ? -errno : 0;
    close(fd);
    if (rc < 0) {
        return rc;
    }
    return backend_start_qsd_mq(&d->qsd, d->dir, "blk", d->image, queues);
}

void
backend_disk_down(struct backend_disk *d)
{
    backend_stop(&d->qsd);
    backend_rmtree(d->dir);
}

const char *
backend_testpmd_path(void)
{
    static const char *const c[] = { "/usr/bin/dpdk-testpmd", NULL };

    return first_exec(c);
}

/* --file-prefix=xvm-<last part of dir>: unique per test directory. */
static void
testpmd_prefix(char *out, size_t len, const char *dir)
{
    const char *base = strrchr(dir, '/');

    snprintf(out, len, "--file-prefix=xvm-%s", base ? base + 1 : dir);
}

void
backend_testpmd_cleanup(const char *dir)
{
    char prefix[300], path[400];

    testpmd_prefix(prefix, sizeof(prefix), dir);
    /* root's DPDK runtime directory, empty with --no-shconf */
    snprintf(path, sizeof(path), "/var/run/dpdk/%s",
             prefix + strlen("--file-prefix="));
    rmdir(path);
}

int
backend_start_testpmd(struct backend_proc *b, const char *dir,
                      const char *name, unsigned pairs)
{
    const char *pmd = backend_testpmd_path();
    char vdev[400], q[32], prefix[300];

    if (!pmd) {
        return -ENOENT;
    }
    snprintf(b->sock, sizeof(b->sock), "%s/%s.sock", dir, name);
    unlink(b->sock);
    snprintf(vdev, sizeof(vdev), "net_vhost0,iface=%s,queues=%u", b->sock,
             pairs);
    snprintf(q, sizeof(q), "%u", pairs);
    testpmd_prefix(prefix, sizeof(prefix), dir);
    /* No hugepages, no PCI, no shared config, no telemetry socket;
     * --stats-period keeps it forwarding without a terminal. */
    char *const argv[] = {
        (char *)pmd, "--no-huge", "-m", "256", "--no-pci", "--no-shconf",
        "--no-telemetry", prefix, "-l", "0,1", "--vdev", vdev, "--",
        "--no-mlockall",
        "--total-num-mbufs=8192", "--forward-mode=io", "--disable-link-check",
        "--rxq", q, "--txq", q, "--auto-start", "--stats-period=3600", NULL,
    };

    return spawn(b, argv);
}

int
backend_start_virtiofsd(struct backend_proc *b, const char *dir,
                        const char *name, const char *shared_dir)
{
    const char *fsd = backend_virtiofsd_path();
    char sockopt[300], src[300];

    if (!fsd) {
        return -ENOENT;
    }
    snprintf(b->sock, sizeof(b->sock), "%s/%s.sock", dir, name);
    unlink(b->sock);
    snprintf(sockopt, sizeof(sockopt), "--socket-path=%s", b->sock);
    if (strstr(fsd, "libexec")) {
        /* Rust virtiofsd */
        snprintf(src, sizeof(src), "--shared-dir=%s", shared_dir);
        char *const argv[] = { (char *)fsd, sockopt, src, "--sandbox=chroot",
                               "--cache=never", NULL };

        return spawn(b, argv);
    }
    snprintf(src, sizeof(src), "source=%s,cache=none,sandbox=chroot",
             shared_dir);
    {
        char *const argv[] = { (char *)fsd, sockopt, "-o", src, NULL };

        return spawn(b, argv);
    }
}

static int
reap(pid_t pid, unsigned timeout_ms)
{
    for (unsigned waited = 0; waited <= timeout_ms; waited += 10) {
        if (waitpid(pid, NULL, WNOHANG) == pid) {
            return 0;
        }
        usleep(10000);
    }
    return -ETIMEDOUT;
}

void
backend_kill(struct backend_proc *b)
{
    if (b->pid > 0) {
        kill(b->pid, SIGKILL);
        waitpid(b->pid, NULL, 0);
        b->pid = 0;
    }
}

void
backend_stop(struct backend_proc *b)
{
    if (b->pid > 0) {
        kill(b->pid, SIGTERM);
        if (reap(b->pid, 3000) < 0) {
            backend_kill(b);
        }
        b->pid = 0;
    }
    unlink(b->sock);
}

void
backend_rmtree(const char *dir)
{
    char cmd[600];

    if (strncmp(dir, "/tmp/", 5) != 0 && !getenv("TMPDIR")) {
        return; /* refuse anything that is not ours */
    }
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "cleanup of %s failed\n", dir);
    }
}
