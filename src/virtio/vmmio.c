/*
 * vmmio: the virtio-mmio version 2 register model of one device.
 *
 * One switch on the register offset, no I/O: every access either updates
 * the device state and returns at most one event for the relay, or is
 * refused with a rate-limited log line that names the device and the
 * reason.
 *
 * Trust boundary: offset, size, direction and value of every access come
 * from the guest.  Nothing here indexes an array with a guest value before
 * checking it: QueueSel is stored as written but only used after a range
 * check, config accesses are checked against config_len (subtract, then
 * compare), and the status register only moves forward one legal step at a
 * time until the driver writes 0.
 */
#include <config.h>

#include <errno.h>
#include <string.h>

#include "vmmio.h"

#define VMMIO_STATUS_KNOWN                                                     \
    (VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |                        \
     VIRTIO_STATUS_DRIVER_OK | VIRTIO_STATUS_FEATURES_OK |                     \
     VIRTIO_STATUS_NEEDS_RESET | VIRTIO_STATUS_FAILED)

/* Each kind of refused access has its own limit: one cannot hide another. */
#define vmmio_warn(dev, kind, ...)                                             \
    log_rl(&(dev)->rl[kind], LOG_LVL_WARN, __VA_ARGS__)

static bool
vmmio_pow2(uint32_t n)
{
    return n != 0 && (n & (n - 1)) == 0;
}

static void
vmmio_reset_queues(struct vmmio_dev *dev)
{
    for (unsigned i = 0; i < VMMIO_MAX_QUEUES; i++) {
        struct vmmio_queue *q = &dev->q[i];

        q->num = q->num_max; /* like QEMU: the default size is the largest */
        q->ready = false;
        q->desc_gpa = 0;
        q->avail_gpa = 0;
        q->used_gpa = 0;
    }
}

int
vmmio_init(struct vmmio_dev *dev, const char *name, uint32_t device_id,
           uint32_t vendor_id, uint64_t device_features, unsigned nr_queues,
           uint16_t num_max, const void *config, uint32_t config_len)
{
    if (nr_queues > VMMIO_MAX_QUEUES || config_len > VMMIO_CONFIG_MAX ||
        !vmmio_pow2(num_max) || num_max > 32768 ||
        (config_len && !config)) {
        log_err("%s: bad virtio-mmio parameters (queues %u, num_max %u, "
                "config_len %u)",
                name ? name : "?", nr_queues, num_max, config_len);
        return -EINVAL;
    }
    memset(dev, 0, sizeof(*dev));
    dev->name = name ? name : "?";
    dev->device_id = device_id;
    dev->vendor_id = vendor_id;
    dev->device_features = device_features;
    dev->nr_queues = nr_queues;
    for (unsigned i = 0; i < nr_queues; i++) {
        dev->q[i].num_max = num_max;
    }
    vmmio_reset_queues(dev);
    dev->config_len = config_len;
    if (config_len) {
        memcpy(dev->config, config, config_len);
    }
    for (unsigned k = 0; k < VMMIO_LOG_KINDS; k++) {
        dev->rl[k] = (struct log_ratelimit)LOG_RATELIMIT_INIT;
    }
    return 0;
}

/* Everything the driver can see goes back to its power-on value. */
static void
vmmio_reset(struct vmmio_dev *dev)
{
    dev->driver_features = 0;
    dev->device_features_sel = 0;
    dev->driver_features_sel = 0;
    dev->queue_sel = 0;
    vmmio_reset_queues(dev);
    dev->interrupt_status = 0;
    dev->status = 0;
}

static struct vmmio_event
vmmio_ev(enum vmmio_event_type type, uint32_t queue)
{
    struct vmmio_event ev = { .type = type, .queue = queue };

    return ev;
}

/* The selected queue, or NULL (with a log line) when it does not exist. */
static struct vmmio_queue *
vmmio_sel_queue(struct vmmio_dev *dev, uint64_t off, bool is_write)
{
    uint32_t sel = dev->queue_sel;

    if (sel >= dev->nr_queues) {
        vmmio_warn(dev, VMMIO_LOG_QUEUE,
                   "%s: %s queue register 0x%03llx with QueueSel %u beyond "
                   "%u queues: %s",
                   dev->name, is_write ? "write to" : "read of",
                   (unsigned long long)off, sel,
                   dev->nr_queues, is_write ? "ignored" : "reads 0");
        return NULL;
    }
    return &dev->q[sel];
}

