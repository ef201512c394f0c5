/*
 * Test support: what a Linux guest's virtio drivers do at probe, on top of
 * simdrv.  For each device type the feature table of Linux 6.1 (Debian
 * bookworm) and 6.12 (trixie) drivers, plus the transport bits
 * virtio_ring accepts, so a test negotiates exactly what that guest would;
 * the queue count the driver sets up from the negotiated features and
 * config; and the checks a spec-abiding device must pass before the driver
 * trusts its config (virtio 1.2 "device requirements").
 */
#ifndef XVM_TEST_LINUXDRV_H
#define XVM_TEST_LINUXDRV_H

#include <stddef.h>
#include <stdint.h>

#include "simdrv.h"

enum linuxdrv_kernel {
    LINUX_6_1 = 0,
    LINUX_6_12,
};

/* The driver's feature table plus the transport bits (0 for an unknown type). */
uint64_t linuxdrv_features(uint32_t device_id, enum linuxdrv_kernel k);

/*
 * Probe the device as that kernel's driver does: negotiate, set up the
 * queues it would use, DRIVER_OK, then check config against the spec.
 * Returns 0, or -1 with the violation in err.  *nr_queues gets the queue
 * count set up.
 */
int linuxdrv_probe(struct simdrv *d, enum linuxdrv_kernel k,
                   unsigned *nr_queues, char *err, size_t errlen);

/*
 * virtio_net's virtnet_send_command(): class, command and data readable,
 * one ack byte writable, on control queue q, using 64 bytes of guest RAM
 * at scratch_gpa; then wait for the ack.  Returns the ack byte, or
 * -ETIMEDOUT when the command never completes (Linux would spin forever).
 */
int linuxdrv_net_command(struct simdrv *d, unsigned q, uint64_t scratch_gpa,
                         uint8_t cls, uint8_t cmd, const void *data,
                         uint32_t len);

#endif
