/* Test support: a simulated guest for the hardening suites (hguest.h). */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "hguest.h"

int
hguest_new(struct hguest *g, uint64_t disk_bytes)
{
    struct hv_sim_config hc = { .name = "hguest", .ram0_len = HGUEST_RAM0,
                                .ram1_len = HGUEST_RAM1 };
    int rc, fd;

    memset(g, 0, sizeof(*g));
    if ((rc = hv_sim_new(&g->sim, &hc)) < 0) {
        return rc;
    }
    memset(hv_sim_ram(g->sim, HV_ARM_RAM0_GPA, HGUEST_RAM0), RAWDRV_CANARY,
           HGUEST_RAM0);
    memset(hv_sim_ram(g->sim, HV_ARM_RAM1_GPA, HGUEST_RAM1), RAWDRV_CANARY,
           HGUEST_RAM1);
    g->loop = loop_new();
    if (!g->loop) {
        return -ENOMEM;
    }
    if ((rc = backend_tmpdir(g->dir, sizeof(g->dir))) < 0) {
        return rc;
    }
    g->disk_bytes = disk_bytes;
    if (!disk_bytes) {
        return 0;
    }
    if (!backend_qsd_path()) {
        return -ENOENT;
    }
    snprintf(g->image, sizeof(g->image), "%s/disk.img", g->dir);
    fd = open(g->image, O_CREAT | O_RDWR | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        return -errno;
    }
    rc = ftruncate(fd, (off_t)disk_bytes) < 0 ? -errno : 0;
    close(fd);
    if (rc < 0) {
        return rc;
    }
    return backend_start_qsd(&g->qsd, g->dir, "blk", g->image);
}

int
hguest_qsd_restart(struct hguest *g)
{
    backend_kill(&g->qsd);
    return backend_start_qsd(&g->qsd, g->dir, "blk", g->image);
}

void
hguest_free(struct hguest *g)
{
    backend_stop(&g->qsd);
    if (g->dir[0]) {
        backend_rmtree(g->dir);
    }
    if (g->sim) {
        hv_sim_free(g->sim);
    }
    loop_free(g->loop);
    memset(g, 0, sizeof(*g));
}

int
hdev_open(struct hdev *d, struct hguest *g, unsigned slot, const char *sock,
          enum relay_mode mode, const struct relay_config *cfg)
{
    struct relay_config rc = { .timeout_ms = 2000 };
    char name[32];
    int err;

    if (slot > 2) {
        return -EINVAL;
    }
    if (cfg) {
        rc = *cfg;
    }
    snprintf(name, sizeof(name), "hguest/dev%u", slot);
    rc.name = name;
    rc.socket_path = sock ? sock : g->qsd.sock;
    rc.mode = mode;
    rc.mmio_base = HGUEST_MMIO + 0x200ULL * slot;
    rc.irq = HGUEST_IRQ + slot;
    rc.device_id = 2;
    if (!rc.config_len) {
        rc.config_len = sock ? 0 : 60;
    }
    memset(d, 0, sizeof(*d));
    rawdrv_bind(&d->drv, g->sim, g->loop, rc.mmio_base, rc.irq,
                HV_ARM_RAM0_GPA + (1ULL + slot) * (1u << 20), 1u << 20);
    err = relay_new(&d->relay, hv_sim_hv(g->sim), g->loop, &rc);
    d->drv.relay = d->relay;
    return err;
}

void
hdev_close(struct hdev *d)
{
    relay_free(d->relay);
    d->relay = NULL;
}

uint64_t
hguest_hash(uint64_t h, const void *p, uint64_t n)
{
    const uint8_t *b = p;

    for (uint64_t i = 0; i < n; i++) {
        h = (h ^ b[i]) * 0x100000001b3ULL;
    }
    return h;
}

uint64_t
hguest_hash_file(const char *path)
{
    uint8_t buf[65536];
    uint64_t h = HGUEST_HASH_INIT;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n;

    if (fd < 0) {
        return 0;
    }
    while ((n = read(fd, buf, sizeof(buf))) > 0) {
        h = hguest_hash(h, buf, (uint64_t)n);
    }
    close(fd);
    return h;
}
