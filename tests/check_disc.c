/* Unit tests: disc (xenstore entry parsing) on recorded and broken entries. */
#include <config.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "check_common.h"
#include "disc.h"

struct kv {
    const char *key;
    const char *value;
};

/* A fake entry: a NULL-terminated table with optional overrides. */
struct entry {
    const struct kv *base;
    const char *set_key;    /* replace (or add) this key ... */
    const char *set_value;  /* ... with this value; NULL removes it */
};

static int
entry_get(void *opaque, const char *key, char *buf, size_t len)
{
    const struct entry *e = opaque;
    const char *v = NULL;

    if (e->set_key && !strcmp(key, e->set_key)) {
        v = e->set_value;
    } else {
        for (const struct kv *p = e->base; p->key; p++) {
            if (!strcmp(p->key, key)) {
                v = p->value;
            }
        }
    }
    if (!v) {
        return -ENOENT;
    }
    if (strlen(v) >= len) {
        return -E2BIG;
    }
    memcpy(buf, v, strlen(v) + 1);
    return 0;
}

/* Xen 4.20 arm64: virtio=["type=virtio,device4,transport=mmio,grant_usage=0"] */
static const struct kv rec_virtio_420[] = {
    { "frontend", "/local/domain/1/device/virtio/0" },
    { "frontend-id", "1" },
    { "online", "1" },
    { "state", "1" },
    { "irq", "33" },
    { "base", "0x2000000" },
    { "type", "virtio,device4" },
    { "transport", "mmio" },
    { "grant_usage", "0" },
    { NULL, NULL },
};

/* Xen 4.17: disk=["/tmp/d.img,vdev=xvda,backendtype=standalone,specification=virtio"] */
static const struct kv rec_disk_417[] = {
    { "frontend", "/local/domain/1/device/virtio_disk/51712" },
    { "params", "/tmp/d.img" },
    { "frontend-id", "1" },
    { "online", "1" },
    { "removable", "0" },
    { "bootable", "1" },
    { "state", "1" },
    { "dev", "xvda" },
    { "type", "standalone" },
    { "mode", "w" },
    { "device-type", "disk" },
    { "discard-enable", "1" },
    { "specification", "virtio" },
    { "transport", "mmio" },
    { "base", "33554432" },
    { "irq", "33" },
    { NULL, NULL },
};

static int
parse_with(const struct kv *base, enum disc_kind kind, const char *key,
           const char *value, struct disc_dev *d, char *err)
{
    struct entry e = { .base = base, .set_key = key, .set_value = value };

    err[0] = '\0';
    return disc_parse_entry(d, kind, 1, kind == DISC_KIND_DISK ? 51712 : 0,
                            entry_get, &e, err, DISC_ERR_MAX);
}

START_TEST(test_recorded_virtio_420)
{
    struct disc_dev d;
    char err[DISC_ERR_MAX];

    ck_assert_int_eq(parse_with(rec_virtio_420, DISC_KIND_VIRTIO, NULL, NULL,
                                &d, err), 0);
    ck_assert_uint_eq(d.base, 0x2000000);
    ck_assert_uint_eq(d.irq, 33);
    ck_assert_uint_eq(d.device_id, 4);
    ck_assert_uint_eq(d.domid, 1);
    ck_assert_uint_eq(d.devid, 0);
    ck_assert(d.online);
    ck_assert_int_eq(d.state, DISC_STATE_INITIALISING);
    ck_assert_str_eq(d.target, "");
}
END_TEST

START_TEST(test_recorded_disk_417)
{
    struct disc_dev d;
    char err[DISC_ERR_MAX];

    ck_assert_int_eq(parse_with(rec_disk_417, DISC_KIND_DISK, NULL, NULL, &d,
                                err), 0);
    ck_assert_uint_eq(d.base, 0x2000000); /* decimal 33554432 */
    ck_assert_uint_eq(d.irq, 33);
    ck_assert_uint_eq(d.device_id, 2);
    ck_assert_uint_eq(d.devid, 51712);
    ck_assert_str_eq(d.target, "/tmp/d.img");
    ck_assert(!d.readonly);
    /* 4.20 form: target instead of params, grant_usage present, read-only */
    ck_assert_int_eq(parse_with(rec_disk_417, DISC_KIND_DISK, "params", NULL,
                                &d, err), -ENOENT);
    ck_assert_int_eq(parse_with(rec_disk_417, DISC_KIND_DISK, "mode", "r",
                                &d, err), 0);
    ck_assert(d.readonly);
    ck_assert_int_eq(parse_with(rec_disk_417, DISC_KIND_DISK, "grant_usage",
                                "0", &d, err), 0);
}
END_TEST

