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
};

struct hostile_config {
    const char *sock_path;
    uint8_t fill; /* byte written into writable buffers */
    bool xen_mmap; /* offer XEN_MMAP: regions are then recorded, not mapped */
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
/*
 * SET_MEM_TABLE messages received so far, and the identities of the fds
 * the last one carried (up to `max`; *nfds gets their count).  The
 * backend closes what it received before acknowledging the message.
 */
unsigned hostile_mem_tables(struct hostile *h, struct hostile_fd_id *ids,
                            unsigned max, unsigned *nfds);

#endif
