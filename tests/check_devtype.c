/* Unit tests: per-device-type relay settings. */
#include <config.h>

#include <errno.h>
#include <string.h>

#include "check_common.h"
#include "devtype.h"

START_TEST(test_blk_asks_backend_for_config)
{
    struct relay_config rc = { 0 };
    struct devtype_config st;

    ck_assert_int_eq(devtype_fill(&rc, DEVTYPE_BLK, NULL, &st), 0);
    ck_assert_uint_eq(rc.config_len, 60);
    ck_assert_ptr_null(rc.config);
    ck_assert_uint_eq(rc.nr_queues, 0);
}
END_TEST

START_TEST(test_fs_config_synthesised)
{
    struct relay_config rc = { 0 };
    struct devtype_config st;

    ck_assert_int_eq(devtype_fill(&rc, DEVTYPE_FS, "share0", &st), 0);
    ck_assert_uint_eq(rc.config_len, 40);
    ck_assert_ptr_eq(rc.config, st.bytes);
    ck_assert_str_eq((const char *)st.bytes, "share0");
    ck_assert_uint_eq(st.bytes[36], 1);
    ck_assert_uint_eq(rc.nr_queues, 2);
    ck_assert_int_eq(devtype_fill(&rc, DEVTYPE_FS, NULL, &st), 0);
    ck_assert_str_eq((const char *)st.bytes, DEVTYPE_FS_TAG_DEFAULT);
}
END_TEST

START_TEST(test_fs_tag_bounds)
{
    struct relay_config rc = { 0 };
    struct devtype_config st;
    char tag[40];

    memset(tag, 'a', 36);
    tag[36] = '\0';
    ck_assert_int_eq(devtype_fill(&rc, DEVTYPE_FS, tag, &st), 0);
    ck_assert_mem_eq(st.bytes, tag, 36);  /* exactly 36: no terminator */
    tag[36] = 'a';
    tag[37] = '\0';
    ck_assert_int_eq(devtype_fill(&rc, DEVTYPE_FS, tag, &st), -EINVAL);
    ck_assert_int_eq(devtype_fill(&rc, DEVTYPE_FS, "", &st), -EINVAL);
}
END_TEST

/* Checklist 27 and issue 12 item 6: features the relayed bytes carry. */
START_TEST(test_features_fit_config_len)
{
    struct relay_config rc = { 0 };
    struct devtype_config st;
    uint64_t blk;

    ck_assert_int_eq(devtype_fill(&rc, DEVTYPE_BLK, NULL, &st), 0);
    blk = rc.device_features;
    ck_assert_uint_eq(blk, devtype_features(DEVTYPE_BLK, 60));
    /* 60 bytes end after the write-zeroes fields. */
    for (unsigned b = 0; b <= 15; b++) {
        ck_assert_msg(blk & (1ULL << b), "blk bit %u masked", b);
    }
    ck_assert(!(blk & (1ULL << 16)));   /* SECURE_ERASE: bytes 60-71 */
    ck_assert(!(blk & (1ULL << 17)));   /* ZONED: bytes 72-95 */
    ck_assert(blk & (1ULL << 23));      /* bits without config fields */
    ck_assert_uint_eq(blk & ~DEVTYPE_DEVICE_BITS, 0);
    /* A longer window would carry them. */
    ck_assert(devtype_features(DEVTYPE_BLK, 96) & (1ULL << 17));
    ck_assert(!(devtype_features(DEVTYPE_BLK, 95) & (1ULL << 17)));
    ck_assert(devtype_features(DEVTYPE_BLK, 72) & (1ULL << 16));
    ck_assert(!(devtype_features(DEVTYPE_BLK, 32) & (1ULL << 11)));
    /* virtio-fs: 40 synthesised bytes carry no notify_buf_size. */
    ck_assert_int_eq(devtype_fill(&rc, DEVTYPE_FS, NULL, &st), 0);
    ck_assert(!(rc.device_features & 1));
    /* balloon: 8 bytes, no hint or poison fields */
    ck_assert(!(devtype_features(5, 8) & (1ULL << 3)));
    ck_assert(!(devtype_features(5, 8) & (1ULL << 4)));
    /* No table: every bit passes (0). */
    ck_assert_uint_eq(devtype_features(4, 0), 0);
    ck_assert_uint_eq(devtype_features(999, 0), 0);
}
END_TEST

START_TEST(test_writable_fields)
{
    struct relay_config rc = { 0 };
    struct devtype_config st;

    ck_assert_int_eq(devtype_fill(&rc, DEVTYPE_BLK, NULL, &st), 0);
    ck_assert_uint_eq(rc.nr_writable, 1);
    ck_assert_uint_eq(rc.writable[0].off, 32);
    ck_assert_uint_eq(rc.writable[0].len, 1);
    ck_assert_int_eq(rc.writable[0].feature, 11);
    for (uint32_t id = 0; id < 64; id++) {
        ck_assert_int_eq(devtype_fill(&rc, id, NULL, &st), 0);
        ck_assert_uint_eq(rc.writable == NULL, rc.nr_writable == 0);
        for (unsigned i = 0; i < rc.nr_writable; i++) {
            /* inside what is relayed, and within a feature's reach */
            ck_assert_uint_le(rc.writable[i].off + rc.writable[i].len,
                              rc.config_len);
            ck_assert_int_lt(rc.writable[i].feature, 24);
        }
    }
    ck_assert_int_eq(devtype_fill(&rc, 1, NULL, &st), 0);   /* net */
    ck_assert_uint_eq(rc.nr_writable, 0);
    ck_assert_int_eq(devtype_fill(&rc, DEVTYPE_FS, NULL, &st), 0);
    ck_assert_uint_eq(rc.nr_writable, 0);
}
END_TEST

START_TEST(test_names)
{
    ck_assert_str_eq(devtype_name(2), "blk");
    ck_assert_str_eq(devtype_name(26), "fs");
    ck_assert_str_eq(devtype_name(999), "device");
}
END_TEST

static Suite *
make_suite(void)
{
    Suite *s = suite_create("devtype");

    CHECK_ADD(s, test_blk_asks_backend_for_config, 10);
    CHECK_ADD(s, test_fs_config_synthesised, 10);
    CHECK_ADD(s, test_fs_tag_bounds, 10);
    CHECK_ADD(s, test_features_fit_config_len, 5);
    CHECK_ADD(s, test_writable_fields, 5);
    CHECK_ADD(s, test_names, 10);
    return s;
}

CHECK_MAIN(make_suite)
