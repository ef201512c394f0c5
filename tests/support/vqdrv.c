/*
 * vqdrv: the driver side of one split virtqueue for the vq suites
 * (vqdrv.h).
 */
#include <config.h>

#include <check.h>
#include <errno.h>
#include <string.h>

#include "vqdrv.h"

void
vqdrv_put(struct vqdrv *d, uint64_t gpa, uint64_t v, unsigned n)
{
    uint8_t *p = hv_sim_ram(d->sim, gpa, n);

    ck_assert_ptr_nonnull(p);
    for (unsigned i = 0; i < n; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

uint64_t
vqdrv_get(struct vqdrv *d, uint64_t gpa, unsigned n)
{
    const uint8_t *p = hv_sim_ram(d->sim, gpa, n);
    uint64_t v = 0;

    ck_assert_ptr_nonnull(p);
    for (unsigned i = n; i-- > 0;) {
        v = (v << 8) | p[i];
    }
    return v;
}

void
vqdrv_desc_at(struct vqdrv *d, uint64_t table, uint32_t i, uint64_t addr,
              uint32_t len, uint16_t flags, uint16_t next)
{
    uint64_t gpa = table + 16ULL * i;

    vqdrv_put(d, gpa, addr, 8);
    vqdrv_put(d, gpa + 8, len, 4);
    vqdrv_put(d, gpa + 12, flags, 2);
    vqdrv_put(d, gpa + 14, next, 2);
}

void
vqdrv_desc(struct vqdrv *d, uint32_t i, uint64_t addr, uint32_t len,
           uint16_t flags, uint16_t next)
{
    vqdrv_desc_at(d, DESC_GPA, i, addr, len, flags, next);
}

void
vqdrv_publish(struct vqdrv *d, uint16_t head)
{
    vqdrv_put(d, AVAIL_GPA + 4 + 2ULL * (d->avail_idx % d->num), head, 2);
    d->avail_idx++;
    vqdrv_put(d, AVAIL_GPA + 2, d->avail_idx, 2);
}

void
vqdrv_open(struct vqdrv *d, uint16_t num, uint64_t features)
{
    struct hv_sim_config cfg = {
        .name = "vqtest", .ram0_len = RAM0_LEN, .ram1_len = RAM1_LEN};

    memset(d, 0, sizeof(*d));
    ck_assert_int_eq(hv_sim_new(&d->sim, &cfg), 0);
    d->hv = hv_sim_hv(d->sim);
    d->num = num;
    ck_assert_int_eq(vq_init(&d->vq, d->hv, "vqtest/q0", num, DESC_GPA,
                             AVAIL_GPA, USED_GPA, features),
                     0);
    d->vq.rl.interval_ms = 3600 * 1000; /* no refill: lines are countable */
}

void
vqdrv_close(struct vqdrv *d)
{
    hv_sim_free(d->sim);
}

uint64_t
vqdrv_logs(const struct vq *vq)
{
    return (uint64_t)(vq->rl.burst - vq->rl.tokens) + vq->rl.suppressed;
}

void
vqdrv_expect_broken(struct vqdrv *d)
{
    uint64_t n = vqdrv_logs(&d->vq);
    uint16_t last = d->vq.last_avail;

    ck_assert_int_eq(vq_pop(&d->vq, &d->chain), -EIO);
    ck_assert(d->vq.broken);
    ck_assert_uint_gt(vqdrv_logs(&d->vq), n);
    ck_assert_uint_eq(d->vq.last_avail, last);
    ck_assert_int_eq(vq_pop(&d->vq, &d->chain), -EIO);
    ck_assert_int_eq(vq_push(&d->vq, 0, 0), -EIO);
    ck_assert(!vq_need_notify(&d->vq));
    vqdrv_close(d);
}

void
vqdrv_open_popped(struct vqdrv *d)
{
    vqdrv_open(d, 8, 0);
    vqdrv_desc(d, 0, BUF_GPA, 8, 0, 0);
    vqdrv_publish(d, 0);
    ck_assert_int_eq(vq_pop(&d->vq, &d->chain), 1);
}
