/*
 * cfg: command-line and config-file parsing (see cfg.h for the format).
 *
 * Trust boundary: the administrator's (or libxl's) strings.  Numbers are
 * parsed strictly (digits only, no sign, no trailing junk, range-checked),
 * paths are length-checked against what a UNIX socket address can hold,
 * and every error message quotes the value it refuses.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "cfg.h"

#define CFG_FILE_MAX (1024 * 1024)
#define CFG_LINE_MAX 1024

/* Virtio device ids with the short names used in selectors and paths. */
static const struct {
    uint32_t id;
    const char *name;
} cfg_types[] = {
    { 1, "net" },     { 2, "blk" },    { 3, "console" }, { 4, "rng" },
    { 5, "balloon" }, { 8, "scsi" },   { 9, "9p" },      { 16, "gpu" },
    { 18, "input" },  { 19, "vsock" }, { 20, "crypto" }, { 25, "sound" },
    { 26, "fs" },     { 34, "i2c" },   { 36, "scmi" },   { 41, "gpio" },
};

/* Decimal only, no sign, no junk, within [min, max]. */
static int
cfg_parse_ulong(const char *s, unsigned long min, unsigned long max,
                unsigned long *out)
{
    unsigned long v = 0;

    if (!s || !*s) {
        return -EINVAL;
    }
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9') {
            return -EINVAL;
        }
        if ((unsigned long)(*p - '0') > max ||
            v > (max - (unsigned long)(*p - '0')) / 10) {
            return -ERANGE;
        }
        v = v * 10 + (unsigned long)(*p - '0');
    }
    if (v < min) {
        return -ERANGE;
    }
    *out = v;
    return 0;
}

const char *
cfg_type_name(uint32_t device_id)
{
    for (size_t i = 0; i < sizeof(cfg_types) / sizeof(cfg_types[0]); i++) {
        if (cfg_types[i].id == device_id) {
            return cfg_types[i].name;
        }
    }
    return NULL;
}

int
cfg_parse_type(const char *s, uint32_t *out)
{
    unsigned long v;

    for (size_t i = 0; i < sizeof(cfg_types) / sizeof(cfg_types[0]); i++) {
        if (!strcmp(s, cfg_types[i].name)) {
            *out = cfg_types[i].id;
            return 0;
        }
    }
    if (!strncmp(s, "device", 6)) {
        s += 6;
    }
    if (cfg_parse_ulong(s, 1, 0xffff, &v)) {
        return -EINVAL;
    }
    *out = (uint32_t)v;
    return 0;
}

static int
cfg_parse_mode(const char *s, enum relay_mode *out)
{
    if (!strcmp(s, "auto")) {
        *out = RELAY_MODE_AUTO;
    } else if (!strcmp(s, "shadow") || !strcmp(s, "copy")) {
        *out = RELAY_MODE_SHADOW;
    } else if (!strcmp(s, "zero-copy") || !strcmp(s, "zerocopy")) {
        *out = RELAY_MODE_ZEROCOPY;
    } else {
        return -EINVAL;
    }
    return 0;
}

static const char *
cfg_mode_name(enum relay_mode m)
{
    switch (m) {
    case RELAY_MODE_SHADOW:
        return "shadow";
    case RELAY_MODE_ZEROCOPY:
        return "zero-copy";
    default:
        return "auto";
    }
}

static int
cfg_parse_bool(const char *s, bool *out)
{
    if (!s || !strcmp(s, "yes") || !strcmp(s, "true") || !strcmp(s, "1") ||
        !strcmp(s, "on")) {
        *out = true;
    } else if (!strcmp(s, "no") || !strcmp(s, "false") || !strcmp(s, "0") ||
               !strcmp(s, "off")) {
        *out = false;
    } else {
        return -EINVAL;
    }
    return 0;
}

static int
cfg_parse_queue_size(const char *s, uint16_t *out)
{
    unsigned long v;

    if (cfg_parse_ulong(s, 1, 32768, &v) || (v & (v - 1))) {
        return -EINVAL;
    }
    *out = (uint16_t)v;
    return 0;
}

