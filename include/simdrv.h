/*
 * simdrv: the guest-driver side of the simulator.  It drives a virtio-mmio
 * device window of an hv_sim guest the way Linux's virtio_mmio driver does
 * (probe, status dance, feature negotiation, split queues in guest RAM),
 * submits descriptor chains, and consumes completions only after an
 * interrupt edge, so a completion the device forgot to signal shows up as
 * a timeout.  Used by the end-to-end tests and the benchmark.
 */
#ifndef XVM_SIMDRV_H
#define XVM_SIMDRV_H

#include <stdbool.h>
#include <stdint.h>

#include "hv_sim.h"
#include "loop.h"

#define SIMDRV_MAX_QUEUES 8

struct simdrv_buf {
    uint64_t gpa;
    uint32_t len;
    bool write; /* device-writable */
};

struct simdrv;

/* A driver for the window at mmio_base with interrupt line irq. */
int simdrv_new(struct simdrv **out, struct hv_sim *sim, struct loop *loop,
               uint64_t mmio_base, unsigned irq);
void simdrv_free(struct simdrv *d);

/*
 * Reset, ACKNOWLEDGE, DRIVER, negotiate (device features & want), check
 * FEATURES_OK sticks, set up nr_queues queues of qsize entries (0: the
 * device's maximum), DRIVER_OK.  0 or -errno.
 */
int simdrv_init(struct simdrv *d, uint64_t want, unsigned nr_queues,
                uint16_t qsize);
uint64_t simdrv_features(const struct simdrv *d);
/* The device's DeviceFeatures (both halves), as a driver reads them. */
uint64_t simdrv_device_features(struct simdrv *d);
uint32_t simdrv_device_id(struct simdrv *d);
/*
 * Grant mode (before simdrv_init): like Linux's grant-dma-ops, the driver
 * accepts VIRTIO_F_ACCESS_PLATFORM and gives the device grant addresses
 * (hv_gnt.h) instead of guest-physical ones: each ring and each buffer is
 * granted on consecutive refs (first fit, so refs are reused from request
 * to request), buffers read-only unless device-writable; a buffer's refs
 * are revoked when its chain is taken back, ring refs at reset.
 */
void simdrv_set_grants(struct simdrv *d, bool on);
/* Revocations that failed because the device still mapped the ref. */
unsigned simdrv_revoke_busy(const struct simdrv *d);
/*
 * Grant mode: the first ref of buffer `i` of the chain posted at `head`
 * on queue q (hostile tests revoke it).  0, or -ENOENT.
 */
int simdrv_buf_ref(const struct simdrv *d, unsigned q, uint16_t head,
                   unsigned i, uint32_t *ref);

/* Write Status 0 and forget the queues (their memory is not reused). */
void simdrv_reset(struct simdrv *d);

/* Read device config space bytes. */
void simdrv_config(struct simdrv *d, uint32_t off, void *buf, uint32_t len);

/* Allocate guest RAM (bump allocator, never freed).  0 on exhaustion. */
uint64_t simdrv_alloc(struct simdrv *d, uint64_t len, uint64_t align);
void *simdrv_ptr(struct simdrv *d, uint64_t gpa, uint64_t len);

/*
 * Post a chain (readable buffers first) on queue q, optionally as an
 * indirect table.  Does not notify.  0, or -ENOSPC when no descriptors.
 */
int simdrv_submit(struct simdrv *d, unsigned q, const struct simdrv_buf *b,
                  unsigned n, bool indirect, uint16_t *head);
/*
 * Notify the device of what was posted on q since the last call, as Linux
 * does: with EVENT_IDX only if the device asked for it (avail_event),
 * without it unless the device set VRING_USED_F_NO_NOTIFY.  True when
 * QueueNotify was written.
 */
bool simdrv_kick(struct simdrv *d, unsigned q);

/* Take one used element of q if any: 1 (head/len set), else 0. */
int simdrv_poll(struct simdrv *d, unsigned q, uint16_t *head, uint32_t *len);

/*
 * Run the loop until the interrupt line has a new 0->1 edge, then read
 * InterruptStatus and acknowledge it, like an interrupt handler.
 * Returns the status bits acknowledged, or -ETIMEDOUT.
 */
int simdrv_wait_irq(struct simdrv *d, int timeout_ms);
/* How many times simdrv_wait_irq() read InterruptStatus (a driver that
 * finds its completions already in the used ring never needs to). */
unsigned simdrv_isr_reads(const struct simdrv *d);

/* Number of chains posted on q and not yet taken back. */
unsigned simdrv_inflight(const struct simdrv *d, unsigned q);
/* Device status register. */
uint32_t simdrv_status(struct simdrv *d);

#endif
