/*
 * devtype: what the daemon must know per virtio device type so the relay
 * itself can stay device-agnostic.  Two tables:
 *  - devtype.c, the config-space layout of each type: how many bytes to
 *    relay, which device features those bytes can carry, which fields the
 *    driver may write;
 *  - devtype_profile.c, the device profile of each type, read like a spec:
 *    its queue layout and count, the features the relay offers (only those
 *    the relay or the backend can serve), where its config space comes
 *    from (the backend's CONFIG, or built by the daemon from the device's
 *    settings), and the queues and features the daemon serves itself (the
 *    net control queue, as a vhost-user frontend does).
 */
#ifndef XVM_DEVTYPE_H
#define XVM_DEVTYPE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "relay.h"

/* virtio device ids (virtio 1.2, 5). */
#define DEVTYPE_NET 1
#define DEVTYPE_BLK 2
#define DEVTYPE_CONSOLE 3
#define DEVTYPE_RNG 4
#define DEVTYPE_BALLOON 5
#define DEVTYPE_SCSI 8
#define DEVTYPE_GPU 16
#define DEVTYPE_VSOCK 19
#define DEVTYPE_SOUND 25
#define DEVTYPE_FS 26
#define DEVTYPE_SCMI 32
#define DEVTYPE_I2C 34
#define DEVTYPE_GPIO 41

#define DEVTYPE_FS_TAG_MAX 36
#define DEVTYPE_FS_TAG_DEFAULT "xvmfs"
#define DEVTYPE_CONFIG_MAX 64
/* The device-specific feature bits, 0-23. */
#define DEVTYPE_DEVICE_BITS 0x00ffffffULL
/* Settings ranges (devtype_settings). */
#define DEVTYPE_NET_PAIRS_MAX 15u  /* 2 * 15 + control = VMMIO_MAX_QUEUES - 1 */
#define DEVTYPE_QUEUES_MAX 31u     /* fs request queues, blk queues */
#define DEVTYPE_BLK_NUM_QUEUES_OFF 34u /* virtio_blk_config.num_queues */
#define DEVTYPE_MTU_MIN 68u
#define DEVTYPE_MTU_MAX 65535u
#define DEVTYPE_CID_MIN 3u         /* 0-2 are reserved (hypervisor, host) */
#define DEVTYPE_CID_MAX 0xfffffffeULL

/* What the configuration may set per device; zero: the type's default. */
struct devtype_settings {
    unsigned queues;     /* net: queue pairs; fs: request queues; blk:
                            queues (else one per guest vCPU, at most the
                            backend's count) */
    bool has_mac;
    uint8_t mac[6];      /* net: offered with VIRTIO_NET_F_MAC */
    uint16_t mtu;        /* net: offered with VIRTIO_NET_F_MTU; 0: not */
    uint64_t guest_cid;  /* vsock; 0: the backend's config */
    char fs_tag[DEVTYPE_FS_TAG_MAX + 1]; /* fs; "": DEVTYPE_FS_TAG_DEFAULT */
};

struct devtype_config {
    uint8_t bytes[DEVTYPE_CONFIG_MAX]; /* storage for relay_config.config */
};

/*
 * Device feature bits (within DEVTYPE_DEVICE_BITS) a device of this type
 * may be offered when config_len bytes of its config space are relayed:
 * every bit but those whose config fields end beyond config_len.  0 for
 * types without a table of such features.
 */
uint64_t devtype_features(uint32_t device_id, uint32_t config_len);

/*
 * Fill the type-specific fields of *rc from the type's profile and the
 * device's settings (NULL: defaults): config_len, config, own_config,
 * config_required, nr_queues, queue_num_unit, queue_per_vcpu, mask_features,
 * device_features, own_features, own, writable.  rc->config points into
 * *store, which must outlive relay_new().  Returns 0, or -EINVAL for a
 * setting out of range or one the type does not take (*why says which).
 */
int devtype_fill(struct relay_config *rc, uint32_t device_id,
                 const struct devtype_settings *set,
                 struct devtype_config *store, const char **why);

/* A short name for log lines: "blk", "fs", "rng", ... or "device". */
const char *devtype_name(uint32_t device_id);

/*
 * One per-device key of the configuration file ("queues", "mac", "mtu",
 * "guest-cid", "fs-tag") into *s.  0, -ENOENT for another key, or -EINVAL
 * with *why saying what the value should be.
 */
int devtype_settings_parse(struct devtype_settings *s, const char *key,
                           const char *value, const char **why);
/* The keys set in *s, as the configuration file spells them. */
void devtype_settings_print(FILE *out, const struct devtype_settings *s);

/* What the daemon serves itself for this type, in words (docs, logs). */
const char *devtype_serves(uint32_t device_id);

/* devtype.c, for devtype_profile.c: the layout table's part of *rc. */
void devtype_layout(struct relay_config *rc, uint32_t device_id);

#endif
