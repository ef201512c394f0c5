/*
 * service internals shared by service.c (guests, devices, workers) and
 * service_status.c (the answer to `--status` over the control socket).
 */
#ifndef XVM_SERVICE_PRIV_H
#define XVM_SERVICE_PRIV_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "cfg.h"
#include "ctl.h"
#include "disc.h"
#include "loop.h"
#include "relay.h"
#include "service.h"
#include "worker.h"

#define SVC_MAX_GUESTS 64
#define SVC_RETRY_MS 1000
#define SVC_MAX_TRIES 60
#define SVC_QSD_POLL_MS 100
#define SVC_MAX_RESTARTS 5
/* Readiness of declared devices: <root>/<domid>/<devid> = "ready". */
#define SVC_READY_ROOT "/local/domain/0/xen-vhost-master"
#define SVC_STATUS_MS 1000
/* Exit status of a backend child that could not become the worker user
 * or reach its image as that user (its own log line says which). */
#define SVC_QSD_EXIT_PRIV 126

enum svc_dev_state {
    SD_FREE = 0,
    SD_WAITING,
    SD_ADDING,
    SD_SERVED,
    SD_CLOSING,
};

struct service;
struct svc_guest;

struct svc_dev {
    enum svc_dev_state st;
    struct svc_guest *g;
    struct disc_dev info;
    struct worker_dev wd;
    bool close_requested;       /* answer with state 6 when down */
    pid_t qsd_pid;              /* -1: none spawned */
    bool qsd_socket;            /* wd.socket is our spawned backend's */
    int timer;                  /* 0: none */
    unsigned tries;
    bool has_stats;             /* the worker's last report (status) */
    uint32_t mode;              /* mode in use, from that report */
    struct relay_stats stats;
};

struct svc_guest {
    bool used;
    struct service *svc;
    uint32_t domid;
    char name[CFG_GUEST_MAX];
    pid_t pid;                  /* worker, -1 when none */
    int ctl_fd;
    unsigned restarts;
    bool stats_asked;           /* WORKER_STATS_END still due */
    struct svc_dev dev[WORKER_MAX_DEVS];
};

struct service {
    const struct cfg *cfg;
    struct loop *loop;
    struct disc_xs *xs;
    int sig_fd;
    struct ctl_server *ctl;
    uint64_t waiting[CTL_MAX_CLIENTS]; /* status clients to answer */
    unsigned nr_waiting;
    unsigned stats_due;         /* workers yet to report */
    int status_timer;           /* 0: none */
    struct svc_guest guest[SVC_MAX_GUESTS];
};

/* Devices of g that are not free. */
unsigned svc_guest_devs(const struct svc_guest *g);
/* Send one control message to g's worker: 0 or -errno. */
int svc_send(struct svc_guest *g, uint32_t op, const struct worker_dev *wd);

/* service_status.c */
/* g's worker has reported every device (WORKER_STATS_END) or is gone. */
void svc_stats_done(struct svc_guest *g);
/* Listen on the control socket (logged, not fatal, when it cannot). */
void svc_ctl_listen(struct service *s);

#endif
