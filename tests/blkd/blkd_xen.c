/*
 * blkd_xen: the one piece of xvm-test-blkd that only runs under Xen:
 * mapping a XEN_MMAP FOREIGN region.
 *
 * The frontend sends an open /dev/xen/privcmd with the region (flags
 * FOREIGN, xen_mmap_data = the guest's domid), as rust-vmm's vm-memory
 * does it: mmap the privcmd fd at offset 0 for the region's size, then
 * IOCTL_PRIVCMD_MMAPBATCH_V2 with the guest frame numbers gpa>>12 .. to
 * populate the mapping; every page's error is checked.  Nothing here can
 * be exercised without a hypervisor: the simulator's regions are plain
 * memfds.  The arm64 Xen harness is what proves it.
 *
 * Trust boundary: the domid, gpa and size come from the frontend and are
 * checked (domid below the reserved range, page alignment, size bounded);
 * the hypervisor then decides which frames we may map.
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "blkd.h"
#include "log.h"

/*
 * Linux include/uapi/xen/privcmd.h.  Defined here, always: the installed
 * header includes <xen/interface/xen.h>, which userspace does not have.
 * xen_pfn_t is 64 bits on every 64-bit Linux (and on all Arm).
 */
struct blkd_privcmd_mmapbatch_v2 {
    unsigned int num;   /* number of pages */
    uint16_t dom;       /* domid_t */
    uint64_t addr;      /* start of our mapping */
    const uint64_t *arr; /* guest frame numbers */
    int *err;           /* per-page result */
};
_Static_assert(sizeof(void *) != 8 ||
                   sizeof(struct blkd_privcmd_mmapbatch_v2) == 32,
               "privcmd_mmapbatch_v2 ABI on 64-bit");
#define BLKD_IOCTL_PRIVCMD_MMAPBATCH_V2                                        \
    _IOC(_IOC_NONE, 'P', 4, sizeof(struct blkd_privcmd_mmapbatch_v2))

#define BLKD_DOMID_FIRST_RESERVED 0x7ff0u
/* Bound on one region's page count (1 TiB): keeps the arrays sane. */
#define BLKD_XEN_MAX_PAGES (1ULL << 28)

int
blkd_xen_map_foreign(struct blkd_region *r, int fd, uint32_t domid)
{
    struct blkd_privcmd_mmapbatch_v2 b;
    uint64_t npages = r->len / BLKD_XEN_PAGE;
    uint64_t *gfn = NULL;
    int *err = NULL;
    struct stat st;
    void *p = MAP_FAILED;
    int rc = 0;

    if (domid == 0 || domid >= BLKD_DOMID_FIRST_RESERVED) {
        log_err("blkd: FOREIGN region for domid %u", domid);
        return -EINVAL;
    }
    if (r->gpa % BLKD_XEN_PAGE || r->len % BLKD_XEN_PAGE ||
        npages > BLKD_XEN_MAX_PAGES) {
        log_err("blkd: FOREIGN region gpa %#" PRIx64 " size %#" PRIx64
                " is not page-aligned or too big", r->gpa, r->len);
        return -EINVAL;
    }
    if (fstat(fd, &st) < 0) {
        return -errno;
    }
    if (!S_ISCHR(st.st_mode)) {
        log_err("blkd: FOREIGN region fd is not a character device "
                "(want /dev/xen/privcmd)");
        return -EINVAL;
    }
    gfn = calloc((size_t)npages, sizeof(*gfn));
    err = calloc((size_t)npages, sizeof(*err));
    if (!gfn || !err) {
        rc = -ENOMEM;
        goto out_free;
    }
    for (uint64_t i = 0; i < npages; i++) {
        gfn[i] = r->gpa / BLKD_XEN_PAGE + i;
    }
    p = mmap(NULL, (size_t)r->len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
        rc = -errno;
        log_err("blkd: mmap of privcmd for %" PRIu64 " bytes: %s", r->len,
                strerror(errno));
        goto out_free;
    }
    b = (struct blkd_privcmd_mmapbatch_v2){
        .num = (unsigned int)npages, .dom = (uint16_t)domid,
        .addr = (uint64_t)(uintptr_t)p, .arr = gfn, .err = err,
    };
    if (ioctl(fd, BLKD_IOCTL_PRIVCMD_MMAPBATCH_V2, &b) < 0) {
        rc = -errno;
        log_err("blkd: MMAPBATCH_V2 of dom%u gpa %#" PRIx64 " (%" PRIu64
                " pages): %s", domid, r->gpa, npages, strerror(errno));
        goto out_unmap;
    }
    for (uint64_t i = 0; i < npages; i++) {
        if (err[i] != 0) {
            rc = err[i] < 0 ? err[i] : -EIO;
            log_err("blkd: dom%u frame %#" PRIx64 " not mapped: %s", domid,
                    gfn[i], strerror(-rc));
            goto out_unmap;
        }
    }
    r->map = p;
    r->map_len = (size_t)r->len;
    r->host = p;
    goto out_free;

out_unmap:
    munmap(p, (size_t)r->len);
out_free:
    free(gfn);
    free(err);
    return rc;
}
