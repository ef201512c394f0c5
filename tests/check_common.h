/*
 * Shared helpers for the Check suites: each suite file defines
 * `static Suite *make_suite(void)` and uses CHECK_MAIN to run it.
 */
#ifndef XVM_CHECK_COMMON_H
#define XVM_CHECK_COMMON_H

#include <check.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/stat.h>

/* Add a test case named after `fn` with a timeout in seconds. */
#define CHECK_ADD(suite, fn, timeout_s)                                        \
    do {                                                                       \
        TCase *tc_ = tcase_create(#fn);                                        \
        tcase_set_timeout(tc_, (timeout_s));                                   \
        tcase_add_test(tc_, fn);                                               \
        suite_add_tcase((suite), tc_);                                         \
    } while (0)

#define CHECK_MAIN(make_suite_fn)                                              \
    int main(void)                                                             \
    {                                                                          \
        SRunner *sr = srunner_create(make_suite_fn());                         \
        int failed;                                                            \
        srunner_run_all(sr, CK_NORMAL);                                        \
        failed = srunner_ntests_failed(sr);                                    \
        srunner_free(sr);                                                      \
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;                           \
    }

/* Do fds a and b name the same file (as passed over a socket)? */
static inline bool
check_same_file(int a, int b)
{
    struct stat sa, sb;

    ck_assert_int_eq(fstat(a, &sa), 0);
    ck_assert_int_eq(fstat(b, &sb), 0);
    return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

#endif