START_TEST(test_disk_target_key)
{
    static const struct kv disk_420[] = {
        { "frontend-id", "1" }, { "online", "1" }, { "state", "1" },
        { "irq", "34" }, { "base", "33554944" }, { "transport", "mmio" },
        { "specification", "virtio" }, { "grant_usage", "0" },
        { "target", "/srv/img/g.raw" }, { NULL, NULL },
    };
    struct disc_dev d;
    char err[DISC_ERR_MAX];

    ck_assert_int_eq(parse_with(disk_420, DISC_KIND_DISK, NULL, NULL, &d, err),
                     0);
    ck_assert_str_eq(d.target, "/srv/img/g.raw");
    ck_assert_uint_eq(d.base, 0x2000200);
    ck_assert_uint_eq(d.irq, 34);
}
END_TEST

/* Every required key, removed one at a time. */
START_TEST(test_missing_keys)
{
    static const char *virtio_keys[] = { "frontend-id", "online", "state",
                                         "irq", "base", "type", "transport" };
    static const char *disk_keys[] = { "frontend-id", "online", "state",
                                       "irq", "base", "transport", "params" };
    struct disc_dev d;
    char err[DISC_ERR_MAX];

    for (size_t i = 0; i < sizeof(virtio_keys) / sizeof(virtio_keys[0]); i++) {
        ck_assert_int_eq(parse_with(rec_virtio_420, DISC_KIND_VIRTIO,
                                    virtio_keys[i], NULL, &d, err), -ENOENT);
        ck_assert_msg(strstr(err, virtio_keys[i]), "message '%s' names '%s'",
                      err, virtio_keys[i]);
    }
    for (size_t i = 0; i < sizeof(disk_keys) / sizeof(disk_keys[0]); i++) {
        ck_assert_int_eq(parse_with(rec_disk_417, DISC_KIND_DISK, disk_keys[i],
                                    NULL, &d, err), -ENOENT);
    }
    /* optional ones */
    ck_assert_int_eq(parse_with(rec_virtio_420, DISC_KIND_VIRTIO,
                                "grant_usage", NULL, &d, err), 0);
    ck_assert_int_eq(parse_with(rec_disk_417, DISC_KIND_DISK, "mode", NULL,
                                &d, err), 0);
}
END_TEST

/*
 * Checklist 32 / issue 12 item 12: xl destroy deletes the keys of a served
 * entry; that is reported as the device going away, not as an error.  A
 * key missing from an entry never seen complete, or a bad value, is one.
 */
START_TEST(test_failure_level)
{
    struct disc_dev d;
    char err[DISC_ERR_MAX];
    int rc;

    ck_assert_int_eq(parse_with(rec_disk_417, DISC_KIND_DISK, NULL, NULL, &d,
                                err), 0);
    rc = parse_with(rec_disk_417, DISC_KIND_DISK, "params", NULL, &d, err);
    ck_assert_int_eq(rc, -ENOENT);
    ck_assert_int_eq(disc_failure_level(rc, true), LOG_LVL_INFO);
    ck_assert_int_eq(disc_failure_level(rc, false), LOG_LVL_ERR);
    rc = parse_with(rec_disk_417, DISC_KIND_DISK, "irq", "x", &d, err);
    ck_assert_int_eq(rc, -EINVAL);
    ck_assert_int_eq(disc_failure_level(rc, true), LOG_LVL_ERR);
    /* grant_usage=1 is served now (grant mode), not refused. */
    rc = parse_with(rec_virtio_420, DISC_KIND_VIRTIO, "grant_usage", "1", &d,
                    err);
    ck_assert_int_eq(rc, 0);
    ck_assert(d.grants);
}
END_TEST

