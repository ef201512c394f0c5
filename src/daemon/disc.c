/*
 * disc: parse libxl's backend/virtio and backend/virtio_disk entries.
 *
 * Trust boundary: xenstore values (toolstack-written).  Each key is read
 * exactly once into a local buffer, parsed strictly (no sign, no spaces,
 * no trailing junk, overflow-checked) and range-checked before it lands in
 * the struct disc_dev; nothing else in the daemon parses these strings.
 */
#include <config.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "disc.h"

static int
disc_hexval(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

int
disc_parse_u64(const char *s, bool hex_ok, uint64_t max, uint64_t *out)
{
    unsigned base = 10;
    uint64_t v = 0;

    if (!s || !*s) {
        return -EINVAL;
    }
    if (hex_ok && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        base = 16;
        s += 2;
        if (!*s) {
            return -EINVAL;
        }
    }
    for (; *s; s++) {
        int d = disc_hexval(*s);

        if (d < 0 || (unsigned)d >= base) {
            return -EINVAL;
        }
        if ((uint64_t)d > max || v > (max - (uint64_t)d) / base) {
            return -ERANGE;
        }
        v = v * base + (uint64_t)d;
    }
    *out = v;
    return 0;
}

int
disc_parse_state(const char *s, enum disc_state *out)
{
    uint64_t v;

    if (disc_parse_u64(s, false, DISC_STATE_RECONFIGURED, &v) || v == 0) {
        return -EINVAL;
    }
    *out = (enum disc_state)v;
    return 0;
}

const char *
disc_kind_dir(enum disc_kind kind)
{
    switch (kind) {
    case DISC_KIND_DISK:
        return "virtio_disk";
    case DISC_KIND_DECLARED:
        return "declared";
    default:
        return "virtio";
    }
}

bool
disc_dev_overlap(const struct disc_dev *a, const struct disc_dev *b)
{
    /* Bases are below DISC_GPA_LIMIT: base + size cannot wrap. */
    return a->irq == b->irq || (a->base < b->base + DISC_MMIO_SIZE &&
                                b->base < a->base + DISC_MMIO_SIZE);
}

enum log_level
disc_failure_level(int rc, bool parsed_before)
{
    return rc == -ENOENT && parsed_before ? LOG_LVL_INFO : LOG_LVL_ERR;
}

/* Read a key; -ENOENT / -EINVAL come back with err set. */
static int
disc_get(disc_get_fn get, void *opaque, const char *key, char *buf,
         size_t len, bool required, char *err, size_t errlen)
{
    int rc;

    buf[0] = '\0';
    rc = get(opaque, key, buf, len);
    if (rc == -ENOENT) {
        if (required) {
            log_errbuf(err, errlen, "missing key '%s'", key);
        }
        return -ENOENT;
    }
    if (rc) {
        log_errbuf(err, errlen, "cannot read key '%s' (%s)", key,
                  rc == -E2BIG ? "value too long" : strerror(-rc));
        return -EINVAL;
    }
    buf[len - 1] = '\0';
    return 0;
}

/* A required number; `what` for the message. */
static int
disc_get_num(disc_get_fn get, void *opaque, const char *key, bool hex_ok,
             uint64_t max, uint64_t *out, char *err, size_t errlen)
{
    char v[DISC_VALUE_MAX];
    int rc;

    rc = disc_get(get, opaque, key, v, sizeof(v), true, err, errlen);
    if (rc) {
        return rc;
    }
    rc = disc_parse_u64(v, hex_ok, max, out);
    if (rc == -ERANGE) {
        log_errbuf(err, errlen, "%s '%s' out of range", key, v);
        return -EINVAL;
    }
    if (rc) {
        log_errbuf(err, errlen, "%s '%s' is not a %snumber", key, v,
                  hex_ok ? "hex (0x...) or decimal " : "decimal ");
        return -EINVAL;
    }
    return 0;
}

/* "virtio,device" or "virtio,device<N>" -> N (0 for the generic form). */
static int
disc_parse_type(const char *s, uint32_t *out)
{
    static const char prefix[] = "virtio,device";
    uint64_t v;

    if (strncmp(s, prefix, sizeof(prefix) - 1)) {
        return -EINVAL;
    }
    s += sizeof(prefix) - 1;
    if (!*s) {
        *out = 0;
        return 0;
    }
    if (disc_parse_u64(s, false, 0xffff, &v) || v == 0) {
        return -EINVAL;
    }
    *out = (uint32_t)v;
    return 0;
}

static int
disc_parse_common(struct disc_dev *d, disc_get_fn get, void *opaque,
                  char *err, size_t errlen)
{
    char v[DISC_VALUE_MAX];
    uint64_t n;
    int rc;

    if ((rc = disc_get_num(get, opaque, "frontend-id", false, DISC_DOMID_MAX, &n,
                     err, errlen))) {
        return rc;
    }
    if (n != d->domid) {
        log_errbuf(err, errlen, "frontend-id '%llu' is not the entry's "
                  "domid %u", (unsigned long long)n, d->domid);
        return -EINVAL;
    }
    if ((rc = disc_get(get, opaque, "online", v, sizeof(v), true, err, errlen))) {
        return rc;
    }
    if (strcmp(v, "0") && strcmp(v, "1")) {
        log_errbuf(err, errlen, "online '%s' is neither 0 nor 1", v);
        return -EINVAL;
    }
    d->online = v[0] == '1';
    if ((rc = disc_get(get, opaque, "state", v, sizeof(v), true, err, errlen))) {
        return rc;
    }
    if (disc_parse_state(v, &d->state)) {
        log_errbuf(err, errlen, "state '%s' is not a xenbus state (1-8)", v);
        return -EINVAL;
    }
    if ((rc = disc_get_num(get, opaque, "irq", false, UINT32_MAX, &n, err,
                     errlen))) {
        return rc;
    }
    if (n < DISC_IRQ_MIN || n > DISC_IRQ_MAX) {
        log_errbuf(err, errlen, "irq '%llu' out of range (%u-%u)",
                  (unsigned long long)n, DISC_IRQ_MIN, DISC_IRQ_MAX);
        return -EINVAL;
    }
    d->irq = (unsigned)n;
    /* virtio= writes base in hex, virtio disks in decimal: take both. */
    if ((rc = disc_get_num(get, opaque, "base", true, UINT64_MAX, &n, err,
                     errlen))) {
        return rc;
    }
    if (n == 0 || n % DISC_MMIO_SIZE || n >= DISC_GPA_LIMIT) {
        log_errbuf(err, errlen, "base '0x%llx' is not a non-zero, "
                  "0x200-aligned guest address below 2^48",
                  (unsigned long long)n);
        return -EINVAL;
    }
    d->base = n;
    if ((rc = disc_get(get, opaque, "transport", v, sizeof(v), true, err,
                 errlen))) {
        return rc;
    }
    if (strcmp(v, "mmio")) {
        log_errbuf(err, errlen, "transport '%s' is not supported (only mmio)",
                  v);
        return -EINVAL;
    }
    rc = disc_get(get, opaque, "grant_usage", v, sizeof(v), false, err,
                  errlen);
    if (rc == -EINVAL) {
        return -EINVAL;
    }
    /* grant_usage=1: the guest shares its buffers by grant reference. */
    d->grants = rc == 0 && !strcmp(v, "1");
    if (rc == 0 && strcmp(v, "0") && strcmp(v, "1")) {
        log_errbuf(err, errlen, "grant_usage '%s' is neither 0 nor 1", v);
        return -EINVAL;
    }
    return 0;
}

static int
disc_parse_disk(struct disc_dev *d, disc_get_fn get, void *opaque,
                char *err, size_t errlen)
{
    char v[DISC_VALUE_MAX];
    int rc;

    d->device_id = 2; /* virtio-blk */
    rc = disc_get(get, opaque, "specification", v, sizeof(v), false, err,
                  errlen);
    if (rc == -EINVAL) {
        return rc;
    }
    if (rc == 0 && strcmp(v, "virtio")) {
        log_errbuf(err, errlen, "specification '%s' is not virtio", v);
        return -EINVAL;
    }
    rc = disc_get(get, opaque, "mode", v, sizeof(v), false, err, errlen);
    if (rc == -EINVAL) {
        return rc;
    }
    if (rc == 0 && strcmp(v, "r") && strcmp(v, "w")) {
        log_errbuf(err, errlen, "mode '%s' is neither r nor w", v);
        return -EINVAL;
    }
    d->readonly = rc == 0 && v[0] == 'r';
    rc = disc_get(get, opaque, "params", d->target, sizeof(d->target), false,
                  err, errlen);
    if (rc == -ENOENT) {
        rc = disc_get(get, opaque, "target", d->target, sizeof(d->target),
                      false, err, errlen);
    }
    if (rc == -ENOENT) {
        log_errbuf(err, errlen, "missing key 'params' (the disk's target)");
        return -ENOENT;
    }
    if (rc) {
        return rc;
    }
    if (!d->target[0]) {
        log_errbuf(err, errlen, "empty disk target (params)");
        return -EINVAL;
    }
    for (const char *p = d->target; *p; p++) {
        if ((unsigned char)*p < 0x20 || *p == 0x7f) {
            log_errbuf(err, errlen, "disk target contains a control "
                      "character");
            return -EINVAL;
        }
    }
    return 0;
}

int
disc_parse_entry(struct disc_dev *out, enum disc_kind kind, uint32_t domid,
                 uint32_t devid, disc_get_fn get, void *opaque, char *err,
                 size_t errlen)
{
    char v[DISC_VALUE_MAX];
    int rc;

    memset(out, 0, sizeof(*out));
    if (kind >= DISC_KIND_COUNT || domid == 0 || domid > DISC_DOMID_MAX) {
        log_errbuf(err, errlen, "bad entry address (kind %d, domid %u)",
                  (int)kind, domid);
        return -EINVAL;
    }
    out->kind = kind;
    out->domid = domid;
    out->devid = devid;
    rc = disc_parse_common(out, get, opaque, err, errlen);
    if (rc) {
        return rc;
    }
    if (kind == DISC_KIND_DISK) {
        return disc_parse_disk(out, get, opaque, err, errlen);
    }
    if ((rc = disc_get(get, opaque, "type", v, sizeof(v), true, err, errlen))) {
        return rc;
    }
    if (disc_parse_type(v, &out->device_id)) {
        log_errbuf(err, errlen, "type '%s' is not virtio,device[N] "
                  "(N = 1-65535)", v);
        return -EINVAL;
    }
    return 0;
}

/* Parse one decimal path component; *p advances past it. */
static int
disc_path_num(const char **p, uint32_t max, uint32_t *out)
{
    const char *s = *p;
    uint64_t v = 0;

    if (*s < '0' || *s > '9') {
        return -EINVAL;
    }
    if (*s == '0' && s[1] >= '0' && s[1] <= '9') {
        return -EINVAL; /* leading zero: not a name libxl writes */
    }
    for (; *s >= '0' && *s <= '9'; s++) {
        v = v * 10 + (uint64_t)(*s - '0');
        if (v > max) {
            return -EINVAL;
        }
    }
    if (*s && *s != '/') {
        return -EINVAL;
    }
    *out = (uint32_t)v;
    *p = s;
    return 0;
}

int
disc_split_path(const char *path, enum disc_kind *kind, uint32_t *domid,
                uint32_t *devid, const char **rest)
{
    static const char root[] = DISC_BACKEND_ROOT "/";
    const char *p = path;

    *domid = UINT32_MAX;
    *devid = UINT32_MAX;
    *rest = "";
    if (strncmp(p, root, sizeof(root) - 1)) {
        return -EINVAL;
    }
    p += sizeof(root) - 1;
    if (!strncmp(p, "virtio_disk", 11) && (p[11] == '/' || !p[11])) {
        *kind = DISC_KIND_DISK;
        p += 11;
    } else if (!strncmp(p, "virtio", 6) && (p[6] == '/' || !p[6])) {
        *kind = DISC_KIND_VIRTIO;
        p += 6;
    } else {
        return -EINVAL;
    }
    if (!*p || !p[1]) {
        return 0;
    }
    p++;
    if (disc_path_num(&p, DISC_DOMID_MAX, domid)) {
        return -EINVAL;
    }
    if (!*p || !p[1]) {
        return 0;
    }
    p++;
    if (disc_path_num(&p, UINT32_MAX - 1, devid)) {
        return -EINVAL;
    }
    if (*p == '/') {
        p++;
    }
    *rest = p;
    return 0;
}

int
disc_entry_path(char *buf, size_t len, enum disc_kind kind, uint32_t domid,
                uint32_t devid, const char *key)
{
    int n;

    if (key) {
        n = snprintf(buf, len, "%s/%s/%u/%u/%s", DISC_BACKEND_ROOT,
                     disc_kind_dir(kind), domid, devid, key);
    } else {
        n = snprintf(buf, len, "%s/%s/%u/%u", DISC_BACKEND_ROOT,
                     disc_kind_dir(kind), domid, devid);
    }
    return (n < 0 || (size_t)n >= len) ? -ENAMETOOLONG : 0;
}
