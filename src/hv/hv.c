/*
 * hv: the backend-independent half of the hypervisor seam.  The bank
 * check here is the single gate every guest address passes through.
 */
#include <config.h>

#include <errno.h>
#include <string.h>

#include "le.h"
#include "hv.h"

int
hv_layout_add(struct hv_layout *l, uint64_t gpa, uint64_t len)
{
    if (len == 0 || gpa + len < gpa) {
        return -EINVAL;
    }
    if (l->nr == HV_MAX_BANKS) {
        return -ENOSPC;
    }
    if (l->nr > 0) {
        const struct hv_bank *prev = &l->bank[l->nr - 1];

        if (gpa < prev->gpa + prev->len) {
            return -EINVAL; /* overlapping or out of order */
        }
    }
    l->bank[l->nr].gpa = gpa;
    l->bank[l->nr].len = len;
    l->nr++;
    return 0;
}

int
hv_layout_find(const struct hv_layout *l, uint64_t gpa, uint64_t len,
               unsigned *bank, uint64_t *off)
{
    if (len == 0) {
        len = 1;
    }
    for (unsigned i = 0; i < l->nr; i++) {
        const struct hv_bank *b = &l->bank[i];

        /* Subtract, then compare: no sum of guest values can overflow. */
        if (gpa >= b->gpa && gpa - b->gpa < b->len &&
            len <= b->len - (gpa - b->gpa)) {
            *bank = i;
            *off = gpa - b->gpa;
            return 0;
        }
    }
    return -EFAULT;
}

bool
hv_mem_valid(const struct hv *hv, uint64_t gpa, uint64_t len)
{
    unsigned bank;
    uint64_t off;

    return hv_layout_find(&hv->ram, gpa, len, &bank, &off) == 0;
}

int
hv_mem_read(struct hv *hv, uint64_t gpa, void *buf, size_t len)
{
    unsigned bank;
    uint64_t off;
    int rc = hv_layout_find(&hv->ram, gpa, len, &bank, &off);

    if (rc < 0) {
        return rc;
    }
    return len ? hv->ops->mem_read(hv, bank, off, buf, len) : 0;
}

int
hv_mem_write(struct hv *hv, uint64_t gpa, const void *buf, size_t len)
{
    unsigned bank;
    uint64_t off;
    int rc = hv_layout_find(&hv->ram, gpa, len, &bank, &off);

    if (rc < 0) {
        return rc;
    }
    return len ? hv->ops->mem_write(hv, bank, off, buf, len) : 0;
}

void *
hv_mem_ptr(struct hv *hv, uint64_t gpa, size_t len)
{
    unsigned bank;
    uint64_t off;

    if (!hv->ops->mem_ptr ||
        hv_layout_find(&hv->ram, gpa, len, &bank, &off) < 0) {
        return NULL;
    }
    return hv->ops->mem_ptr(hv, bank, off, len);
}

void
hv_mem_ptr_put(struct hv *hv, void *p)
{
    if (p != NULL && hv->ops->mem_ptr_put) {
        hv->ops->mem_ptr_put(hv, p);
    }
}

/* Read an n-byte little-endian scalar from guest memory. */
static int
hv_read_le(struct hv *hv, uint64_t gpa, unsigned n, uint64_t *v)
{
    uint8_t b[8];
    int rc = hv_mem_read(hv, gpa, b, n);

    if (rc == 0) {
        *v = le_load(b, n);
    }
    return rc;
}

int
hv_read_le16(struct hv *hv, uint64_t gpa, uint16_t *v)
{
    uint64_t x;
    int rc = hv_read_le(hv, gpa, 2, &x);

    if (rc == 0) {
        *v = (uint16_t)x;
    }
    return rc;
}

int
hv_read_le32(struct hv *hv, uint64_t gpa, uint32_t *v)
{
    uint64_t x;
    int rc = hv_read_le(hv, gpa, 4, &x);

    if (rc == 0) {
        *v = (uint32_t)x;
    }
    return rc;
}

int
hv_read_le64(struct hv *hv, uint64_t gpa, uint64_t *v)
{
    return hv_read_le(hv, gpa, 8, v);
}

int
hv_write_le16(struct hv *hv, uint64_t gpa, uint16_t v)
{
    uint8_t b[2];

    le16_store(b, v);
    return hv_mem_write(hv, gpa, b, sizeof(b));
}

int
hv_write_le32(struct hv *hv, uint64_t gpa, uint32_t v)
{
    uint8_t b[4];

    le32_store(b, v);
    return hv_mem_write(hv, gpa, b, sizeof(b));
}

int
hv_mem_regions(struct hv *hv, struct hv_region *out, unsigned max)
{
    return hv->ops->mem_regions ? hv->ops->mem_regions(hv, out, max)
                                : -EOPNOTSUPP;
}

int
hv_mem_share(struct hv *hv)
{
    return hv->ops->mem_share ? hv->ops->mem_share(hv) : -EOPNOTSUPP;
}

int
hv_mmio_add(struct hv *hv, uint64_t base, uint64_t len, hv_mmio_fn fn,
            void *opaque)
{
    if (len == 0 || base + len < base || !fn) {
        return -EINVAL;
    }
    return hv->ops->mmio_add(hv, base, len, fn, opaque);
}

void
hv_mmio_del(struct hv *hv, uint64_t base)
{
    hv->ops->mmio_del(hv, base);
}

int
hv_irq_set(struct hv *hv, unsigned irq, bool level)
{
    return hv->ops->irq_set(hv, irq, level);
}

int
hv_ioeventfd_add(struct hv *hv, uint64_t addr, uint32_t datamatch, int fd)
{
    return hv->ops->ioeventfd_add ? hv->ops->ioeventfd_add(hv, addr, datamatch, fd)
                                  : -EOPNOTSUPP;
}

void
hv_ioeventfd_del(struct hv *hv, uint64_t addr, int fd)
{
    if (hv->ops->ioeventfd_del) {
        hv->ops->ioeventfd_del(hv, addr, fd);
    }
}

int
hv_irqfd_add(struct hv *hv, unsigned irq, int fd)
{
    return hv->ops->irqfd_add ? hv->ops->irqfd_add(hv, irq, fd) : -EOPNOTSUPP;
}

void
hv_irqfd_del(struct hv *hv, unsigned irq, int fd)
{
    if (hv->ops->irqfd_del) {
        hv->ops->irqfd_del(hv, irq, fd);
    }
}

void
hv_mem_stats(struct hv *hv, struct hv_mem_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (hv->ops->mem_stats) {
        hv->ops->mem_stats(hv, out);
    }
}

void
hv_free(struct hv *hv)
{
    if (hv) {
        hv->ops->free(hv);
    }
}
