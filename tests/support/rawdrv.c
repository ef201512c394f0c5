/* Test support: raw guest driver, RAM guard, log capture (see rawdrv.h). */
#include <config.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "blkdrv.h"
#include "le.h"
#include "log.h"
#include "rawdrv.h"
#include "vmmio.h"
#include "vq.h"

void
rawdrv_bind(struct rawdrv *d, struct hv_sim *sim, struct loop *loop,
            uint64_t mmio, unsigned irq, uint64_t area, uint64_t area_len)
{
    memset(d, 0, sizeof(*d));
    d->sim = sim;
    d->loop = loop;
    d->mmio = mmio;
    d->irq = irq;
    d->area = area;
    d->area_len = area_len;
    memset(hv_sim_ram(sim, area, area_len), RAWDRV_CANARY, area_len);
    d->desc = hv_sim_ram(sim, area + RAWDRV_DESC_OFF, 0x1000);
    d->avail = hv_sim_ram(sim, area + RAWDRV_AVAIL_OFF, 0x1000);
    d->used = hv_sim_ram(sim, area + RAWDRV_USED_OFF, 0x1000);
}

uint32_t
rawdrv_rd(struct rawdrv *d, uint32_t off)
{
    return hv_sim_read32(d->sim, d->mmio + off);
}

void
rawdrv_wr(struct rawdrv *d, uint32_t off, uint32_t val)
{
    hv_sim_write32(d->sim, d->mmio + off, val);
}

uint64_t
rawdrv_access(struct rawdrv *d, uint32_t off, unsigned size, bool is_write,
              uint64_t val)
{
    hv_sim_mmio(d->sim, d->mmio + off, size, is_write, &val);
    return val;
}