/* "UID[:GID]" numerically, or a user name (its primary group). */
static int
cfg_parse_user(const char *s, uid_t *uid, gid_t *gid)
{
    char name[256];
    const char *colon = strchr(s, ':');
    size_t n = colon ? (size_t)(colon - s) : strlen(s);
    unsigned long v;
    struct passwd pw, *pwp = NULL;
    char buf[4096];

    if (n == 0 || n >= sizeof(name)) {
        return -EINVAL;
    }
    memcpy(name, s, n);
    name[n] = '\0';
    if (!cfg_parse_ulong(name, 0, 0xfffffffeUL, &v)) {
        *uid = (uid_t)v;
        *gid = (gid_t)v;
    } else {
        if (getpwnam_r(name, &pw, buf, sizeof(buf), &pwp) || !pwp) {
            return -ENOENT;
        }
        *uid = pwp->pw_uid;
        *gid = pwp->pw_gid;
    }
    if (colon) {
        struct group gr, *grp = NULL;

        if (!cfg_parse_ulong(colon + 1, 0, 0xfffffffeUL, &v)) {
            *gid = (gid_t)v;
        } else if (!getgrnam_r(colon + 1, &gr, buf, sizeof(buf), &grp) &&
                   grp) {
            *gid = grp->gr_gid;
        } else {
            return -ENOENT;
        }
    }
    return 0;
}

int
cfg_worker_user(struct cfg *c, const char *user, const char *fallback,
                char *err, size_t errlen)
{
    if (c->has_user || cfg_parse_user(user, &c->uid, &c->gid) == 0) {
        c->has_user = true;
        return 0;
    }
    if (cfg_parse_user(fallback, &c->uid, &c->gid) == 0) {
        c->has_user = true;
        log_warn("user '%s' does not exist (make install creates it): "
                 "workers run as '%s' (uid %u)", user, fallback,
                 (unsigned)c->uid);
        return 0;
    }
    log_errbuf(err, errlen, "no user to run workers as: neither '%s' nor "
               "'%s' exists; create '%s' (make install does) or pass --user",
               user, fallback, user);
    return -ENOENT;
}

static int
cfg_copy_path(char *dst, size_t dstlen, const char *s, bool absolute)
{
    size_t n = s ? strlen(s) : 0;

    if (n == 0 || n >= dstlen || (absolute && s[0] != '/')) {
        return -EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) {
            return -EINVAL;
        }
    }
    memcpy(dst, s, n + 1);
    return 0;
}

void
cfg_init(struct cfg *c)
{
    memset(c, 0, sizeof(*c));
    snprintf(c->backend_dir, sizeof(c->backend_dir), "%s", CFG_DEFAULT_DIR);
    snprintf(c->qsd_path, sizeof(c->qsd_path), "%s", CFG_DEFAULT_QSD);
    c->spawn_qsd = true;
    c->mode = RELAY_MODE_AUTO;
    c->log_level = LOG_LVL_INFO;
}

/* Options that take no value on the command line. */
static bool
cfg_is_flag(const char *name)
{
    return !strcmp(name, "service") || !strcmp(name, "help") ||
           !strcmp(name, "version") || !strcmp(name, "check-config") ||
           !strcmp(name, "status") || !strcmp(name, "json");
}

