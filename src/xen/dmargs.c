/*
 * dmargs: parse libxl's device-model argv (see dmargs.h).
 *
 * Trust boundary: the argv; every option is looked up in one table that
 * says how many values it takes, so nothing is consumed by accident, and
 * the few values we use (domid, chardev id/path/fd, monitor binding) are
 * parsed strictly.  Messages name the option and value refused.
 */
#include <config.h>

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "dmargs.h"

enum dmargs_op {
    DMA_IGNORE = 0,
    DMA_DOMID,
    DMA_RESTRICT,
    DMA_PAUSED,
    DMA_NAME,
    DMA_MACHINE,
    DMA_CHROOT,
    DMA_RUNAS,
    DMA_RUNWITH,
    DMA_CHARDEV,
    DMA_MON,
};

struct dmargs_opt {
    const char *name;    /* without the leading '-' */
    bool has_arg;
    enum dmargs_op op;
    bool detect;         /* marks an argv as QEMU's (not one of ours) */
};

/* QEMU options libxl (or an administrator's device_model_args) may pass. */
static const struct dmargs_opt dmargs_opts[] = {
    { "xen-domid", true, DMA_DOMID, true },
    { "xen-domid-restrict", false, DMA_RESTRICT, true },
    { "xen-attach", false, DMA_IGNORE, true },
    { "S", false, DMA_PAUSED, true },
    { "name", true, DMA_NAME, true },
    { "machine", true, DMA_MACHINE, true },
    { "M", true, DMA_MACHINE, true },
    { "chroot", true, DMA_CHROOT, true },
    { "runas", true, DMA_RUNAS, true },
    { "run-with", true, DMA_RUNWITH, true },
    { "chardev", true, DMA_CHARDEV, true },
    { "mon", true, DMA_MON, true },
    { "nodefaults", false, DMA_IGNORE, true },
    { "no-user-config", false, DMA_IGNORE, true },
    { "no-shutdown", false, DMA_IGNORE, true },
    { "no-reboot", false, DMA_IGNORE, true },
    { "nographic", false, DMA_IGNORE, true },
    { "display", true, DMA_IGNORE, true },
    { "vnc", true, DMA_IGNORE, true },
    { "spice", true, DMA_IGNORE, true },
    { "sdl", false, DMA_IGNORE, true },
    { "full-screen", false, DMA_IGNORE, true },
    { "vga", true, DMA_IGNORE, true },
    { "k", true, DMA_IGNORE, true },
    { "m", true, DMA_IGNORE, true },
    { "smp", true, DMA_IGNORE, true },
    { "cpu", true, DMA_IGNORE, true },
    { "accel", true, DMA_IGNORE, true },
    { "boot", true, DMA_IGNORE, true },
    { "serial", true, DMA_IGNORE, true },
    { "parallel", true, DMA_IGNORE, true },
    { "monitor", true, DMA_IGNORE, true },
    { "qmp", true, DMA_IGNORE, true },
    { "device", true, DMA_IGNORE, true },
    { "drive", true, DMA_IGNORE, true },
    { "netdev", true, DMA_IGNORE, true },
    { "net", true, DMA_IGNORE, true },
    { "global", true, DMA_IGNORE, true },
    { "object", true, DMA_IGNORE, true },
    { "fsdev", true, DMA_IGNORE, true },
    { "virtfs", true, DMA_IGNORE, true },
    { "audiodev", true, DMA_IGNORE, true },
    { "soundhw", true, DMA_IGNORE, true },
    { "usb", false, DMA_IGNORE, true },
    { "usbdevice", true, DMA_IGNORE, true },
    { "rtc", true, DMA_IGNORE, true },
    { "localtime", false, DMA_IGNORE, true },
    { "uuid", true, DMA_IGNORE, true },
    { "smbios", true, DMA_IGNORE, true },
    { "acpitable", true, DMA_IGNORE, true },
    { "option-rom", true, DMA_IGNORE, true },
    { "bios", true, DMA_IGNORE, true },
    { "kernel", true, DMA_IGNORE, true },
    { "initrd", true, DMA_IGNORE, true },
    { "append", true, DMA_IGNORE, true },
    { "loadvm", true, DMA_IGNORE, true },
    { "incoming", true, DMA_IGNORE, true },
    { "pidfile", true, DMA_IGNORE, true },
    { "daemonize", false, DMA_IGNORE, true },
    { "sandbox", true, DMA_IGNORE, true },
    { "add-fd", true, DMA_IGNORE, true },
    { "mem-path", true, DMA_IGNORE, true },
    { "mem-prealloc", false, DMA_IGNORE, true },
    { "trace", true, DMA_IGNORE, true },
    { "msg", true, DMA_IGNORE, true },
    { "D", true, DMA_IGNORE, true },
    /* -d (QEMU's log mask) is also our short debug flag: no detection. */
    { "d", true, DMA_IGNORE, false },
    { "watchdog", true, DMA_IGNORE, true },
    { "watchdog-action", true, DMA_IGNORE, true },
    { "gdb", true, DMA_IGNORE, true },
    { "s", false, DMA_IGNORE, true },
    { "L", true, DMA_IGNORE, true },
    { "set", true, DMA_IGNORE, true },
    { "tpmdev", true, DMA_IGNORE, true },
    { "cdrom", true, DMA_IGNORE, true },
    { "hda", true, DMA_IGNORE, true },
    { "hdb", true, DMA_IGNORE, true },
    { "hdc", true, DMA_IGNORE, true },
    { "hdd", true, DMA_IGNORE, true },
    { "fda", true, DMA_IGNORE, true },
    { "fdb", true, DMA_IGNORE, true },
    { "enable-kvm", false, DMA_IGNORE, true },
    { "no-hpet", false, DMA_IGNORE, true },
    { "no-acpi", false, DMA_IGNORE, true },
};

