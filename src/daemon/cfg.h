/*
 * cfg: the daemon's settings, from the command line and a config file.
 *
 * One option namespace serves both: every long option `--name=value` is
 * also a global `name = value` line of the config file, and
 * `[device SELECTOR]` sections override a few of them for some devices.
 * SELECTOR is a device type (`blk`, `fs`, `device4`, `4`), a
 * `DOMID:DEVID` pair, or a `GUESTNAME:DEVID` pair; lookups prefer the
 * guest name, then the domid, then the type.
 *
 * Trust boundary: arguments and the config file come from the host
 * administrator (or libxl, for xl-spawned runs).  They are checked fully
 * anyway, and every rejection names the offending value.
 */
#ifndef XVM_CFG_H
#define XVM_CFG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "decl.h"
#include "devtype.h"
#include "log.h"
#include "relay.h"

/* Where sockets live unless --backend-dir says otherwise. */
#define CFG_DEFAULT_DIR "/run/xen-vhost-master"
#define CFG_DEFAULT_QSD "/usr/bin/qemu-storage-daemon"
/* Who workers (and the backends the service starts) run as by default
 * (created by `make install` and the unit's sysusers.d file), and the
 * fallback when that user does not exist. */
#define CFG_DEFAULT_USER "xen-vhost-master"
#define CFG_FALLBACK_USER "nobody"
#define CFG_MAX_DEVS 64
/* sun_path is 108 bytes: keep room for "/<domid>-<devid>.sock". */
#define CFG_DIR_MAX 80
#define CFG_SOCK_MAX 108
#define CFG_PATH_MAX 4096
#define CFG_GUEST_MAX 64
#define CFG_ERR_MAX 256

enum cfg_run {
    CFG_RUN_NONE = 0,   /* nothing asked: usage error */
    CFG_RUN_HELP,
    CFG_RUN_VERSION,
    CFG_RUN_SERVICE,    /* --service: watch xenstore for all guests */
    CFG_RUN_CHECK,      /* --check-config: parse, print, exit */
    CFG_RUN_DM,         /* started by libxl as device_model_override */
    CFG_RUN_DEVICE_TREE, /* --device-tree=GUEST: write its partial DTB */
    CFG_RUN_STATUS,     /* --status [--json]: ask running instances */
};

enum cfg_sel {
    CFG_SEL_TYPE = 0,   /* every device of one virtio type */
    CFG_SEL_DOMID,      /* DOMID:DEVID */
    CFG_SEL_GUEST,      /* GUESTNAME:DEVID */
};

/* One `[device SELECTOR]` section. */
struct cfg_dev {
    enum cfg_sel sel;
    uint32_t type;                 /* CFG_SEL_TYPE: virtio device id */
    uint32_t domid;                /* CFG_SEL_DOMID */
    char guest[CFG_GUEST_MAX];     /* CFG_SEL_GUEST */
    uint32_t devid;                /* DOMID and GUEST selectors */
    char socket[CFG_SOCK_MAX];     /* "" = not set */
    bool has_mode;
    enum relay_mode mode;
    uint16_t queue_size;           /* 0 = inherit */
    uint32_t bounce_kib;           /* 0 = inherit */
    uint32_t device_id;            /* 0 = from xenstore */
    struct devtype_settings set;   /* per-type settings, zero = default */
    struct decl_spec decl;         /* declare = yes and its keys */
};

struct cfg {
    enum cfg_run run;
    char config_path[CFG_PATH_MAX];  /* "" = none */
    char dt_guest[CFG_GUEST_MAX];    /* --device-tree: name or domid */
    char backend_dir[CFG_DIR_MAX];
    char qsd_path[CFG_PATH_MAX];
    bool spawn_qsd;
    enum relay_mode mode;
    uint16_t queue_size;             /* 0 = relay default */
    uint32_t bounce_kib;             /* 0 = relay default */
    unsigned timeout_ms;             /* 0 = relay default */
    unsigned mapcache_mib;           /* 0 = hv_xen default */
    bool has_user;                   /* --user given, or cfg_worker_user */
    uid_t uid;                       /* 0: stay root (--user=root) */
    gid_t gid;
    enum log_level log_level;
    bool status_json;                /* --json (with --status) */
    bool has_domid;                  /* --domid: serve only this guest */
    uint32_t domid;
    unsigned nr_devs;
    struct cfg_dev dev[CFG_MAX_DEVS];
};


/*
 * Settle who workers run as, unless --user/user= said it (root there is
 * the explicit opt-out: workers stay root, restricted to their guest):
 * `user` (the daemon passes CFG_DEFAULT_USER), else `fallback`
 * (CFG_FALLBACK_USER) with a warning, each with its primary group.  0, or
 * -ENOENT with `err` saying neither exists.
 */
int cfg_worker_user(struct cfg *c, const char *user, const char *fallback,
                    char *err, size_t errlen);

/* Defaults: no run mode, CFG_DEFAULT_DIR, auto relay mode, info logs. */
void cfg_init(struct cfg *c);

/*
 * Set one global option by its long name (without "--").  `value` is NULL
 * for a flag given without "=value".  0, or -EINVAL with `err` naming the
 * bad option or value.
 */
int cfg_set(struct cfg *c, const char *name, const char *value, char *err,
            size_t errlen);

/*
 * Parse a command line (argv[0] skipped).  Long options take "--n=v" or
 * "--n v"; short ones are -h, -V, -c FILE, -d (debug logs).  0 or -EINVAL.
 */
int cfg_parse_args(struct cfg *c, int argc, char *const argv[], char *err,
                   size_t errlen);

/*
 * Parse config-file text; `origin` names it in messages ("file:line").
 * The declared devices are checked once the text is read (decl_check).
 * 0 or -EINVAL.
 */
int cfg_parse_text(struct cfg *c, const char *text, size_t len,
                   const char *origin, char *err, size_t errlen);

/* Read and parse a config file (at most 1 MiB).  0 or -errno. */
int cfg_load_file(struct cfg *c, const char *path, char *err, size_t errlen);

/*
 * The whole start-up sequence: defaults, the command line to learn
 * --config, the file, then the command line again so it wins.
 */
int cfg_setup(struct cfg *c, int argc, char *const argv[], char *err,
              size_t errlen);

/* "blk", "net", ... or NULL for ids without a short name. */
const char *cfg_type_name(uint32_t device_id);
/* Name, "deviceN" or "N" -> virtio device id.  0 or -EINVAL. */
int cfg_parse_type(const char *s, uint32_t *out);

/* Print the effective settings as a config file would hold them. */
void cfg_dump(const struct cfg *c, FILE *out);

#endif
