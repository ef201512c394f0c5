/*
 * Test support: start and stop real vhost-user backends (Debian's
 * qemu-storage-daemon, virtiofsd and DPDK testpmd) as child processes.
 */
#ifndef XVM_TEST_BACKEND_PROC_H
#define XVM_TEST_BACKEND_PROC_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct backend_proc {
    pid_t pid;
    char sock[256];
};

/* Path of qemu-storage-daemon, or NULL when not installed. */
const char *backend_qsd_path(void);
/* Path of virtiofsd (C or Rust), or NULL when not installed. */
const char *backend_virtiofsd_path(void);

/* A temporary directory for sockets and images; caller frees with rm -r. */
int backend_tmpdir(char *out, size_t len);

/*
 * Export `image` as vhost-user-blk on <dir>/<name>.sock; waits up to 10 s.
 * "null-co:<bytes>" exports qemu's null block driver instead of a file.
 */
int backend_start_qsd(struct backend_proc *b, const char *dir,
                      const char *name, const char *image);
/* The same with `queues` virtqueues (the export's num-queues; 0 means 1). */
int backend_start_qsd_mq(struct backend_proc *b, const char *dir,
                         const char *name, const char *image, unsigned queues);
/* A fresh zeroed image in a temporary directory, exported by
 * qemu-storage-daemon as <dir>/blk.sock. */
struct backend_disk {
    char dir[256];
    char image[300];
    struct backend_proc qsd;
};
/* Image of `bytes`, export with `queues` queues: 0, or -ENOENT when
 * qemu-storage-daemon is not installed, or -errno. */
int backend_disk_up(struct backend_disk *d, uint64_t bytes, unsigned queues);
/* Stop the export, remove the directory. */
void backend_disk_down(struct backend_disk *d);
/* Path of DPDK's dpdk-testpmd (Debian dpdk-dev), or NULL. */
const char *backend_testpmd_path(void);
/*
 * DPDK testpmd with a vhost-user net port of `pairs` queue pairs on
 * <dir>/<name>.sock, forwarding each queue's frames back unchanged (io
 * mode): what the guest sends on tx queue i comes back on rx queue i.
 */
int backend_start_testpmd(struct backend_proc *b, const char *dir,
                          const char *name, unsigned pairs);
/* After backend_stop: remove the runtime files DPDK left for it. */
void backend_testpmd_cleanup(const char *dir);
/* Serve `shared_dir` over vhost-user-fs on <dir>/<name>.sock. */
int backend_start_virtiofsd(struct backend_proc *b, const char *dir,
                            const char *name, const char *shared_dir);
/* Wait (bounded) until the socket accepts connections again. */
int backend_wait_socket(const char *sock, unsigned timeout_ms);
/* SIGTERM, then SIGKILL after 3 s; reaps the child. */
void backend_stop(struct backend_proc *b);
/* SIGKILL and reap. */
void backend_kill(struct backend_proc *b);

/* Remove a directory tree (test cleanup). */
void backend_rmtree(const char *dir);

#endif
