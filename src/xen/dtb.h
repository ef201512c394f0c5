/*
 * dtb: the partial device tree xl's `device_tree=` option copies into an
 * Arm guest's tree, for the devices declared in the config file (decl.h).
 * Built with libfdt; only in builds that have it.
 *
 * Layout (checked live on Xen 4.17: libxl copies /passthrough):
 *   / { #address-cells = <2>; #size-cells = <2>;
 *     passthrough { compatible = "simple-bus"; ranges;
 *       #address-cells = <2>; #size-cells = <2>;
 *       xen-grant-dma { compatible = "xen,grant-dma"; #iommu-cells = <1>;
 *                       phandle = <DTB_PHANDLE_GRANT_DMA>; };
 *       virtio@BASE { compatible = "virtio,mmio"; reg = <0 BASE 0 0x200>;
 *         interrupt-parent = <DTB_PHANDLE_GIC>; interrupts = <0 SPI 1>;
 *         dma-coherent; iommus = <DTB_PHANDLE_GRANT_DMA 0>; };
 *     };
 *   };
 * The grant-dma node and `iommus` appear only for devices with grants:
 * Linux then gives the device grant DMA ops with dom0 (the iommu cell)
 * as the backend; a node without `iommus` is a plain virtio-mmio device
 * whose buffers dom0 maps from guest RAM.
 */
#ifndef XVM_DTB_H
#define XVM_DTB_H

#include <stddef.h>

#include <stdio.h>

#include "disc.h"

struct cfg;

/* libxl's phandle for the guest's GIC (GUEST_PHANDLE_GIC). */
#define DTB_PHANDLE_GIC 65000u
/* Ours for the grant-dma node: below libxl's, which count up from 65000. */
#define DTB_PHANDLE_GRANT_DMA 64999u
/* Ample for DECL_MAX_PER_GUEST devices. */
#define DTB_MAX_SIZE 8192

/*
 * Write the partial tree for devs[0..n) into buf.  Returns its size, or
 * -ENOSPC when `len` is too small, -EINVAL for n == 0.
 */
int dtb_partial(const struct disc_dev *devs, unsigned n, void *buf,
                size_t len);

/*
 * Write the partial tree for the declared devices of `guest` (a name or
 * a domid, as in [device GUEST:DEVID] sections) to `out`.  0, or
 * -ENOENT when none is declared, -EIO when `out` fails; `err` says why.
 */
int dtb_write_guest(const struct cfg *c, const char *guest, FILE *out,
                    char *err, size_t errlen);

#endif