int
cfg_set(struct cfg *c, const char *name, const char *value, char *err,
        size_t errlen)
{
    unsigned long v;
    int rc = 0;

    if (cfg_is_flag(name)) {
        if (value) {
            log_errbuf(err, errlen, "option '%s' takes no value (got '%s')",
                     name, value);
            return -EINVAL;
        }
        if (!strcmp(name, "service")) {
            c->run = CFG_RUN_SERVICE;
        } else if (!strcmp(name, "status")) {
            c->run = CFG_RUN_STATUS;
        } else if (!strcmp(name, "json")) {
            c->status_json = true;
        } else if (!strcmp(name, "help")) {
            c->run = CFG_RUN_HELP;
        } else if (!strcmp(name, "version")) {
            c->run = CFG_RUN_VERSION;
        } else {
            c->run = CFG_RUN_CHECK;
        }
        return 0;
    }
    if (!value && strcmp(name, "spawn-qsd")) {
        static const char *const valued[] = {
            "config", "backend-dir", "socket-dir", "mode", "queue-size",
            "bounce-kib", "timeout-ms", "mapcache-mib", "user", "domid",
            "qsd", "log-level", "device-tree", NULL,
        };
        bool known = false;

        for (unsigned i = 0; valued[i]; i++) {
            known = known || !strcmp(name, valued[i]);
        }
        log_errbuf(err, errlen, known ? "option '%s' needs a value"
                                    : "unknown option '%s'", name);
        return -EINVAL;
    }
    if (!strcmp(name, "config")) {
        rc = cfg_copy_path(c->config_path, sizeof(c->config_path), value,
                           false);
    } else if (!strcmp(name, "backend-dir") || !strcmp(name, "socket-dir")) {
        rc = cfg_copy_path(c->backend_dir, sizeof(c->backend_dir), value,
                           true);
        if (rc) {
            log_errbuf(err, errlen, "bad %s '%s': want an absolute path of at "
                     "most %d bytes", name, value, CFG_DIR_MAX - 1);
            return -EINVAL;
        }
    } else if (!strcmp(name, "device-tree")) {
        rc = cfg_copy_path(c->dt_guest, sizeof(c->dt_guest), value, false);
        c->run = rc ? c->run : CFG_RUN_DEVICE_TREE;
    } else if (!strcmp(name, "qsd")) {
        rc = cfg_copy_path(c->qsd_path, sizeof(c->qsd_path), value, true);
    } else if (!strcmp(name, "spawn-qsd")) {
        rc = cfg_parse_bool(value, &c->spawn_qsd);
    } else if (!strcmp(name, "mode")) {
        rc = cfg_parse_mode(value, &c->mode);
        if (rc) {
            log_errbuf(err, errlen, "bad mode '%s': want auto, shadow or "
                     "zero-copy", value);
            return -EINVAL;
        }
    } else if (!strcmp(name, "queue-size")) {
        rc = cfg_parse_queue_size(value, &c->queue_size);
        if (rc) {
            log_errbuf(err, errlen, "bad queue-size '%s': want a power of two "
                     "from 1 to 32768", value);
            return -EINVAL;
        }
    } else if (!strcmp(name, "bounce-kib")) {
        rc = cfg_parse_ulong(value, 4, 1024 * 1024, &v);
        c->bounce_kib = rc ? 0 : (uint32_t)v;
    } else if (!strcmp(name, "timeout-ms")) {
        rc = cfg_parse_ulong(value, 1, 600000, &v);
        c->timeout_ms = rc ? 0 : (unsigned)v;
    } else if (!strcmp(name, "mapcache-mib")) {
        rc = cfg_parse_ulong(value, 1, 1024 * 1024, &v);
        c->mapcache_mib = rc ? 0 : (unsigned)v;
    } else if (!strcmp(name, "user")) {
        rc = cfg_parse_user(value, &c->uid, &c->gid);
        c->has_user = rc == 0;
    } else if (!strcmp(name, "log-level")) {
        rc = log_parse_level(value, &c->log_level);
    } else if (!strcmp(name, "domid")) {
        rc = cfg_parse_ulong(value, 1, 0x7fef, &v);
        c->has_domid = rc == 0;
        c->domid = rc ? 0 : (uint32_t)v;
    } else {
        log_errbuf(err, errlen, "unknown option '%s'", name);
        return -EINVAL;
    }
    if (rc) {
        log_errbuf(err, errlen, "bad value '%s' for option '%s'", value, name);
        return -EINVAL;
    }
    return 0;
}

