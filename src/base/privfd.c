/*
 * privfd: restricted /dev/xen/privcmd fds for backends (see privfd.h).
 *
 * Trust boundary: none of the input is guest- or backend-controlled; the
 * point of the module is that what we give a backend carries no more than
 * the one guest's privilege.  The ioctl number is Linux's uapi
 * (include/uapi/xen/privcmd.h): _IOC(_IOC_NONE, 'P', 6, sizeof(domid_t)).
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "log.h"
#include "privfd.h"

#define PRIVFD_IOCTL_RESTRICT _IOC(_IOC_NONE, 'P', 6, sizeof(uint16_t))

static int
privfd_dev_open(void *opaque)
{
    int fd = open("/dev/xen/privcmd", O_RDWR | O_CLOEXEC);

    (void)opaque;
    return fd < 0 ? -errno : fd;
}

static int
privfd_dev_restrict(void *opaque, int fd, uint16_t domid)
{
    (void)opaque;
    return ioctl(fd, PRIVFD_IOCTL_RESTRICT, &domid) < 0 ? -errno : 0;
}

static int
privfd_dev_ioctl(void *opaque, int fd, unsigned long req, void *arg)
{
    (void)opaque;
    return ioctl(fd, req, arg) < 0 ? -errno : 0;
}

const struct privfd_ops privfd_dev = {
    .open = privfd_dev_open,
    .restrict_to = privfd_dev_restrict,
    .ioctl = privfd_dev_ioctl,
};

int
privfd_check(const struct privfd_ops *ops, int fd, uint32_t domid)
{
    int any, ours;

    if (domid == 0 || domid >= PRIVFD_DOMID_INVALID) {
        log_err("dom%u: no privcmd fd is handed out for this domain", domid);
        return -EINVAL;
    }
    any = ops->restrict_to(ops->opaque, fd, PRIVFD_DOMID_INVALID);
    if (any != -EINVAL) {
        log_err("dom%u: privcmd fd is not restricted to any domain (RESTRICT "
                "to nobody: %s): not handing it out",
                domid, any ? strerror(-any) : "accepted");
        return -EPERM;
    }
    /* Only asked once some restriction is known to be there. */
    ours = ops->restrict_to(ops->opaque, fd, (uint16_t)domid);
    if (ours != 0) {
        log_err("dom%u: privcmd fd is restricted to another domain (RESTRICT "
                "to dom%u: %s): not handing it out",
                domid, domid, strerror(-ours));
        return -EPERM;
    }
    return 0;
}

int
privfd_open_for(const struct privfd_ops *ops, uint32_t domid)
{
    int fd, rc;

    if (domid == 0 || domid >= PRIVFD_DOMID_INVALID) {
        return -EINVAL;
    }
    fd = ops->open(ops->opaque);
    if (fd < 0) {
        return fd;
    }
    rc = ops->restrict_to(ops->opaque, fd, (uint16_t)domid);
    if (rc < 0) {
        log_warn("dom%u: cannot restrict a privcmd fd to the guest: %s",
                 domid, strerror(-rc));
        goto close_fd;
    }
    rc = privfd_check(ops, fd, domid);
    if (rc < 0) {
        goto close_fd;
    }
    return fd;

close_fd:
    close(fd);
    return rc;
}

int
privfd_dup_for(const struct privfd_ops *ops, int fd, uint32_t domid)
{
    int rc = privfd_check(ops, fd, domid);
    int copy;

    if (rc < 0) {
        return rc;
    }
    copy = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    return copy < 0 ? -errno : copy;
}
