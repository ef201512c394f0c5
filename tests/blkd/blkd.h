/*
 * blkd: xvm-test-blkd, a small vhost-user-blk backend of our own.
 *
 * It exists to prove the zero-copy path on real Xen: no packaged backend
 * speaks the XEN_MMAP protocol feature, this one does (--xen-mmap).  It is
 * a test tool, not a product: one queue, one frontend at a time,
 * synchronous I/O in a single poll() loop.
 *
 * Pieces: blkd_main.c (command line, socket, loop), blkd_msg.c (the
 * vhost-user server side: framing, one table of per-request rules,
 * handlers), blkd_mem.c (the memory table: mappings, address translation
 * and a struct hv over them so the project's vq walker does the ring
 * work), blkd_xen.c (only the XEN_MMAP FOREIGN mapping through
 * /dev/xen/privcmd), blkd_gnt.c (XEN_MMAP GRANT regions: the refs each
 * access needs, mapped through /dev/xen/gntdev or the simulator's grant
 * table), blkd_io.c (virtio-blk requests on the image).
 *
 * Trust boundary: the frontend and the guest are both untrusted.  Every
 * message is checked (header, payload size, fd count, ring index) before
 * a handler sees it; guest memory is reached only through bounds-checked
 * region lookups (hv_layout_find) over what the frontend let us map.
 */
#ifndef XVM_TEST_BLKD_H
#define XVM_TEST_BLKD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "hv.h"
#include "hv_sim_gnt.h"
#include "log.h"
#include "vq.h"

#define BLKD_NR_QUEUES 1u
#define BLKD_SECTOR 512u
#define BLKD_SEG_MAX 128u
#define BLKD_CONFIG_LEN 60u /* struct virtio_blk_config up to unused1[3] */
#define BLKD_ID_BYTES 20u   /* VIRTIO_BLK_ID_BYTES */
#define BLKD_XEN_PAGE 4096u
#define BLKD_MAX_IOV 1024u   /* data pieces of one request */
/* Xen's DOMID_FIRST_RESERVED: no guest has a domid from here on. */
#define BLKD_DOMID_FIRST_RESERVED 0x7ff0u
/* Refs in one grant mapping (a ring, or one data piece: at most 4 MiB). */
#define BLKD_GNT_MAX_COUNT 1024u
/* Grant mappings one request may hold (its pieces, header, status). */
#define BLKD_GNT_REQ_MAPS (BLKD_MAX_IOV + 4u)
/* Longest stretch of serving and polling before the loop looks at its
 * other fds (messages, signals) again. */
#define BLKD_POLL_SLICE_NS 10000000ull
/* --coalesce holds no call for more than this many request bytes. */
#define BLKD_HOLD_BYTES (256u * 1024u)
/* --poll-us at most: a minute (tests use a window that never closes). */
#define BLKD_POLL_US_MAX 60000000ul

/* Virtio-blk feature and request codes (virtio spec 5.2). */
#define BLKD_F_SEG_MAX 2
#define BLKD_F_BLK_SIZE 6
#define BLKD_F_FLUSH 9
#define BLKD_F_VERSION_1 32
#define BLKD_T_IN 0u
#define BLKD_T_OUT 1u
#define BLKD_T_FLUSH 4u
#define BLKD_T_GET_ID 8u
#define BLKD_S_OK 0u
#define BLKD_S_IOERR 1u
#define BLKD_S_UNSUPP 2u

/* One mapping of consecutive grant refs (blkd_gnt.c). */
struct blkd_gnt_map {
    uint8_t *host;      /* NULL: nothing mapped */
    uint64_t index;     /* gntdev mmap offset */
    uint32_t ref, count;
    bool writable;
    unsigned reg;       /* the region it belongs to */
};

/* How a GRANT region's refs are mapped, and what that cost. */
struct blkd_gnt {
    int fd;             /* our copy of the region's fd; -1: none */
    uint32_t domid;     /* the granting guest */
    bool sim;           /* the simulator's table, not /dev/xen/gntdev */
    struct hv_sim_gnt view;
    uint64_t maps, refs, map_ns, failures;
    uint64_t requests;  /* that mapped grants (blkd_mem_release) */
    struct log_ratelimit rl;
};

/* One mapped region of the frontend's memory table. */
struct blkd_region {
    uint64_t gpa;
    uint64_t len;
    uint64_t uaddr;
    void *map;          /* what munmap() gets */
    size_t map_len;
    uint8_t *host;      /* gpa's byte in our address space; NULL: grants */
    struct blkd_gnt gnt; /* GRANT regions (host == NULL) */
};

