/*
 * Test support: what the two halves of the hostile backend share.
 * hostile_backend.c runs the thread and speaks the protocol;
 * hostile_ring.c maps the memory table and serves (or mis-serves) the
 * ring.  Everything here runs on the backend's thread unless a field's
 * comment says it is atomic or locked.
 */
#ifndef XVM_TEST_HOSTILE_PRIV_H
#define XVM_TEST_HOSTILE_PRIV_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hostile_backend.h"
#include "vhu_wire.h"

#define HB_MAX_PAYLOAD 1024u
#define HB_MAX_LOG 256u
#define HB_MAX_HELD 256u

struct hb_region {
    uint64_t gpa, len, uaddr;
    uint8_t *map;
    size_t map_len;
    uint64_t map_off;
};

/* The memory table of one session. */
struct hb_mem {
    unsigned nreg;
    struct hb_region reg[VHU_MAX_REGIONS];
};

/* HOSTILE_LATE: what a stopped session still holds. */
struct hb_late {
    struct hb_mem mem;
    uint8_t *desc, *used;
    uint16_t num, used_idx;
    int call_fd;
    unsigned n;
    uint16_t head[HB_MAX_HELD];
};

struct hostile {
    struct hostile_config cfg;    /* cfg.config: guarded by lock */
    pthread_mutex_t lock;
    uint8_t config[256];          /* this connection's config space */
    unsigned set_configs;
    char path[108];
    int listen_fd, conn_fd, stop_fd, kick_fd, call_fd;
    int breq_fd;                  /* our end of the backend channel */
    int wake_fd;                  /* a config change is pending */
    int release_fd;               /* hostile_release() */
    uint32_t hold_req;            /* atomic: hold the ack to this request */
    int holding;                  /* atomic: an ack is held now */
    uint8_t change[256];          /* the pending change, under lock */
    uint32_t change_off, change_len;
    unsigned config_acks;
    pthread_t thread;
    int fault; /* enum hostile_fault, atomic */
    unsigned connections, chains, late_done;
    uint32_t log[HB_MAX_LOG]; /* request codes received, in order */
    unsigned nlog;            /* atomic; entries below it are final */
    uint64_t protocol;
    uint64_t features;            /* SET_FEATURES, latest */
    uint32_t enabled;             /* bit i: ring i enabled (SET_VRING_ENABLE) */
    struct hb_mem mem;
    pthread_mutex_t mem_lock; /* guards the three below */
    unsigned mem_tables, mem_nfds;
    struct hostile_fd_id mem_ids[VHU_MAX_REGIONS];
    uint16_t num, last_avail, used_idx;
    uint64_t desc_ua, avail_ua, used_ua;
    unsigned nheld;               /* HOSTILE_LATE: chains taken, held */
    uint16_t held[HB_MAX_HELD];
    struct hb_late late;          /* late.n > 0: a stopped session's */
};

/* The current fault (enum hostile_fault). */
int hb_fault(struct hostile *h);
/* Close *fd if open and set it to -1. */
void hb_close(int *fd);
/* Close the connection and everything of its session. */
void hb_drop_conn(struct hostile *h);

/* hostile_ring.c */
/* Unmap the regions of m. */
void hb_unmap(struct hb_mem *m);
/* Map the regions of a SET_MEM_TABLE (record-only with cfg.xen_mmap). */
void hb_mem_table(struct hostile *h, const uint8_t *p, uint32_t size,
                  int *fds, unsigned nfds);
/* The ring was kicked: take what the guest made available. */
void hb_ring(struct hostile *h);
/* GET_VRING_BASE under HOSTILE_LATE: keep the held chains aside. */
void hb_late_keep(struct hostile *h);

#endif
