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
    CHECK_ADD(s, test_names, 10);
    return s;
}

CHECK_MAIN(make_suite)