struct bad {
    const char *key;
    const char *value;
    const char *in_msg;
};

static void
expect_bad(const struct kv *base, enum disc_kind kind, const struct bad *b,
           size_t n)
{
    struct disc_dev d;
    char err[DISC_ERR_MAX];

    for (size_t i = 0; i < n; i++) {
        int rc = parse_with(base, kind, b[i].key, b[i].value, &d, err);

        ck_assert_msg(rc < 0, "%s='%s' accepted", b[i].key, b[i].value);
        ck_assert_msg(strstr(err, b[i].in_msg), "%s='%s': message '%s'",
                      b[i].key, b[i].value, err);
    }
}

START_TEST(test_bad_base)
{
    static const struct bad b[] = {
        { "base", "0x2000001", "0x200-aligned" },       /* misaligned */
        { "base", "0x2000100", "0x200-aligned" },
        { "base", "0", "non-zero" },
        { "base", "0x", "not a" },                      /* no digits */
        { "base", "0x2000000 ", "not a" },              /* trailing junk */
        { "base", "0x2000000z", "not a" },
        { "base", "-33554432", "not a" },               /* sign */
        { "base", " 33554432", "not a" },
        { "base", "0x10000000000000000", "out of range" }, /* > 64 bits */
        { "base", "18446744073709551616", "out of range" },
        { "base", "0x1000000000000", "below 2^48" },    /* beyond the IPA */
        { "base", "", "not a" },
    };

    expect_bad(rec_virtio_420, DISC_KIND_VIRTIO, b, sizeof(b) / sizeof(b[0]));
    expect_bad(rec_disk_417, DISC_KIND_DISK, b, sizeof(b) / sizeof(b[0]));
}
END_TEST

START_TEST(test_bad_irq)
{
    static const struct bad b[] = {
        { "irq", "31", "out of range" },     /* a PPI */
        { "irq", "0", "out of range" },
        { "irq", "1020", "out of range" },   /* past the last SPI */
        { "irq", "4294967296", "out of range" },
        { "irq", "0x21", "not a decimal" },  /* irq is decimal only */
        { "irq", "33a", "not a decimal" },
    };

    expect_bad(rec_virtio_420, DISC_KIND_VIRTIO, b, sizeof(b) / sizeof(b[0]));
}
END_TEST

START_TEST(test_bad_other)
{
    static const struct bad b[] = {
        { "type", "virtio,device0", "type" },
        { "type", "virtio,device65536", "type" },
        { "type", "virtio,device4x", "type" },
        { "type", "virtio,dev4", "type" },
        { "type", "", "type" },
        { "transport", "pci", "only mmio" },
        { "grant_usage", "2", "grant_usage" },
        { "online", "yes", "online" },
        { "state", "9", "state" },
        { "state", "0", "state" },
        { "state", "1 ", "state" },
        { "frontend-id", "2", "frontend-id" },   /* another guest's */
        { "frontend-id", "99999", "out of range" },
    };
    struct disc_dev d;
    char err[DISC_ERR_MAX];

    expect_bad(rec_virtio_420, DISC_KIND_VIRTIO, b, sizeof(b) / sizeof(b[0]));
    /* grant_usage=1 selects grant mode (4.18+ virtio=, 4.19+ disks) */
    ck_assert_int_eq(parse_with(rec_virtio_420, DISC_KIND_VIRTIO,
                                "grant_usage", "1", &d, err), 0);
    ck_assert(d.grants);
    ck_assert_int_eq(parse_with(rec_virtio_420, DISC_KIND_VIRTIO,
                                "grant_usage", "0", &d, err), 0);
    ck_assert(!d.grants);
    /* the generic form parses, with no device id */
    ck_assert_int_eq(parse_with(rec_virtio_420, DISC_KIND_VIRTIO, "type",
                                "virtio,device", &d, err), 0);
    ck_assert_uint_eq(d.device_id, 0);
    ck_assert_int_eq(parse_with(rec_virtio_420, DISC_KIND_VIRTIO, "type",
                                "virtio,device26", &d, err), 0);
    ck_assert_uint_eq(d.device_id, 26);
    ck_assert_int_eq(parse_with(rec_virtio_420, DISC_KIND_VIRTIO, "online",
                                "0", &d, err), 0);
    ck_assert(!d.online);
    ck_assert_int_eq(parse_with(rec_virtio_420, DISC_KIND_VIRTIO, "state",
                                "5", &d, err), 0);
    ck_assert_int_eq(d.state, DISC_STATE_CLOSING);
}
END_TEST