/*
 * Status write.  0 resets.  Otherwise bits only accumulate, in the order
 * of the virtio initialisation sequence, and at most one step that the
 * relay must act on (FEATURES_OK, DRIVER_OK, FAILED) is taken per write,
 * so each access maps to one event.
 */
static struct vmmio_event
vmmio_write_status(struct vmmio_dev *dev, uint32_t val)
{
    uint32_t old = dev->status;
    uint32_t new;
    uint32_t added;
    const char *why = NULL;
    unsigned steps;

    if (val == 0) {
        vmmio_reset(dev);
        return vmmio_ev(VMMIO_EV_RESET, 0);
    }
    new = val;
    added = new & ~old;
    steps = !!(added & VIRTIO_STATUS_FEATURES_OK) +
            !!(added & VIRTIO_STATUS_DRIVER_OK) +
            !!(added & VIRTIO_STATUS_FAILED);
    if (new & ~VMMIO_STATUS_KNOWN) {
        why = "unknown status bits";
    } else if (old & ~new) {
        why = "clears bits without a reset";
    } else if (added & VIRTIO_STATUS_NEEDS_RESET) {
        why = "the driver cannot set DEVICE_NEEDS_RESET";
    } else if ((old & VIRTIO_STATUS_FAILED) && added) {
        why = "the driver already set FAILED";
    } else if ((new & VIRTIO_STATUS_DRIVER) &&
               !(new & VIRTIO_STATUS_ACKNOWLEDGE)) {
        why = "DRIVER without ACKNOWLEDGE";
    } else if ((new & VIRTIO_STATUS_FEATURES_OK) &&
               !(new & VIRTIO_STATUS_DRIVER)) {
        why = "FEATURES_OK without DRIVER";
    } else if ((added & VIRTIO_STATUS_DRIVER_OK) &&
               !(old & VIRTIO_STATUS_FEATURES_OK)) {
        why = "DRIVER_OK before FEATURES_OK was accepted";
    } else if (steps > 1) {
        why = "more than one of FEATURES_OK, DRIVER_OK, FAILED at once";
    }
    if (why) {
        vmmio_warn(dev, VMMIO_LOG_STATUS, "%s: status write 0x%x over 0x%x ignored: %s",
                   dev->name, new, old, why);
        return vmmio_ev(VMMIO_EV_NONE, 0);
    }

    if (added & VIRTIO_STATUS_FEATURES_OK) {
        uint64_t drv = dev->driver_features;

        /* An offered ACCESS_PLATFORM is required: the device then cannot
         * reach memory by guest-physical address at all. */
        const uint64_t platform = 1ULL << VIRTIO_F_ACCESS_PLATFORM;
        const char *bad = (drv & ~dev->device_features) ? "not offered"
                          : !(drv & (1ULL << VIRTIO_F_VERSION_1))
                              ? "lack VERSION_1"
                          : ((dev->device_features & platform) &&
                             !(drv & platform))
                              ? "lack ACCESS_PLATFORM"
                              : NULL;

        if (bad) {
            vmmio_warn(dev, VMMIO_LOG_STATUS,
                       "%s: FEATURES_OK refused: driver features 0x%llx %s "
                       "(device offers 0x%llx)",
                       dev->name, (unsigned long long)drv, bad,
                       (unsigned long long)dev->device_features);
            dev->status = new & ~VIRTIO_STATUS_FEATURES_OK;
            return vmmio_ev(VMMIO_EV_NONE, 0);
        }
        dev->status = new;
        return vmmio_ev(VMMIO_EV_FEATURES_OK, 0);
    }
    dev->status = new;
    if (added & VIRTIO_STATUS_DRIVER_OK) {
        return vmmio_ev(VMMIO_EV_DRIVER_OK, 0);
    }
    if (added & VIRTIO_STATUS_FAILED) {
        return vmmio_ev(VMMIO_EV_FAILED, 0);
    }
    return vmmio_ev(VMMIO_EV_NONE, 0);
}

