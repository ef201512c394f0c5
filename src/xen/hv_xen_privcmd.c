/*
 * hv_xen_privcmd: what hv_xen does with /dev/xen/privcmd directly, and
 * the privilege drop.
 *
 * - Kernel ioeventfds (Linux >= 6.7, CONFIG_XEN_PRIVCMD_EVENTFD): the
 *   kernel watches our ioreq page and completes QueueNotify writes itself,
 *   signalling the backend's kick eventfd.  Detected at run time; on a
 *   kernel without it every kick takes the event-channel path, which must
 *   always work.  The ioctl layout is defined here because older
 *   linux-libc-dev (Debian bookworm's 6.1) lacks it.
 * - Kernel irqfds (the same kernels): the kernel issues a prepared
 *   XEN_DMOP_set_irq_level(irq, 1) whenever the backend signals its call
 *   eventfd, consuming the signal; the daemon never sees that completion.
 *   Detected at run time on the first registration, like ioeventfds.
 * - Zero-copy regions: a privcmd fd of the backend's own, which a
 *   XEN_MMAP-capable backend maps at offset 0 and fills with
 *   IOCTL_PRIVCMD_MMAPBATCH_V2.  It is a copy of share_fd, opened for
 *   backends alone and restricted to the guest when the guest is opened
 *   (later, after the privilege drop, /dev/xen/privcmd cannot be opened).
 * - hv_xen_restrict(): every handle restricted to the guest, then setuid;
 *   an attached gntdev fd is kept (hv_xen_gnt.h).
 *
 * Trust boundary: nothing here reads guest data.  What a backend gets is
 * restricted to the guest's domid in every mode, whether or not this
 * process restricts itself: privcmd checks privilege at open, not per
 * ioctl, so an unrestricted fd would give the backend dom0's power over
 * every domain.
 */
#include <config.h>

#include <errno.h>
#include <grp.h>
#include <inttypes.h>
#include <stddef.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <xentoolcore.h>

#include "hv_xen_priv.h"

/* Linux include/uapi/xen/privcmd.h, struct privcmd_ioeventfd (6.7+). */
struct hv_xen_privcmd_ioeventfd {
    uint64_t ioreq;     /* user address of the mapped ioreq page */
    uint64_t ports;     /* user address of uint32_t[vcpus] local ports */
    uint64_t addr;      /* virtio-mmio device base */
    uint32_t addr_len;
    uint32_t event_fd;
    uint32_t vcpus;
    uint32_t vq;        /* matched against the QueueNotify value */
    uint32_t flags;
    uint16_t dom;
    uint8_t pad[2];
};
_Static_assert(sizeof(struct hv_xen_privcmd_ioeventfd) == 48,
               "privcmd_ioeventfd ABI");
#define HV_XEN_PRIVCMD_IOEVENTFD_DEASSIGN 1u
#define HV_XEN_IOCTL_PRIVCMD_IOEVENTFD                                         \
    _IOW('P', 9, struct hv_xen_privcmd_ioeventfd)

/*
 * Linux include/uapi/xen/privcmd.h, struct privcmd_irqfd, as in 6.7 and
 * later (checked against Debian's linux-source-6.12): the dm_op is copied
 * at assign time; deassign matches the eventfd alone.
 */
struct hv_xen_privcmd_irqfd {
    uint64_t dm_op;     /* user address of the dm_op buffer */
    uint32_t size;      /* its size */
    uint32_t fd;        /* the eventfd */
    uint32_t flags;
    uint16_t dom;
    uint8_t pad[2];
};
_Static_assert(sizeof(struct hv_xen_privcmd_irqfd) == 24, "privcmd_irqfd ABI");
#define HV_XEN_PRIVCMD_IRQFD_DEASSIGN 1u
#define HV_XEN_IOCTL_PRIVCMD_IRQFD _IOW('P', 8, struct hv_xen_privcmd_irqfd)

