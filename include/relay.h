/*
 * relay: one guest virtio-mmio device <-> one vhost-user backend.
 *
 * The relay owns the device's virtio-mmio register model, the connection
 * to the backend and the per-queue state, and chooses between two modes:
 *  - zero-copy: the backend maps guest RAM itself (hv_mem_regions());
 *  - shadow:    the backend sees only the relay's own memfd (shadow rings
 *               and bounce buffers); request data is copied in and out.
 * It is device-type agnostic: it never interprets request contents, except
 * on a queue the caller asks it to serve itself (relay_own_ops: the net
 * control queue), whose requests go to the caller's function.
 * All I/O is driven from the loop it is given.
 */
#ifndef XVM_RELAY_H
#define XVM_RELAY_H

#include <stdbool.h>
#include <stdint.h>

#include "hv.h"
#include "loop.h"

enum relay_mode {
    RELAY_MODE_AUTO = 0, /* zero-copy when the hv and backend allow it */
    RELAY_MODE_SHADOW,
    RELAY_MODE_ZEROCOPY,
};

/* A config-space field the driver may write (relay_config.writable). */
struct relay_config_field {
    uint16_t off, len;  /* bytes of config space */
    int8_t feature;     /* device feature the driver must have accepted,
                           -1: none */
};

struct relay;

/*
 * A queue the daemon serves itself instead of the backend (for vhost-user
 * net, the frontend owns the control queue).  Static storage.
 */
struct relay_own_ops {
    /* Index of that queue for the features the driver accepted, or -1. */
    int (*queue)(const struct relay *r, uint64_t driver_features);
    /*
     * Backend queues enabled at DRIVER_OK (0: all); the others stay
     * disabled until relay_queues_enable().
     */
    unsigned (*initial_queues)(const struct relay *r, uint64_t driver_features);
    /*
     * One request: `in` holds the chain's readable bytes; write the reply
     * into out (at most out_len bytes).  Returns the bytes written, or
     * -errno to fail the device.  A request answered with an error sets
     * *refused to why (the relay logs it, rate-limited).
     */
    int (*serve)(struct relay *r, const uint8_t *in, uint32_t in_len,
                 uint8_t *out, uint32_t out_len, const char **refused);
};

struct relay_config {
    const char *name;        /* log prefix, e.g. "dom3/virtio0" */
    const char *socket_path; /* backend's vhost-user UNIX socket */
    enum relay_mode mode;
    uint64_t mmio_base;      /* guest physical base of the 0x200 window */
    unsigned irq;            /* interrupt line (SPI on Arm) */
    uint32_t device_id;      /* virtio device id shown to the guest */
    unsigned nr_queues;      /* 0: ask the backend (GET_QUEUE_NUM) */
    /*
     * With nr_queues set: the backend's GET_QUEUE_NUM answer counts units
     * of this many queues (net: 2, a pair) and must cover every queue but
     * the daemon's own; 0: the answer is not asked for.
     */
    unsigned queue_num_unit;
    /*
     * Config offset of a little-endian u16 count of request queues that
     * the backend's config carries (virtio-blk num_queues); the guest is
     * shown at most the number the relay serves.  0: no such field.
     */
    uint32_t queue_count_off;
    /*
     * With nr_queues 0: serve one queue per guest vCPU (hv nr_vcpus, when
     * known), at most the backend's count and VMMIO_MAX_QUEUES, rather
     * than every queue the backend has (blk's default).
     */
    bool queue_per_vcpu;
    uint16_t queue_size;     /* QueueNumMax offered; 0: 256 */
    uint32_t bounce_kib;     /* shadow bounce pool per queue; 0: 8192 */
    /*
     * Shadow mode: the largest request relayed (all its buffers, as laid
     * out in bounce space).  Larger than the pool: it goes through a
     * per-queue window of this size, committed only while in use.
     * 0: 65536 (64 MiB); at most 1 GiB.
     */
    uint32_t max_request_kib;
    unsigned timeout_ms;     /* per backend request; 0: 5000 */
    /*
     * Bound on all backend round trips of one guest register access or
     * reconnect attempt together; a step that hits it drops the connection
     * and recovery continues from the loop.  0: 30.
     */
    unsigned step_budget_ms;
    /*
     * A lost backend that has not come back after this long makes the
     * device report DEVICE_NEEDS_RESET (retries go on); 0: 15000.
     */
    unsigned reconnect_giveup_ms;
    /*
     * Config space: config_len bytes are read from the backend when it
     * offers the CONFIG protocol feature; otherwise `config` (if set) is
     * shown to the guest as is (e.g. a virtio-fs tag for virtiofsd).
     */
    uint32_t config_len;
    const uint8_t *config;
    bool own_config;         /* never read config from the backend */
    bool config_required;    /* refuse a device with neither source */
    /*
     * With mask_features: the device feature bits (0-23) the guest may be
     * offered from the backend's offer (a feature whose config fields lie
     * beyond config_len, or that nobody serves, must not be offered).
     * Without: every bit the backend offers.
     */
    bool mask_features;
    uint64_t device_features;
    /*
     * Device feature bits the daemon serves itself: offered to the guest
     * whatever the backend offers, never sent to the backend.
     */
    uint64_t own_features;
    const struct relay_own_ops *own; /* NULL: the backend serves every queue */
    /*
     * Config fields the driver may write: a write inside one of them is
     * forwarded as SET_CONFIG, any other is dropped (rate-limited log).
     * Static storage, at most 32 fields; NULL: the driver may write
     * nothing.
     */
    const struct relay_config_field *writable;
    unsigned nr_writable;
    /*
     * Grant-based virtio: the guest's rings and buffers are named by
     * grant addresses (hv_gnt.h), never guest-physical ones.  The device
     * offers VIRTIO_F_ACCESS_PLATFORM and needs it accepted; shadow mode
     * only (a zero-copy backend would have to map grants itself).
     */
    bool grants;
};