int
cfg_parse_args(struct cfg *c, int argc, char *const argv[], char *err,
               size_t errlen)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        char name[64];
        const char *value = NULL;
        int rc;

        if (!strcmp(a, "-h")) {
            a = "--help";
        } else if (!strcmp(a, "-V")) {
            a = "--version";
        } else if (!strcmp(a, "-d")) {
            c->log_level = LOG_LVL_DEBUG;
            continue;
        } else if (!strcmp(a, "-c")) {
            if (i + 1 >= argc) {
                log_errbuf(err, errlen, "option '-c' needs a file name");
                return -EINVAL;
            }
            rc = cfg_set(c, "config", argv[++i], err, errlen);
            if (rc) {
                return rc;
            }
            continue;
        }
        if (strncmp(a, "--", 2) || !a[2]) {
            log_errbuf(err, errlen, "unexpected argument '%s'", a);
            return -EINVAL;
        }
        a += 2;
        const char *eq = strchr(a, '=');
        size_t n = eq ? (size_t)(eq - a) : strlen(a);

        if (n == 0 || n >= sizeof(name)) {
            log_errbuf(err, errlen, "unknown option '%s'", argv[i]);
            return -EINVAL;
        }
        memcpy(name, a, n);
        name[n] = '\0';
        if (eq) {
            value = eq + 1;
        } else if (!cfg_is_flag(name) && strcmp(name, "spawn-qsd")) {
            if (i + 1 >= argc) {
                /* Let cfg_set say "unknown" or "needs a value". */
                return cfg_set(c, name, NULL, err, errlen);
            }
            value = argv[++i];
        }
        rc = cfg_set(c, name, value, err, errlen);
        if (rc) {
            return rc;
        }
    }
    return 0;
}

/* Parse "[device SELECTOR]"; the brackets are already stripped. */
static int
cfg_parse_selector(struct cfg_dev *d, const char *sel)
{
    const char *colon = strrchr(sel, ':');
    unsigned long v;

    memset(d, 0, sizeof(*d));
    if (!colon) {
        d->sel = CFG_SEL_TYPE;
        return cfg_parse_type(sel, &d->type);
    }
    if (cfg_parse_ulong(colon + 1, 0, 0xffffffffUL, &v)) {
        return -EINVAL;
    }
    d->devid = (uint32_t)v;
    size_t n = (size_t)(colon - sel);

    if (n == 0 || n >= sizeof(d->guest)) {
        return -EINVAL;
    }
    memcpy(d->guest, sel, n);
    d->guest[n] = '\0';
    if (!cfg_parse_ulong(d->guest, 0, 0x7fef, &v)) {
        d->sel = CFG_SEL_DOMID;
        d->domid = (uint32_t)v;
        d->guest[0] = '\0';
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)d->guest[i];

        if (ch <= 0x20 || ch == 0x7f || ch == '/' || ch == ']') {
            return -EINVAL;
        }
    }
    d->sel = CFG_SEL_GUEST;
    return 0;
}

static int
cfg_set_dev(struct cfg_dev *d, const char *key, const char *value,
            char *err, size_t errlen)
{
    unsigned long v;
    int rc;

    if (!strcmp(key, "socket")) {
        rc = cfg_copy_path(d->socket, sizeof(d->socket), value, true);
        if (rc) {
            log_errbuf(err, errlen, "bad socket '%s': want an absolute path "
                     "of at most %d bytes", value, CFG_SOCK_MAX - 1);
        }
    } else if (!strcmp(key, "mode")) {
        rc = cfg_parse_mode(value, &d->mode);
        d->has_mode = rc == 0;
        if (rc) {
            log_errbuf(err, errlen, "bad mode '%s': want auto, shadow or "
                     "zero-copy", value);
        }
    } else if (!strcmp(key, "queue-size")) {
        rc = cfg_parse_queue_size(value, &d->queue_size);
        if (rc) {
            log_errbuf(err, errlen, "bad queue-size '%s': want a power of two "
                     "from 1 to 32768", value);
        }
    } else if (!strcmp(key, "bounce-kib")) {
        rc = cfg_parse_ulong(value, 4, 1024 * 1024, &v);
        d->bounce_kib = rc ? 0 : (uint32_t)v;
        if (rc) {
            log_errbuf(err, errlen, "bad bounce-kib '%s'", value);
        }
    } else if (!strcmp(key, "device-id")) {
        rc = cfg_parse_type(value, &d->device_id);
        if (rc) {
            log_errbuf(err, errlen, "bad device-id '%s'", value);
        }
    } else {
        const char *why;

        rc = devtype_settings_parse(&d->set, key, value, &why);
        if (rc == -ENOENT) {
            rc = decl_set_key(&d->decl, key, value, err, errlen);
            if (rc == -ENOENT) {
                log_errbuf(err, errlen, "unknown device key '%s'", key);
            }
        } else if (rc) {
            log_errbuf(err, errlen, "bad %s '%s': %s", key, value, why);
        }
    }
    return rc ? -EINVAL : 0;
}