void
hv_xen_privcmd_open(struct hv_xen *x)
{
    x->privcmd_fd = x->priv->open(x->priv->opaque);
    if (x->privcmd_fd < 0) {
        log_warn("%s: /dev/xen/privcmd: %s; no kernel ioeventfd or irqfd",
                 x->hv.name, strerror(-x->privcmd_fd));
        x->privcmd_fd = -1;
    }
    x->share_fd = privfd_open_for(x->priv, x->hv.domid);
    if (x->share_fd < 0) {
        log_warn("%s: no privcmd fd restricted to the guest (%s): guest RAM "
                 "is not shared, no zero-copy",
                 x->hv.name, strerror(-x->share_fd));
        x->share_fd = -1;
    }
}

/* An eventfd ioctl on our privcmd fd: 0 or -errno (-ENOTTY: none). */
static int
privcmd_ioctl(struct hv_xen *x, unsigned long req, void *arg)
{
    if (x->privcmd_fd < 0 || x->priv->ioctl == NULL) {
        return -ENOTTY;
    }
    return x->priv->ioctl(x->priv->opaque, x->privcmd_fd, req, arg);
}

/*
 * The kernel's answer to a registration of `what` (ioeventfd, irqfd):
 * the first one decides, logged once, whether the kernel has it at all
 * (*kern).  0, -EOPNOTSUPP when it has not (the caller falls back), or
 * the registration's own error.
 */
static int
kern_verdict(struct hv_xen *x, enum hv_xen_kern *kern, int rc,
             const char *what, const char *without, const char *with)
{
    if (rc == -ENOTTY || rc == -EINVAL || rc == -EOPNOTSUPP ||
        rc == -ENOSYS) {
        if (*kern == HV_XEN_KERN_UNKNOWN) {
            log_info("%s: kernel %s unavailable (%s): %s", x->hv.name, what,
                     strerror(-rc), without);
            *kern = HV_XEN_KERN_NO;
        }
        if (x->opts.kernel_eventfd > 0) {
            log_err("%s: kernel %s required but unavailable", x->hv.name,
                    what);
        }
        return -EOPNOTSUPP;
    }
    if (rc == 0 && *kern == HV_XEN_KERN_UNKNOWN) {
        log_info("%s: kernel %s in use: %s", x->hv.name, what, with);
        *kern = HV_XEN_KERN_YES;
    }
    return rc;
}

static int
kick_ioctl(struct hv_xen *x, const struct hv_xen_kick *k, uint32_t flags)
{
    struct hv_xen_privcmd_ioeventfd arg;

    memset(&arg, 0, sizeof(arg));
    arg.ioreq = (uint64_t)(uintptr_t)x->slots;
    arg.ports = (uint64_t)(uintptr_t)x->local_port;
    arg.addr = k->addr - HV_XEN_QUEUE_NOTIFY_OFF;
    arg.addr_len = 4;
    arg.event_fd = (uint32_t)k->fd;
    arg.vcpus = x->nr_vcpus;
    arg.vq = k->vq;
    arg.flags = flags;
    arg.dom = (uint16_t)x->hv.domid;
    return privcmd_ioctl(x, HV_XEN_IOCTL_PRIVCMD_IOEVENTFD, &arg);
}

int
hv_xen_ioeventfd_add(struct hv *hv, uint64_t addr, uint32_t datamatch, int fd)
{
    struct hv_xen *x = hv_xen_of(hv);
    struct hv_xen_kick *slot = NULL;
    struct hv_xen_kick k = { .addr = addr, .vq = datamatch, .fd = fd };
    int rc;

    if (x->opts.kernel_eventfd < 0 || x->kern == HV_XEN_KERN_NO) {
        return -EOPNOTSUPP;
    }
    if (fd < 0 || addr < HV_XEN_QUEUE_NOTIFY_OFF ||
        x->stage < HV_XEN_ST_PORTS) {
        return -EINVAL;
    }
    for (unsigned i = 0; i < HV_XEN_MAX_IOEVENTFD; i++) {
        if (!x->kick[i].used) {
            slot = &x->kick[i];
            break;
        }
    }
    if (slot == NULL) {
        return -ENOSPC;
    }
    rc = kern_verdict(x, &x->kern, kick_ioctl(x, &k, 0), "ioeventfd",
                      "kicks go through the event channel",
                      "QueueNotify bypasses the daemon");
    if (rc < 0) {
        if (rc != -EOPNOTSUPP) {
            log_rl(&x->rl, LOG_LVL_WARN,
                   "%s: kernel ioeventfd for 0x%" PRIx64 " vq %" PRIu32
                   ": %s",
                   hv->name, addr, datamatch, strerror(-rc));
        }
        return rc;
    }
    rc = hv_xen_ioreq_kernel_add(&x->ioreq, addr, datamatch);
    if (rc < 0) {
        /* Unreachable with the table sizes equal; never let both answer. */
        kick_ioctl(x, &k, HV_XEN_PRIVCMD_IOEVENTFD_DEASSIGN);
        return rc;
    }
    k.used = true;
    *slot = k;
    return 0;
}