static struct vmmio_event
vmmio_write_ready(struct vmmio_dev *dev, struct vmmio_queue *q, uint32_t val)
{
    uint32_t sel = dev->queue_sel;

    if (val == 0) {
        if (q->ready) {
            q->ready = false;
            return vmmio_ev(VMMIO_EV_QUEUE_DISABLE, sel);
        }
        return vmmio_ev(VMMIO_EV_NONE, 0);
    }
    if (val != 1) {
        vmmio_warn(dev, VMMIO_LOG_QUEUE, "%s: QueueReady %u for queue %u ignored: not 0 or 1",
                   dev->name, val, sel);
        return vmmio_ev(VMMIO_EV_NONE, 0);
    }
    if (q->ready) {
        return vmmio_ev(VMMIO_EV_NONE, 0);
    }
    if (!vmmio_pow2(q->num) || q->num > q->num_max) {
        vmmio_warn(dev, VMMIO_LOG_QUEUE,
                   "%s: queue %u not made ready: QueueNum %u is not a power "
                   "of two in 1..%u",
                   dev->name, sel, q->num, q->num_max);
        return vmmio_ev(VMMIO_EV_NONE, 0);
    }
    q->ready = true;
    /* Before DRIVER_OK the relay starts every ready queue itself. */
    if ((dev->status & VIRTIO_STATUS_DRIVER_OK) &&
        !(dev->status & VIRTIO_STATUS_FAILED)) {
        return vmmio_ev(VMMIO_EV_QUEUE_READY, sel);
    }
    return vmmio_ev(VMMIO_EV_NONE, 0);
}

static struct vmmio_event
vmmio_notify(struct vmmio_dev *dev, uint32_t idx)
{
    const char *why = NULL;

    if (idx >= dev->nr_queues) {
        why = "no such queue";
    } else if (!dev->q[idx].ready) {
        why = "queue not ready";
    } else if (!(dev->status & VIRTIO_STATUS_DRIVER_OK)) {
        why = "before DRIVER_OK";
    } else if (dev->status &
               (VIRTIO_STATUS_FAILED | VIRTIO_STATUS_NEEDS_RESET)) {
        why = "device FAILED or NEEDS_RESET";
    }
    if (why) {
        vmmio_warn(dev, VMMIO_LOG_NOTIFY, "%s: QueueNotify %u (status 0x%x) ignored: %s",
                   dev->name, idx, dev->status, why);
        return vmmio_ev(VMMIO_EV_NONE, 0);
    }
    return vmmio_ev(VMMIO_EV_NOTIFY, idx);
}

/* Store the low or high half of a 64-bit ring address. */
static void
vmmio_set_half(uint64_t *gpa, bool high, uint32_t v)
{
    if (high) {
        *gpa = (*gpa & 0xffffffffULL) | ((uint64_t)v << 32);
    } else {
        *gpa = (*gpa & ~0xffffffffULL) | v;
    }
}

static uint32_t
vmmio_get_half(uint64_t gpa, bool high)
{
    return (uint32_t)(high ? gpa >> 32 : gpa);
}

/* Queue registers that are writable only while the queue is not ready. */
static void
vmmio_write_queue_cfg(struct vmmio_dev *dev, struct vmmio_queue *q,
                      uint64_t off, uint32_t v)
{
    if (q->ready) {
        vmmio_warn(dev, VMMIO_LOG_QUEUE, "%s: write 0x%x to register 0x%03llx of ready queue "
                        "%u ignored",
                   dev->name, v, (unsigned long long)off, dev->queue_sel);
        return;
    }
    switch (off) {
    case VMMIO_QUEUE_NUM:
        if (v > UINT16_MAX) {
            vmmio_warn(dev, VMMIO_LOG_QUEUE, "%s: QueueNum %u for queue %u exceeds 16 bits",
                       dev->name, v, dev->queue_sel);
            v = 0; /* unusable until rewritten: QueueReady will refuse */
        }
        q->num = (uint16_t)v;
        break;
    case VMMIO_QUEUE_DESC_LOW:
    case VMMIO_QUEUE_DESC_HIGH:
        vmmio_set_half(&q->desc_gpa, off == VMMIO_QUEUE_DESC_HIGH, v);
        break;
    case VMMIO_QUEUE_AVAIL_LOW:
    case VMMIO_QUEUE_AVAIL_HIGH:
        vmmio_set_half(&q->avail_gpa, off == VMMIO_QUEUE_AVAIL_HIGH, v);
        break;
    default:
        vmmio_set_half(&q->used_gpa, off == VMMIO_QUEUE_USED_HIGH, v);
        break;
    }
}

