/*
 * Test support: a hostile vhost-user backend on a UNIX socket path.
 *
 * It runs in a thread of the test process, speaks enough of the protocol
 * to accept a relay's setup (features, REPLY_ACK, memory table, one
 * split ring), and serves the ring as a trivial device: every writable
 * byte of a chain is filled with `fill` and the chain is completed with
 * the count of writable bytes.  A fault, switchable at any time, makes it
 * misbehave on the ring or on the socket.  After it closes a connection
 * it accepts the next one, so reconnects can be exercised.
 *
 * With a config space it offers the CONFIG protocol feature: GET_CONFIG
 * reads it, SET_CONFIG writes it; with `strict_config`, like
 * qemu-storage-daemon, any SET_CONFIG but the virtio-blk writeback byte
 * (offset 32, one byte) makes it drop the connection.  It then also offers
 * a request channel (BACKEND_REQ) on which it can announce config changes.  Each new connection
 * starts from the configured contents, as a restarted backend would.
 *
 * Test code: it trusts the relay only as far as keeping its own memory
 * accesses in bounds.
 */
#ifndef XVM_TEST_HOSTILE_BACKEND_H
#define XVM_TEST_HOSTILE_BACKEND_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

enum hostile_fault {
    HOSTILE_NONE = 0,
    HOSTILE_BAD_ID,        /* complete an id that was never made available */
    HOSTILE_DUP_ID,        /* complete the first chain of a batch twice */
    HOSTILE_BIG_LEN,       /* report 4096 bytes more than the chain holds */
    HOSTILE_JUMP_IDX,      /* complete correctly, then used->idx += 1000 */
    HOSTILE_HOLD,          /* take chains, never complete, answer nothing */
    HOSTILE_CLOSE_ON_KICK, /* close the socket when chains arrive (once) */
    /*
     * Take chains and hold them while answering every message.  At
     * GET_VRING_BASE (answered at once) the held chains, the ring and
     * memory mappings and the call fd of that session are kept aside and
     * the fault returns to NONE; when the next chain arrives (after the
     * next session's SET_VRING_ADDR, on any connection) it is served,
     * then the old chains are completed through the old mappings: their
     * writable bytes filled with late_fill, used entries and used->idx
     * written in the old used ring, the old call fd signalled.
     */
    HOSTILE_LATE,
    /* Hold the first chain taken (never complete it), serve all others. */
    HOSTILE_HOLD_FIRST,
};

struct hostile_config {
    const char *sock_path;
    uint8_t fill;         /* byte written into writable buffers */
    uint64_t protocol;    /* protocol features offered besides REPLY_ACK
                           * (and CONFIG, BACKEND_REQ with a config) */
    uint64_t features;    /* device feature bits offered besides VERSION_1 */
    uint32_t config_len;  /* 0: no config space */
    uint8_t config[256];
    bool strict_config;
    uint64_t queue_num;   /* non-zero: offer MQ, answer GET_QUEUE_NUM */
    uint8_t late_fill;    /* HOSTILE_LATE: byte of the late completions */
    bool xen_mmap;        /* offer XEN_MMAP and only record the regions
                           * (privcmd fds cannot be mapped here) */
};

/* Identity of one fd received with SET_MEM_TABLE (fstat), and its seals
 * (F_GET_SEALS; -1 when the file takes none). */
struct hostile_fd_id {
    dev_t dev;
    ino_t ino;
    int seals;
};

struct hostile;

/* Listen on cfg->sock_path and start the thread.  0 or -errno. */
int hostile_start(struct hostile **out, const struct hostile_config *cfg);
/* Stop the thread, close everything, unlink the socket. */
void hostile_stop(struct hostile *h);
/* Change behaviour; takes effect for the next ring or socket event. */
void hostile_set_fault(struct hostile *h, enum hostile_fault f);
/* Connections accepted so far. */
unsigned hostile_connections(const struct hostile *h);
/* Chains taken off the avail ring so far (all connections). */
unsigned hostile_chains_seen(const struct hostile *h);
/* Protocol features the frontend acked on the latest connection. */
uint64_t hostile_acked_protocol(const struct hostile *h);
/* Features the frontend set (SET_FEATURES) on the latest connection. */
uint64_t hostile_acked_features(const struct hostile *h);
/* Bit i: ring i enabled by the latest SET_VRING_ENABLE for it. */
uint32_t hostile_enabled_rings(const struct hostile *h);
/* SET_MEM_TABLE messages received so far (all connections). */
unsigned hostile_mem_tables(struct hostile *h);
/* SET_CONFIG messages received so far (all connections). */
unsigned hostile_set_configs(const struct hostile *h);
/* Change the config the next connection starts from. */
void hostile_set_config(struct hostile *h, uint32_t off, const void *buf,
                        uint32_t len);
/*
 * Change the config now and announce it (CONFIG_CHANGE_MSG asking for a
 * reply), from the backend's thread; returns at once.
 */
void hostile_config_change(struct hostile *h, uint32_t off, const void *buf,
                           uint32_t len);
/*
 * Hold the reply to the next request with code `req` (one that asks for
 * a REPLY_ACK, or GET_VRING_BASE): the backend acts on the request, then
 * stops, reading nothing more and serving no ring, as a backend busy
 * mapping guest memory (or slow to stop a ring) would, until
 * hostile_release().  Once.
 */
void hostile_hold_reply(struct hostile *h, uint32_t req);
/* True while an acknowledgement is held. */
bool hostile_holding(const struct hostile *h);
/* Send the held acknowledgement and go on (disarms a hold not reached). */
void hostile_release(struct hostile *h);
/* CONFIG_CHANGE_MSGs the relay answered with success. */
unsigned hostile_config_acks(const struct hostile *h);
/* HOSTILE_LATE: old chains completed late so far. */
unsigned hostile_late_completed(const struct hostile *h);
/*
 * Request codes received so far (all connections, in order, the first 256):
 * copies up to max into out and returns how many.
 */
unsigned hostile_requests(const struct hostile *h, uint32_t *out, unsigned max);
/*
 * SET_MEM_TABLE messages received so far, and the identities of the fds
 * the last one carried (up to `max`; *nfds gets their count).  The
 * backend closes what it received before acknowledging the message.
 */
unsigned hostile_mem_table_fds(struct hostile *h, struct hostile_fd_id *ids,
                               unsigned max, unsigned *nfds);

#endif
