/*
 * Unit tests for privfd: what a backend may be given.  A fake privcmd
 * device (kernel semantics of IOCTL_PRIVCMD_RESTRICT) stands in for
 * /dev/xen/privcmd; every misbehaviour of the device must end in no fd.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "check_common.h"
#include "fake_privcmd.h"
#include "privfd.h"

#define DOM 7u

START_TEST(test_open_for_restricts)
{
    struct fake_privcmd f;
    int fd, copy;

    fake_privcmd_init(&f, FAKE_PRIVCMD_OK);
    fd = privfd_open_for(&f.ops, DOM);
    ck_assert_int_ge(fd, 0);
    ck_assert_uint_eq(fake_privcmd_fd_domid(&f, fd), DOM);
    copy = privfd_dup_for(&f.ops, fd, DOM);
    ck_assert_int_ge(copy, 0);
    ck_assert_int_ne(copy, fd);
    ck_assert_uint_eq(fake_privcmd_fd_domid(&f, copy), DOM);
    /* Checking changed nothing. */
    ck_assert_uint_eq(fake_privcmd_fd_domid(&f, fd), DOM);
    ck_assert(fcntl(copy, F_GETFD) & FD_CLOEXEC);
    close(copy);
    close(fd);
    ck_assert_uint_eq(fake_privcmd_open_fds(&f), 0);
}
END_TEST

START_TEST(test_unrestricted_refused)
{
    struct fake_privcmd f;
    int fd;

    fake_privcmd_init(&f, FAKE_PRIVCMD_OK);
    fd = f.ops.open(f.ops.opaque);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(privfd_check(&f.ops, fd, DOM), -EPERM);
    ck_assert_int_eq(privfd_dup_for(&f.ops, fd, DOM), -EPERM);
    /* The check does not restrict what it refuses either. */
    ck_assert_uint_eq(fake_privcmd_fd_domid(&f, fd), PRIVFD_DOMID_INVALID);
    ck_assert_uint_eq(fake_privcmd_open_fds(&f), 1);
    close(fd);
}
END_TEST

START_TEST(test_other_guest_refused)
{
    struct fake_privcmd f;
    int fd;

    fake_privcmd_init(&f, FAKE_PRIVCMD_OK);
    fd = privfd_open_for(&f.ops, DOM + 1);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(privfd_dup_for(&f.ops, fd, DOM), -EPERM);
    ck_assert_uint_eq(fake_privcmd_fd_domid(&f, fd), DOM + 1);
    close(fd);
}
END_TEST

/* No RESTRICT (old kernel), or one that restricts nothing: no fd. */
START_TEST(test_unrestrictable_device_no_fd)
{
    static const struct {
        enum fake_privcmd_mode mode;
        int rc;
    } cases[] = { { FAKE_PRIVCMD_OLD_KERNEL, -ENOTTY },
                  { FAKE_PRIVCMD_LYING, -EPERM } };

    for (unsigned i = 0; i < 2; i++) {
        struct fake_privcmd f;

        fake_privcmd_init(&f, cases[i].mode);
        ck_assert_int_eq(privfd_open_for(&f.ops, DOM), cases[i].rc);
        ck_assert_uint_eq(f.opens, 1);
        ck_assert_uint_eq(fake_privcmd_open_fds(&f), 0);
    }
}
END_TEST

START_TEST(test_no_device)
{
    struct fake_privcmd f;

    fake_privcmd_init(&f, FAKE_PRIVCMD_NO_DEVICE);
    ck_assert_int_eq(privfd_open_for(&f.ops, DOM), -ENOENT);
}
END_TEST

START_TEST(test_reserved_domids_refused)
{
    struct fake_privcmd f;
    int fd;

    fake_privcmd_init(&f, FAKE_PRIVCMD_OK);
    ck_assert_int_eq(privfd_open_for(&f.ops, 0), -EINVAL);
    ck_assert_int_eq(privfd_open_for(&f.ops, PRIVFD_DOMID_INVALID), -EINVAL);
    ck_assert_int_eq(privfd_open_for(&f.ops, 0x10000 + DOM), -EINVAL);
    ck_assert_uint_eq(fake_privcmd_open_fds(&f), 0);
    fd = privfd_open_for(&f.ops, DOM);
    ck_assert_int_eq(privfd_dup_for(&f.ops, fd, 0), -EINVAL);
    close(fd);
}
END_TEST

static Suite *
make_suite(void)
{
    Suite *s = suite_create("privfd");

    CHECK_ADD(s, test_open_for_restricts, 10);
    CHECK_ADD(s, test_unrestricted_refused, 10);
    CHECK_ADD(s, test_other_guest_refused, 10);
    CHECK_ADD(s, test_unrestrictable_device_no_fd, 10);
    CHECK_ADD(s, test_no_device, 10);
    CHECK_ADD(s, test_reserved_domids_refused, 10);
    return s;
}

CHECK_MAIN(make_suite)