static const struct dmargs_opt *
dmargs_find(const char *arg)
{
    if (arg[0] != '-' || arg[1] == '-' || !arg[1]) {
        return NULL;
    }
    for (size_t i = 0; i < sizeof(dmargs_opts) / sizeof(dmargs_opts[0]); i++) {
        if (!strcmp(arg + 1, dmargs_opts[i].name)) {
            return &dmargs_opts[i];
        }
    }
    return NULL;
}

bool
dmargs_is_qemu_argv(int argc, char *const argv[])
{
    for (int i = 1; i < argc; i++) {
        const struct dmargs_opt *o = dmargs_find(argv[i]);

        if (o && o->detect) {
            return true;
        }
    }
    return false;
}

static int
dmargs_parse_ulong(const char *s, unsigned long min, unsigned long max,
                   unsigned long *out)
{
    unsigned long v = 0;

    if (!*s) {
        return -EINVAL;
    }
    for (; *s; s++) {
        unsigned long d = (unsigned long)(*s - '0');

        if (*s < '0' || *s > '9' || d > max || v > (max - d) / 10) {
            return -EINVAL;
        }
        v = v * 10 + d;
    }
    if (v < min) {
        return -EINVAL;
    }
    *out = v;
    return 0;
}

/* Copy `s` (length n) into dst; -EINVAL if it does not fit or is empty. */
static int
dmargs_copy(char *dst, size_t dstlen, const char *s, size_t n)
{
    if (n == 0 || n >= dstlen) {
        return -EINVAL;
    }
    memcpy(dst, s, n);
    dst[n] = '\0';
    return 0;
}

/*
 * Walk "word,key=value,flag,..." calling `fn` on each item after the
 * first word (which goes to *first).  Items are copied into a buffer.
 */
typedef int (*dmargs_item_fn)(void *opaque, const char *key,
                              const char *value);

static int
dmargs_items(const char *s, char *first, size_t firstlen, dmargs_item_fn fn,
             void *opaque)
{
    char item[DMARGS_PATH_MAX + 32];
    const char *p = s;
    bool is_first = true;

    for (;;) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        char *eq;
        int rc;

        if (n >= sizeof(item)) {
            return -EINVAL;
        }
        memcpy(item, p, n);
        item[n] = '\0';
        eq = strchr(item, '=');
        if (is_first && first && !eq) {
            if (dmargs_copy(first, firstlen, item, n)) {
                return -EINVAL;
            }
        } else {
            if (eq) {
                *eq = '\0';
            }
            rc = fn(opaque, item, eq ? eq + 1 : NULL);
            if (rc) {
                return rc;
            }
        }
        is_first = false;
        if (!end) {
            return 0;
        }
        p = end + 1;
    }
}

