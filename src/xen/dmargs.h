/*
 * dmargs: the QEMU-style argv libxl gives a `device_model_override`.
 *
 * libxl runs the binary twice: a capability probe (no -xen-domid, QMP on
 * an inherited listening fd) and the device model proper (-xen-domid N,
 * QMP on path= sockets, or fd= under dm_restrict).  QEMU options we have
 * no use for are accepted and ignored; options QEMU does not have are
 * refused, except our own `--name[=value]` options, which the guest's
 * `device_model_args` put before `-machine` and which are handed to cfg.
 *
 * Trust boundary: libxl builds the argv from the guest config, which the
 * host administrator wrote; every value we use is checked.
 */
#ifndef XVM_DMARGS_H
#define XVM_DMARGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DMARGS_MAX_CHARDEVS 16
#define DMARGS_MAX_OWN 64
#define DMARGS_ID_MAX 64
#define DMARGS_SOCK_MAX 108
#define DMARGS_PATH_MAX 4096
#define DMARGS_ERR_MAX 256

/* One `-chardev` (only sockets matter to us). */
struct dmargs_chardev {
    char id[DMARGS_ID_MAX];
    bool is_socket;
    bool server;
    char path[DMARGS_SOCK_MAX];  /* "" when given as fd= */
    int fd;                      /* -1 when given as path= */
    bool qmp;                    /* -mon chardev=<id>,mode=control */
};

struct dmargs {
    bool probe;                  /* no -xen-domid: capability probe */
    uint32_t domid;              /* valid when !probe */
    bool domid_restrict;         /* -xen-domid-restrict (dm_restrict=1) */
    bool start_paused;           /* -S */
    char name[DMARGS_ID_MAX];    /* -name, "" if none */
    char machine[DMARGS_ID_MAX]; /* first word of -machine / -M */
    char chroot[DMARGS_PATH_MAX];/* -chroot or -run-with chroot= */
    char runas[DMARGS_ID_MAX];   /* -runas or -run-with user= */
    unsigned nr_chardevs;
    struct dmargs_chardev chardev[DMARGS_MAX_CHARDEVS];
    unsigned nr_own;
    const char *own[DMARGS_MAX_OWN]; /* our --options, pointers into argv */
};

/*
 * True when argv looks like libxl's QEMU command line (it holds an option
 * only QEMU takes, such as -xen-domid, -machine, -chardev or -S).
 */
bool dmargs_is_qemu_argv(int argc, char *const argv[]);

/*
 * Parse argv (argv[0] skipped).  0, or -EINVAL with `err` naming the
 * option or value refused.
 */
int dmargs_parse(struct dmargs *out, int argc, char *const argv[], char *err,
                 size_t errlen);

/* Number of QMP (control monitor) sockets; their chardevs have .qmp set. */
unsigned dmargs_qmp_count(const struct dmargs *a);

#endif
