/*
 * devtype: what the daemon must know per virtio device type so the relay
 * itself can stay device-agnostic: how many config-space bytes to ask the
 * backend for, which device features those bytes can carry, which config
 * fields the driver may write, and, for backends that serve no config
 * space (virtiofsd), the config the guest is shown and the queue count.
 */
#ifndef XVM_DEVTYPE_H
#define XVM_DEVTYPE_H

#include <stdint.h>

#include "relay.h"

#define DEVTYPE_BLK 2
#define DEVTYPE_FS 26
#define DEVTYPE_FS_TAG_MAX 36
#define DEVTYPE_FS_TAG_DEFAULT "xvmfs"
#define DEVTYPE_CONFIG_MAX 64
/* The device-specific feature bits, 0-23. */
#define DEVTYPE_DEVICE_BITS 0x00ffffffULL

struct devtype_config {
    uint8_t bytes[DEVTYPE_CONFIG_MAX]; /* storage for relay_config.config */
};

/*
 * Device feature bits (within DEVTYPE_DEVICE_BITS) a device of this type
 * may be offered when config_len bytes of its config space are relayed:
 * every bit but those whose config fields end beyond config_len.  0 for
 * types without a table (the relay then passes every bit through).
 */
uint64_t devtype_features(uint32_t device_id, uint32_t config_len);

/*
 * Fill the type-specific fields of *rc (config_len, config, nr_queues,
 * device_features, writable) for device_id; `fs_tag` (NULL:
 * DEVTYPE_FS_TAG_DEFAULT) names a virtio-fs share.  rc->config points into
 * *store, which must outlive relay_new().  Returns 0, or -EINVAL for a tag
 * that does not fit.
 */
int devtype_fill(struct relay_config *rc, uint32_t device_id,
                 const char *fs_tag, struct devtype_config *store);

/* A short name for log lines: "blk", "fs", "rng", ... or "device<N>". */
const char *devtype_name(uint32_t device_id);

#endif
