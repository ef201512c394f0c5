/*
 * Test support for the hardening suites: one simulated guest (4 MiB bank
 * 0, 1 MiB bank 1, both filled with canary bytes) with its event loop, an
 * optional real qemu-storage-daemon exporting a scratch image, and up to
 * three relay devices driven by rawdrvs, each in its own window, interrupt
 * line and 1 MiB area of bank 0.
 */
#ifndef XVM_TEST_HGUEST_H
#define XVM_TEST_HGUEST_H

#include <stdbool.h>
#include <stdint.h>

#include "backend_proc.h"
#include "hv_sim.h"
#include "loop.h"
#include "rawdrv.h"
#include "relay.h"

#define HGUEST_RAM0 (4u << 20)
#define HGUEST_RAM1 (1u << 20)
#define HGUEST_MMIO 0x02000000ULL
#define HGUEST_IRQ 33u

struct hguest {
    struct hv_sim *sim;
    struct loop *loop;
    char dir[256];
    char image[300];
    uint64_t disk_bytes;
    struct backend_proc qsd;
};

struct hdev {
    struct relay *relay;
    struct rawdrv drv;
};

/*
 * Guest, loop and scratch directory; with disk_bytes, also a zeroed image
 * of that size exported by qemu-storage-daemon.  0 or -errno.
 */
int hguest_new(struct hguest *g, uint64_t disk_bytes);
void hguest_free(struct hguest *g);
/* Restart the guest's qemu-storage-daemon on the same socket. */
int hguest_qsd_restart(struct hguest *g);

/*
 * Device `slot` (0..2) served from `sock` (NULL: the guest's qsd).
 * `cfg` may preset timeout_ms, reconnect_giveup_ms and the config-space
 * settings (config_len, device_features, writable); NULL for defaults.
 */
int hdev_open(struct hdev *d, struct hguest *g, unsigned slot,
              const char *sock, enum relay_mode mode,
              const struct relay_config *cfg);
void hdev_close(struct hdev *d);

/* FNV-1a of a file, and of `n` bytes. */
uint64_t hguest_hash_file(const char *path);
uint64_t hguest_hash(uint64_t h, const void *p, uint64_t n);
#define HGUEST_HASH_INIT 0xcbf29ce484222325ULL

#endif