static char *
cfg_trim(char *s)
{
    char *e;

    while (*s == ' ' || *s == '\t') {
        s++;
    }
    e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r')) {
        *--e = '\0';
    }
    return s;
}

/* One line of the file; `*dev` is the open section or NULL. */
static int
cfg_parse_line(struct cfg *c, char *line, struct cfg_dev **dev, char *err,
               size_t errlen)
{
    char *s = cfg_trim(line);
    char *eq, *key, *value;

    if (!*s || *s == '#' || *s == ';') {
        return 0;
    }
    if (*s == '[') {
        size_t n = strlen(s);

        if (s[n - 1] != ']') {
            log_errbuf(err, errlen, "bad section header '%s'", s);
            return -EINVAL;
        }
        s[n - 1] = '\0';
        s = cfg_trim(s + 1);
        if (strncmp(s, "device", 6) || (s[6] != ' ' && s[6] != '\t')) {
            log_errbuf(err, errlen, "unknown section '[%s]' (want "
                     "[device SELECTOR])", s);
            return -EINVAL;
        }
        s = cfg_trim(s + 6);
        if (c->nr_devs >= CFG_MAX_DEVS) {
            log_errbuf(err, errlen, "too many [device] sections (max %d)",
                     CFG_MAX_DEVS);
            return -EINVAL;
        }
        if (cfg_parse_selector(&c->dev[c->nr_devs], s)) {
            log_errbuf(err, errlen, "bad device selector '%s': want a type "
                     "(blk, fs, deviceN), DOMID:DEVID or GUEST:DEVID", s);
            return -EINVAL;
        }
        *dev = &c->dev[c->nr_devs++];
        return 0;
    }
    eq = strchr(s, '=');
    if (!eq) {
        log_errbuf(err, errlen, "expected 'key = value', got '%s'", s);
        return -EINVAL;
    }
    *eq = '\0';
    key = cfg_trim(s);
    value = cfg_trim(eq + 1);
    if (!*key) {
        log_errbuf(err, errlen, "missing key before '= %s'", value);
        return -EINVAL;
    }
    if (*dev) {
        return cfg_set_dev(*dev, key, value, err, errlen);
    }
    if (cfg_is_flag(key) || !strcmp(key, "config") ||
        !strcmp(key, "device-tree")) {
        log_errbuf(err, errlen, "option '%s' is not allowed in a config file",
                 key);
        return -EINVAL;
    }
    return cfg_set(c, key, value, err, errlen);
}

int
cfg_parse_text(struct cfg *c, const char *text, size_t len,
               const char *origin, char *err, size_t errlen)
{
    struct cfg_dev *dev = NULL;
    char line[CFG_LINE_MAX];
    char msg[CFG_ERR_MAX];
    unsigned lineno = 0;
    size_t pos = 0;

    while (pos < len) {
        size_t end = pos;

        while (end < len && text[end] != '\n') {
            end++;
        }
        lineno++;
        if (end - pos >= sizeof(line)) {
            log_errbuf(err, errlen, "%s:%u: line longer than %d bytes", origin,
                     lineno, CFG_LINE_MAX - 1);
            return -EINVAL;
        }
        if (memchr(text + pos, '\0', end - pos)) {
            log_errbuf(err, errlen, "%s:%u: NUL byte in line", origin, lineno);
            return -EINVAL;
        }
        memcpy(line, text + pos, end - pos);
        line[end - pos] = '\0';
        if (cfg_parse_line(c, line, &dev, msg, sizeof(msg))) {
            log_errbuf(err, errlen, "%s:%u: %s", origin, lineno, msg);
            return -EINVAL;
        }
        pos = end + 1;
    }
    if (decl_check(c, msg, sizeof(msg))) {
        log_errbuf(err, errlen, "%s: %s", origin, msg);
        return -EINVAL;
    }
    return 0;
}

