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
 * With --probe-privcmd it also tries to overstep with the fd it was sent
 * (blkd_xen_probe): what a compromised backend would do.  The frontend
 * must have restricted that fd to its guest, so the kernel answers EPERM;
 * a privcmd fd we open ourselves (we run as root in the harness) shows
 * what the same calls get without a restriction.
 *
 * Trust boundary: the domid, gpa and size come from the frontend and are
 * checked (domid below the reserved range, page alignment, size bounded);
 * the hypervisor then decides which frames we may map.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

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

/* struct privcmd_hypercall and struct privcmd_dm_op(_buf), same header. */
struct blkd_privcmd_hypercall {
    uint64_t op;
    uint64_t arg[5];
};
struct blkd_privcmd_dm_op_buf {
    void *uptr;
    size_t size;
};
struct blkd_privcmd_dm_op {
    uint16_t dom;
    uint16_t num;
    const struct blkd_privcmd_dm_op_buf *ubufs;
};
#define BLKD_IOCTL_PRIVCMD_HYPERCALL                                           \
    _IOC(_IOC_NONE, 'P', 0, sizeof(struct blkd_privcmd_hypercall))
#define BLKD_IOCTL_PRIVCMD_DM_OP                                               \
    _IOC(_IOC_NONE, 'P', 5, sizeof(struct blkd_privcmd_dm_op))
/* Xen public headers: __HYPERVISOR_xen_version, XENVER_version,
 * XEN_DMOP_get_ioreq_server_info. */
#define BLKD_HYPERVISOR_XEN_VERSION 17u
#define BLKD_XENVER_VERSION 0u
#define BLKD_DMOP_GET_IOREQ_SERVER_INFO 2u

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

/* ---- --probe-privcmd ---- */

/* "EPERM", "ok", ...: the ioctl's outcome as the scenario greps it. */
static const char *
blkd_probe_name(int rc, char *buf, size_t len)
{
    if (rc == 0) {
        return "ok";
    }
    if (rc == -EPERM) {
        return "EPERM";
    }
    snprintf(buf, len, "errno %d (%s)", -rc, strerror(-rc));
    return buf;
}

/* Map one frame of `dom` (at gfn) into a fresh one-page privcmd mapping. */
static int
blkd_probe_map(int fd, uint16_t dom, uint64_t gfn)
{
    int err = 0, rc = 0;
    void *p = mmap(NULL, BLKD_XEN_PAGE, PROT_READ, MAP_SHARED, fd, 0);
    struct blkd_privcmd_mmapbatch_v2 b;

    if (p == MAP_FAILED) {
        return -errno;
    }
    b = (struct blkd_privcmd_mmapbatch_v2){
        .num = 1, .dom = dom, .addr = (uint64_t)(uintptr_t)p, .arr = &gfn,
        .err = &err,
    };
    if (ioctl(fd, BLKD_IOCTL_PRIVCMD_MMAPBATCH_V2, &b) < 0) {
        rc = -errno;
    }
    munmap(p, BLKD_XEN_PAGE);
    return rc;
}

/* A read-only device-model op on `dom`: which ioreq server pages it has. */
static int
blkd_probe_dm_op(int fd, uint16_t dom)
{
    uint32_t op[64] = { BLKD_DMOP_GET_IOREQ_SERVER_INFO };
    struct blkd_privcmd_dm_op_buf buf = { op, sizeof(op) };
    struct blkd_privcmd_dm_op d = { .dom = dom, .num = 1, .ubufs = &buf };

    return ioctl(fd, BLKD_IOCTL_PRIVCMD_DM_OP, &d) < 0 ? -errno : 0;
}

/* The most harmless hypercall there is: the hypervisor's version. */
static int
blkd_probe_hypercall(int fd)
{
    struct blkd_privcmd_hypercall h = {
        .op = BLKD_HYPERVISOR_XEN_VERSION, .arg = { BLKD_XENVER_VERSION, 0 },
    };

    return ioctl(fd, BLKD_IOCTL_PRIVCMD_HYPERCALL, &h) < 0 ? -errno : 0;
}

static void
blkd_probe_fd(const char *whose, int fd, uint16_t map_dom, uint64_t gfn,
              uint16_t op_dom)
{
    char b1[64], b2[64], b3[64];

    log_info("blkd: privcmd probe (%s): MMAPBATCH_V2 dom%u gfn %#" PRIx64
             ": %s; DM_OP dom%u: %s; HYPERCALL xen_version: %s",
             whose, map_dom, gfn,
             blkd_probe_name(blkd_probe_map(fd, map_dom, gfn), b1,
                             sizeof(b1)),
             op_dom,
             blkd_probe_name(blkd_probe_dm_op(fd, op_dom), b2, sizeof(b2)),
             blkd_probe_name(blkd_probe_hypercall(fd), b3, sizeof(b3)));
}

void
blkd_xen_probe(int fd, uint32_t domid, uint64_t gpa)
{
    /* Another domain: dom0 for the mapping (it always exists); for the
     * device-model op the next domid, since Xen refuses dom0's own. */
    uint16_t op_dom = (uint16_t)(domid + 1);
    uint64_t gfn = gpa / BLKD_XEN_PAGE;
    int own;

    blkd_probe_fd("received fd", fd, 0, gfn, op_dom);
    own = open("/dev/xen/privcmd", O_RDWR | O_CLOEXEC);
    if (own < 0) {
        log_info("blkd: privcmd probe (own unrestricted fd): cannot open "
                 "/dev/xen/privcmd: %s", strerror(errno));
        return;
    }
    blkd_probe_fd("own unrestricted fd", own, 0, gfn, op_dom);
    close(own);
}