/* A ring's grant mapping, for as long as its queue runs. */
struct blkd_pin {
    unsigned key;       /* queue index */
    uint64_t gpa, len;  /* the range asked for */
    struct blkd_gnt_map m;
};

/*
 * The memory table.  `hv` is a struct hv whose RAM layout is the regions'
 * gpa ranges (bank i == reg[i], sorted by gpa), so hv_mem_read/write and
 * the vq walker work on it unchanged.
 */
struct blkd_mem {
    struct hv hv;
    unsigned nr;
    struct blkd_region reg[HV_MAX_BANKS];
    struct blkd_pin pin[BLKD_NR_QUEUES * 3];
    struct blkd_gnt_map req[BLKD_GNT_REQ_MAPS]; /* the current request's */
    unsigned nreq;
};

struct blkd_vring {
    uint16_t num;
    uint16_t base;        /* next avail index while stopped */
    bool has_addr;
    uint64_t desc_ua, avail_ua, used_ua;
    int kick_fd, call_fd, err_fd;
    bool enabled;
    bool live;            /* vq initialised over the current table */
    bool more;            /* chains left (or polling) after the last call */
    uint64_t last_ns;     /* when it last served a request (--poll-us) */
    bool owed;            /* completions not signalled yet (--coalesce) */
    unsigned cycle;       /* requests since the last call */
    unsigned last_cycle;  /* requests the last call covered */
    uint64_t cycle_bytes; /* their descriptor bytes */
    struct vq vq;
};

/*
 * What serving the ring cost, since the start (SIGUSR1 and the exit log
 * them: blkd_stats_log).  Times are CLOCK_MONOTONIC.
 */
struct blkd_stats {
    uint64_t kick_reads;  /* kick eventfd reads that returned a count */
    uint64_t kicks;       /* the sum of those counts: the guest's kicks */
    uint64_t wakeups;     /* ring walks (blkd_io_process) */
    uint64_t empty;       /* of them, finding no request */
    uint64_t requests;
    uint64_t polled;      /* of them, found after a batch without a kick */
    uint64_t calls;       /* call eventfd signals */
    uint64_t wait_ns;     /* blocked in poll() */
    uint64_t work_ns;     /* in blkd_io_process */
    uint64_t service_ns;  /* serving requests (header to used entry) */
    uint64_t service_max_ns;
};

struct blkd {
    /* configuration */
    const char *sock_path;
    bool xen_mmap;
    bool probe_privcmd;   /* try to overstep with each privcmd fd sent */
    bool probe_gntdev;    /* the same with each gntdev fd sent */
    bool once;
    uint64_t poll_ns;     /* --poll-us: look for more this long after a batch */
    uint64_t tick_ns;     /* --poll-tick-us: nap between looks (0: spin) */
    bool coalesce;        /* --coalesce: one call when polling ends */
    /* the image */
    int img_fd;
    uint64_t img_bytes;   /* whole sectors only */
    /* the connection */
    int listen_fd, conn_fd;
    uint64_t features;    /* acked by SET_FEATURES */
    uint64_t protocol;    /* acked by SET_PROTOCOL_FEATURES */
    struct blkd_mem mem;
    struct blkd_vring vr[BLKD_NR_QUEUES];
    struct vq_chain *chain; /* scratch for one request */
    struct iovec iov[BLKD_MAX_IOV]; /* scratch for its data */
    struct blkd_stats st;
    struct log_ratelimit rl;
};

/* --- blkd_msg.c --- */

/* Device features offered by GET_FEATURES. */
uint64_t blkd_features_offered(const struct blkd *d);
/* Protocol features offered by GET_PROTOCOL_FEATURES. */
uint64_t blkd_protocol_offered(const struct blkd *d);
/*
 * Read and handle one message from the connection.  0, or -errno when the
 * connection must be dropped (hang-up, protocol violation).
 */
int blkd_msg_handle(struct blkd *d);
/* Forget per-connection state (rings, memory, features). */
void blkd_conn_reset(struct blkd *d);

/* --- blkd_mem.c --- */

/* An empty table whose hv has no RAM. */
void blkd_mem_init(struct blkd_mem *m);
/* Unmap every region; the table is empty afterwards. */
void blkd_mem_clear(struct blkd_mem *m);

