/*
 * disc: pure parsing of the xenstore entries libxl writes for virtio-mmio
 * devices served from dom0:
 *   /local/domain/0/backend/virtio/<domid>/<devid>/...       (virtio=)
 *   /local/domain/0/backend/virtio_disk/<domid>/<devid>/...  (disk=...,
 *       specification=virtio)
 * No I/O: values come through a getter callback, so the same code runs on
 * a live xenstore (disc_xs), on recorded entries in tests and in a fuzzer.
 *
 * Trust boundary: the entries are written by the toolstack, but a guest
 * can influence nothing here only as long as the toolstack is sane; every
 * value is parsed strictly and range-checked anyway, once, into a
 * struct disc_dev that the rest of the daemon uses.
 */
#ifndef XVM_DISC_H
#define XVM_DISC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "log.h"

#define DISC_BACKEND_ROOT "/local/domain/0/backend"
#define DISC_MMIO_SIZE 0x200u
#define DISC_IRQ_MIN 32u        /* first SPI on Arm */
#define DISC_IRQ_MAX 1019u      /* last SPI on a GIC */
#define DISC_GPA_LIMIT (1ULL << 48)
#define DISC_DOMID_MAX 0x7fefu  /* DOMID_FIRST_RESERVED - 1 */
#define DISC_VALUE_MAX 256
#define DISC_TARGET_MAX 4096
#define DISC_ERR_MAX 256

enum disc_kind {
    DISC_KIND_VIRTIO = 0,       /* backend/virtio */
    DISC_KIND_DISK,             /* backend/virtio_disk */
    DISC_KIND_COUNT,            /* kinds above have xenstore entries */
    /* Declared in the config file (decl.h): no xenstore entry at all. */
    DISC_KIND_DECLARED = DISC_KIND_COUNT,
};

/* xenbus states, as libxl writes and waits for them. */
enum disc_state {
    DISC_STATE_UNKNOWN = 0,
    DISC_STATE_INITIALISING = 1,
    DISC_STATE_INITWAIT = 2,
    DISC_STATE_INITIALISED = 3,
    DISC_STATE_CONNECTED = 4,
    DISC_STATE_CLOSING = 5,
    DISC_STATE_CLOSED = 6,
    DISC_STATE_RECONFIGURING = 7,
    DISC_STATE_RECONFIGURED = 8,
};

/* One device, as parsed; every field already validated. */
struct disc_dev {
    enum disc_kind kind;
    uint32_t domid;
    uint32_t devid;
    uint64_t base;             /* 0x200-aligned, below DISC_GPA_LIMIT */
    unsigned irq;              /* DISC_IRQ_MIN..DISC_IRQ_MAX */
    uint32_t device_id;        /* virtio id; 0: "virtio,device" (generic) */
    bool online;
    enum disc_state state;
    bool readonly;             /* disk mode "r" */
    char target[DISC_TARGET_MAX]; /* disk image (params/target), else "" */
    bool grants;               /* buffers shared by grant reference */
};

/*
 * Read one key of the entry into buf (NUL-terminated).  Returns 0,
 * -ENOENT when the key is absent, -E2BIG when the value does not fit.
 */
typedef int (*disc_get_fn)(void *opaque, const char *key, char *buf,
                           size_t len);

/*
 * Parse the entry of device `devid` of guest `domid`.  0, -ENOENT when a
 * required key is missing, or -EINVAL, with `err` saying which key and
 * value.  grant_usage=1 sets `grants`.
 */
int disc_parse_entry(struct disc_dev *out, enum disc_kind kind,
                     uint32_t domid, uint32_t devid, disc_get_fn get,
                     void *opaque, char *err, size_t errlen);

/*
 * How loudly to report a failed disc_parse_entry() (its rc): a key missing
 * from an entry that parsed before is the toolstack taking the device down
 * (libxl deletes the entry during xl destroy and device removal), which
 * is no error: LOG_LVL_INFO.  Anything else is a broken entry:
 * LOG_LVL_ERR.
 */
enum log_level disc_failure_level(int rc, bool parsed_before);

/* "virtio", "virtio_disk" or "declared". */
const char *disc_kind_dir(enum disc_kind kind);

/*
 * Whether two devices of one guest cannot both be served: their register
 * windows overlap or they share an interrupt.
 */
bool disc_dev_overlap(const struct disc_dev *a, const struct disc_dev *b);

/*
 * Split a watch path under DISC_BACKEND_ROOT: "<root>/<kind>[/<domid>
 * [/<devid>[/<rest>]]]".  Missing parts are reported as UINT32_MAX and
 * `*rest` as "".  0, or -EINVAL when the path is not one of ours.
 */
int disc_split_path(const char *path, enum disc_kind *kind, uint32_t *domid,
                    uint32_t *devid, const char **rest);

/* "<root>/<kind>/<domid>/<devid>[/<key>]".  0 or -ENAMETOOLONG. */
int disc_entry_path(char *buf, size_t len, enum disc_kind kind,
                    uint32_t domid, uint32_t devid, const char *key);

/* Strict numbers: decimal, or hex with "0x" when `hex_ok`.  0 or -EINVAL
 * (-ERANGE above `max`). */
int disc_parse_u64(const char *s, bool hex_ok, uint64_t max, uint64_t *out);

/* "1".."8" -> state.  0 or -EINVAL. */
int disc_parse_state(const char *s, enum disc_state *out);

#endif