START_TEST(test_bad_disk)
{
    static const struct bad b[] = {
        { "specification", "xen", "specification" },
        { "mode", "rw", "mode" },
        { "params", "", "empty" },
        { "params", "/tmp/a\nb", "control" },
    };
    char longv[DISC_TARGET_MAX + 10];
    struct disc_dev d;
    char err[DISC_ERR_MAX];

    expect_bad(rec_disk_417, DISC_KIND_DISK, b, sizeof(b) / sizeof(b[0]));
    memset(longv, 'a', sizeof(longv) - 1);
    longv[sizeof(longv) - 1] = '\0';
    ck_assert_int_eq(parse_with(rec_disk_417, DISC_KIND_DISK, "params", longv,
                                &d, err), -EINVAL);
    ck_assert(strstr(err, "too long"));
}
END_TEST

START_TEST(test_bad_address)
{
    struct entry e = { .base = rec_virtio_420 };
    struct disc_dev d;
    char err[DISC_ERR_MAX];

    ck_assert_int_eq(disc_parse_entry(&d, DISC_KIND_VIRTIO, 0, 0, entry_get,
                                      &e, err, sizeof(err)), -EINVAL);
    ck_assert_int_eq(disc_parse_entry(&d, DISC_KIND_VIRTIO, 0x7ff0, 0,
                                      entry_get, &e, err, sizeof(err)),
                     -EINVAL);
    ck_assert_int_eq(disc_parse_entry(&d, DISC_KIND_COUNT, 1, 0, entry_get,
                                      &e, err, sizeof(err)), -EINVAL);
}
END_TEST

START_TEST(test_split_path)
{
    enum disc_kind k;
    uint32_t domid, devid;
    const char *rest;

    ck_assert_int_eq(disc_split_path("/local/domain/0/backend/virtio/3/0/state",
                                     &k, &domid, &devid, &rest), 0);
    ck_assert_int_eq(k, DISC_KIND_VIRTIO);
    ck_assert_uint_eq(domid, 3);
    ck_assert_uint_eq(devid, 0);
    ck_assert_str_eq(rest, "state");
    ck_assert_int_eq(disc_split_path("/local/domain/0/backend/virtio_disk/1/51712",
                                     &k, &domid, &devid, &rest), 0);
    ck_assert_int_eq(k, DISC_KIND_DISK);
    ck_assert_uint_eq(devid, 51712);
    ck_assert_str_eq(rest, "");
    ck_assert_int_eq(disc_split_path("/local/domain/0/backend/virtio",
                                     &k, &domid, &devid, &rest), 0);
    ck_assert_uint_eq(domid, UINT32_MAX);
    ck_assert_int_eq(disc_split_path("/local/domain/0/backend/virtio/7",
                                     &k, &domid, &devid, &rest), 0);
    ck_assert_uint_eq(domid, 7);
    ck_assert_uint_eq(devid, UINT32_MAX);
    /* not ours, or malformed */
    ck_assert_int_eq(disc_split_path("/local/domain/0/backend/vbd/1/51712",
                                     &k, &domid, &devid, &rest), -EINVAL);
    ck_assert_int_eq(disc_split_path("/local/domain/0/backend/virtiox",
                                     &k, &domid, &devid, &rest), -EINVAL);
    ck_assert_int_eq(disc_split_path("/local/domain/0/backend/virtio/x/0",
                                     &k, &domid, &devid, &rest), -EINVAL);
    ck_assert_int_eq(disc_split_path("/local/domain/0/backend/virtio/01/0",
                                     &k, &domid, &devid, &rest), -EINVAL);
    ck_assert_int_eq(disc_split_path("/local/domain/0/backend/virtio/99999/0",
                                     &k, &domid, &devid, &rest), -EINVAL);
    ck_assert_int_eq(disc_split_path("/local/domain/0/backend/virtio/1/99999999999",
                                     &k, &domid, &devid, &rest), -EINVAL);
    ck_assert_int_eq(disc_split_path("@releaseDomain", &k, &domid, &devid,
                                     &rest), -EINVAL);
}
END_TEST

