/*
 * resolve: which backend serves a device, decided the same way by the
 * service and the xl-spawned mode.
 *
 * Policy (docs/xen-vhost-master.8, BACKEND SOCKETS):
 *  - A disk whose entry names an image (disk=[...,specification=virtio]) is
 *    served from that image: from the socket a per-device section
 *    ([device DOMID:DEVID] or [device GUEST:DEVID]) names, else from a
 *    qemu-storage-daemon the service starts for that image on the
 *    per-device path.  Never from a per-type socket, nor from whatever an
 *    earlier guest left at the per-device path.
 *  - Other devices (virtio=) use the socket a section names, else the
 *    per-device path, else the per-type path, whichever has a listener.  A
 *    socket file nobody listens on is a leftover: it is removed, never
 *    connected.
 *
 * Trust boundary: the configuration (administrator) and the parsed
 * xenstore entry (toolstack).  The only I/O is looking at socket files in
 * the backend directory and /proc/net/unix.
 */
#ifndef XVM_RESOLVE_H
#define XVM_RESOLVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cfg.h"
#include "disc.h"
#include "worker.h"

/* What applies to one device after section lookup. */
struct resolve_settings {
    char socket[CFG_SOCK_MAX];       /* explicit socket, "" = none */
    bool socket_per_device;          /* it came from a DOMID/GUEST section */
    enum relay_mode mode;
    uint16_t queue_size;
    uint32_t bounce_kib;
    uint32_t device_id;              /* 0 = from xenstore */
    struct devtype_settings set;     /* per-type settings */
};

/* What the caller must do to get out->socket served. */
enum resolve_how {
    RESOLVE_CONNECT = 0,   /* a backend listens on out->socket */
    RESOLVE_SPAWN,         /* start qemu-storage-daemon for the disk's
                              target, listening on out->socket */
};

/*
 * Settings for one device: the globals, overridden by the best matching
 * [device] section (guest name, then domid, then type; the first section
 * of the best rank wins).  `guest` may be NULL when the name is unknown.
 */
void resolve_settings(const struct cfg *c, uint32_t domid, const char *guest,
                      uint32_t devid, uint32_t device_id,
                      struct resolve_settings *out);

/* "<dir>/<domid>-<devid>.sock".  0 or -ENAMETOOLONG. */
int resolve_device_socket(const struct cfg *c, uint32_t domid, uint32_t devid,
                          char *buf, size_t len);
/* "<dir>/<type>.sock" (e.g. blk.sock).  0 or -ENAMETOOLONG. */
int resolve_type_socket(const struct cfg *c, uint32_t device_id, char *buf,
                        size_t len);

/*
 * True when a UNIX socket listens on `path`: listed as listening in
 * /proc/net/unix (no connection made: a vhost-user backend may serve one
 * connection and exit), else, for a listener in another network namespace,
 * a connect() that is not refused.  False for a missing path and for a
 * socket file whose connect() is refused (a leftover).
 */
bool resolve_socket_live(const char *path);

/*
 * Fill `out` for device `d` by the policy above.  0 with *how set; -ENOENT
 * when no backend listens yet (worth retrying); -EINVAL when the
 * configuration cannot serve the device (a generic virtio device without
 * device-id, a disk with no socket named and spawning off);
 * -ENAMETOOLONG.  `err` says why on failure.
 */
int resolve_device(const struct cfg *c, const struct disc_dev *d,
                   const char *guest, struct worker_dev *out,
                   enum resolve_how *how, char *err, size_t errlen);

/*
 * The queues a qemu-storage-daemon started for disk `wd` exports
 * (num-queues), so that the relay's choice (the blk profile: the
 * `queues` setting, else one per guest vCPU) finds them all: the
 * setting, else `vcpus` (0, unknown: 1), at most VMMIO_MAX_QUEUES.
 */
unsigned resolve_qsd_queues(const struct worker_dev *wd, unsigned vcpus);

#endif
