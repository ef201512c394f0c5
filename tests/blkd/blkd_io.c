/*
 * blkd_io: virtio-blk requests of xvm-test-blkd, on the image file.
 *
 * The ring walk is the project's vq (vq_pop/vq_push/vq_need_notify) over
 * blkd_mem's struct hv.  Request data moves straight between the image
 * and the guest's pages (preadv/pwritev on pointers from blkd_mem_ptr(),
 * each segment checked to lie wholly in one mapped region): zero copies.
 *
 * Notifications: by default a kick wakes blkd_io_process, which serves
 * what is there, signals one call for the batch (if used_event asks) and
 * goes back to sleep with avail_event armed.  Each kick and each call is
 * a round trip through the hypervisor for the guest, so two options trade
 * dom0 CPU for fewer of them: --poll-us keeps looking at the ring for a
 * while after the last request without arming avail_event (the guest
 * posts without kicking meanwhile; --poll-tick-us naps between looks
 * rather than spinning), and --coalesce also holds the call
 * until the ring has been quiet that long, but only while the guest is
 * batching (the last call covered two or more requests, and what is held
 * stays under BLKD_HOLD_BYTES); at queue depth 1, or with big requests,
 * the ring runs as without --poll-us.
 *
 * Trust boundary: the guest.  The header is read once; the sector range
 * is checked against the image (subtract, then compare); the data length
 * must be whole sectors; a chain without a writable status byte is
 * returned with length 0 and no write.
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "blkd.h"
#include "log.h"

#define BLKD_HDR_BYTES 16u
#define BLKD_ID_STRING "xvm-test-blkd"

/*
 * Build iov for `len` bytes of segments [first, end) of c, starting
 * `skip` bytes in.  0, -EFAULT (a piece not wholly in one region) or
 * -E2BIG (more pieces than BLKD_MAX_IOV).
 */
static int
blkd_io_iov(struct blkd *d, const struct vq_chain *c, unsigned first,
            unsigned end, uint64_t skip, uint64_t len, struct iovec *iov,
            unsigned *niov)
{
    unsigned n = 0;

    for (unsigned i = first; i < end && len > 0; i++) {
        uint64_t seg_len = c->seg[i].len;
        uint64_t take;
        void *p;

        if (skip >= seg_len) {
            skip -= seg_len;
            continue;
        }
        take = seg_len - skip < len ? seg_len - skip : len;
        p = blkd_mem_ptr(&d->mem, c->seg[i].gpa + skip, take,
                         i >= c->nout);
        if (!p) {
            return -EFAULT;
        }
        if (n == BLKD_MAX_IOV) {
            return -E2BIG;
        }
        iov[n].iov_base = p;
        iov[n].iov_len = (size_t)take;
        n++;
        len -= take;
        skip = 0;
    }
    *niov = n;
    return len ? -EFAULT : 0;
}

/* preadv/pwritev until done (short transfers continue), 0 or -errno. */
static int
blkd_io_rw(int fd, struct iovec *iov, unsigned n, uint64_t off, bool write)
{
    while (n > 0) {
        int cnt = n > IOV_MAX ? IOV_MAX : (int)n;
        ssize_t got = write ? pwritev(fd, iov, cnt, (off_t)off)
                            : preadv(fd, iov, cnt, (off_t)off);

        if (got < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -errno;
        }
        if (got == 0) {
            return -EIO; /* end of image: cannot happen after the range check */
        }
        off += (uint64_t)got;
        while (n > 0 && (size_t)got >= iov->iov_len) {
            got -= (ssize_t)iov->iov_len;
            iov++;
            n--;
        }
        if (n > 0) {
            iov->iov_base = (uint8_t *)iov->iov_base + got;
            iov->iov_len -= (size_t)got;
        }
    }
    return 0;
}

/* Copy the first `len` readable bytes of c into buf. */
static int
blkd_io_gather(struct blkd *d, const struct vq_chain *c, void *buf,
               uint32_t len)
{
    struct iovec iov[BLKD_HDR_BYTES];
    unsigned n;
    uint8_t *p = buf;
    int rc = blkd_io_iov(d, c, 0, c->nout, 0, len, iov, &n);

    for (unsigned i = 0; rc == 0 && i < n; i++) {
        memcpy(p, iov[i].iov_base, iov[i].iov_len);
        p += iov[i].iov_len;
    }
    return rc;
}

/* [sector, sector + len) inside the image? */
static bool
blkd_io_range_ok(const struct blkd *d, uint64_t sector, uint64_t len)
{
    uint64_t sectors = d->img_bytes / BLKD_SECTOR;

    return len % BLKD_SECTOR == 0 && sector <= sectors &&
           len <= d->img_bytes - sector * BLKD_SECTOR;
}

