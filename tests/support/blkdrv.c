/* Test support: virtio-blk driver on the simulator (see blkdrv.h). */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "blkdrv.h"
#include "devtype.h"
#include "vmmio.h"
#include "vq.h"


int
blkdrv_open_opts(struct blkdrv *b, const char *sock, enum relay_mode mode,
                 uint64_t want, unsigned nslots, const struct blkdrv_opts *o)
{
    struct hv_sim_config hc = { .name = "blk-guest", .ram0_len = 96u << 20,
                                .ram1_len = 16u << 20,
                                .ioeventfd = o->ioeventfd, .vcpus = o->vcpus };
    struct relay_config rc = {
        .name = "sim/blk0", .socket_path = sock, .mode = mode,
        .mmio_base = BLKDRV_MMIO_BASE, .irq = BLKDRV_IRQ, .device_id = 2,
        .config_len = 60, .queue_size = 256, .bounce_kib = o->bounce_kib,
        .grants = o->grants,
    };
    struct devtype_settings set = { .queues = o->relay_queues };
    struct devtype_config store;
    const char *why;
    int err;

    if (o->blk_profile &&
        devtype_fill(&rc, DEVTYPE_BLK, &set, &store, &why) < 0) {
        return -EINVAL;
    }
    memset(b, 0, sizeof(*b));
    if (nslots > BLKDRV_MAX_SLOTS) {
        return -EINVAL;
    }
    b->nslots = nslots;
    b->nq = o->queues ? o->queues : 1;
    b->loop = loop_new();
    if (!b->loop) {
        return -ENOMEM;
    }
    hc.irqfd_loop = o->irqfd ? b->loop : NULL;
    if ((err = hv_sim_new(&b->sim, &hc)) < 0) {
        return err;
    }
    if ((err = relay_new(&b->relay, hv_sim_hv(b->sim), b->loop, &rc)) < 0 ||
        (err = simdrv_new(&b->drv, b->sim, b->loop, BLKDRV_MMIO_BASE,
                          BLKDRV_IRQ)) < 0) {
        return err;
    }
    simdrv_set_grants(b->drv, o->grants);
    if ((err = simdrv_init(b->drv, want, b->nq, 0)) < 0 ||
        (err = blkdrv_settle(b->relay, b->loop, 5000)) < 0) {
        return err;
    }
    simdrv_config(b->drv, 0, &b->capacity, 8);
    for (unsigned i = 0; i < nslots; i++) {
        struct blkreq *r = &b->slot[i];

        r->hdr_gpa = simdrv_alloc(b->drv, 16, 16);
        r->status_gpa = simdrv_alloc(b->drv, 1, 1);
        r->data_gpa = simdrv_alloc(b->drv, BLKDRV_MAX_IO, 4096);
        if (!r->hdr_gpa || !r->status_gpa || !r->data_gpa) {
            return -ENOMEM;
        }
        r->data = simdrv_ptr(b->drv, r->data_gpa, BLKDRV_MAX_IO);
    }
    return 0;
}

int
blkdrv_open(struct blkdrv *b, const char *sock, enum relay_mode mode,
            uint64_t want, unsigned nslots)
{
    const struct blkdrv_opts o = { 0 };

    return blkdrv_open_opts(b, sock, mode, want, nslots, &o);
}

int
blkdrv_open_grants(struct blkdrv *b, const char *sock, enum relay_mode mode,
                   uint64_t want, unsigned nslots)
{
    const struct blkdrv_opts o = { .grants = true };

    return blkdrv_open_opts(b, sock, mode, want, nslots, &o);
}

int
blkdrv_open_ioeventfd(struct blkdrv *b, const char *sock,
                      enum relay_mode mode, uint64_t want, unsigned nslots)
{
    const struct blkdrv_opts o = { .ioeventfd = true };

    return blkdrv_open_opts(b, sock, mode, want, nslots, &o);
}

void
blkdrv_close(struct blkdrv *b)
{
    simdrv_free(b->drv);
    relay_free(b->relay);
    if (b->sim) {
        hv_sim_free(b->sim);
    }
    loop_free(b->loop);
    memset(b, 0, sizeof(*b));
}

struct blkreq *
blkdrv_next_slot(struct blkdrv *b)
{
    for (unsigned i = 0; i < b->nslots; i++) {
        if (!b->slot[i].busy) {
            return &b->slot[i];
        }
    }
    return NULL;
}

int
blkdrv_submit(struct blkdrv *b, uint32_t type, uint64_t lba, uint32_t len,
              unsigned nseg, bool indirect, struct blkreq **out)
{
    return blkdrv_submit_q(b, 0, type, lba, len, nseg, indirect, out);
}

int
blkdrv_submit_q(struct blkdrv *b, unsigned q, uint32_t type, uint64_t lba,
                uint32_t len, unsigned nseg, bool indirect,
                struct blkreq **out)
{
    struct simdrv_buf bufs[VQ_MAX_SEGS];
    struct blkreq *r = blkdrv_next_slot(b);
    uint8_t *hdr;
    unsigned n = 0;
    int rc;

