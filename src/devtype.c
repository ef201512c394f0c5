/* devtype: per-device-type facts the relay does not know (see devtype.h). */
#include <config.h>

#include <errno.h>
#include <string.h>

#include "devtype.h"

/* Config bytes the guest driver reads, per virtio 1.x (0: none). */
static uint32_t
devtype_config_len(uint32_t device_id)
{
    switch (device_id) {
    case 1:  return 12;  /* net: mac, status, max_virtqueue_pairs, mtu */
    case DEVTYPE_BLK: return 60;
    case 3:  return 12;  /* console */
    case 5:  return 8;   /* balloon */
    case 8:  return 36;  /* scsi */
    case 16: return 0;   /* gpu: served by its backend only with CONFIG */
    case 19: return 8;   /* vsock: guest_cid */
    default: return 0;
    }
}

int
devtype_fill(struct relay_config *rc, uint32_t device_id, const char *fs_tag,
             struct devtype_config *store)
{
    memset(store, 0, sizeof(*store));
    rc->config_len = devtype_config_len(device_id);
    rc->config = NULL;
    if (device_id == DEVTYPE_FS) {
        /* virtiofsd serves no config space: tag[36], num_request_queues. */
        const char *tag = fs_tag ? fs_tag : DEVTYPE_FS_TAG_DEFAULT;
        size_t n = strlen(tag);

        if (n == 0 || n > DEVTYPE_FS_TAG_MAX) {
            return -EINVAL;
        }
        memcpy(store->bytes, tag, n);
        store->bytes[36] = 1; /* one request queue, little-endian u32 */
        rc->config = store->bytes;
        rc->config_len = 40;
        rc->nr_queues = 2;    /* hiprio + one request queue */
    }
    return 0;
}

const char *
devtype_name(uint32_t device_id)
{
    switch (device_id) {
    case 1:  return "net";
    case DEVTYPE_BLK: return "blk";
    case 3:  return "console";
    case 4:  return "rng";
    case 19: return "vsock";
    case DEVTYPE_FS: return "fs";
    case 34: return "i2c";
    case 41: return "gpio";
    default: return "device";
    }
}
