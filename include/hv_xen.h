/*
 * hv_xen: the hv seam over Xen (one instance per guest domain).
 *
 * Registers an ioreq server for the guest, maps its ioreq page, binds one
 * event channel per vcpu and answers every ioreq through the mmio windows
 * added with hv_mmio_add().  Guest memory is reached through foreign
 * mappings with a bounded cache; interrupts via set_irq_level.
 * Only hv_xen*.c include Xen headers.
 */
#ifndef XVM_HV_XEN_H
#define XVM_HV_XEN_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "hv.h"
#include "loop.h"
#include "privfd.h"

struct hv_xen_opts {
    unsigned mapcache_mib;   /* bound on foreign-mapped guest RAM; 0: 64 */
    int kernel_eventfd;      /* -1 never, 0 auto (detect), 1 require */
    const struct privfd_ops *privcmd; /* NULL: /dev/xen/privcmd (tests
                                       * pass a fake device) */
};

/*
 * Open every handle for `domid` and start serving ioreqs from `loop`.
 * opts may be NULL (defaults).  Guest RAM size and vcpu count are read
 * once here.  ioeventfd_add on the result maps to the privcmd kernel
 * ioeventfd, which only matches virtio-mmio QueueNotify: `addr` must be
 * a device base + 0x50 and `datamatch` the queue index; it returns
 * -EOPNOTSUPP on kernels without it (callers keep the trap path).
 * mem_regions gives one region per RAM bank (mmap offset 0, XEN_MMAP
 * foreign flag, domid); mem_share gives each backend its own copy of a
 * /dev/xen/privcmd fd opened here for backends alone and restricted to
 * `domid` at once, whatever this process's own restriction, and checked
 * again before every copy (privfd.h).  Without it, no zero-copy.
 */
int hv_xen_open(struct hv **out, struct loop *loop, uint32_t domid,
                const struct hv_xen_opts *opts);

/*
 * Restrict every Xen handle of this process to `domid`
 * (xentoolcore_restrict_all, plus our own privcmd fd) and,
 * if uid != 0, drop supplementary groups, then gid, then uid, verifying
 * that root cannot be regained.  Call after hv_xen_open(); no new guest
 * can be opened by this process afterwards.  0 or -errno.
 */
int hv_xen_restrict(struct hv *hv, uid_t uid, gid_t gid);

/*
 * Grant devices (hv_xen_gnt.h): open /dev/xen/gntdev (root only).  The
 * fd, or -errno.
 */
int hv_xen_gntdev_open(void);
/*
 * Give hv the gntdev fds its grant devices use, taking ownership of both:
 * `fd` for its own grant copies and maps, `share_fd` (a separate open) for
 * zero-copy backends to map through.  Each < 0: open it now (fails once
 * this process dropped root; without a share fd, zero-copy grant devices
 * are refused).  A second attach closes what it is given and keeps the
 * first.  0 or -errno (logged).  Not undone by hv_xen_restrict(): attach
 * only for guests with grant devices.
 */
int hv_xen_gnt_attach(struct hv *hv, int fd, int share_fd);
bool hv_xen_gnt_attached(const struct hv *hv);

/*
 * The vCPU count of live domain `domid`, as hv_xen_open() finds it
 * (max_vcpu_id + 1): for a caller holding no hv of the guest, such as
 * the service sizing a backend it starts.  0 or -errno (logged).
 */
int hv_xen_domain_vcpus(uint32_t domid, unsigned *nr_vcpus);

#endif
