/*
 * privfd: /dev/xen/privcmd file descriptors for zero-copy backends.
 *
 * privcmd checks privilege when it is opened, not per ioctl: whoever holds
 * an unrestricted privcmd fd can map any domain's memory and issue any
 * hypercall the opener could.  So a fd that leaves the daemon is never the
 * daemon's own: it is opened for that purpose, restricted with
 * IOCTL_PRIVCMD_RESTRICT to the guest it serves (irrevocable in the
 * kernel), and checked to be restricted to exactly that guest before each
 * copy is handed out.  Nothing here includes Xen headers; the ioctl goes
 * through an ops table so tests substitute a fake device.
 *
 * Trust boundary: the fds we hand out go to backends; the kernel enforces
 * the restriction on them, we only make sure it is in place.
 */
#ifndef XVM_PRIVFD_H
#define XVM_PRIVFD_H

#include <stdint.h>

/* Xen's DOMID_INVALID: what an unrestricted privcmd fd is "restricted" to. */
#define PRIVFD_DOMID_INVALID 0x7ff4u

struct privfd_ops {
    /* A new privcmd fd (close-on-exec): fd or -errno. */
    int (*open)(void *opaque);
    /* IOCTL_PRIVCMD_RESTRICT(domid) on fd: 0 or -errno. */
    int (*restrict_to)(void *opaque, int fd, uint16_t domid);
    /*
     * Another privcmd ioctl on fd (the kernel ioeventfd and irqfd): 0 or
     * -errno.  NULL: the device has none of them (-ENOTTY).
     */
    int (*ioctl)(void *opaque, int fd, unsigned long req, void *arg);
    void *opaque;
};

/* The real device, /dev/xen/privcmd. */
extern const struct privfd_ops privfd_dev;

/*
 * 0 when `fd` is restricted to exactly `domid`, else -EPERM.  Asks the
 * kernel twice, changing nothing on a correctly restricted fd: RESTRICT to
 * DOMID_INVALID must fail (so some restriction is in place; on an
 * unrestricted fd it is a no-op) and RESTRICT to `domid` must succeed
 * (so it is this one).
 */
int privfd_check(const struct privfd_ops *ops, int fd, uint32_t domid);

/* Open a fd, restrict it to `domid` and check it.  fd or -errno. */
int privfd_open_for(const struct privfd_ops *ops, uint32_t domid);

/*
 * A new fd (close-on-exec) on the same open file as `fd`, for sending to
 * one backend (the caller closes it once sent), only after privfd_check
 * passed on it.  fd, -EPERM when not restricted to `domid`, or -errno.
 */
int privfd_dup_for(const struct privfd_ops *ops, int fd, uint32_t domid);

#endif
