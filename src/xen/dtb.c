/*
 * dtb: partial device trees for xl's device_tree= option (see dtb.h),
 * written with libfdt's sequential-write API.
 *
 * Trust boundary: none of its own; the devices were validated by decl.
 */
#include <config.h>

#include <errno.h>
#include <libfdt.h>
#include <stdlib.h>
#include <string.h>
#include <stdbool.h>
#include <stdio.h>

#include "cfg.h"
#include "dtb.h"
#include "log.h"

/* A cell array property. */
static int
dtb_cells(void *fdt, const char *name, const uint32_t *cells, unsigned n)
{
    fdt32_t be[4];

    for (unsigned i = 0; i < n; i++) {
        be[i] = cpu_to_fdt32(cells[i]);
    }
    return fdt_property(fdt, name, be, (int)(n * sizeof(be[0])));
}

static int
dtb_grant_dma(void *fdt)
{
    int rc = fdt_begin_node(fdt, "xen-grant-dma");

    rc = rc ? rc : fdt_property_string(fdt, "compatible", "xen,grant-dma");
    rc = rc ? rc : fdt_property_u32(fdt, "#iommu-cells", 1);
    rc = rc ? rc : fdt_property_u32(fdt, "phandle", DTB_PHANDLE_GRANT_DMA);
    return rc ? rc : fdt_end_node(fdt);
}

static int
dtb_virtio(void *fdt, const struct disc_dev *d)
{
    const uint32_t reg[4] = { (uint32_t)(d->base >> 32), (uint32_t)d->base,
                              0, DISC_MMIO_SIZE };
    /* GIC binding: <type (0 = SPI), SPI number, flags (1 = edge rising)>. */
    const uint32_t irq[3] = { 0, d->irq - DISC_IRQ_MIN, 1 };
    /* The iommu specifier is the backend's domid: dom0. */
    const uint32_t iommus[2] = { DTB_PHANDLE_GRANT_DMA, 0 };
    char name[32];
    int rc;

    snprintf(name, sizeof(name), "virtio@%llx", (unsigned long long)d->base);
    rc = fdt_begin_node(fdt, name);
    rc = rc ? rc : fdt_property_string(fdt, "compatible", "virtio,mmio");
    rc = rc ? rc : dtb_cells(fdt, "reg", reg, 4);
    rc = rc ? rc : fdt_property_u32(fdt, "interrupt-parent", DTB_PHANDLE_GIC);
    rc = rc ? rc : dtb_cells(fdt, "interrupts", irq, 3);
    rc = rc ? rc : fdt_property(fdt, "dma-coherent", NULL, 0);
    if (d->grants) {
        rc = rc ? rc : dtb_cells(fdt, "iommus", iommus, 2);
    }
    return rc ? rc : fdt_end_node(fdt);
}

int
dtb_partial(const struct disc_dev *devs, unsigned n, void *buf, size_t len)
{
    bool grants = false;
    int rc;

    if (n == 0) {
        return -EINVAL;
    }
    if (len > (size_t)INT32_MAX) {
        len = INT32_MAX;
    }
    for (unsigned i = 0; i < n; i++) {
        grants = grants || devs[i].grants;
    }
    rc = fdt_create(buf, (int)len);
    rc = rc ? rc : fdt_finish_reservemap(buf);
    rc = rc ? rc : fdt_begin_node(buf, "");
    rc = rc ? rc : fdt_property_u32(buf, "#address-cells", 2);
    rc = rc ? rc : fdt_property_u32(buf, "#size-cells", 2);
    rc = rc ? rc : fdt_begin_node(buf, "passthrough");
    rc = rc ? rc : fdt_property_string(buf, "compatible", "simple-bus");
    rc = rc ? rc : fdt_property(buf, "ranges", NULL, 0);
    rc = rc ? rc : fdt_property_u32(buf, "#address-cells", 2);
    rc = rc ? rc : fdt_property_u32(buf, "#size-cells", 2);
    if (grants) {
        rc = rc ? rc : dtb_grant_dma(buf);
    }
    for (unsigned i = 0; i < n && !rc; i++) {
        rc = dtb_virtio(buf, &devs[i]);
    }
    rc = rc ? rc : fdt_end_node(buf);
    rc = rc ? rc : fdt_end_node(buf);
    rc = rc ? rc : fdt_finish(buf);
    if (rc) {
        return rc == -FDT_ERR_NOSPACE ? -ENOSPC : -EINVAL;
    }
    return (int)fdt_totalsize(buf);
}

int
dtb_write_guest(const struct cfg *c, const char *guest, FILE *out, char *err,
                size_t errlen)
{
    struct disc_dev *devs = calloc(DECL_MAX_PER_GUEST, sizeof(*devs));
    void *buf = malloc(DTB_MAX_SIZE);
    unsigned n;
    int rc;

    if (!devs || !buf) {
        log_errbuf(err, errlen, "out of memory");
        rc = -ENOMEM;
        goto free_bufs;
    }
    n = decl_for_selector(c, guest, devs, DECL_MAX_PER_GUEST);
    if (n == 0) {
        log_errbuf(err, errlen, "no device is declared for guest '%s' "
                   "(want [device %s:DEVID] sections with declare = yes)",
                   guest, guest);
        rc = -ENOENT;
        goto free_bufs;
    }
    rc = dtb_partial(devs, n, buf, DTB_MAX_SIZE);
    if (rc < 0) {
        log_errbuf(err, errlen, "cannot build the device tree: %s",
                   strerror(-rc));
        goto free_bufs;
    }
    if (fwrite(buf, 1, (size_t)rc, out) != (size_t)rc || fflush(out)) {
        log_errbuf(err, errlen, "cannot write the device tree: %s",
                   strerror(errno));
        rc = -EIO;
        goto free_bufs;
    }
    rc = 0;
free_bufs:
    free(buf);
    free(devs);
    return rc;
}