static int
dmargs_chardev_item(void *opaque, const char *key, const char *value)
{
    struct dmargs_chardev *c = opaque;
    unsigned long v;

    if (!strcmp(key, "id")) {
        return value ? dmargs_copy(c->id, sizeof(c->id), value, strlen(value))
                     : -EINVAL;
    }
    if (!strcmp(key, "path")) {
        if (!value || value[0] != '/') {
            return -EINVAL;
        }
        return dmargs_copy(c->path, sizeof(c->path), value, strlen(value));
    }
    if (!strcmp(key, "fd")) {
        if (!value || dmargs_parse_ulong(value, 3, INT_MAX, &v)) {
            return -EINVAL;
        }
        c->fd = (int)v;
        return 0;
    }
    if (!strcmp(key, "server")) {
        if (value && strcmp(value, "on") && strcmp(value, "off")) {
            return -EINVAL;
        }
        c->server = !value || !strcmp(value, "on");
        return 0;
    }
    /* wait=, nowait, logfile=, ...: nothing we need. */
    return 0;
}

static struct dmargs_chardev *
dmargs_chardev_by_id(struct dmargs *a, const char *id)
{
    for (unsigned i = 0; i < a->nr_chardevs; i++) {
        if (!strcmp(a->chardev[i].id, id)) {
            return &a->chardev[i];
        }
    }
    return NULL;
}

static int
dmargs_add_chardev(struct dmargs *a, const char *v, char *err, size_t errlen)
{
    struct dmargs_chardev c = { .fd = -1 };
    char backend[DMARGS_ID_MAX];

    if (a->nr_chardevs >= DMARGS_MAX_CHARDEVS) {
        log_errbuf(err, errlen, "too many -chardev options (max %d)",
                    DMARGS_MAX_CHARDEVS);
        return -EINVAL;
    }
    backend[0] = '\0';
    if (dmargs_items(v, backend, sizeof(backend), dmargs_chardev_item, &c) ||
        !backend[0] || !c.id[0]) {
        log_errbuf(err, errlen, "bad -chardev '%s'", v);
        return -EINVAL;
    }
    if (dmargs_chardev_by_id(a, c.id)) {
        log_errbuf(err, errlen, "duplicate -chardev id '%s'", c.id);
        return -EINVAL;
    }
    c.is_socket = !strcmp(backend, "socket");
    if (c.is_socket && !!c.path[0] == (c.fd >= 0)) {
        log_errbuf(err, errlen, "-chardev '%s' needs exactly one of path= "
                    "and fd=", v);
        return -EINVAL;
    }
    a->chardev[a->nr_chardevs++] = c;
    return 0;
}

struct dmargs_mon {
    char chardev[DMARGS_ID_MAX];
    bool control;
};

static int
dmargs_mon_item(void *opaque, const char *key, const char *value)
{
    struct dmargs_mon *m = opaque;

    if (!strcmp(key, "chardev")) {
        return value ? dmargs_copy(m->chardev, sizeof(m->chardev), value,
                                   strlen(value))
                     : -EINVAL;
    }
    if (!strcmp(key, "mode")) {
        if (!value || (strcmp(value, "control") && strcmp(value, "readline"))) {
            return -EINVAL;
        }
        m->control = !strcmp(value, "control");
        return 0;
    }
    return 0; /* pretty=, ... */
}

static int
dmargs_add_mon(struct dmargs *a, const char *v, char *err, size_t errlen)
{
    struct dmargs_mon m = { .control = false };
    struct dmargs_chardev *c;

    if (dmargs_items(v, NULL, 0, dmargs_mon_item, &m) || !m.chardev[0]) {
        log_errbuf(err, errlen, "bad -mon '%s'", v);
        return -EINVAL;
    }
    c = dmargs_chardev_by_id(a, m.chardev);
    if (!c) {
        log_errbuf(err, errlen, "-mon names unknown chardev '%s'", m.chardev);
        return -EINVAL;
    }
    if (!m.control) {
        return 0;
    }
    if (!c->is_socket || !c->server) {
        log_errbuf(err, errlen, "QMP chardev '%s' is not a listening socket "
                    "(server=on)", c->id);
        return -EINVAL;
    }
    c->qmp = true;
    return 0;
}

static int
dmargs_runwith_item(void *opaque, const char *key, const char *value)
{
    struct dmargs *a = opaque;

    if (!value) {
        return -EINVAL;
    }
    if (!strcmp(key, "chroot")) {
        return dmargs_copy(a->chroot, sizeof(a->chroot), value, strlen(value));
    }
    if (!strcmp(key, "user")) {
        return dmargs_copy(a->runas, sizeof(a->runas), value, strlen(value));
    }
    return 0; /* async-teardown=, ... */
}

