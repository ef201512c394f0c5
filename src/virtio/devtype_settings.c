/*
 * devtype_settings: the per-device keys of the configuration file that
 * become struct devtype_settings (see devtype.h): queues, mac, mtu,
 * guest-cid, fs-tag.  Ranges are checked here; whether the device's type
 * takes a key is checked by devtype_fill(), once the type is known.
 */
#include <config.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "devtype.h"

static int
parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    char *end;
    unsigned long long v;

    if (*s < '0' || *s > '9') {
        return -EINVAL;
    }
    errno = 0;
    v = strtoull(s, &end, 0);
    if (errno || *end || v < min || v > max) {
        return -EINVAL;
    }
    *out = v;
    return 0;
}

/* "52:54:00:12:34:56": six hex pairs; unicast only. */
static int
parse_mac(const char *s, uint8_t mac[6])
{
    static const char hex[] = "0123456789abcdef";

    for (unsigned i = 0; i < 6; i++, s += 3) {
        const char *hi = s[0] ? strchr(hex, s[0] | 0x20) : NULL;
        const char *lo = s[0] && s[1] ? strchr(hex, s[1] | 0x20) : NULL;

        if (!hi || !lo || s[2] != (i == 5 ? '\0' : ':')) {
            return -EINVAL;
        }
        mac[i] = (uint8_t)((hi - hex) << 4 | (lo - hex));
    }
    return (mac[0] & 1) ? -EINVAL : 0;
}

/* A virtio-fs tag: what the guest passes to mount, so no blanks. */
static int
parse_tag(const char *s, char *dst)
{
    size_t n = strlen(s);

    if (n == 0 || n > DEVTYPE_FS_TAG_MAX) {
        return -EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];

        if (ch <= 0x20 || ch >= 0x7f) {
            return -EINVAL;
        }
    }
    memcpy(dst, s, n + 1);
    return 0;
}

int
devtype_settings_parse(struct devtype_settings *s, const char *key,
                       const char *value, const char **why)
{
    uint64_t v;
    int rc;

    *why = NULL;
    if (!strcmp(key, "queues")) {
        rc = parse_u64(value, 1, DEVTYPE_QUEUES_MAX, &v);
        s->queues = rc ? 0 : (unsigned)v;
        *why = "want 1 to 31 (net: queue pairs, at most 15; fs: request "
               "queues)";
    } else if (!strcmp(key, "mac")) {
        rc = parse_mac(value, s->mac);
        s->has_mac = rc == 0;
        *why = "want a unicast address as 52:54:00:12:34:56";
    } else if (!strcmp(key, "mtu")) {
        rc = parse_u64(value, DEVTYPE_MTU_MIN, DEVTYPE_MTU_MAX, &v);
        s->mtu = rc ? 0 : (uint16_t)v;
        *why = "want 68 to 65535";
    } else if (!strcmp(key, "guest-cid")) {
        rc = parse_u64(value, DEVTYPE_CID_MIN, DEVTYPE_CID_MAX, &v);
        s->guest_cid = rc ? 0 : v;
        *why = "want 3 to 4294967294";
    } else if (!strcmp(key, "fs-tag")) {
        rc = parse_tag(value, s->fs_tag);
        *why = "want 1 to 36 printable characters without spaces";
    } else {
        return -ENOENT;
    }
    if (rc == 0) {
        *why = NULL;
    }
    return rc;
}

void
devtype_settings_print(FILE *out, const struct devtype_settings *s)
{
    if (s->queues) {
        fprintf(out, "queues = %u\n", s->queues);
    }
    if (s->has_mac) {
        fprintf(out, "mac = %02x:%02x:%02x:%02x:%02x:%02x\n", s->mac[0],
                s->mac[1], s->mac[2], s->mac[3], s->mac[4], s->mac[5]);
    }
    if (s->mtu) {
        fprintf(out, "mtu = %u\n", s->mtu);
    }
    if (s->guest_cid) {
        fprintf(out, "guest-cid = %llu\n", (unsigned long long)s->guest_cid);
    }
    if (s->fs_tag[0]) {
        fprintf(out, "fs-tag = %s\n", s->fs_tag);
    }
}
