/*
 * Test support for the hardening suites: a bare-handed virtio-mmio guest
 * driver that can write anything into its registers and rings, a guard
 * over guest RAM that finds every byte changed outside the ranges a test
 * allows, a capture of the daemon's log lines, and a process resource
 * snapshot for leak checks.
 *
 * The driver owns one area of guest RAM [area, area + area_len) and lays
 * it out as: descriptor table, avail ring, used ring (4 KiB each), then a
 * scratch zone of buffers.  Unlike simdrv, several rawdrvs can share one
 * simulated guest (each with its own area), so two devices can live on
 * one loop.
 */
#ifndef XVM_TEST_RAWDRV_H
#define XVM_TEST_RAWDRV_H

#include <stdbool.h>
#include <stdint.h>

#include "hv_sim.h"
#include "loop.h"
#include "relay.h"

#define RAWDRV_DESC_OFF 0x0000u
#define RAWDRV_AVAIL_OFF 0x1000u
#define RAWDRV_USED_OFF 0x2000u
#define RAWDRV_BUF_OFF 0x4000u
#define RAWDRV_CANARY 0x5au

struct rawdrv {
    struct hv_sim *sim;
    struct loop *loop;
    uint64_t mmio;
    unsigned irq;
    uint64_t area, area_len;
    uint16_t num;
    uint16_t avail_idx;
    uint16_t last_used;
    uint64_t edges_seen;
    uint64_t features;
    uint8_t *desc, *avail, *used;
    /* Optional: rawdrv_init() waits until its setup is acknowledged. */
    const struct relay *relay;
};

/* Bind a driver to a window and a RAM area (filled with RAWDRV_CANARY). */
void rawdrv_bind(struct rawdrv *d, struct hv_sim *sim, struct loop *loop,
                 uint64_t mmio, unsigned irq, uint64_t area, uint64_t area_len);
uint32_t rawdrv_rd(struct rawdrv *d, uint32_t off);
void rawdrv_wr(struct rawdrv *d, uint32_t off, uint32_t val);
/* Any width access; returns the value read (or written). */
uint64_t rawdrv_access(struct rawdrv *d, uint32_t off, unsigned size,
                       bool is_write, uint64_t val);
/*
 * Reset and initialise with features (offered & want), one queue of num
 * entries with rings at desc/avail/used (0: the area's own rings), then
 * DRIVER_OK.  Returns the final status register.
 */
uint32_t rawdrv_init_rings(struct rawdrv *d, uint64_t want, uint16_t num,
                           uint64_t desc, uint64_t avail, uint64_t used);
uint32_t rawdrv_init(struct rawdrv *d, uint64_t want, uint16_t num);
/* Guest-physical address of scratch offset `off` in the area. */
uint64_t rawdrv_buf(const struct rawdrv *d, uint64_t off);
uint8_t *rawdrv_ptr(struct rawdrv *d, uint64_t gpa, uint64_t len);
/* Write descriptor i of the area's table. */
void rawdrv_desc(struct rawdrv *d, uint16_t i, uint64_t addr, uint32_t len,
                 uint16_t flags, uint16_t next);
/* Put head in the avail ring and publish avail->idx (+1). */
void rawdrv_publish(struct rawdrv *d, uint16_t head);
/* Publish an arbitrary avail->idx. */
void rawdrv_set_avail_idx(struct rawdrv *d, uint16_t idx);
void rawdrv_kick(struct rawdrv *d);
/*
 * Run the loop until an interrupt edge (then read and ack InterruptStatus,
 * like a handler).  Returns the status bits, or -ETIMEDOUT.
 */
int rawdrv_wait_irq(struct rawdrv *d, int timeout_ms);
/* Take one used element if the used index moved: 1, else 0. */
int rawdrv_poll(struct rawdrv *d, uint32_t *id, uint32_t *len);
/*
 * A synchronous virtio-blk request built from descriptors 0..2 in the
 * scratch zone (header at +0, status at +0x200, data at +0x1000, up to
 * 64 KiB).  Waits for the interrupt.  0 with *status set, or -errno.
 */
int rawdrv_blk(struct rawdrv *d, uint32_t type, uint64_t lba, void *data,
               uint32_t len, uint8_t *status);
/*
 * Write 4 KiB made from `seed` at lba, read them back: 0 when both
 * requests succeed and the data matches, else -1.
 */
int rawdrv_blk_verify(struct rawdrv *d, uint64_t lba, unsigned seed);

/* Every byte of a range of guest RAM, to compare with later. */
struct ramguard {
    uint64_t gpa, len;
    uint8_t *copy;
};
struct ram_range {
    uint64_t gpa, len;
};
void ramguard_take(struct ramguard *g, struct hv_sim *sim, uint64_t gpa,
                   uint64_t len);
/*
 * gpa of the first byte that changed outside `allow`, or 0 when none did.
 * Re-arms the guard with the current contents.
 */
uint64_t ramguard_check(struct ramguard *g, struct hv_sim *sim,
                        const struct ram_range *allow, unsigned nallow);
void ramguard_free(struct ramguard *g);

/* Log capture: stderr goes to a private file until logcap_stop(). */
struct logcap {
    int saved_fd;
    int file_fd;
    long mark;
};
void logcap_start(struct logcap *c);
/* Forget what was captured so far (for the next logcap_has). */
void logcap_mark(struct logcap *c);
/* True when a line captured since the last mark contains `needle`. */
bool logcap_has(struct logcap *c, const char *needle);
/* How many times `needle` occurs in what was captured since the mark. */
unsigned logcap_count(struct logcap *c, const char *needle);
/* Restore stderr and replay the capture onto it. */
void logcap_stop(struct logcap *c);

/* Process resources, for leak checks. */
struct proc_usage {
    int fds;
    int maps;
    long rss_kib;
    int threads;
};
void proc_usage_get(struct proc_usage *u);

#endif