static bool
vmmio_is_queue_reg(uint64_t off)
{
    switch (off) {
    case VMMIO_QUEUE_NUM_MAX:
    case VMMIO_QUEUE_NUM:
    case VMMIO_QUEUE_READY:
    case VMMIO_QUEUE_DESC_LOW:
    case VMMIO_QUEUE_DESC_HIGH:
    case VMMIO_QUEUE_AVAIL_LOW:
    case VMMIO_QUEUE_AVAIL_HIGH:
    case VMMIO_QUEUE_USED_LOW:
    case VMMIO_QUEUE_USED_HIGH:
        return true;
    default:
        return false;
    }
}

static uint32_t
vmmio_read_reg(struct vmmio_dev *dev, uint64_t off)
{
    struct vmmio_queue *q = NULL;

    if (vmmio_is_queue_reg(off)) {
        q = vmmio_sel_queue(dev, off, false);
        if (!q) {
            return 0;
        }
    }
    switch (off) {
    case VMMIO_MAGIC_VALUE:
        return VMMIO_MAGIC;
    case VMMIO_VERSION_REG:
        return VMMIO_VERSION;
    case VMMIO_DEVICE_ID:
        return dev->device_id;
    case VMMIO_VENDOR_ID:
        return dev->vendor_id;
    case VMMIO_DEVICE_FEATURES:
        if (dev->device_features_sel > 1) {
            return 0;
        }
        return vmmio_get_half(dev->device_features,
                              dev->device_features_sel == 1);
    case VMMIO_DEVICE_FEATURES_SEL:
        return dev->device_features_sel;
    case VMMIO_DRIVER_FEATURES:
        if (dev->driver_features_sel > 1) {
            return 0;
        }
        return vmmio_get_half(dev->driver_features,
                              dev->driver_features_sel == 1);
    case VMMIO_DRIVER_FEATURES_SEL:
        return dev->driver_features_sel;
    case VMMIO_QUEUE_SEL:
        return dev->queue_sel;
    case VMMIO_QUEUE_NUM_MAX:
        return q->num_max;
    case VMMIO_QUEUE_NUM:
        return q->num;
    case VMMIO_QUEUE_READY:
        return q->ready;
    case VMMIO_QUEUE_DESC_LOW:
    case VMMIO_QUEUE_DESC_HIGH:
        return vmmio_get_half(q->desc_gpa, off == VMMIO_QUEUE_DESC_HIGH);
    case VMMIO_QUEUE_AVAIL_LOW:
    case VMMIO_QUEUE_AVAIL_HIGH:
        return vmmio_get_half(q->avail_gpa, off == VMMIO_QUEUE_AVAIL_HIGH);
    case VMMIO_QUEUE_USED_LOW:
    case VMMIO_QUEUE_USED_HIGH:
        return vmmio_get_half(q->used_gpa, off == VMMIO_QUEUE_USED_HIGH);
    case VMMIO_INTERRUPT_STATUS:
        return dev->interrupt_status | dev->interrupt_forced;
    case VMMIO_STATUS:
        return dev->status;
    case VMMIO_SHM_SEL:
        return 0;
    case VMMIO_SHM_LEN_LOW:
    case VMMIO_SHM_LEN_HIGH:
    case VMMIO_SHM_BASE_LOW:
    case VMMIO_SHM_BASE_HIGH:
        return 0xffffffffu; /* no shared memory regions */
    case VMMIO_CONFIG_GENERATION:
        return dev->config_generation;
    case VMMIO_QUEUE_NOTIFY:
    case VMMIO_INTERRUPT_ACK:
        vmmio_warn(dev, VMMIO_LOG_REGISTER, "%s: read of write-only register 0x%03llx reads 0",
                   dev->name, (unsigned long long)off);
        return 0;
    default:
        vmmio_warn(dev, VMMIO_LOG_REGISTER, "%s: read of unknown register 0x%03llx reads 0",
                   dev->name, (unsigned long long)off);
        return 0;
    }
}