static int
blkd_io_data(struct blkd *d, const struct vq_chain *c, uint64_t sector,
             uint64_t len, bool write)
{
    struct iovec *iov = d->iov;
    unsigned n;
    int rc;

    if (write) {
        rc = blkd_io_iov(d, c, 0, c->nout, BLKD_HDR_BYTES, len, iov, &n);
    } else {
        rc = blkd_io_iov(d, c, c->nout, c->nseg, 0, len, iov, &n);
    }
    if (rc == 0) {
        rc = blkd_io_rw(d->img_fd, iov, n, sector * BLKD_SECTOR, write);
    }
    return rc;
}

/* Serve one chain; returns the used length (bytes written for the guest). */
static uint32_t
blkd_io_one(struct blkd *d, const struct vq_chain *c)
{
    uint8_t hdr[BLKD_HDR_BYTES];
    const struct vq_seg *last = &c->seg[c->nseg - 1];
    uint64_t status_gpa, data_in;
    uint32_t type, used = 1;
    uint64_t sector;
    uint8_t status = BLKD_S_OK;
    int rc = 0;

    if (c->in_bytes < 1 || c->nseg == c->nout) {
        log_rl(&d->rl, LOG_LVL_WARN, "blkd: request %u has no status byte",
               c->head);
        return 0;
    }
    status_gpa = last->gpa + last->len - 1;
    data_in = c->in_bytes - 1;
    if (c->out_bytes < BLKD_HDR_BYTES ||
        blkd_io_gather(d, c, hdr, BLKD_HDR_BYTES) < 0) {
        log_rl(&d->rl, LOG_LVL_WARN, "blkd: request %u: header of %" PRIu64
               " bytes", c->head, c->out_bytes);
        status = BLKD_S_IOERR;
        goto out_status;
    }
    memcpy(&type, hdr, sizeof(type));
    memcpy(&sector, hdr + 8, sizeof(sector));
    switch (type) {
    case BLKD_T_IN:
        if (!blkd_io_range_ok(d, sector, data_in)) {
            rc = -ERANGE;
            break;
        }
        rc = blkd_io_data(d, c, sector, data_in, false);
        if (rc == 0) {
            used += (uint32_t)data_in;
        }
        break;
    case BLKD_T_OUT: {
        uint64_t len = c->out_bytes - BLKD_HDR_BYTES;

        rc = blkd_io_range_ok(d, sector, len)
                 ? blkd_io_data(d, c, sector, len, true)
                 : -ERANGE;
        break;
    }
    case BLKD_T_FLUSH:
        rc = fdatasync(d->img_fd) < 0 ? -errno : 0;
        break;
    case BLKD_T_GET_ID: {
        char id[BLKD_ID_BYTES] = BLKD_ID_STRING;
        uint32_t n = data_in < BLKD_ID_BYTES ? (uint32_t)data_in
                                             : BLKD_ID_BYTES;
        struct iovec iov[BLKD_ID_BYTES];
        unsigned niov;

        rc = blkd_io_iov(d, c, c->nout, c->nseg, 0, n, iov, &niov);
        for (unsigned i = 0, off = 0; rc == 0 && i < niov; i++) {
            memcpy(iov[i].iov_base, id + off, iov[i].iov_len);
            off += (unsigned)iov[i].iov_len;
        }
        if (rc == 0) {
            used += n;
        }
        break;
    }
    default:
        log_rl(&d->rl, LOG_LVL_WARN, "blkd: request type %u not supported",
               type);
        status = BLKD_S_UNSUPP;
        break;
    }
    if (rc < 0) {
        log_rl(&d->rl, LOG_LVL_WARN, "blkd: request type %u sector %" PRIu64
               " (%" PRIu64 " out, %" PRIu64 " in bytes): %s", type, sector,
               c->out_bytes, c->in_bytes, strerror(-rc));
        status = BLKD_S_IOERR;
    }

out_status:
    if (hv_mem_write(&d->mem.hv, status_gpa, &status, 1) < 0) {
        return 0;
    }
    return used;
}

static void
blkd_io_signal(int fd)
{
    uint64_t one = 1;

    if (fd >= 0 && write(fd, &one, sizeof(one)) < 0 && errno != EAGAIN) {
        log_warn("blkd: eventfd write: %s", strerror(errno));
    }
}

void
blkd_stats_log(const struct blkd_stats *s, const char *why)
{
    log_info("blkd: stats (%s): requests %" PRIu64 " polled %" PRIu64
             " kicks %" PRIu64 " kick_reads %" PRIu64 " wakeups %" PRIu64
             " empty %" PRIu64 " calls %" PRIu64 " wait_us %" PRIu64
             " work_us %" PRIu64 " service_us %" PRIu64
             " service_max_us %" PRIu64, why, s->requests, s->polled,
             s->kicks, s->kick_reads, s->wakeups, s->empty,
             s->calls, s->wait_ns / 1000, s->work_ns / 1000,
             s->service_ns / 1000, s->service_max_ns / 1000);
}

