/*
 * disc_xs: discovery over a live xenstore (Xen builds only).
 *
 * Watches DISC_BACKEND_ROOT/virtio and .../virtio_disk (every guest, or
 * one domid) and @releaseDomain, keeps a table of the entries it has
 * seen, and turns watch events into three callbacks: a device is up
 * (valid, online, state 1-4), a device is going (online=0 or state 5:
 * the owner tears it down and then calls disc_xs_set_state(CLOSED)), a
 * device vanished, and a guest died.  Every event triggers an idempotent
 * rescan, so spurious, repeated or coalesced watch events are harmless.
 * On first sight of a valid entry in state 1 it writes InitWait (2) at
 * once: libxl waits at most 10 s for that on virtio disks.
 *
 * Trust boundary: xenstore contents (parsed by disc.c) and watch paths
 * (split by disc_split_path(); anything else is ignored).
 */
#ifndef XVM_DISC_XS_H
#define XVM_DISC_XS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "disc.h"
#include "loop.h"

struct disc_xs_ops {
    void *opaque;
    /* A valid device to serve appeared. */
    void (*dev_up)(void *opaque, const struct disc_dev *d);
    /*
     * A served device is going: `closing` for online=0/state=5 (answer
     * with DISC_STATE_CLOSED once torn down), false when it vanished.
     */
    void (*dev_down)(void *opaque, enum disc_kind kind, uint32_t domid,
                     uint32_t devid, bool closing);
    /* Guest `domid` no longer exists. */
    void (*dom_gone)(void *opaque, uint32_t domid);
    /*
     * Optional: guest `domid` exists (@introduceDomain, or found by a
     * rescan), reported once per guest; dom_gone follows when it goes,
     * whether or not it had entries.
     */
    void (*dom_new)(void *opaque, uint32_t domid);
};

struct disc_xs;

/* only_domid 0: every guest.  0 or -errno. */
int disc_xs_new(struct disc_xs **out, struct loop *loop, uint32_t only_domid,
                const struct disc_xs_ops *ops);
void disc_xs_free(struct disc_xs *x);

/* Write an entry's state, only if the entry still exists.  0 or -errno. */
int disc_xs_set_state(struct disc_xs *x, enum disc_kind kind, uint32_t domid,
                      uint32_t devid, enum disc_state state);

/* Write state 6 (Closed) on every existing entry of `domid`. */
void disc_xs_close_all(struct disc_xs *x, uint32_t domid);

/* Write any key (device-model state and the like).  0 or -errno. */
int disc_xs_write(struct disc_xs *x, const char *path, const char *value);

/* Remove a key and everything under it.  0 or -errno. */
int disc_xs_rm(struct disc_xs *x, const char *path);

/* The guest's name (/local/domain/<domid>/name).  0 or -errno. */
int disc_xs_guest_name(struct disc_xs *x, uint32_t domid, char *buf,
                       size_t len);

/* Rescan everything now (used at start-up and by tests). */
void disc_xs_rescan(struct disc_xs *x);

#endif
