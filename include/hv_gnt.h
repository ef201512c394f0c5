/*
 * hv_gnt: the grant address space of one grant-based virtio device, as a
 * struct hv of its own, so the virtqueue and copy code that reach guest
 * memory through hv_mem_read()/hv_mem_write() serve it unchanged.
 *
 * A guest using grants (Linux's grant-dma-ops, selected by `iommus` on
 * the device's DT node) never puts a guest-physical address in a ring: a
 * DMA address is (1 << 63) | (ref << 12) + offset, where `ref` is a grant
 * reference the guest gave our domain for that page, and a buffer of
 * several pages uses consecutive refs.  This hv's only RAM bank is that
 * space, [HV_GNT_ADDR_BIT, HV_GNT_ADDR_BIT + (HV_GNT_MAX_REFS << 12)):
 * an address without bit 63 is outside it and refused (-EFAULT) like any
 * address outside guest RAM; the guest's own hv refuses the reverse,
 * since no RAM bank reaches bit 63.
 *
 * Access: ranges the relay mapped with hv_gnt_map() (a queue's rings, for
 * the queue's life) are read and written through that mapping; anything
 * else is moved with one batched grant copy per access, so no buffer
 * stays mapped, or is even looked up by ref, beyond the request it
 * belongs to (the guest frees and re-grants refs between requests).
 *
 * Zero-copy: hv_mem_regions() on this hv gives the grant space as one
 * region flagged GRANT | NO_ADVANCE_MAP for the guest's domid (rust-vmm's
 * layout) and hv_mem_share() the fd to map it through (hv_ops.gnt_share:
 * a gntdev of the guest's own under Xen); -EOPNOTSUPP when the guest's
 * hv cannot share grants.
 *
 * Trust boundary: every address is the guest's.  The bank check proves
 * [addr, addr+len) lies in the grant space; each page's ref is then
 * checked by the hypervisor (an ungranted or read-only ref fails the
 * copy or the map with -EFAULT).
 */
#ifndef XVM_HV_GNT_H
#define XVM_HV_GNT_H

#include <stdbool.h>
#include <stdint.h>

#include "hv.h"

#define HV_GNT_ADDR_BIT (1ULL << 63)
#define HV_GNT_PAGE_SHIFT 12
#define HV_GNT_PAGE_SIZE (1u << HV_GNT_PAGE_SHIFT)
/* Refs above this are refused outright (Xen's default table holds 32768
 * v1 entries; a guest can ask for more frames, not 2^20 refs). */
#define HV_GNT_MAX_REFS (1u << 20)
/* Ring mappings alive at once: three per queue. */
#define HV_GNT_MAX_MAPS 96
/* Segments per gnt_copy call. */
#define HV_GNT_BATCH 64

struct hv_gnt_stats {
    uint64_t copies;         /* gnt_copy calls */
    uint64_t copy_bytes;
    uint64_t copy_ns;        /* time spent in them */
    uint64_t maps;           /* hv_gnt_map calls that mapped */
    uint64_t map_ns;         /* time spent in them */
    unsigned live_maps;
};

/*
 * The grant address space of `guest`'s grants to us.  0, -EOPNOTSUPP
 * when `guest` cannot copy or map grants, or -ENOMEM.  Free with
 * hv_free(), which unmaps whatever is still mapped.
 */
int hv_gnt_new(struct hv **out, struct hv *guest);

/*
 * Split a grant DMA address into ref and page offset.  0, or -EINVAL
 * without bit 63 or with a ref >= HV_GNT_MAX_REFS.
 */
int hv_gnt_decode(uint64_t addr, uint32_t *ref, uint32_t *off);

/*
 * Map [addr, addr+len) of grant space (its consecutive refs) until
 * hv_gnt_unmap(`key`).  0, -EFAULT (outside grant space, or a ref not
 * granted, or read-only when `writable`), -ENOSPC (too many maps).
 */
int hv_gnt_map(struct hv *gnt, unsigned key, uint64_t addr, uint64_t len,
               bool writable);

/* Unmap every range mapped under `key`. */
void hv_gnt_unmap(struct hv *gnt, unsigned key);

void hv_gnt_get_stats(const struct hv *gnt, struct hv_gnt_stats *out);

#endif
