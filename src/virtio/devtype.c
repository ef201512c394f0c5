/*
 * devtype: the config-space layout of each virtio device type (see
 * devtype.h); the profiles built on it are in devtype_profile.c.
 */
#include <config.h>

#include <errno.h>
#include <string.h>

#include "devtype.h"

/* A device feature whose config fields end `end` bytes into config space. */
struct devtype_feature {
    uint8_t bit;
    uint8_t end;
};

/* What one type needs; virtio 1.2, "Device configuration layout". */
struct devtype_info {
    uint32_t id;
    uint32_t config_len;                    /* bytes relayed */
    const struct devtype_feature *features; /* features with config fields */
    unsigned nr_features;
    const struct relay_config_field *writable; /* driver-writable fields */
    unsigned nr_writable;
};

#define DEVTYPE_N(a) (unsigned)(sizeof(a) / sizeof((a)[0]))

/* capacity 0-7, then: */
static const struct devtype_feature blk_features[] = {
    { 1, 12 },  /* SIZE_MAX: size_max */
    { 2, 16 },  /* SEG_MAX: seg_max */
    { 4, 20 },  /* GEOMETRY: cylinders, heads, sectors */
    { 6, 24 },  /* BLK_SIZE: blk_size */
    { 10, 32 }, /* TOPOLOGY: physical_block_exp .. opt_io_size */
    { 11, 33 }, /* CONFIG_WCE: writeback */
    { 12, 36 }, /* MQ: num_queues */
    { 13, 48 }, /* DISCARD: max_discard_sectors .. alignment */
    { 14, 60 }, /* WRITE_ZEROES: max_write_zeroes_sectors .. may_unmap */
    { 16, 72 }, /* SECURE_ERASE: max_secure_erase_sectors .. alignment */
    { 17, 96 }, /* ZONED: struct virtio_blk_zoned_characteristics */
};
static const struct relay_config_field blk_writable[] = {
    { 32, 1, 11 }, /* writeback, with CONFIG_WCE */
};

static const struct devtype_feature net_features[] = {
    { 5, 6 },   /* MAC: mac */
    { 16, 8 },  /* STATUS: status */
    { 22, 10 }, /* MQ: max_virtqueue_pairs */
    { 3, 12 },  /* MTU: mtu */
};

static const struct devtype_feature console_features[] = {
    { 0, 4 },  /* SIZE: cols, rows */
    { 1, 8 },  /* MULTIPORT: max_nr_ports */
    { 2, 12 }, /* EMERG_WRITE: emerg_wr */
};
static const struct relay_config_field console_writable[] = {
    { 8, 4, 2 }, /* emerg_wr, with EMERG_WRITE */
};

static const struct devtype_feature balloon_features[] = {
    { 3, 12 }, /* FREE_PAGE_HINT: free_page_hint_cmd_id */
    { 4, 16 }, /* PAGE_POISON: poison_val */
};
static const struct relay_config_field balloon_writable[] = {
    { 4, 4, -1 }, /* actual */
};

static const struct relay_config_field scsi_writable[] = {
    { 20, 4, -1 }, /* sense_size */
    { 24, 4, -1 }, /* cdb_size */
};

/* tag[36], num_request_queues, then: */
static const struct devtype_feature fs_features[] = {
    { 0, 44 }, /* NOTIFICATION: notify_buf_size */
};

/* jacks, streams, chmaps (12 bytes relayed: the controls field of virtio
 * 1.3 is not asked for, so CTLS is not offered), then: */
static const struct devtype_feature sound_features[] = {
    { 0, 16 }, /* CTLS: controls */
};

static const struct devtype_info devtype_table[] = {
    { DEVTYPE_NET, 12, net_features, DEVTYPE_N(net_features), NULL, 0 },
    { DEVTYPE_BLK, 60, blk_features, DEVTYPE_N(blk_features), blk_writable,
      DEVTYPE_N(blk_writable) },
    { DEVTYPE_CONSOLE, 12, console_features, DEVTYPE_N(console_features),
      console_writable, DEVTYPE_N(console_writable) },
    { DEVTYPE_BALLOON, 8, balloon_features, DEVTYPE_N(balloon_features),
      balloon_writable, DEVTYPE_N(balloon_writable) },
    { DEVTYPE_SCSI, 36, NULL, 0, scsi_writable, DEVTYPE_N(scsi_writable) },
    { DEVTYPE_GPU, 0, NULL, 0, NULL, 0 },   /* served by its backend only */
    { DEVTYPE_VSOCK, 8, NULL, 0, NULL, 0 }, /* guest_cid */
    { DEVTYPE_SOUND, 12, sound_features, DEVTYPE_N(sound_features), NULL, 0 },
    { DEVTYPE_FS, 40, fs_features, DEVTYPE_N(fs_features), NULL, 0 },
    { DEVTYPE_GPIO, 8, NULL, 0, NULL, 0 },  /* ngpio, gpio_names_size */
};

static const struct devtype_info *
devtype_info(uint32_t device_id)
{
    for (unsigned i = 0; i < DEVTYPE_N(devtype_table); i++) {
        if (devtype_table[i].id == device_id) {
            return &devtype_table[i];
        }
    }
    return NULL;
}

uint64_t
devtype_features(uint32_t device_id, uint32_t config_len)
{
    const struct devtype_info *t = devtype_info(device_id);
    uint64_t bits = DEVTYPE_DEVICE_BITS;

    if (!t || !t->features) {
        return 0;
    }
    for (unsigned i = 0; i < t->nr_features; i++) {
        if (t->features[i].end > config_len) {
            bits &= ~(1ULL << t->features[i].bit);
        }
    }
    return bits;
}

void
devtype_layout(struct relay_config *rc, uint32_t device_id)
{
    const struct devtype_info *t = devtype_info(device_id);

    rc->config_len = t ? t->config_len : 0;
    rc->writable = t ? t->writable : NULL;
    rc->nr_writable = t ? t->nr_writable : 0;
}
