/*
 * Test support: a fake /dev/xen/privcmd behind privfd's ops table.
 *
 * Each open gives a memfd; IOCTL_PRIVCMD_RESTRICT is modelled on the
 * kernel's (drivers/xen/privcmd.c): an unrestricted file takes any domid,
 * a restricted one accepts only its own again (-EINVAL otherwise).  The
 * restriction belongs to the open file, so every copy of a fd, also one
 * received by a backend, is looked up by its inode.  A mode makes the
 * device misbehave the ways a real one can.
 */
#ifndef XVM_TEST_FAKE_PRIVCMD_H
#define XVM_TEST_FAKE_PRIVCMD_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "privfd.h"

#define FAKE_PRIVCMD_MAX 32

enum fake_privcmd_mode {
    FAKE_PRIVCMD_OK = 0,
    FAKE_PRIVCMD_NO_DEVICE,   /* open fails: ENOENT */
    FAKE_PRIVCMD_OLD_KERNEL,  /* no RESTRICT ioctl: ENOTTY */
    FAKE_PRIVCMD_LYING,       /* RESTRICT answers 0 and restricts nothing */
};

/* The last eventfd ioctl (IOCTL_PRIVCMD_IRQFD / _IOEVENTFD) it was given. */
struct fake_privcmd_ioctl {
    unsigned long req;
    uint8_t arg[64];          /* its argument, _IOC_SIZE(req) bytes */
    uint8_t dm_op[64];        /* IRQFD: the dm_op buffer it points at */
    uint32_t dm_op_size;
};

struct fake_privcmd {
    enum fake_privcmd_mode mode;
    struct privfd_ops ops;    /* hand &ops to the code under test */
    bool eventfd;             /* CONFIG_XEN_PRIVCMD_EVENTFD: the kernel
                               * takes the ioctls (else -ENOTTY) */
    int ioctl_rc;             /* when eventfd: answer this (0: accept) */
    unsigned ioctls;          /* eventfd ioctls asked, answered or not */
    struct fake_privcmd_ioctl last;
    unsigned opens;
    unsigned n;
    struct {
        dev_t dev;
        ino_t ino;
        uint32_t domid;       /* PRIVFD_DOMID_INVALID: unrestricted */
    } file[FAKE_PRIVCMD_MAX];
};

void fake_privcmd_init(struct fake_privcmd *f, enum fake_privcmd_mode mode);
/* Is `st` (fstat of any fd) one of our files? */
bool fake_privcmd_owns(const struct fake_privcmd *f, dev_t dev, ino_t ino);
/* What the file is restricted to; PRIVFD_DOMID_INVALID if not (or not ours). */
uint32_t fake_privcmd_domid(const struct fake_privcmd *f, dev_t dev,
                            ino_t ino);
uint32_t fake_privcmd_fd_domid(const struct fake_privcmd *f, int fd);
/* How many fds of this process refer to one of our files. */
unsigned fake_privcmd_open_fds(const struct fake_privcmd *f);

#endif
