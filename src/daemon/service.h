/*
 * service: `xen-vhost-master --service` (Xen builds only).
 *
 * The parent keeps xenstore (disc_xs) and, per guest with devices, one
 * forked worker process (worker.h) that owns the guest's hv and relays.
 * For a virtio disk with no backend socket it can start
 * qemu-storage-daemon on the disk's target and stop it at teardown.
 */
#ifndef XVM_SERVICE_H
#define XVM_SERVICE_H

#include "cfg.h"

/* Run until SIGTERM/SIGINT; returns the process exit status. */
int service_main(const struct cfg *c);

#endif
