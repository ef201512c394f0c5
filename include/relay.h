/*
 * relay: one guest virtio-mmio device <-> one vhost-user backend.
 *
 * The relay owns the device's virtio-mmio register model, the connection
 * to the backend and the per-queue state, and chooses between two modes:
 *  - zero-copy: the backend maps guest RAM itself (hv_mem_regions());
 *  - shadow:    the backend sees only the relay's own memfd (shadow rings
 *               and bounce buffers); request data is copied in and out.
 * It is device-type agnostic: it never interprets request contents.
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

struct relay_config {
    const char *name;        /* log prefix, e.g. "dom3/virtio0" */
    const char *socket_path; /* backend's vhost-user UNIX socket */
    enum relay_mode mode;
    uint64_t mmio_base;      /* guest physical base of the 0x200 window */
    unsigned irq;            /* interrupt line (SPI on Arm) */
    uint32_t device_id;      /* virtio device id shown to the guest */
    unsigned nr_queues;      /* 0: ask the backend (GET_QUEUE_NUM), else 1 */
    uint16_t queue_size;     /* QueueNumMax offered; 0: 256 */
    uint32_t bounce_kib;     /* shadow bounce pool per queue; 0: 8192 */
    unsigned timeout_ms;     /* per backend request; 0: 5000 */
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
    struct hv_mem_stats guest_mem; /* the guest's, shared by its devices */
    unsigned nr_queues;
    struct relay_queue_stats q[RELAY_MAX_QUEUES];
};

struct relay;

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
/* A snapshot of the device's counters. */
void relay_get_stats(const struct relay *r, struct relay_stats *out);
/* The sum of st's first nr_queues queue counters. */
void relay_stats_sum(const struct relay_stats *st,
                     struct relay_queue_stats *sum);

#endif
