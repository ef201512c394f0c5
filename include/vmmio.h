/*
 * vmmio: the virtio-mmio version 2 register model of one device.
 *
 * A pure state machine: vmmio_access() takes one guest access (offset in
 * the 0x200-byte window, size, direction, value) and returns at most one
 * event for the caller (the relay) to act on.  It performs no I/O and knows
 * nothing of Xen or sockets, so it is tested and fuzzed directly.
 *
 * Trust boundary: every argument of vmmio_access() comes from the guest.
 * Registers 0x000-0x0ff accept only 4-byte accesses; anything else reads 0
 * and is ignored on write (rate-limited log line naming the reason).
 * Config space (0x100 + n) accepts 1, 2, 4 and 8-byte accesses inside the
 * device's config length.  A config write is only reported (an event with
 * the value): what the driver may change is the device's decision, which
 * stores an accepted write with vmmio_config_store().
 */
#ifndef XVM_VMMIO_H
#define XVM_VMMIO_H

#include <stdbool.h>
#include <stdint.h>

#include "log.h"

#define VMMIO_WINDOW_LEN 0x200
#define VMMIO_MAX_QUEUES 32
#define VMMIO_CONFIG_OFF 0x100
#define VMMIO_CONFIG_MAX (VMMIO_WINDOW_LEN - VMMIO_CONFIG_OFF)
#define VMMIO_MAGIC 0x74726976u
#define VMMIO_VERSION 2u

/* Register offsets. */
enum {
    VMMIO_MAGIC_VALUE = 0x000,
    VMMIO_VERSION_REG = 0x004,
    VMMIO_DEVICE_ID = 0x008,
    VMMIO_VENDOR_ID = 0x00c,
    VMMIO_DEVICE_FEATURES = 0x010,
    VMMIO_DEVICE_FEATURES_SEL = 0x014,
    VMMIO_DRIVER_FEATURES = 0x020,
    VMMIO_DRIVER_FEATURES_SEL = 0x024,
    VMMIO_QUEUE_SEL = 0x030,
    VMMIO_QUEUE_NUM_MAX = 0x034,
    VMMIO_QUEUE_NUM = 0x038,
    VMMIO_QUEUE_READY = 0x044,
    VMMIO_QUEUE_NOTIFY = 0x050,
    VMMIO_INTERRUPT_STATUS = 0x060,
    VMMIO_INTERRUPT_ACK = 0x064,
    VMMIO_STATUS = 0x070,
    VMMIO_QUEUE_DESC_LOW = 0x080,
    VMMIO_QUEUE_DESC_HIGH = 0x084,
    VMMIO_QUEUE_AVAIL_LOW = 0x090,
    VMMIO_QUEUE_AVAIL_HIGH = 0x094,
    VMMIO_QUEUE_USED_LOW = 0x0a0,
    VMMIO_QUEUE_USED_HIGH = 0x0a4,
    VMMIO_SHM_SEL = 0x0ac,
    VMMIO_SHM_LEN_LOW = 0x0b0,
    VMMIO_SHM_LEN_HIGH = 0x0b4,
    VMMIO_SHM_BASE_LOW = 0x0b8,
    VMMIO_SHM_BASE_HIGH = 0x0bc,
    VMMIO_CONFIG_GENERATION = 0x0fc,
};

/* Device status bits (virtio 1.x). */
#define VIRTIO_STATUS_ACKNOWLEDGE 0x01u
#define VIRTIO_STATUS_DRIVER 0x02u
#define VIRTIO_STATUS_DRIVER_OK 0x04u
#define VIRTIO_STATUS_FEATURES_OK 0x08u
#define VIRTIO_STATUS_NEEDS_RESET 0x40u
#define VIRTIO_STATUS_FAILED 0x80u

/* InterruptStatus bits. */
#define VMMIO_INT_VRING 0x1u
#define VMMIO_INT_CONFIG 0x2u

/* Transport feature bits. */
#define VIRTIO_F_INDIRECT_DESC 28
#define VIRTIO_F_EVENT_IDX 29
#define VIRTIO_F_VERSION_1 32
#define VIRTIO_F_ACCESS_PLATFORM 33
#define VIRTIO_F_ACCESS_PLATFORM 33
#define VIRTIO_F_RING_PACKED 34

struct vmmio_queue {
    uint16_t num_max;  /* 0 when the queue does not exist */
    uint16_t num;
    bool ready;
    uint64_t desc_gpa;
    uint64_t avail_gpa;
    uint64_t used_gpa;
};