void
hv_xen_ioeventfd_del(struct hv *hv, uint64_t addr, int fd)
{
    struct hv_xen *x = hv_xen_of(hv);

    for (unsigned i = 0; i < HV_XEN_MAX_IOEVENTFD; i++) {
        struct hv_xen_kick *k = &x->kick[i];
        int rc;

        if (!k->used || k->addr != addr || k->fd != fd) {
            continue;
        }
        rc = kick_ioctl(x, k, HV_XEN_PRIVCMD_IOEVENTFD_DEASSIGN);
        /* Ours again only once the kernel no longer answers them. */
        if (rc == 0) {
            hv_xen_ioreq_kernel_del(&x->ioreq, k->addr, k->vq);
        }
        if (rc < 0) {
            log_rl(&x->rl, LOG_LVL_WARN,
                   "%s: deassign kernel ioeventfd 0x%" PRIx64 ": %s",
                   hv->name, addr, strerror(-rc));
        }
        memset(k, 0, sizeof(*k));
        return;
    }
}

void
hv_xen_ioeventfd_clear(struct hv_xen *x)
{
    for (unsigned i = 0; i < HV_XEN_MAX_IOEVENTFD; i++) {
        if (x->kick[i].used) {
            hv_xen_ioeventfd_del(&x->hv, x->kick[i].addr, x->kick[i].fd);
        }
    }
}

static int
irqfd_ioctl(struct hv_xen *x, unsigned irq, int fd, uint32_t flags)
{
    struct xen_dm_op op;
    struct hv_xen_privcmd_irqfd arg;

    memset(&op, 0, sizeof(op));
    op.op = XEN_DMOP_set_irq_level;
    op.u.set_irq_level.irq = irq;
    op.u.set_irq_level.level = 1;
    memset(&arg, 0, sizeof(arg));
    arg.dm_op = (uint64_t)(uintptr_t)&op;
    arg.size = (uint32_t)sizeof(op);
    arg.fd = (uint32_t)fd;
    arg.flags = flags;
    arg.dom = (uint16_t)x->hv.domid;
    return privcmd_ioctl(x, HV_XEN_IOCTL_PRIVCMD_IRQFD, &arg);
}

int
hv_xen_irqfd_add(struct hv *hv, unsigned irq, int fd)
{
    struct hv_xen *x = hv_xen_of(hv);
    struct hv_xen_irqfd *slot = NULL;
    int rc;

    if (x->opts.kernel_eventfd < 0 || x->irqfd_kern == HV_XEN_KERN_NO) {
        return -EOPNOTSUPP;
    }
    if (fd < 0) {
        return -EINVAL;
    }
    for (unsigned i = 0; i < HV_XEN_MAX_IOEVENTFD; i++) {
        if (!x->irqfd[i].used) {
            slot = &x->irqfd[i];
            break;
        }
    }
    if (slot == NULL) {
        return -ENOSPC;
    }
    rc = kern_verdict(x, &x->irqfd_kern, irqfd_ioctl(x, irq, fd, 0), "irqfd",
                      "the daemon reads completions and raises interrupts",
                      "completions raise the guest's interrupt without "
                      "the daemon");
    if (rc < 0) {
        if (rc != -EOPNOTSUPP) {
            log_rl(&x->rl, LOG_LVL_WARN, "%s: kernel irqfd for irq %u: %s",
                   hv->name, irq, strerror(-rc));
        }
        return rc;
    }
    *slot = (struct hv_xen_irqfd){ .irq = irq, .fd = fd, .used = true };
    return 0;
}