int
cfg_load_file(struct cfg *c, const char *path, char *err, size_t errlen)
{
    struct stat st;
    char *buf = NULL;
    size_t got = 0;
    int fd, rc;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        rc = -errno;
        log_errbuf(err, errlen, "cannot open config '%s': %s", path,
                 strerror(-rc));
        return rc;
    }
    if (fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_size > CFG_FILE_MAX) {
        log_errbuf(err, errlen, "config '%s' is not a regular file of at most "
                 "1 MiB", path);
        rc = -EINVAL;
        goto close_fd;
    }
    buf = malloc((size_t)st.st_size + 1);
    if (!buf) {
        rc = -ENOMEM;
        log_errbuf(err, errlen, "config '%s': out of memory", path);
        goto close_fd;
    }
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            rc = n < 0 ? -errno : -EIO;
            log_errbuf(err, errlen, "cannot read config '%s'", path);
            goto free_buf;
        }
        got += (size_t)n;
    }
    rc = cfg_parse_text(c, buf, got, path, err, errlen);
free_buf:
    free(buf);
close_fd:
    close(fd);
    return rc;
}

int
cfg_setup(struct cfg *c, int argc, char *const argv[], char *err,
          size_t errlen)
{
    int rc;

    cfg_init(c);
    rc = cfg_parse_args(c, argc, argv, err, errlen);
    if (rc == 0 && c->status_json && c->run != CFG_RUN_STATUS) {
        log_errbuf(err, errlen, "--json goes with --status");
        return -EINVAL;
    }
    if (rc || !c->config_path[0] || c->run == CFG_RUN_HELP ||
        c->run == CFG_RUN_VERSION) {
        return rc;
    }
    char path[CFG_PATH_MAX];

    memcpy(path, c->config_path, sizeof(path));
    cfg_init(c);
    rc = cfg_load_file(c, path, err, errlen);
    if (rc) {
        return rc;
    }
    return cfg_parse_args(c, argc, argv, err, errlen);
}

void
cfg_dump(const struct cfg *c, FILE *out)
{
    fprintf(out, "backend-dir = %s\n", c->backend_dir);
    fprintf(out, "mode = %s\n", cfg_mode_name(c->mode));
    if (c->queue_size) {
        fprintf(out, "queue-size = %u\n", c->queue_size);
    }
    if (c->bounce_kib) {
        fprintf(out, "bounce-kib = %u\n", c->bounce_kib);
    }
    if (c->timeout_ms) {
        fprintf(out, "timeout-ms = %u\n", c->timeout_ms);
    }
    if (c->mapcache_mib) {
        fprintf(out, "mapcache-mib = %u\n", c->mapcache_mib);
    }
    if (c->has_user) {
        fprintf(out, "user = %u:%u\n", (unsigned)c->uid, (unsigned)c->gid);
    }
    if (c->has_domid) {
        fprintf(out, "domid = %u\n", c->domid);
    }
    fprintf(out, "qsd = %s\nspawn-qsd = %s\n", c->qsd_path,
            c->spawn_qsd ? "yes" : "no");
    for (unsigned i = 0; i < c->nr_devs; i++) {
        const struct cfg_dev *d = &c->dev[i];
        const char *tn = cfg_type_name(d->type);

        if (d->sel == CFG_SEL_TYPE && tn) {
            fprintf(out, "\n[device %s]\n", tn);
        } else if (d->sel == CFG_SEL_TYPE) {
            fprintf(out, "\n[device device%u]\n", d->type);
        } else if (d->sel == CFG_SEL_DOMID) {
            fprintf(out, "\n[device %u:%u]\n", d->domid, d->devid);
        } else {
            fprintf(out, "\n[device %s:%u]\n", d->guest, d->devid);
        }
        if (d->socket[0]) {
            fprintf(out, "socket = %s\n", d->socket);
        }
        if (d->has_mode) {
            fprintf(out, "mode = %s\n", cfg_mode_name(d->mode));
        }
        if (d->queue_size) {
            fprintf(out, "queue-size = %u\n", d->queue_size);
        }
        if (d->bounce_kib) {
            fprintf(out, "bounce-kib = %u\n", d->bounce_kib);
        }
        if (d->device_id) {
            fprintf(out, "device-id = %u\n", d->device_id);
        }
        devtype_settings_print(out, &d->set);
        decl_dump(&d->decl, out);
    }
}