/* One region as it came off the wire, before mapping. */
struct blkd_mem_wire {
    uint64_t gpa, len, uaddr, mmap_off;
    uint32_t xen_flags; /* 0 for the plain layout */
    uint32_t xen_domid;
    int fd;
};

/*
 * Map n wire regions into a new table *out (sorted by gpa).  Checks sizes,
 * overflow, overlap (by gpa and by uaddr), the fd's size for plain
 * regions, and the flags for Xen ones.  0 or -errno; on failure *out is
 * empty.  The fds are not closed.
 */
int blkd_mem_map(struct blkd_mem *out, const struct blkd_mem_wire *w,
                 unsigned n);
/*
 * Translate a frontend userspace address range to a gpa: the whole
 * [uaddr, uaddr+len) inside one region.  0 or -EFAULT.
 */
int blkd_mem_ua_to_gpa(const struct blkd_mem *m, uint64_t uaddr, uint64_t len,
                       uint64_t *gpa);
/*
 * Host pointer to [gpa, gpa+len) if wholly inside one region, else NULL.
 * In a GRANT region the refs are mapped (writable when `write`) until
 * blkd_mem_release(); NULL when a ref cannot be mapped.
 */
void *blkd_mem_ptr(struct blkd_mem *m, uint64_t gpa, uint64_t len,
                   bool write);
/*
 * Unmap what the request mapped (blkd_mem_ptr(), and the ring walker's
 * accesses outside the rings, such as its indirect table): before its
 * used entry is published, since the guest revokes its refs once it sees
 * it; and after a walk that stopped early.
 */
void blkd_mem_release(struct blkd_mem *m);
/*
 * Keep [gpa, gpa+len) mapped under `key` (a queue's rings: their refs
 * stay granted while it runs) until blkd_mem_unpin(key).  0 (also for
 * plain regions, which need nothing) or -errno.
 */
int blkd_mem_pin(struct blkd_mem *m, unsigned key, uint64_t gpa,
                 uint64_t len, bool write);
void blkd_mem_unpin(struct blkd_mem *m, unsigned key);

/* --- blkd_gnt.c --- */

/*
 * Map GRANT regions of guest `domid` through `fd` (copied; gntdev, or a
 * simulator grant table).  0 or -errno.
 */
int blkd_gnt_open(struct blkd_gnt *g, int fd, uint32_t domid);
/* Log the map statistics and close. */
void blkd_gnt_close(struct blkd_gnt *g);
/* Map `count` refs from `ref` contiguously.  0 or -errno (rate-limited log). */
int blkd_gnt_map(struct blkd_gnt *g, uint32_t ref, uint32_t count,
                 bool writable, struct blkd_gnt_map *out);
void blkd_gnt_unmap(struct blkd_gnt *g, struct blkd_gnt_map *m);
/*
 * --probe-gntdev: with the gntdev fd a GRANT region came with, try
 * IOCTL_GNTDEV_SET_MAX_GRANTS and map ref 1 (the xenstore ring the
 * toolstack grants dom0) of the guest and of domid+1; log each outcome.
 */
void blkd_gnt_probe(int fd, uint32_t domid);

/* --- blkd_xen.c --- */

/*
 * Map a XEN_MMAP FOREIGN region: mmap the privcmd fd (offset 0, len
 * bytes), then populate it with IOCTL_PRIVCMD_MMAPBATCH_V2 for the guest
 * frames gpa>>12 ...  Sets r->map/map_len/host.  0 or -errno.
 */
int blkd_xen_map_foreign(struct blkd_region *r, int fd, uint32_t domid);
/*
 * --probe-privcmd: with the privcmd fd a FOREIGN region came with, try to
 * map a frame of dom0 (MMAPBATCH_V2), a device-model op on domid+1
 * (DM_OP) and a hypercall (HYPERCALL); log each outcome ("EPERM", "ok" or
 * the errno), then the same with a privcmd fd of our own for comparison.
 */
void blkd_xen_probe(int fd, uint32_t domid, uint64_t gpa);

/* --- blkd_io.c --- */

/*
 * Process available chains of ring `vr` (up to its size per call), push
 * them used, and signal the call eventfd when the guest wants it.
 */
void blkd_io_process(struct blkd *d, struct blkd_vring *vr);
/* One "blkd: stats ..." line (`why`: what asked for it). */
void blkd_stats_log(const struct blkd_stats *s, const char *why);

#endif
