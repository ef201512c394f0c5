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
    /*
     * Grant-based virtio: the guest's rings and buffers are named by
     * grant addresses (hv_gnt.h), never guest-physical ones.  The device
     * offers VIRTIO_F_ACCESS_PLATFORM and needs it accepted; shadow mode
     * only (a zero-copy backend would have to map grants itself).
     */
    bool grants;
};

struct relay_stats {
    uint64_t requests;       /* chains completed to the guest */
    uint64_t bytes_in;       /* driver -> device bytes relayed */
    uint64_t bytes_out;      /* device -> driver bytes relayed */
    uint64_t irqs;           /* 0->1 line raises */
    uint64_t backpressure;   /* times a queue waited for bounce space */
    uint64_t reconnects;
    uint64_t trapped_kicks;  /* QueueNotify writes that came as traps */
    uint64_t grant_copies;   /* grant mode: batched grant copies */
    uint64_t grant_maps;     /* grant mode: ring ranges mapped */
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
void relay_get_stats(const struct relay *r, struct relay_stats *out);

#endif
