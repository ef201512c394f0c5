/*
 * Test support: a virtio-blk guest driver on the simulator, talking to a
 * relay, used by the end-to-end tests and the benchmark.  Requests are
 * slots with their own header, data buffer (up to BLKDRV_MAX_IO) and
 * status byte in guest RAM; several can be in flight.
 */
#ifndef XVM_TEST_BLKDRV_H
#define XVM_TEST_BLKDRV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hv_sim.h"
#include "loop.h"
#include "relay.h"
#include "simdrv.h"

#define BLKDRV_MAX_IO (1024u * 1024u)
/* Where the device sits in the simulated guest, and its interrupt. */
#define BLKDRV_MMIO_BASE 0x02000000ULL
#define BLKDRV_IRQ 33
#define BLKDRV_MAX_SLOTS 64
#define VIRTIO_BLK_T_IN 0u
#define VIRTIO_BLK_T_OUT 1u
#define VIRTIO_BLK_T_FLUSH 4u
#define VIRTIO_BLK_S_OK 0u
#define VIRTIO_BLK_F_FLUSH 9

struct blkreq {
    bool busy;
    unsigned q;      /* the queue it was posted on */
    uint16_t head;
    uint32_t type;
    uint64_t lba;
    uint32_t len;
    uint32_t used_len;
    uint64_t hdr_gpa, data_gpa, status_gpa;
    uint8_t *data; /* driver-side pointer to the data buffer */
};

struct blkdrv {
    struct hv_sim *sim;
    struct loop *loop;
    struct relay *relay;
    struct simdrv *drv;
    uint64_t capacity; /* 512-byte sectors */
    unsigned nslots;
    unsigned nq;       /* request queues set up */
    unsigned inflight;
    struct blkreq slot[BLKDRV_MAX_SLOTS];
};

/*
 * Simulated guest (ram0/ram1 MiB), relay to `sock` in `mode`, driver
 * initialised with `want` features, `nslots` request slots.
 */
int blkdrv_open(struct blkdrv *b, const char *sock, enum relay_mode mode,
                uint64_t want, unsigned nslots);
/* Less common settings of blkdrv_open_opts (zero: the defaults). */
struct blkdrv_opts {
    bool ioeventfd;       /* the simulated hv offers kernel-style ioeventfds */
    bool irqfd;           /* ... and kernel-style irqfds */
    uint32_t bounce_kib;  /* shadow bounce pool per queue (relay default) */
    unsigned queues;      /* request queues the driver sets up (0: 1) */
    bool grants;          /* a grant device, driven with grant addresses */
    unsigned vcpus;       /* the simulated guest's vCPUs (0: 1) */
    /*
     * The relay set up by the blk device profile (devtype_fill), with
     * `relay_queues` as the device's queues setting (0: one per vCPU);
     * without it, the relay serves every queue the backend has.
     */
    bool blk_profile;
    unsigned relay_queues;
};
int blkdrv_open_opts(struct blkdrv *b, const char *sock, enum relay_mode mode,
                     uint64_t want, unsigned nslots,
                     const struct blkdrv_opts *o);
/* The same for a grant device, driven with grant addresses (simdrv). */
int blkdrv_open_grants(struct blkdrv *b, const char *sock,
                       enum relay_mode mode, uint64_t want, unsigned nslots);
/* The same, with kernel-style ioeventfds offered by the simulated hv. */
int blkdrv_open_ioeventfd(struct blkdrv *b, const char *sock,
                          enum relay_mode mode, uint64_t want, unsigned nslots);
void blkdrv_close(struct blkdrv *b);

/* The slot the next blkdrv_submit() will use (fill its data first). */
struct blkreq *blkdrv_next_slot(struct blkdrv *b);
/* Post a request on a free slot; data split into nseg pieces. */
int blkdrv_submit(struct blkdrv *b, uint32_t type, uint64_t lba, uint32_t len,
                  unsigned nseg, bool indirect, struct blkreq **out);
/* The same on request queue q. */
int blkdrv_submit_q(struct blkdrv *b, unsigned q, uint32_t type, uint64_t lba,
                    uint32_t len, unsigned nseg, bool indirect,
                    struct blkreq **out);
/* Kick queue 0 (or q) if the device asks for it (simdrv_kick): true if
 * it did. */
bool blkdrv_kick(struct blkdrv *b);
bool blkdrv_kick_q(struct blkdrv *b, unsigned q);
/* Take a completion already there on any queue, without waiting: 1, 0
 * (none), -errno. */
int blkdrv_take(struct blkdrv *b, struct blkreq **out);
/* Wait for and take one completion (its slot stays busy until released). */
int blkdrv_wait(struct blkdrv *b, struct blkreq **out, int timeout_ms);
uint8_t blkdrv_status(struct blkdrv *b, const struct blkreq *r);
void blkdrv_release(struct blkdrv *b, struct blkreq *r);
/* One synchronous request (data copied from/to buf). 0 or -errno/-EIO. */
int blkdrv_sync(struct blkdrv *b, uint32_t type, uint64_t lba, void *buf,
                uint32_t len);

/* Deterministic sector contents for data checks. */
void blkdrv_pattern(uint64_t seed, uint64_t lba, uint8_t *sector);

/* xorshift step, for reproducible request mixes. */
uint32_t blkdrv_rnd(uint64_t *x);

/* FNV-1a of a file, and of a disk of `bytes` holding blkdrv_pattern(seed). */
uint64_t blkdrv_file_hash(const char *path);
uint64_t blkdrv_pattern_hash(uint64_t seed, uint64_t bytes);

/*
 * Write the whole disk (`bytes`) with blkdrv_pattern(seed) in requests of
 * 512 B .. 1 MiB as single, multi-descriptor and (if negotiated) indirect
 * chains with up to `qd` in flight, read it all back the same way checking
 * every sector and each used length, then FLUSH.  0, or -1 with `err` set.
 */
/*
 * After a guest reset of relay r: run the loop until its old session is
 * over, i.e. the stop drained, or the connection it dropped (requests
 * still with the backend) was replaced: qemu-storage-daemon finishes a
 * connection's requests before it accepts the next.  A bounded wait for
 * that condition.  0, or -ETIMEDOUT after timeout_ms.
 */
int blkdrv_wait_old_session(struct relay *r, struct loop *loop,
                            unsigned timeout_ms);
/*
 * Run the loop until relay r's backend acknowledged the device setup
 * (relay_setup_pending), for suites that look at the backend right after
 * DRIVER_OK.  A bounded wait for that condition.  0, or -ETIMEDOUT.
 */
int blkdrv_settle(const struct relay *r, struct loop *loop,
                  unsigned timeout_ms);

int blkdrv_roundtrip(struct blkdrv *b, uint64_t bytes, uint64_t seed,
                     unsigned qd, char *err, size_t errlen);

#endif