enum vmmio_event_type {
    VMMIO_EV_NONE = 0,
    VMMIO_EV_RESET,         /* driver wrote Status 0: stop everything */
    VMMIO_EV_FEATURES_OK,   /* driver_features accepted */
    VMMIO_EV_DRIVER_OK,     /* start the ready queues */
    VMMIO_EV_FAILED,        /* driver gave up on the device */
    VMMIO_EV_QUEUE_READY,   /* queue became ready after DRIVER_OK */
    VMMIO_EV_QUEUE_DISABLE, /* driver wrote QueueReady 0 on a ready queue */
    VMMIO_EV_NOTIFY,        /* valid kick of a ready queue after DRIVER_OK */
    VMMIO_EV_IRQ_ACK,       /* InterruptStatus changed by InterruptACK */
    VMMIO_EV_CONFIG_WRITE,  /* driver wrote val to config[off, off+len) */
};

struct vmmio_event {
    enum vmmio_event_type type;
    uint32_t queue;    /* QUEUE_READY, QUEUE_DISABLE, NOTIFY */
    uint32_t off, len; /* CONFIG_WRITE, relative to config start */
    uint64_t val;      /* CONFIG_WRITE: the value, little-endian in config */
};

/* Kinds of refused guest access, each rate-limited on its own. */
enum vmmio_log_kind {
    VMMIO_LOG_ACCESS = 0, /* width, alignment, outside the window */
    VMMIO_LOG_REGISTER,   /* unknown, read-only or write-only register */
    VMMIO_LOG_STATUS,     /* status and feature negotiation */
    VMMIO_LOG_QUEUE,      /* queue registers */
    VMMIO_LOG_NOTIFY,     /* QueueNotify */
    VMMIO_LOG_CONFIG,     /* config space */
    VMMIO_LOG_KINDS,
};

struct vmmio_dev {
    const char *name; /* for log lines, e.g. "dom1/virtio0" */
    uint32_t device_id;
    uint32_t vendor_id;
    uint64_t device_features;
    uint64_t driver_features;
    uint32_t device_features_sel;
    uint32_t driver_features_sel;
    uint32_t queue_sel;
    unsigned nr_queues;
    struct vmmio_queue q[VMMIO_MAX_QUEUES];
    uint32_t status;
    uint32_t interrupt_status;
    /*
     * Bits every InterruptStatus read reports on top of interrupt_status,
     * which InterruptACK cannot clear and which do not drive the line:
     * VRING while the kernel raises used-buffer interrupts the device
     * never sees (an irqfd on a queue's call eventfd).
     */
    uint32_t interrupt_forced;
    uint32_t config_generation;
    uint32_t config_len;
    uint8_t config[VMMIO_CONFIG_MAX];
    struct log_ratelimit rl[VMMIO_LOG_KINDS];
};

/*
 * Initialise a device: nr_queues queues of at most num_max entries each
 * (num_max a power of two <= 32768), the initial config space contents.
 * Returns 0 or -EINVAL (nr_queues or config_len too large, bad num_max).
 */
int vmmio_init(struct vmmio_dev *dev, const char *name, uint32_t device_id,
               uint32_t vendor_id, uint64_t device_features,
               unsigned nr_queues, uint16_t num_max, const void *config,
               uint32_t config_len);

/*
 * One guest access; *val is the value written or receives the value read
 * (0 for every refused read).  Status writes other than 0 may only add
 * bits, in initialisation order, and at most one of FEATURES_OK, DRIVER_OK
 * and FAILED per write (so one access yields one event); DRIVER_OK needs
 * FEATURES_OK already accepted.  A refused FEATURES_OK leaves the rest of
 * the written status in place for the driver to read back.
 */
struct vmmio_event vmmio_access(struct vmmio_dev *dev, uint64_t off,
                                unsigned size, bool is_write, uint64_t *val);

/*
 * Device side: set InterruptStatus bits.  Returns true when the status went
 * from 0 to non-zero, i.e. the (edge-triggered) line must be raised.
 */
bool vmmio_raise(struct vmmio_dev *dev, uint32_t bits);

/* Level the interrupt line should have: InterruptStatus != 0. */
bool vmmio_line(const struct vmmio_dev *dev);

/*
 * Device side: set DEVICE_NEEDS_RESET and raise a config interrupt; same
 * return as vmmio_raise().  Does nothing while Status is 0 (no driver to
 * tell, and the bit would block the driver's first status write).
 */
bool vmmio_set_needs_reset(struct vmmio_dev *dev);

/*
 * Device side: replace config space contents and length (at most
 * VMMIO_CONFIG_MAX, longer input is cut).  ConfigGeneration changes
 * exactly when the contents or the length do; returns true then.  The
 * caller raises VMMIO_INT_CONFIG if the driver should be told.
 */
bool vmmio_update_config(struct vmmio_dev *dev, const void *config,
                         uint32_t len);

/*
 * Device side: store a driver write the device accepted (the event's off,
 * len and val) so reads return it.  No ConfigGeneration change: the driver
 * knows what it wrote.  Writes outside the config length are ignored.
 */
void vmmio_config_store(struct vmmio_dev *dev, uint32_t off, uint32_t len,
                        uint64_t val);

#endif