    if (!r || q >= b->nq || len > BLKDRV_MAX_IO || nseg + 2 > VQ_MAX_SEGS) {
        return -ENOSPC;
    }
    hdr = simdrv_ptr(b->drv, r->hdr_gpa, 16);
    memset(hdr, 0, 16);
    hdr[0] = (uint8_t)type;
    for (int i = 0; i < 8; i++) {
        hdr[8 + i] = (uint8_t)(lba >> (8 * i));
    }
    *(uint8_t *)simdrv_ptr(b->drv, r->status_gpa, 1) = 0xff;
    bufs[n++] = (struct simdrv_buf){ r->hdr_gpa, 16, false };
    if (len) {
        uint32_t piece = nseg ? (len + nseg - 1) / nseg : len;

        piece = (piece + 511) & ~511u;
        for (uint32_t off = 0; off < len; off += piece) {
            uint32_t l = len - off < piece ? len - off : piece;

            bufs[n++] = (struct simdrv_buf){ r->data_gpa + off, l,
                                             type == VIRTIO_BLK_T_IN };
        }
    }
    bufs[n++] = (struct simdrv_buf){ r->status_gpa, 1, true };
    rc = simdrv_submit(b->drv, q, bufs, n, indirect, &r->head);
    if (rc < 0) {
        return rc;
    }
    r->busy = true;
    r->q = q;
    r->type = type;
    r->lba = lba;
    r->len = len;
    b->inflight++;
    if (out) {
        *out = r;
    }
    return 0;
}

bool
blkdrv_kick(struct blkdrv *b)
{
    return blkdrv_kick_q(b, 0);
}

bool
blkdrv_kick_q(struct blkdrv *b, unsigned q)
{
    return simdrv_kick(b->drv, q);
}

int
blkdrv_take(struct blkdrv *b, struct blkreq **out)
{
    for (unsigned q = 0; q < b->nq; q++) {
        uint16_t head;
        uint32_t len;
        int rc = simdrv_poll(b->drv, q, &head, &len);

        if (rc < 0) {
            return rc;
        }
        if (rc == 0) {
            continue;
        }
        for (unsigned i = 0; i < b->nslots; i++) {
            struct blkreq *r = &b->slot[i];

            if (r->busy && r->q == q && r->head == head) {
                r->used_len = len;
                *out = r;
                return 1;
            }
        }
        return -EIO;
    }
    return 0;
}

int
blkdrv_wait(struct blkdrv *b, struct blkreq **out, int timeout_ms)
{
    for (;;) {
        int rc = blkdrv_take(b, out);

        if (rc != 0) {
            return rc < 0 ? rc : 0;
        }
        rc = simdrv_wait_irq(b->drv, timeout_ms);
        if (rc < 0) {
            return rc;
        }
        if (rc & VMMIO_INT_CONFIG) {
            return -EIO; /* device needs reset */
        }
    }
}

uint8_t
blkdrv_status(struct blkdrv *b, const struct blkreq *r)
{
    return *(uint8_t *)simdrv_ptr(b->drv, r->status_gpa, 1);
}

void
blkdrv_release(struct blkdrv *b, struct blkreq *r)
{
    r->busy = false;
    b->inflight--;
}

int
blkdrv_sync(struct blkdrv *b, uint32_t type, uint64_t lba, void *buf,
            uint32_t len)
{
    struct blkreq *r, *done;
    int rc;

    r = blkdrv_next_slot(b);
    if (!r) {
        return -ENOSPC;
    }
    if (type == VIRTIO_BLK_T_OUT) {
        memcpy(r->data, buf, len);
    }
    rc = blkdrv_submit(b, type, lba, len, 1, false, &r);
    if (rc < 0) {
        return rc;
    }
    blkdrv_kick(b);
    rc = blkdrv_wait(b, &done, 10000);
    if (rc < 0) {
        return rc;
    }
    if (type == VIRTIO_BLK_T_IN) {
        memcpy(buf, done->data, len);
    }
    rc = blkdrv_status(b, done) == VIRTIO_BLK_S_OK ? 0 : -EIO;
    blkdrv_release(b, done);
    return rc;
}

int
blkdrv_wait_old_session(struct relay *r, struct loop *loop,
                        unsigned timeout_ms)
{
    uint64_t end = log_now_ns() + timeout_ms * 1000000ULL;
    struct relay_stats st;

    for (;;) {
        relay_get_stats(r, &st);
        /* The stop's GET_VRING_BASE reply is taken from the loop. */
        if (!relay_setup_pending(r) && st.reconnects >= st.stop_drops) {
            return 0;
        }
        if (log_now_ns() >= end) {
            return -ETIMEDOUT;
        }
        loop_run_once(loop, 10);
    }
}

int
blkdrv_settle(const struct relay *r, struct loop *loop, unsigned timeout_ms)
{
    uint64_t end = log_now_ns() + timeout_ms * 1000000ULL;

    while (relay_setup_pending(r)) {
        if (log_now_ns() >= end) {
            return -ETIMEDOUT;
        }
        loop_run_once(loop, 10);
    }
    return 0;
}