static struct vmmio_event
vmmio_write_reg(struct vmmio_dev *dev, uint64_t off, uint32_t v)
{
    struct vmmio_queue *q = NULL;

    if (vmmio_is_queue_reg(off) && off != VMMIO_QUEUE_NUM_MAX) {
        q = vmmio_sel_queue(dev, off, true);
        if (!q) {
            return vmmio_ev(VMMIO_EV_NONE, 0);
        }
    }
    switch (off) {
    case VMMIO_DEVICE_FEATURES_SEL:
        dev->device_features_sel = v;
        break;
    case VMMIO_DRIVER_FEATURES:
        if (!(dev->status & VIRTIO_STATUS_DRIVER) ||
            (dev->status & VIRTIO_STATUS_FEATURES_OK)) {
            vmmio_warn(dev, VMMIO_LOG_STATUS, "%s: DriverFeatures write 0x%x ignored in status "
                            "0x%x (needs DRIVER, not FEATURES_OK)",
                       dev->name, v, dev->status);
        } else if (dev->driver_features_sel > 1) {
            vmmio_warn(dev, VMMIO_LOG_STATUS, "%s: DriverFeatures write 0x%x ignored: "
                            "DriverFeaturesSel %u",
                       dev->name, v, dev->driver_features_sel);
        } else {
            vmmio_set_half(&dev->driver_features,
                           dev->driver_features_sel == 1, v);
        }
        break;
    case VMMIO_DRIVER_FEATURES_SEL:
        dev->driver_features_sel = v;
        break;
    case VMMIO_QUEUE_SEL:
        dev->queue_sel = v; /* checked where it is used */
        break;
    case VMMIO_QUEUE_NUM:
    case VMMIO_QUEUE_DESC_LOW:
    case VMMIO_QUEUE_DESC_HIGH:
    case VMMIO_QUEUE_AVAIL_LOW:
    case VMMIO_QUEUE_AVAIL_HIGH:
    case VMMIO_QUEUE_USED_LOW:
    case VMMIO_QUEUE_USED_HIGH:
        vmmio_write_queue_cfg(dev, q, off, v);
        break;
    case VMMIO_QUEUE_READY:
        return vmmio_write_ready(dev, q, v);
    case VMMIO_QUEUE_NOTIFY:
        return vmmio_notify(dev, v);
    case VMMIO_INTERRUPT_ACK: {
        uint32_t old = dev->interrupt_status;

        dev->interrupt_status &= ~v;
        if (dev->interrupt_status != old) {
            return vmmio_ev(VMMIO_EV_IRQ_ACK, 0);
        }
        break;
    }
    case VMMIO_STATUS:
        return vmmio_write_status(dev, v);
    case VMMIO_SHM_SEL:
        break; /* no regions: every selector reads as absent */
    case VMMIO_MAGIC_VALUE:
    case VMMIO_VERSION_REG:
    case VMMIO_DEVICE_ID:
    case VMMIO_VENDOR_ID:
    case VMMIO_DEVICE_FEATURES:
    case VMMIO_QUEUE_NUM_MAX:
    case VMMIO_INTERRUPT_STATUS:
    case VMMIO_SHM_LEN_LOW:
    case VMMIO_SHM_LEN_HIGH:
    case VMMIO_SHM_BASE_LOW:
    case VMMIO_SHM_BASE_HIGH:
    case VMMIO_CONFIG_GENERATION:
        vmmio_warn(dev, VMMIO_LOG_REGISTER, "%s: write 0x%x to read-only register 0x%03llx "
                        "ignored",
                   dev->name, v, (unsigned long long)off);
        break;
    default:
        vmmio_warn(dev, VMMIO_LOG_REGISTER, "%s: write 0x%x to unknown register 0x%03llx ignored",
                   dev->name, v, (unsigned long long)off);
        break;
    }
    return vmmio_ev(VMMIO_EV_NONE, 0);
}

