/*
 * hv_xen_gnt: the hv seam's grant ops over libxengnttab (grant-based
 * virtio devices, hv_gnt.h).  Private to hv_xen*.c.
 *
 * The handle is opened with the others, before any restriction.
 * xentoolcore_restrict_all() (hv_xen_restrict) then replaces its fd with
 * /dev/null, as libxengnttab restricts: gntdev cannot be limited to one
 * guest, and an open one could map grants any guest gave dom0 (other
 * guests' PV block and network buffers).  So a restricted worker has no
 * grant access at all: every op fails and says why, and grant devices
 * need an unrestricted run (the xl-spawned mode without dm_restrict).
 *
 * Zero-copy backends get a gntdev of their own (hv_xen_gnt_share): a
 * separate open of /dev/xen/gntdev made for this guest when its handles
 * are opened (after the privilege drop it could not be opened), never the
 * libxengnttab handle's fd, and copied for each backend.  What it can do
 * is what gntdev allows, and gntdev cannot be narrowed (Linux 6.1 and
 * 6.12, drivers/xen/gntdev.c): IOCTL_GNTDEV_MAP_GRANT_REF takes a domid
 * with every ref, there is no restrict ioctl, IOCTL_GNTDEV_SET_MAX_GRANTS
 * is defined in the uapi header but not implemented (ENOTTY), and the
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

#include <xengnttab.h>

#include "hv.h"

/* Open the grant handle (optional: NULL without /dev/xen/gntdev). */
xengnttab_handle *hv_xen_gnt_open(const char *name);
/* Open the gntdev zero-copy backends share (optional: fd, or -1). */
int hv_xen_gnt_share_open(const char *name);

/*
 * Fill Xen copy segments for seg[0..n): between our buffers and guest
 * `domid`'s refs, to the guest when `to_guest`.  Pure; unit-tested.
 */
void hv_xen_gnt_fill(const struct hv_gnt_seg *seg, unsigned n,
                     uint16_t domid, bool to_guest,
                     xengnttab_grant_copy_segment_t *out);

/* The hv_ops entries (hv_ops.gnt_copy, gnt_map, gnt_unmap). */
int hv_xen_gnt_copy(struct hv *hv, const struct hv_gnt_seg *seg, unsigned n,
                    bool to_guest);
int hv_xen_gnt_map(struct hv *hv, uint32_t ref, uint32_t count,
                   bool writable, void **out);
void hv_xen_gnt_unmap(struct hv *hv, void *p, uint32_t ref, uint32_t count);
/* hv_ops.gnt_share: a copy of the guest's gntdev for one backend. */
int hv_xen_gnt_share(struct hv *hv);

#endif
