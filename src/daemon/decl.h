/*
 * decl: devices declared in the configuration file, for guests that have
 * no toolstack entry for them (Xen 4.17 guests, whose libxl knows only
 * virtio disks, and dom0less guests).
 *
 * A `[device GUEST:DEVID]` or `[device DOMID:DEVID]` section with
 * `declare = yes` names a whole device: `device-id` (its virtio type),
 * `base` (its 0x200-byte register window), `irq` (its GIC SPI),
 * optionally `grants = yes` (the guest shares buffers with grant
 * references instead of exposing its RAM), plus the usual
 * socket/mode/queue-size/bounce-kib overrides and the settings of its
 * type (fs-tag, queues, mac, ...: devtype.h).
 * The service serves such a device as soon as the guest exists, the
 * xl-spawned daemon before the guest runs; neither needs a xenstore entry.
 * The guest learns of it from the partial device tree that
 * `--device-tree=GUEST` writes for xl's `device_tree=` option (dtb.h).
 *
 * Trust boundary: the administrator's config file.  Every declared
 * device is checked against the guest virtio-mmio window and SPI range
 * Xen's Arm guest layout reserves, and against the other declared
 * devices of the same guest (no shared window, SPI or devid); the
 * daemon checks it against the guest's xenstore devices when it serves
 * them (disc_dev_overlap()).
 */
#ifndef XVM_DECL_H
#define XVM_DECL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "disc.h"

/* Xen's Arm guest layout (public/arch-arm.h): the virtio-mmio window and
 * the SPIs libxl reserves for virtio devices. */
#define DECL_MMIO_BASE 0x02000000ULL
#define DECL_MMIO_SIZE 0x00100000ULL
#define DECL_SPI_FIRST 33u
#define DECL_SPI_LAST 43u
#define DECL_MAX_PER_GUEST 16

struct cfg;
struct cfg_dev;

/* The declaration part of a `[device]` section. */
struct decl_spec {
    bool declared;              /* declare = yes */
    uint64_t base;              /* 0: not set */
    unsigned irq;               /* GIC interrupt id (SPI + 32); 0: not set */
    bool grants;                /* grants = yes */
};

/*
 * Set one declaration key of a `[device]` section.  0; -ENOENT when `key`
 * is not a declaration key; -EINVAL with `err` naming the bad value.
 */
int decl_set_key(struct decl_spec *s, const char *key, const char *value,
                 char *err, size_t errlen);

/*
 * Check every declared device of `c`: a DOMID:DEVID or GUEST:DEVID
 * selector, device-id, base and irq set, base 0x200-aligned inside the
 * virtio-mmio window, irq a reserved virtio SPI, no zero-copy mode with
 * grants, and no two declarations of one guest sharing a devid, a
 * window or an SPI.  0 or -EINVAL with `err` naming both devices.
 */
int decl_check(const struct cfg *c, char *err, size_t errlen);

/*
 * The declared devices of guest `domid` (named `name`, NULL when
 * unknown), as discovery results of kind DISC_KIND_DECLARED.  Sections
 * naming the guest come first, then those naming its domid; one that
 * overlaps an earlier one is left out with a log line.  Returns how many
 * were written to `out` (at most `max`).
 */
unsigned decl_for_guest(const struct cfg *c, uint32_t domid,
                        const char *name, struct disc_dev *out, unsigned max);

/*
 * Like decl_for_guest(), by the selector text an administrator types:
 * a domid ("7") picks DOMID sections, anything else GUEST sections
 * (domid 0 in the results: unknown).
 */
unsigned decl_for_selector(const struct cfg *c, const char *guest,
                           struct disc_dev *out, unsigned max);

/* Print a section's declaration keys as the config file holds them. */
void decl_dump(const struct decl_spec *s, FILE *out);

#endif
