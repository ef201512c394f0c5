/*
 * Test support: a fake /dev/xen/privcmd (see fake_privcmd.h).
 */
#include <config.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fake_privcmd.h"

static int
fake_find(const struct fake_privcmd *f, dev_t dev, ino_t ino)
{
    for (unsigned i = 0; i < f->n; i++) {
        if (f->file[i].dev == dev && f->file[i].ino == ino) {
            return (int)i;
        }
    }
    return -1;
}

static int
fake_open(void *opaque)
{
    struct fake_privcmd *f = opaque;
    struct stat st;
    int fd;

    if (f->mode == FAKE_PRIVCMD_NO_DEVICE) {
        return -ENOENT;
    }
    if (f->n == FAKE_PRIVCMD_MAX) {
        return -EMFILE;
    }
    fd = memfd_create("fake-privcmd", MFD_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) < 0) {
        abort();
    }
    f->file[f->n].dev = st.st_dev;
    f->file[f->n].ino = st.st_ino;
    f->file[f->n].domid = PRIVFD_DOMID_INVALID;
    f->n++;
    f->opens++;
    return fd;
}

static int
fake_restrict(void *opaque, int fd, uint16_t domid)
{
    struct fake_privcmd *f = opaque;
    struct stat st;
    int i;

    if (fstat(fd, &st) < 0) {
        return -errno;
    }
    i = fake_find(f, st.st_dev, st.st_ino);
    if (i < 0) {
        return -ENOTTY; /* not a privcmd file */
    }
    switch (f->mode) {
    case FAKE_PRIVCMD_OLD_KERNEL:
        return -ENOTTY;
    case FAKE_PRIVCMD_LYING:
        return 0;
    default:
        break;
    }
    /* drivers/xen/privcmd.c privcmd_ioctl_restrict() */
    if (f->file[i].domid == PRIVFD_DOMID_INVALID) {
        f->file[i].domid = domid;
    } else if (f->file[i].domid != domid) {
        return -EINVAL;
    }
    return 0;
}

/* Linux include/uapi/xen/privcmd.h: 'P' 8 is IRQFD, 'P' 9 IOEVENTFD. */
#define FAKE_IOCTL_NR_IRQFD 8u

static int
fake_ioctl(void *opaque, int fd, unsigned long req, void *arg)
{
    struct fake_privcmd *f = opaque;
    size_t n = _IOC_SIZE(req);
    struct stat st;

    f->ioctls++;
    if (fstat(fd, &st) < 0 || fake_find(f, st.st_dev, st.st_ino) < 0) {
        return -ENOTTY; /* not a privcmd file */
    }
    if (!f->eventfd || f->mode == FAKE_PRIVCMD_OLD_KERNEL) {
        return -ENOTTY;
    }
    memset(&f->last, 0, sizeof(f->last));
    f->last.req = req;
    memcpy(f->last.arg, arg, n < sizeof(f->last.arg) ? n : sizeof(f->last.arg));
    if (_IOC_NR(req) == FAKE_IOCTL_NR_IRQFD && n >= 12) {
        /* struct privcmd_irqfd: __u64 dm_op, __u32 size first */
        uint64_t p;
        uint32_t size;

        memcpy(&p, f->last.arg, sizeof(p));
        memcpy(&size, f->last.arg + 8, sizeof(size));
        f->last.dm_op_size = size;
        memcpy(f->last.dm_op, (const void *)(uintptr_t)p,
               size < sizeof(f->last.dm_op) ? size : sizeof(f->last.dm_op));
    }
    return f->ioctl_rc;
}

void
fake_privcmd_init(struct fake_privcmd *f, enum fake_privcmd_mode mode)
{
    memset(f, 0, sizeof(*f));
    f->mode = mode;
    f->ops.open = fake_open;
    f->ops.restrict_to = fake_restrict;
    f->ops.ioctl = fake_ioctl;
    f->ops.opaque = f;
}

bool
fake_privcmd_owns(const struct fake_privcmd *f, dev_t dev, ino_t ino)
{
    return fake_find(f, dev, ino) >= 0;
}

uint32_t
fake_privcmd_domid(const struct fake_privcmd *f, dev_t dev, ino_t ino)
{
    int i = fake_find(f, dev, ino);

    return i < 0 ? PRIVFD_DOMID_INVALID : f->file[i].domid;
}

uint32_t
fake_privcmd_fd_domid(const struct fake_privcmd *f, int fd)
{
    struct stat st;

    if (fstat(fd, &st) < 0) {
        return PRIVFD_DOMID_INVALID;
    }
    return fake_privcmd_domid(f, st.st_dev, st.st_ino);
}

unsigned
fake_privcmd_open_fds(const struct fake_privcmd *f)
{
    struct stat st;
    unsigned n = 0;
    struct dirent *e;
    DIR *d = opendir("/proc/self/fd");

    if (!d) {
        return 0;
    }
    while ((e = readdir(d)) != NULL) {
        int fd = atoi(e->d_name);

        if (e->d_name[0] != '.' && fd != dirfd(d) && fstat(fd, &st) == 0 &&
            fake_privcmd_owns(f, st.st_dev, st.st_ino)) {
            n++;
        }
    }
    closedir(d);
    return n;
}