static struct vmmio_event
vmmio_config_access(struct vmmio_dev *dev, uint64_t off, unsigned size,
                    bool is_write, uint64_t *val)
{
    uint64_t coff = off - VMMIO_CONFIG_OFF;
    struct vmmio_event ev = { .type = VMMIO_EV_NONE };

    if (size != 1 && size != 2 && size != 4 && size != 8) {
        vmmio_warn(dev, VMMIO_LOG_CONFIG, "%s: config %s of size %u at 0x%llx refused",
                   dev->name, is_write ? "write" : "read", size,
                   (unsigned long long)coff);
        goto refuse;
    }
    /* Subtract, then compare: coff + size cannot overflow anyway. */
    if (coff >= dev->config_len || size > dev->config_len - coff) {
        vmmio_warn(dev, VMMIO_LOG_CONFIG, "%s: config %s [0x%llx, +%u) beyond config length "
                        "%u",
                   dev->name, is_write ? "write" : "read",
                   (unsigned long long)coff, size, dev->config_len);
        goto refuse;
    }
    if (is_write) {
        ev.type = VMMIO_EV_CONFIG_WRITE;
        ev.off = (uint32_t)coff;
        ev.len = size;
        ev.val = *val;
    } else {
        uint64_t v = 0;

        for (unsigned i = size; i-- > 0;) {
            v = (v << 8) | dev->config[coff + i];
        }
        *val = v;
    }
    return ev;

refuse:
    if (!is_write) {
        *val = 0;
    }
    return ev;
}

struct vmmio_event
vmmio_access(struct vmmio_dev *dev, uint64_t off, unsigned size,
             bool is_write, uint64_t *val)
{
    if (off >= VMMIO_WINDOW_LEN) {
        vmmio_warn(dev, VMMIO_LOG_ACCESS, "%s: %s at 0x%llx outside the 0x%x-byte window",
                   dev->name, is_write ? "write" : "read",
                   (unsigned long long)off, VMMIO_WINDOW_LEN);
        if (!is_write) {
            *val = 0;
        }
        return vmmio_ev(VMMIO_EV_NONE, 0);
    }
    if (off >= VMMIO_CONFIG_OFF) {
        return vmmio_config_access(dev, off, size, is_write, val);
    }
    if (size != 4 || (off & 3)) {
        vmmio_warn(dev, VMMIO_LOG_ACCESS, "%s: %s of size %u at register 0x%03llx refused: "
                        "only aligned 4-byte accesses",
                   dev->name, is_write ? "write" : "read", size,
                   (unsigned long long)off);
        if (!is_write) {
            *val = 0;
        }
        return vmmio_ev(VMMIO_EV_NONE, 0);
    }
    if (!is_write) {
        *val = vmmio_read_reg(dev, off);
        return vmmio_ev(VMMIO_EV_NONE, 0);
    }
    return vmmio_write_reg(dev, off, (uint32_t)*val);
}

bool
vmmio_raise(struct vmmio_dev *dev, uint32_t bits)
{
    uint32_t old = dev->interrupt_status;

    dev->interrupt_status |= bits;
    return old == 0 && dev->interrupt_status != 0;
}

bool
vmmio_line(const struct vmmio_dev *dev)
{
    return dev->interrupt_status != 0;
}

bool
vmmio_set_needs_reset(struct vmmio_dev *dev)
{
    if (dev->status == 0) {
        /* No driver to tell; a bit set now would block its first write. */
        return false;
    }
    dev->status |= VIRTIO_STATUS_NEEDS_RESET;
    return vmmio_raise(dev, VMMIO_INT_CONFIG);
}

bool
vmmio_update_config(struct vmmio_dev *dev, const void *config, uint32_t len)
{
    if (len > VMMIO_CONFIG_MAX) {
        len = VMMIO_CONFIG_MAX;
    }
    if (len == dev->config_len && memcmp(dev->config, config, len) == 0) {
        return false;
    }
    if (len) {
        memcpy(dev->config, config, len);
    }
    dev->config_len = len;
    dev->config_generation++;
    return true;
}

void
vmmio_config_store(struct vmmio_dev *dev, uint32_t off, uint32_t len,
                   uint64_t val)
{
    if (len > 8 || off >= dev->config_len || len > dev->config_len - off) {
        return;
    }
    for (uint32_t i = 0; i < len; i++) {
        dev->config[off + i] = (uint8_t)(val >> (8 * i));
    }
}