uint32_t
rawdrv_init_rings(struct rawdrv *d, uint64_t want, uint16_t num, uint64_t desc,
                  uint64_t avail, uint64_t used)
{
    uint64_t dev;

    desc = desc ? desc : d->area + RAWDRV_DESC_OFF;
    avail = avail ? avail : d->area + RAWDRV_AVAIL_OFF;
    used = used ? used : d->area + RAWDRV_USED_OFF;
    rawdrv_wr(d, VMMIO_STATUS, 0);
    memset(d->desc, 0, 0x1000);
    memset(d->avail, 0, 0x1000);
    memset(d->used, 0, 0x1000);
    d->num = num;
    d->avail_idx = d->last_used = 0;
    rawdrv_wr(d, VMMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
    rawdrv_wr(d, VMMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    rawdrv_wr(d, VMMIO_DEVICE_FEATURES_SEL, 1);
    dev = (uint64_t)rawdrv_rd(d, VMMIO_DEVICE_FEATURES) << 32;
    rawdrv_wr(d, VMMIO_DEVICE_FEATURES_SEL, 0);
    dev |= rawdrv_rd(d, VMMIO_DEVICE_FEATURES);
    d->features = dev & want;
    rawdrv_wr(d, VMMIO_DRIVER_FEATURES_SEL, 1);
    rawdrv_wr(d, VMMIO_DRIVER_FEATURES, (uint32_t)(d->features >> 32));
    rawdrv_wr(d, VMMIO_DRIVER_FEATURES_SEL, 0);
    rawdrv_wr(d, VMMIO_DRIVER_FEATURES, (uint32_t)d->features);
    rawdrv_wr(d, VMMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
                                   VIRTIO_STATUS_FEATURES_OK);
    rawdrv_wr(d, VMMIO_QUEUE_SEL, 0);
    rawdrv_wr(d, VMMIO_QUEUE_NUM, num);
    rawdrv_wr(d, VMMIO_QUEUE_DESC_LOW, (uint32_t)desc);
    rawdrv_wr(d, VMMIO_QUEUE_DESC_HIGH, (uint32_t)(desc >> 32));
    rawdrv_wr(d, VMMIO_QUEUE_AVAIL_LOW, (uint32_t)avail);
    rawdrv_wr(d, VMMIO_QUEUE_AVAIL_HIGH, (uint32_t)(avail >> 32));
    rawdrv_wr(d, VMMIO_QUEUE_USED_LOW, (uint32_t)used);
    rawdrv_wr(d, VMMIO_QUEUE_USED_HIGH, (uint32_t)(used >> 32));
    rawdrv_wr(d, VMMIO_QUEUE_READY, 1);
    d->edges_seen = hv_sim_irq_edges(d->sim, d->irq);
    rawdrv_wr(d, VMMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
                                   VIRTIO_STATUS_FEATURES_OK |
                                   VIRTIO_STATUS_DRIVER_OK);
    if (d->relay && blkdrv_settle(d->relay, d->loop, 5000) < 0) {
        return 0;
    }
    return rawdrv_rd(d, VMMIO_STATUS);
}

uint32_t
rawdrv_init(struct rawdrv *d, uint64_t want, uint16_t num)
{
    return rawdrv_init_rings(d, want, num, 0, 0, 0);
}

uint64_t
rawdrv_buf(const struct rawdrv *d, uint64_t off)
{
    return d->area + RAWDRV_BUF_OFF + off;
}

uint8_t *
rawdrv_ptr(struct rawdrv *d, uint64_t gpa, uint64_t len)
{
    return hv_sim_ram(d->sim, gpa, len);
}

void
rawdrv_desc(struct rawdrv *d, uint16_t i, uint64_t addr, uint32_t len,
            uint16_t flags, uint16_t next)
{
    le_desc_store(d->desc + 16 * (i % 256), addr, len, flags, next);
}

void
rawdrv_set_avail_idx(struct rawdrv *d, uint16_t idx)
{
    __atomic_thread_fence(__ATOMIC_RELEASE);
    d->avail_idx = idx;
    le16_store(d->avail + 2, idx);
}

void
rawdrv_publish(struct rawdrv *d, uint16_t head)
{
    le16_store(d->avail + 4 + 2 * (d->avail_idx % (d->num ? d->num : 1)), head);
    rawdrv_set_avail_idx(d, (uint16_t)(d->avail_idx + 1));
}

void
rawdrv_kick(struct rawdrv *d)
{
    rawdrv_wr(d, VMMIO_QUEUE_NOTIFY, 0);
}

int
rawdrv_wait_irq(struct rawdrv *d, int timeout_ms)
{
    uint32_t st;
    int rc = hv_sim_wait_edge(d->sim, d->loop, d->irq, &d->edges_seen,
                              timeout_ms);

    if (rc < 0) {
        return rc;
    }
    st = rawdrv_rd(d, VMMIO_INTERRUPT_STATUS);
    rawdrv_wr(d, VMMIO_INTERRUPT_ACK, st);
    return (int)st;
}

int
rawdrv_poll(struct rawdrv *d, uint32_t *id, uint32_t *len)
{
    const uint8_t *e;

    if (d->num == 0 || le16_load(d->used + 2) == d->last_used) {
        return 0;
    }
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    e = d->used + 4 + 8 * (d->last_used % d->num);
    memcpy(id, e, 4);
    memcpy(len, e + 4, 4);
    d->last_used++;
    return 1;
}

int
rawdrv_blk(struct rawdrv *d, uint32_t type, uint64_t lba, void *data,
           uint32_t len, uint8_t *status)
{
    uint64_t hdr = rawdrv_buf(d, 0), st = rawdrv_buf(d, 0x200);
    uint64_t buf = rawdrv_buf(d, 0x1000);
    uint8_t *h = rawdrv_ptr(d, hdr, 16);
    uint32_t id, used_len;
    int rc;

    if (len > 0x10000) {
        return -EINVAL;
    }
    memset(h, 0, 16);
    h[0] = (uint8_t)type;
    for (int k = 0; k < 8; k++) {
        h[8 + k] = (uint8_t)(lba >> (8 * k));
    }
    *rawdrv_ptr(d, st, 1) = 0xff;
    if (type == 1) {
        memcpy(rawdrv_ptr(d, buf, len), data, len);
    }
    rawdrv_desc(d, 0, hdr, 16, VQ_DESC_F_NEXT, 1);
    if (len) {
        rawdrv_desc(d, 1, buf, len,
                    (uint16_t)(VQ_DESC_F_NEXT | (type == 0 ? VQ_DESC_F_WRITE : 0)),
                    2);
        rawdrv_desc(d, 2, st, 1, VQ_DESC_F_WRITE, 0);
    } else {
        rawdrv_desc(d, 1, st, 1, VQ_DESC_F_WRITE, 0);
    }
    rawdrv_publish(d, 0);
    rawdrv_kick(d);
    for (;;) {
        rc = rawdrv_poll(d, &id, &used_len);
        if (rc == 1) {
            break;
        }
        rc = rawdrv_wait_irq(d, 10000);
        if (rc < 0) {
            return rc;
        }
        if (rc & VMMIO_INT_CONFIG) {
            return -EIO;
        }
    }
    if (id != 0) {
        return -EPROTO;
    }
    if (type == 0) {
        memcpy(data, rawdrv_ptr(d, buf, len), len);
    }
    *status = *rawdrv_ptr(d, st, 1);
    return 0;
}

int
rawdrv_blk_verify(struct rawdrv *d, uint64_t lba, unsigned seed)
{
    uint8_t out[4096], in[4096], st_out = 0xff, st_in = 0xff;

    for (unsigned i = 0; i < sizeof(out); i++) {
        out[i] = (uint8_t)(i ^ lba ^ seed);
    }
    if (rawdrv_blk(d, 1, lba, out, sizeof(out), &st_out) < 0 ||
        rawdrv_blk(d, 0, lba, in, sizeof(in), &st_in) < 0 || st_out != 0 ||
        st_in != 0 || memcmp(in, out, sizeof(in)) != 0) {
        return -1;
    }
    return 0;
}

void
ramguard_take(struct ramguard *g, struct hv_sim *sim, uint64_t gpa,
              uint64_t len)
{
    g->gpa = gpa;
    g->len = len;
    g->copy = malloc(len);
    if (g->copy) {
        memcpy(g->copy, hv_sim_ram(sim, gpa, len), len);
    }
}

static bool
ram_allowed(uint64_t gpa, const struct ram_range *allow, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        if (gpa >= allow[i].gpa && gpa - allow[i].gpa < allow[i].len) {
            return true;
        }
    }
    return false;
}

uint64_t
ramguard_check(struct ramguard *g, struct hv_sim *sim,
               const struct ram_range *allow, unsigned nallow)
{
    uint8_t *now = hv_sim_ram(sim, g->gpa, g->len);
    uint64_t bad = 0;

    if (!g->copy) {
        return g->gpa; /* no snapshot: report, never pass silently */
    }
    for (uint64_t off = 0; off < g->len; off += 4096) {
        uint64_t n = g->len - off < 4096 ? g->len - off : 4096;

        if (memcmp(now + off, g->copy + off, n) == 0) {
            continue;
        }
        for (uint64_t i = 0; i < n && !bad; i++) {
            if (now[off + i] != g->copy[off + i] &&
                !ram_allowed(g->gpa + off + i, allow, nallow)) {
                bad = g->gpa + off + i;
            }
        }
    }
    memcpy(g->copy, now, g->len);
    return bad;
}

void
ramguard_free(struct ramguard *g)
{
    free(g->copy);
    g->copy = NULL;
}

void
logcap_start(struct logcap *c)
{
    char path[] = "/tmp/xvm-logcap-XXXXXX";

    fflush(stderr);
    c->mark = 0;
    c->saved_fd = dup(2);
    c->file_fd = mkstemp(path);
    if (c->file_fd >= 0) {
        unlink(path);
        dup2(c->file_fd, 2);
    }
}

void
logcap_mark(struct logcap *c)
{
    fflush(stderr);
    c->mark = (long)lseek(c->file_fd, 0, SEEK_END);
}

unsigned
logcap_count(struct logcap *c, const char *needle)
{
    unsigned found = 0;
    long end;
    char *buf;

    fflush(stderr);
    end = (long)lseek(c->file_fd, 0, SEEK_END);
    if (c->file_fd < 0 || end <= c->mark) {
        return 0;
    }
    buf = malloc((size_t)(end - c->mark) + 1);
    if (!buf) {
        return 0;
    }
    if (pread(c->file_fd, buf, (size_t)(end - c->mark), c->mark) !=
        end - c->mark) {
        free(buf);
        return 0;
    }
    buf[end - c->mark] = '\0';
    for (const char *p = strstr(buf, needle); p; p = strstr(p + 1, needle)) {
        found++;
    }
    free(buf);
    return found;
}

bool
logcap_has(struct logcap *c, const char *needle)
{
    return logcap_count(c, needle) > 0;
}

void
logcap_stop(struct logcap *c)
{
    char buf[4096];
    off_t off = 0;
    ssize_t n;

    fflush(stderr);
    if (c->saved_fd < 0) {
        return;
    }
    dup2(c->saved_fd, 2);
    close(c->saved_fd);
    c->saved_fd = -1;
    if (c->file_fd < 0) {
        return;
    }
    while ((n = pread(c->file_fd, buf, sizeof(buf), off)) > 0) {
        if (write(2, buf, (size_t)n) < 0) {
            break;
        }
        off += n;
    }
    close(c->file_fd);
    c->file_fd = -1;
}

static int
count_dir(const char *path)
{
    DIR *dir = opendir(path);
    struct dirent *e;
    int n = 0;

    if (!dir) {
        return -1;
    }
    while ((e = readdir(dir)) != NULL) {
        n += e->d_name[0] != '.';
    }
    closedir(dir);
    return n - 1; /* the directory's own fd */
}

void
proc_usage_get(struct proc_usage *u)
{
    char line[512];
    FILE *f;
    long pages = 0, rss = 0;

    memset(u, 0, sizeof(*u));
    u->fds = count_dir("/proc/self/fd");
    if ((f = fopen("/proc/self/maps", "r")) != NULL) {
        while (fgets(line, sizeof(line), f)) {
            u->maps += strchr(line, '\n') != NULL;
        }
        fclose(f);
    }
    if ((f = fopen("/proc/self/statm", "r")) != NULL) {
        if (fscanf(f, "%ld %ld", &pages, &rss) == 2) {
            u->rss_kib = rss * (sysconf(_SC_PAGESIZE) / 1024);
        }
        fclose(f);
    }
    if ((f = fopen("/proc/self/status", "r")) != NULL) {
        while (fgets(line, sizeof(line), f)) {
            if (strncmp(line, "Threads:", 8) == 0) {
                u->threads = atoi(line + 8);
            }
        }
        fclose(f);
    }
}