void
hv_xen_irqfd_del(struct hv *hv, unsigned irq, int fd)
{
    struct hv_xen *x = hv_xen_of(hv);

    for (unsigned i = 0; i < HV_XEN_MAX_IOEVENTFD; i++) {
        struct hv_xen_irqfd *q = &x->irqfd[i];
        int rc;

        if (!q->used || q->irq != irq || q->fd != fd) {
            continue;
        }
        /* Returns once the kernel can no longer inject for it. */
        rc = irqfd_ioctl(x, irq, fd, HV_XEN_PRIVCMD_IRQFD_DEASSIGN);
        if (rc < 0) {
            log_rl(&x->rl, LOG_LVL_WARN,
                   "%s: deassign kernel irqfd for irq %u: %s", hv->name, irq,
                   strerror(-rc));
        }
        memset(q, 0, sizeof(*q));
        return;
    }
}

void
hv_xen_irqfd_clear(struct hv_xen *x)
{
    for (unsigned i = 0; i < HV_XEN_MAX_IOEVENTFD; i++) {
        if (x->irqfd[i].used) {
            hv_xen_irqfd_del(&x->hv, x->irqfd[i].irq, x->irqfd[i].fd);
        }
    }
}

int
hv_xen_mem_regions(struct hv *hv, struct hv_region *out, unsigned max)
{
    struct hv_xen *x = hv_xen_of(hv);

    if (x->share_fd < 0) {
        return -EOPNOTSUPP;
    }
    if (max < hv->ram.nr) {
        return -ENOSPC;
    }
    for (unsigned i = 0; i < hv->ram.nr; i++) {
        out[i].gpa = hv->ram.bank[i].gpa;
        out[i].len = hv->ram.bank[i].len;
        out[i].fd_off = 0;
        out[i].xen_mmap_flags = HV_XEN_MMAP_FOREIGN;
        out[i].xen_domid = hv->domid;
    }
    return (int)hv->ram.nr;
}

int
hv_xen_mem_share(struct hv *hv)
{
    struct hv_xen *x = hv_xen_of(hv);

    if (x->share_fd < 0) {
        return -EOPNOTSUPP;
    }
    return privfd_dup_for(x->priv, x->share_fd, hv->domid);
}

int
hv_xen_restrict(struct hv *hv, uid_t uid, gid_t gid)
{
    struct hv_xen *x = hv_xen_of(hv);
    uint16_t dom = (uint16_t)hv->domid;

    if (xentoolcore_restrict_all((domid_t)hv->domid) < 0) {
        int rc = -errno;

        log_err("%s: xentoolcore_restrict_all: %s", hv->name, strerror(errno));
        return rc;
    }
    /* Our own privcmd fd is not a toolcore handle; neither is the gntdev
     * fd, which stays as it is (hv_xen_gnt.h says what it still allows). */
    if (x->privcmd_fd >= 0) {
        int rc = x->priv->restrict_to(x->priv->opaque, x->privcmd_fd, dom);

        if (rc < 0) {
            log_err("%s: restrict privcmd: %s", hv->name, strerror(-rc));
            return rc;
        }
    }
    if (uid == 0) {
        log_info("%s: handles restricted; staying root (uid 0 asked)",
                 hv->name);
        return 0;
    }
    if (setgroups(0, NULL) < 0 || setgid(gid) < 0 || setuid(uid) < 0) {
        int rc = -errno;

        log_err("%s: drop to uid %u gid %u: %s", hv->name, (unsigned)uid,
                (unsigned)gid, strerror(errno));
        return rc;
    }
    /* Verify: ids changed everywhere, and root cannot be regained. */
    if (getuid() != uid || geteuid() != uid || getgid() != gid ||
        getegid() != gid || setuid(0) == 0) {
        log_err("%s: privilege drop did not stick", hv->name);
        return -EPERM;
    }
    log_info("%s: restricted to the guest, running as uid %u gid %u",
             hv->name, (unsigned)uid, (unsigned)gid);
    return 0;
}
