/*
 * hv_xen_gnt: the hv seam's grant ops over /dev/xen/gntdev (grant-based
 * virtio devices, hv_gnt.h).  Private to hv_xen*.c.
 *
 * The fd is our own, not a libxengnttab handle: xentoolcore_restrict_all()
 * (hv_xen_restrict) replaces every registered handle's fd with /dev/null,
 * and gntdev has no "restrict to one domain" ioctl, so a libxengnttab
 * handle would be useless in a restricted process.  Instead the fd is
 * attached only when a grant device is added (hv_xen_gnt_attach): opened
 * here by an unrestricted process, or handed over by the service, which
 * opens it for a worker that already dropped its privileges.  A guest
 * without grant devices never gets one.
 *
 * What a worker holding it can still do: grant copy and grant map (it
 * keeps no other gntdev ioctl in use).  Xen checks each op against the
 * named domain's grant table, which only lets through refs that domain
 * granted to dom0.  gntdev itself does not limit the domid, so a
 * compromised worker could reach other guests' grants to dom0 (PV block
 * and network buffers, other grant-virtio guests); it cannot map or copy
 * any ungranted memory, and it has no privcmd, xenstore or root.  Our code
 * only names the worker's own guest.
 *
 * Zero-copy backends get a gntdev of their own (hv_xen_gnt_share): a
 * separate open of /dev/xen/gntdev attached with the first one (by the
 * service for a restricted worker), never the fd our own mappings live
 * on, and copied for each backend.  What it can do
 * is what gntdev allows, and gntdev cannot be narrowed (Linux 6.1 and
 * 6.12, drivers/xen/gntdev.c): IOCTL_GNTDEV_MAP_GRANT_REF takes a domid
 * with every ref, there is no restrict ioctl, IOCTL_GNTDEV_SET_MAX_GRANTS
 * is defined in the uapi header but the driver has no handler for it
 * (ENOTTY), and the
 * only bound is the module's per-request `limit` (64 Ki refs).  So the
 * holder can map, or grant-copy, any page any domain granted to dom0,
 * not only this guest's (docs/grants.md says what that means).  The
 * guest's own hypervisor-side table still decides: nothing a domain did
 * not grant to dom0 can be reached, unlike a privcmd fd.
 *
 * Trust boundary: refs and offsets come from hv_gnt, already range
 * checked; Xen checks each ref against the guest's grant table.
 */
#ifndef XVM_HV_XEN_GNT_H
#define XVM_HV_XEN_GNT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/ioctl.h>

#include <xen/xen.h>
#include <xen/grant_table.h>
#include <xen/sys/gntdev.h>

#include "hv.h"

/*
 * Fill gntdev copy segments for seg[0..n): between our buffers and guest
 * `domid`'s refs, to the guest when `to_guest`.  Pure; unit-tested.
 */
void hv_xen_gnt_fill(const struct hv_gnt_seg *seg, unsigned n,
                     uint16_t domid, bool to_guest,
                     struct ioctl_gntdev_grant_copy_segment *out);

/* The hv_ops entries (hv_ops.gnt_copy, gnt_map, gnt_unmap). */
int hv_xen_gnt_copy(struct hv *hv, const struct hv_gnt_seg *seg, unsigned n,
                    bool to_guest);
int hv_xen_gnt_map(struct hv *hv, uint32_t ref, uint32_t count,
                   bool writable, void **out);
void hv_xen_gnt_unmap(struct hv *hv, void *p, uint32_t ref, uint32_t count);
/* hv_ops.gnt_share: a copy of the guest's gntdev for one backend. */
int hv_xen_gnt_share(struct hv *hv);

#endif
