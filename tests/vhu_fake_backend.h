/*
 * vhu_fake_backend: a scripted vhost-user backend for tests.
 *
 * It runs in a thread on one end of a socketpair and answers the frontend
 * correctly, except for the one request the script names, whose reply it
 * gets wrong in a chosen way.  Every message it receives is recorded (bytes
 * and fds) so a test can check what the frontend sent.  Any suite that
 * needs a backend (vhu, relay) can use it.
 */
#ifndef XVM_VHU_FAKE_BACKEND_H
#define XVM_VHU_FAKE_BACKEND_H

#include <stdint.h>

enum vhu_fake_fault {
    VHU_FAKE_NONE = 0,
    VHU_FAKE_WRONG_REQUEST,   /* reply carries another request code */
    VHU_FAKE_NO_REPLY_FLAG,   /* reply flag bit missing */
    VHU_FAKE_BAD_SIZE,        /* header size (and payload) 4 bytes too long */
    VHU_FAKE_HUGE_SIZE,       /* header announces 0xffffffff bytes */
    VHU_FAKE_SHORT_PAYLOAD,   /* right header, half the payload, then close */
    VHU_FAKE_EXTRA_FD,        /* one fd more than the reply should carry */
    VHU_FAKE_CTRUNC,          /* 32 fds: more than the receiver can take */
    VHU_FAKE_SILENT,          /* never answer (keep reading) */
    VHU_FAKE_CLOSE_MID_REPLY, /* half a header, then close */
    VHU_FAKE_CLOSE,           /* close on receiving the request */
    VHU_FAKE_NACK,            /* REPLY_ACK status 1 */
    VHU_FAKE_CONFIG_ERROR,    /* GET_CONFIG: zero-size reply (spec's error) */
    VHU_FAKE_CONFIG_WRONG_OFF,/* GET_CONFIG: echo a different offset */
    VHU_FAKE_WRONG_INDEX,     /* GET_VRING_BASE: answer for another ring */
};

#define VHU_FAKE_MAX_MSGS 64
#define VHU_FAKE_MAX_PAYLOAD 512
#define VHU_FAKE_MAX_FDS 8

struct vhu_fake_config {
    uint64_t features;        /* GET_FEATURES answer */
    uint64_t protocol;        /* GET_PROTOCOL_FEATURES answer */
    uint64_t queue_num;       /* GET_QUEUE_NUM answer */
    uint32_t vring_base;      /* GET_VRING_BASE answer */
    uint8_t config[256];      /* device config space for GET_CONFIG */
    uint32_t fault_request;   /* request whose reply misbehaves; 0: none */
    enum vhu_fake_fault fault;
};

/* One message as the backend received it. */
struct vhu_fake_msg {
    uint32_t request;
    uint32_t flags;
    uint32_t size;
    uint8_t payload[VHU_FAKE_MAX_PAYLOAD];
    unsigned nfds;
    int fds[VHU_FAKE_MAX_FDS]; /* open until vhu_fake_free */
};

struct vhu_fake;

/*
 * Start a backend thread; *frontend_fd is the other end of its socketpair
 * (the caller owns it, e.g. hands it to vhu_adopt).  0 or -errno.
 */
int vhu_fake_start(struct vhu_fake **out, const struct vhu_fake_config *cfg,
                   int *frontend_fd);
/* Wait (up to timeout_ms) for the thread to end: 0 or -ETIMEDOUT. */
int vhu_fake_join(struct vhu_fake *f, unsigned timeout_ms);
/* Messages received so far; valid after vhu_fake_join. */
unsigned vhu_fake_count(const struct vhu_fake *f);
const struct vhu_fake_msg *vhu_fake_msg(const struct vhu_fake *f, unsigned i);
/* Last message with this request code, or NULL. */
const struct vhu_fake_msg *vhu_fake_find(const struct vhu_fake *f,
                                         uint32_t request);
/* Join (the frontend must have closed its end first) and free everything. */
void vhu_fake_free(struct vhu_fake *f);

/* Count of open fds of this process (/proc/self/fd), for leak checks. */
int vhu_fake_count_fds(void);

#endif