/* Queues a device can have (virtio-mmio's limit in this daemon). */
#define RELAY_MAX_QUEUES 32

/*
 * Counters, each incremented at the one place its event happens (the
 * worker is single-threaded: plain increments).  Per queue:
 */
struct relay_queue_stats {
    uint64_t kicks_trapped;  /* QueueNotify writes that came as traps */
    uint64_t kicks_eventfd;  /* kicks from a kernel ioeventfd we watch */
    uint64_t backend_kicks;  /* kicks written to the backend's eventfd */
    uint64_t calls;          /* backend call-eventfd signals handled */
    uint64_t notifies;       /* used-buffer notifications to the guest */
    uint64_t requests;       /* chains completed to the guest */
    uint64_t bytes_in;       /* driver -> device bytes copied (shadow) */
    uint64_t bytes_out;      /* device -> driver bytes copied (shadow) */
    uint64_t backpressure;   /* times the queue waited for bounce space */
    /* Now, not counters: the kernel delivers this queue's QueueNotify
     * writes (ioeventfd) and raises its interrupts (irqfd). */
    bool kernel_ioeventfd;
    bool kernel_irqfd;
};

/* Per device; the queue sums are in relay_stats_sum(). */
struct relay_stats {
    uint64_t reg_reads;      /* guest register reads (every one a trap) */
    uint64_t reg_writes;     /* guest register writes that trapped */
    uint64_t reg_queue_notify;     /* of those: QueueNotify writes */
    uint64_t reg_interrupt_status; /* InterruptStatus reads */
    uint64_t reg_interrupt_ack;    /* InterruptACK writes */
    uint64_t irqs;           /* interrupts injected (0->1 line raises) */
    uint64_t vhu_msgs;       /* vhost-user messages sent to the backend */
    uint64_t reconnects;     /* backend connections re-established */
    uint64_t err_device;     /* device failed (DEVICE_NEEDS_RESET) */
    uint64_t err_backend;    /* backend connection lost or broken */
    uint64_t err_host;       /* failed kicks or interrupt injections */
    /* stops after which the backend still held requests (dropped) */
    uint64_t stop_drops;
    uint64_t grant_copies;   /* grant mode: batched grant copies */
    uint64_t grant_maps;     /* grant mode: ring ranges mapped */
    struct hv_mem_stats guest_mem; /* the guest's, shared by its devices */
    unsigned nr_queues;
    struct relay_queue_stats q[RELAY_MAX_QUEUES];
};

/*
 * Connect to the backend, read its features and config, and trap the MMIO
 * window.  0 or -errno (with a log line naming the cause).
 */
int relay_new(struct relay **out, struct hv *hv, struct loop *loop,
              const struct relay_config *cfg);
/* Untrap, stop the backend's rings, disconnect, free. */
void relay_free(struct relay *r);

/* The mode in use (never AUTO once created). */
enum relay_mode relay_mode(const struct relay *r);
const char *relay_mode_name(enum relay_mode m);
/* "auto", "shadow", "zero-copy"; 0 or -EINVAL. */
int relay_parse_mode(const char *s, enum relay_mode *out);
/*
 * Setup requests the backend has not acknowledged yet, or queue stops
 * (GET_VRING_BASE) it has not answered (DRIVER_OK, QueueReady=1, resets
 * and reconnects do not wait for them; the loop takes the replies as
 * they arrive and starts or stops the queues then).
 */
bool relay_setup_pending(const struct relay *r);
/* A snapshot of the device's counters. */
void relay_get_stats(const struct relay *r, struct relay_stats *out);
/* Queues of the device; features the driver accepted. */
unsigned relay_nr_queues(const struct relay *r);
uint64_t relay_driver_features(const struct relay *r);
/*
 * Enable the backend's queues [0, n) and disable the rest (SET_VRING_ENABLE
 * for those handed over, the state kept for the others); the daemon's own
 * queue is left alone.  0 or -errno.
 */
int relay_queues_enable(struct relay *r, unsigned n);
/*
 * The daemon's own device logic changed config[off, off+len) (len <= 8,
 * value little-endian), as the driver asked: no ConfigGeneration change.
 */
void relay_config_store(struct relay *r, uint32_t off, uint32_t len,
                        uint64_t val);
/* The sum of st's first nr_queues queue counters. */
void relay_stats_sum(const struct relay_stats *st,
                     struct relay_queue_stats *sum);

#endif