void
blkdrv_pattern(uint64_t seed, uint64_t lba, uint8_t *sector)
{
    uint64_t x = seed ^ (lba * 0x9e3779b97f4a7c15ULL) ^ 0x2545f4914f6cdd1dULL;

    for (unsigned i = 0; i < 512; i += 8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        memcpy(sector + i, &x, 8);
    }
}

uint32_t
blkdrv_rnd(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return (uint32_t)(*x >> 11);
}

#define FNV_OFFSET 0xcbf29ce484222325ULL

static uint64_t
fnv(uint64_t h, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        h = (h ^ p[i]) * 0x100000001b3ULL;
    }
    return h;
}

uint64_t
blkdrv_file_hash(const char *path)
{
    static uint8_t buf[65536];
    uint64_t h = FNV_OFFSET;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n;

    if (fd < 0) {
        return 0;
    }
    while ((n = read(fd, buf, sizeof(buf))) > 0) {
        h = fnv(h, buf, (size_t)n);
    }
    close(fd);
    return h;
}

uint64_t
blkdrv_pattern_hash(uint64_t seed, uint64_t bytes)
{
    uint8_t s[512];
    uint64_t h = FNV_OFFSET;

    for (uint64_t lba = 0; lba < bytes / 512; lba++) {
        blkdrv_pattern(seed, lba, s);
        h = fnv(h, s, 512);
    }
    return h;
}

/* Take one completion and check it; 0 or -1 with err set. */
static int
roundtrip_complete(struct blkdrv *b, uint64_t seed, char *err, size_t errlen)
{
    struct blkreq *r;
    uint8_t s[512];
    int rc = blkdrv_wait(b, &r, 10000);

    if (rc < 0) {
        snprintf(err, errlen, "no completion: %s", strerror(-rc));
        return -1;
    }
    if (blkdrv_status(b, r) != VIRTIO_BLK_S_OK) {
        snprintf(err, errlen, "status %u for lba %llu", blkdrv_status(b, r),
                 (unsigned long long)r->lba);
        return -1;
    }
    if (r->type == VIRTIO_BLK_T_IN) {
        if (r->used_len != r->len + 1) {
            snprintf(err, errlen, "used length %u for a %u-byte read",
                     r->used_len, r->len);
            return -1;
        }
        for (uint32_t off = 0; off < r->len; off += 512) {
            blkdrv_pattern(seed, r->lba + off / 512, s);
            if (memcmp(s, r->data + off, 512) != 0) {
                snprintf(err, errlen, "data mismatch at lba %llu",
                         (unsigned long long)(r->lba + off / 512));
                return -1;
            }
        }
    } else if (r->used_len != 1) {
        snprintf(err, errlen, "used length %u for a write (want 1: status)",
                 r->used_len);
        return -1;
    }
    blkdrv_release(b, r);
    return 0;
}

int
blkdrv_roundtrip(struct blkdrv *b, uint64_t bytes, uint64_t seed, unsigned qd,
                 char *err, size_t errlen)
{
    uint64_t x = seed | 1, sectors_total = bytes / 512;
    bool can_ind = simdrv_features(b->drv) & (1ULL << VIRTIO_F_INDIRECT_DESC);

    for (int pass = 0; pass < 2; pass++) {
        uint32_t type = pass == 0 ? VIRTIO_BLK_T_OUT : VIRTIO_BLK_T_IN;
        uint64_t lba = 0;

        while (lba < sectors_total) {
            uint32_t sectors = 1u << (blkdrv_rnd(&x) % 12); /* 512 B .. 1 MiB */
            unsigned nseg = 1 + blkdrv_rnd(&x) % 8;
            bool ind = (blkdrv_rnd(&x) & 1) && can_ind;
            struct blkreq *r;

            if (sectors > sectors_total - lba) {
                sectors = (uint32_t)(sectors_total - lba);
            }
            if (b->inflight >= qd) {
                blkdrv_kick(b);
                if (roundtrip_complete(b, seed, err, errlen) < 0) {
                    return -1;
                }
            }
            /* Data is in place before the chain is published. */
            r = blkdrv_next_slot(b);
            if (!r) {
                snprintf(err, errlen, "no free request slot");
                return -1;
            }
            if (type == VIRTIO_BLK_T_OUT) {
                for (uint32_t i = 0; i < sectors; i++) {
                    blkdrv_pattern(seed, lba + i, r->data + 512 * i);
                }
            }
            if (blkdrv_submit(b, type, lba, sectors * 512, nseg, ind, &r) < 0) {
                snprintf(err, errlen, "cannot post a request");
                return -1;
            }
            if (blkdrv_rnd(&x) % 3 == 0) {
                blkdrv_kick(b);
            }
            lba += sectors;
        }
        blkdrv_kick(b);
        while (b->inflight) {
            if (roundtrip_complete(b, seed, err, errlen) < 0) {
                return -1;
            }
        }
    }
    if (blkdrv_sync(b, VIRTIO_BLK_T_FLUSH, 0, NULL, 0) < 0) {
        snprintf(err, errlen, "FLUSH failed");
        return -1;
    }
    return 0;
}
