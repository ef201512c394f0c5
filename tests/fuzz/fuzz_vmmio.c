/*
 * libFuzzer target: the virtio-mmio register model.
 *
 * Input: two header bytes (queue count, log2 of the queue size limit),
 * then 8-byte records, each one guest access or one device-side call:
 *   byte 0: bits 0-1 kind (0 read, 1 write, 2 device call, 3 write Status)
 *   byte 1: size selector (1, 2, 4, 8, 4, 4, 0, 3) or device call number
 *   bytes 2-3: offset (little-endian, masked to 0x3ff: past the window too)
 *   bytes 4-7: value
 * After every step the model's invariants are checked; a violation aborts.
 * Build and run: see the fuzz-virtio rules in src/virtio/virtio.am.
 */
#include <config.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "log.h"
#include "vmmio.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_CHECK(cond)                                                         \
    do {                                                                       \
        if (!(cond)) {                                                         \
            abort();                                                           \
        }                                                                      \
    } while (0)

static uint32_t
fz_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static void
fz_invariants(const struct vmmio_dev *dev)
{
    uint32_t st = dev->status;
    uint64_t drv = dev->driver_features;

    FZ_CHECK(vmmio_line(dev) == (dev->interrupt_status != 0));
    FZ_CHECK(dev->config_len <= VMMIO_CONFIG_MAX);
    FZ_CHECK((st & ~0xcfu) == 0);
    if (st & VIRTIO_STATUS_DRIVER) {
        FZ_CHECK(st & VIRTIO_STATUS_ACKNOWLEDGE);
    }
    if (st & VIRTIO_STATUS_FEATURES_OK) {
        FZ_CHECK(st & VIRTIO_STATUS_DRIVER);
        FZ_CHECK((drv & ~dev->device_features) == 0);
        FZ_CHECK(drv & (1ULL << VIRTIO_F_VERSION_1));
    }
    if (st & VIRTIO_STATUS_DRIVER_OK) {
        FZ_CHECK(st & VIRTIO_STATUS_FEATURES_OK);
    }
    for (unsigned i = 0; i < VMMIO_MAX_QUEUES; i++) {
        const struct vmmio_queue *q = &dev->q[i];

        if (i >= dev->nr_queues) {
            FZ_CHECK(!q->ready && q->num_max == 0);
        } else if (q->ready) {
            FZ_CHECK(q->num != 0 && (q->num & (q->num - 1)) == 0);
            FZ_CHECK(q->num <= q->num_max);
        }
    }
}

static void
fz_event(const struct vmmio_dev *dev, struct vmmio_event ev)
{
    switch (ev.type) {
    case VMMIO_EV_NOTIFY:
        FZ_CHECK(ev.queue < dev->nr_queues && dev->q[ev.queue].ready);
        FZ_CHECK(dev->status & VIRTIO_STATUS_DRIVER_OK);
        FZ_CHECK(!(dev->status & (VIRTIO_STATUS_FAILED |
                                  VIRTIO_STATUS_NEEDS_RESET)));
        break;
    case VMMIO_EV_QUEUE_READY:
        FZ_CHECK(ev.queue < dev->nr_queues && dev->q[ev.queue].ready);
        FZ_CHECK(dev->status & VIRTIO_STATUS_DRIVER_OK);
        break;
    case VMMIO_EV_QUEUE_DISABLE:
        FZ_CHECK(ev.queue < dev->nr_queues && !dev->q[ev.queue].ready);
        break;
    case VMMIO_EV_CONFIG_WRITE:
        FZ_CHECK(ev.len >= 1 && ev.len <= 8);
        FZ_CHECK(ev.off + ev.len <= dev->config_len);
        break;
    case VMMIO_EV_RESET:
        FZ_CHECK(dev->status == 0 && dev->interrupt_status == 0);
        break;
    case VMMIO_EV_FEATURES_OK:
        FZ_CHECK(dev->status & VIRTIO_STATUS_FEATURES_OK);
        break;
    default:
        break;
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const unsigned sizes[8] = { 1, 2, 4, 8, 4, 4, 0, 3 };
    struct vmmio_dev dev;
    uint8_t cfg[VMMIO_CONFIG_MAX] = { 0 };

    log_set_level(LOG_LVL_ERR); /* refusals are warnings: keep it quiet */
    if (size < 2) {
        return 0;
    }
    if (vmmio_init(&dev, "fuzz", 2, 0x1af4,
                   (1ULL << VIRTIO_F_VERSION_1) |
                       (1ULL << VIRTIO_F_EVENT_IDX) | 0xffULL,
                   data[0] % (VMMIO_MAX_QUEUES + 2),
                   (uint16_t)(1u << (data[1] % 16)), cfg, 60) < 0) {
        return 0;
    }
    for (size_t p = 2; p + 8 <= size; p += 8) {
        const uint8_t *r = data + p;
        uint64_t off = (uint64_t)(r[2] | r[3] << 8) & 0x3ff;
        uint32_t v32 = fz_le32(r + 4);
        uint64_t val = v32 | (uint64_t)v32 << 32;
        unsigned sz = sizes[r[1] & 7];
        struct vmmio_event ev = { .type = VMMIO_EV_NONE };

        switch (r[0] & 3) {
        case 0:
            vmmio_access(&dev, off, sz, false, &val);
            if (sz < 8) {
                FZ_CHECK(val < (1ULL << (8 * (sz ? sz : 1))) || sz == 0 ||
                         sz == 3);
            }
            break;
        case 1:
            ev = vmmio_access(&dev, off, sz, true, &val);
            break;
        case 2:
            switch (r[1] & 3) {
            case 0: {
                uint32_t before = dev.interrupt_status;
                bool edge = vmmio_raise(&dev, v32 & 3);

                FZ_CHECK(edge == (before == 0 && dev.interrupt_status != 0));
                break;
            }
            case 1:
                vmmio_set_needs_reset(&dev);
                break;
            default:
                vmmio_update_config(&dev, cfg, v32 % (VMMIO_CONFIG_MAX + 1));
                break;
            }
            break;
        default:
            val = v32 & 0xff;
            ev = vmmio_access(&dev, VMMIO_STATUS, 4, true, &val);
            break;
        }
        fz_event(&dev, ev);
        fz_invariants(&dev);
    }
    return 0;
}