START_TEST(test_entry_path)
{
    char buf[128];

    ck_assert_int_eq(disc_entry_path(buf, sizeof(buf), DISC_KIND_DISK, 1, 51712,
                                     "state"), 0);
    ck_assert_str_eq(buf, "/local/domain/0/backend/virtio_disk/1/51712/state");
    ck_assert_int_eq(disc_entry_path(buf, sizeof(buf), DISC_KIND_VIRTIO, 3, 0,
                                     NULL), 0);
    ck_assert_str_eq(buf, "/local/domain/0/backend/virtio/3/0");
    ck_assert_int_eq(disc_entry_path(buf, 10, DISC_KIND_VIRTIO, 3, 0, NULL),
                     -ENAMETOOLONG);
}
END_TEST

START_TEST(test_numbers)
{
    uint64_t v;

    ck_assert_int_eq(disc_parse_u64("0xffffffffffffffff", true, UINT64_MAX,
                                    &v), 0);
    ck_assert_uint_eq(v, UINT64_MAX);
    ck_assert_int_eq(disc_parse_u64("18446744073709551615", false, UINT64_MAX,
                                    &v), 0);
    ck_assert_int_eq(disc_parse_u64("0x10", false, UINT64_MAX, &v), -EINVAL);
    ck_assert_int_eq(disc_parse_u64("0X1f", true, UINT64_MAX, &v), 0);
    ck_assert_uint_eq(v, 31);
    ck_assert_int_eq(disc_parse_u64("256", false, 255, &v), -ERANGE);
    ck_assert_int_eq(disc_parse_u64("9", false, 8, &v), -ERANGE);
    ck_assert_int_eq(disc_parse_u64("0xf", true, 8, &v), -ERANGE);
}
END_TEST

START_TEST(test_overlap)
{
    struct disc_dev a, b;

    memset(&a, 0, sizeof(a));
    memset(&b, 0, sizeof(b));
    a.base = 0x2000400;
    a.irq = 40;
    b.base = 0x2000600;
    b.irq = 41;
    ck_assert(!disc_dev_overlap(&a, &b));
    ck_assert(!disc_dev_overlap(&b, &a));
    b.irq = 40;
    ck_assert(disc_dev_overlap(&a, &b));
    b.irq = 41;
    b.base = 0x2000500;   /* not aligned, but overlapping either way */
    ck_assert(disc_dev_overlap(&a, &b));
    ck_assert(disc_dev_overlap(&b, &a));
    b.base = 0x2000200;
    ck_assert(!disc_dev_overlap(&a, &b));
    ck_assert_str_eq(disc_kind_dir(DISC_KIND_DECLARED), "declared");
}
END_TEST

static Suite *
make_suite(void)
{
    Suite *s = suite_create("disc");

    CHECK_ADD(s, test_recorded_virtio_420, 5);
    CHECK_ADD(s, test_recorded_disk_417, 5);
    CHECK_ADD(s, test_disk_target_key, 5);
    CHECK_ADD(s, test_missing_keys, 5);
    CHECK_ADD(s, test_failure_level, 5);
    CHECK_ADD(s, test_bad_base, 5);
    CHECK_ADD(s, test_bad_irq, 5);
    CHECK_ADD(s, test_bad_other, 5);
    CHECK_ADD(s, test_bad_disk, 5);
    CHECK_ADD(s, test_bad_address, 5);
    CHECK_ADD(s, test_split_path, 5);
    CHECK_ADD(s, test_entry_path, 5);
    CHECK_ADD(s, test_numbers, 5);
    CHECK_ADD(s, test_overlap, 5);
    return s;
}

CHECK_MAIN(make_suite)