static int
dmargs_apply(struct dmargs *a, const struct dmargs_opt *o, const char *v,
             char *err, size_t errlen)
{
    unsigned long n;
    char word[DMARGS_ID_MAX];

    switch (o->op) {
    case DMA_DOMID:
        if (dmargs_parse_ulong(v, 1, 0x7fef, &n)) {
            log_errbuf(err, errlen, "bad -xen-domid '%s' (want 1-32751)", v);
            return -EINVAL;
        }
        a->probe = false;
        a->domid = (uint32_t)n;
        return 0;
    case DMA_RESTRICT:
        a->domid_restrict = true;
        return 0;
    case DMA_PAUSED:
        a->start_paused = true;
        return 0;
    case DMA_NAME:
        /* "-name g" or "-name guest=g,debug-threads=on" */
        if (!strncmp(v, "guest=", 6)) {
            v += 6;
        }
        if (dmargs_copy(a->name, sizeof(a->name), v, strcspn(v, ","))) {
            log_errbuf(err, errlen, "bad -name '%s'", v);
            return -EINVAL;
        }
        return 0;
    case DMA_MACHINE:
        if (!strncmp(v, "type=", 5)) {
            v += 5;
        }
        if (dmargs_copy(word, sizeof(word), v, strcspn(v, ","))) {
            log_errbuf(err, errlen, "bad -machine '%s'", v);
            return -EINVAL;
        }
        memcpy(a->machine, word, sizeof(word));
        return 0;
    case DMA_CHROOT:
        if (dmargs_copy(a->chroot, sizeof(a->chroot), v, strlen(v))) {
            log_errbuf(err, errlen, "bad -chroot '%s'", v);
            return -EINVAL;
        }
        return 0;
    case DMA_RUNAS:
        if (dmargs_copy(a->runas, sizeof(a->runas), v, strlen(v))) {
            log_errbuf(err, errlen, "bad -runas '%s'", v);
            return -EINVAL;
        }
        return 0;
    case DMA_RUNWITH:
        if (dmargs_items(v, NULL, 0, dmargs_runwith_item, a)) {
            log_errbuf(err, errlen, "bad -run-with '%s'", v);
            return -EINVAL;
        }
        return 0;
    case DMA_CHARDEV:
        return dmargs_add_chardev(a, v, err, errlen);
    case DMA_MON:
        return dmargs_add_mon(a, v, err, errlen);
    case DMA_IGNORE:
        break;
    }
    return 0;
}

int
dmargs_parse(struct dmargs *a, int argc, char *const argv[], char *err,
             size_t errlen)
{
    bool own_value_ok = false;

    memset(a, 0, sizeof(*a));
    a->probe = true;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const struct dmargs_opt *o;
        int rc;

        if (!strncmp(arg, "--", 2) && arg[2] && arg[2] != '-') {
            if (a->nr_own >= DMARGS_MAX_OWN) {
                log_errbuf(err, errlen, "too many of our own options (max "
                            "%d)", DMARGS_MAX_OWN);
                return -EINVAL;
            }
            a->own[a->nr_own++] = arg;
            own_value_ok = !strchr(arg, '=');
            continue;
        }
        if (arg[0] != '-') {
            /* the value of "--option value" */
            if (!own_value_ok || a->nr_own >= DMARGS_MAX_OWN) {
                log_errbuf(err, errlen, "unexpected argument '%s'", arg);
                return -EINVAL;
            }
            a->own[a->nr_own++] = arg;
            own_value_ok = false;
            continue;
        }
        own_value_ok = false;
        o = dmargs_find(arg);
        if (!o) {
            log_errbuf(err, errlen, "unknown option '%s'", arg);
            return -EINVAL;
        }
        if (o->has_arg) {
            if (i + 1 >= argc) {
                log_errbuf(err, errlen, "option '%s' needs a value", arg);
                return -EINVAL;
            }
            rc = dmargs_apply(a, o, argv[++i], err, errlen);
        } else {
            rc = dmargs_apply(a, o, NULL, err, errlen);
        }
        if (rc) {
            return rc;
        }
    }
    if (!dmargs_qmp_count(a)) {
        log_errbuf(err, errlen, "no QMP socket (-chardev socket,...,"
                    "server=on with -mon chardev=ID,mode=control)");
        return -EINVAL;
    }
    if (a->domid_restrict && a->probe) {
        log_errbuf(err, errlen, "-xen-domid-restrict without -xen-domid");
        return -EINVAL;
    }
    return 0;
}

unsigned
dmargs_qmp_count(const struct dmargs *a)
{
    unsigned n = 0;

    for (unsigned i = 0; i < a->nr_chardevs; i++) {
        n += a->chardev[i].qmp;
    }
    return n;
}