/*
 * Serve up to `max` chains of vr, each pushed used as it completes.  With
 * `arm`, until vq_pop finds the ring empty (asking for a kick, with
 * EVENT_IDX); without, until vq_avail_pending finds nothing (no kick
 * asked for: we keep looking).  The count, or -EIO (queue broken).
 */
static int
blkd_io_serve(struct blkd *d, struct blkd_vring *vr, unsigned max, bool arm)
{
    uint64_t t = log_now_ns();
    unsigned done = 0;
    int rc = 0;

    while (done < max) {
        uint64_t now;
        uint32_t len;

        if (!arm) {
            rc = vq_avail_pending(&vr->vq);
            if (rc <= 0) {
                break;
            }
        }
        rc = vq_pop(&vr->vq, d->chain);
        if (rc <= 0) {
            break;
        }
        len = blkd_io_one(d, d->chain);
        /* Grant refs are unmapped before the guest can see the request
         * done and revoke them. */
        blkd_mem_release(&d->mem);
        rc = vq_push(&vr->vq, d->chain->head, len);
        if (rc < 0) {
            break;
        }
        done++;
        vr->cycle_bytes += d->chain->out_bytes + d->chain->in_bytes;
        now = log_now_ns();
        d->st.service_ns += now - t;
        if (now - t > d->st.service_max_ns) {
            d->st.service_max_ns = now - t;
        }
        t = now;
    }
    blkd_mem_release(&d->mem); /* a walk that stopped early */
    d->st.requests += done;
    return rc < 0 ? rc : (int)done;
}

/*
 * Signal the call eventfd if the driver asks for it (one per batch), and
 * start a new cycle (the requests one call covers).
 */
static void
blkd_io_notify(struct blkd *d, struct blkd_vring *vr)
{
    if (vq_need_notify(&vr->vq)) {
        d->st.calls++;
        blkd_io_signal(vr->call_fd);
    }
    vr->owed = false;
    vr->last_cycle = vr->cycle;
    vr->cycle = 0;
    vr->cycle_bytes = 0;
}

/*
 * --coalesce holds the call while the guest is batching: the last call
 * covered two or more requests, and what it holds stays small (big
 * requests gain nothing from waiting for more, and the guest would rather
 * reuse their buffers).  Otherwise the ring runs as without --poll-us.
 */
static bool
blkd_io_batching(const struct blkd *d, const struct blkd_vring *vr)
{
    return !d->coalesce ||
           (vr->last_cycle >= 2 && vr->cycle_bytes < BLKD_HOLD_BYTES);
}

void
blkd_io_process(struct blkd *d, struct blkd_vring *vr)
{
    uint64_t t0 = log_now_ns(), now = t0;
    /* The window runs from the last request served, or from the kick. */
    uint64_t last = vr->more ? vr->last_ns : t0;
    bool resumed = vr->more;
    unsigned total = 0;

    vr->more = false;
    if (!vr->live) {
        return;
    }
    d->st.wakeups++;
    for (;;) {
        /* --poll-us: keep looking (no kick asked for) for a while after
         * the last request; a slice at a time, then back after a look at
         * the loop's other fds. */
        bool polling = blkd_io_batching(d, vr) && now - last < d->poll_ns;
        int n;

        if (polling && now - t0 >= BLKD_POLL_SLICE_NS) {
            vr->more = true;
            break;
        }
        n = blkd_io_serve(d, vr, vr->num - total, !polling);

        if (n < 0) {
            log_rl(&d->rl, LOG_LVL_ERR, "blkd: queue 0 is broken; waiting "
                   "for a reset");
            blkd_io_signal(vr->err_fd);
            break;
        }
        if (total || resumed) {
            d->st.polled += (unsigned)n; /* found without a kick */
        }
        total += (unsigned)n;
        vr->cycle += (unsigned)n;
        now = log_now_ns();
        if (n) {
            vr->owed = true;
            last = now;
        }
        /* Without --coalesce (or while not batching) each batch is
         * signalled as it is done. */
        if (vr->owed && (!d->coalesce || !blkd_io_batching(d, vr))) {
            blkd_io_notify(d, vr);
        }
        if (total == vr->num) {
            vr->more = true; /* back after a look at the other fds */
            break;
        }
        if (!polling) {
            break; /* the ring was empty with a kick asked for */
        }
        if (n == 0 && d->tick_ns) {
            struct timespec nap = {
                .tv_sec = (time_t)(d->tick_ns / 1000000000u),
                .tv_nsec = (long)(d->tick_ns % 1000000000u),
            };

            nanosleep(&nap, NULL); /* an interruption only looks sooner */
            now = log_now_ns();
        }
    }
    /* --coalesce: one call once the window has closed. */
    if (vr->owed && !vr->more) {
        blkd_io_notify(d, vr);
    }
    vr->last_ns = last;
    d->st.empty += total == 0;
    d->st.work_ns += log_now_ns() - t0;
}
