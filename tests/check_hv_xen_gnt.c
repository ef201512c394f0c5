/*
 * hv_xen_gnt tests: gntdev copy segments, the ops without a gntdev fd,
 * attaching one (the service passes one per grant device: the first is
 * kept) and the fd surviving hv_xen_restrict().  A memfd stands in for
 * /dev/xen/gntdev.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check_common.h"
#include "hv_gnt.h"
#include "hv_xen.h"
#include "hv_xen_gnt.h"
#include "hv_xen_priv.h"

START_TEST(test_gnt_fill_segments)
{
    uint8_t a[16], b[32];
    const struct hv_gnt_seg seg[2] = {
        { .ref = 8, .off = 0xff0, .len = 16, .buf = a },
        { .ref = 9, .off = 0, .len = 32, .buf = b },
    };
    struct ioctl_gntdev_grant_copy_segment out[2];

    hv_xen_gnt_fill(seg, 2, 7, false, out);
    ck_assert_uint_eq(out[0].flags, GNTCOPY_source_gref);
    ck_assert_uint_eq(out[0].source.foreign.ref, 8);
    ck_assert_uint_eq(out[0].source.foreign.offset, 0xff0);
    ck_assert_uint_eq(out[0].source.foreign.domid, 7);
    ck_assert_ptr_eq(out[0].dest.virt, a);
    ck_assert_uint_eq(out[0].len, 16);
    ck_assert_int_eq(out[0].status, 0);
    ck_assert_uint_eq(out[1].source.foreign.ref, 9);
    ck_assert_uint_eq(out[1].len, 32);
    hv_xen_gnt_fill(seg, 1, 7, true, out);
    ck_assert_uint_eq(out[0].flags, GNTCOPY_dest_gref);
    ck_assert_ptr_eq(out[0].source.virt, a);
    ck_assert_uint_eq(out[0].dest.foreign.ref, 8);
    ck_assert_uint_eq(out[0].dest.foreign.offset, 0xff0);
    ck_assert_uint_eq(out[0].dest.foreign.domid, 7);
    /* A 4 KiB segment fits Xen's 16-bit length. */
    const struct hv_gnt_seg page = { .ref = 1, .off = 0, .len = 4096,
                                     .buf = b };

    hv_xen_gnt_fill(&page, 1, 7, true, out);
    ck_assert_uint_eq(out[0].len, 4096);
}
END_TEST

START_TEST(test_gnt_without_gntdev)
{
    struct hv_xen *x = calloc(1, sizeof(*x));
    struct hv_gnt_seg seg = { .ref = 1, .len = 1 };
    void *p = NULL;

    ck_assert_ptr_nonnull(x);
    x->hv.domid = 3;
    x->gnt_fd = -1;
    ck_assert(!hv_xen_gnt_attached(&x->hv));
    ck_assert_int_eq(hv_xen_gnt_copy(&x->hv, &seg, 1, false), -EOPNOTSUPP);
    ck_assert_int_eq(hv_xen_gnt_map(&x->hv, 1, 1, true, &p), -EOPNOTSUPP);
    hv_xen_gnt_unmap(&x->hv, p, 1, 1);
    free(x);
}
END_TEST

static struct hv_xen *
gnt_fx(void)
{
    struct hv_xen *x = calloc(1, sizeof(*x));

    ck_assert_ptr_nonnull(x);
    x->hv.domid = 3;
    snprintf(x->hv.name, sizeof(x->hv.name), "dom3");
    x->gnt_fd = -1;
    x->gnt_share_fd = -1;
    x->privcmd_fd = -1;
    x->share_fd = -1;
    return x;
}

/* The first gntdevs given are kept; later ones (the service sends a pair
 * per grant device) are closed; -1 keeps what is there.  Backends get
 * copies of the second, never of the fd our own mappings live on. */
START_TEST(test_gnt_attach_keeps_first)
{
    struct hv_xen *x = gnt_fx();
    int a = memfd_create("gntdev-a", MFD_CLOEXEC);
    int s = memfd_create("gntdev-share", MFD_CLOEXEC);
    int b = memfd_create("gntdev-b", MFD_CLOEXEC);
    int t = memfd_create("gntdev-share-b", MFD_CLOEXEC);
    int copy;

    ck_assert_int_ge(a, 0);
    ck_assert_int_ge(s, 0);
    ck_assert_int_ge(b, 0);
    ck_assert_int_ge(t, 0);
    ck_assert_int_eq(hv_xen_gnt_attach(&x->hv, a, s), 0);
    ck_assert(hv_xen_gnt_attached(&x->hv));
    ck_assert_int_eq(x->gnt_fd, a);
    ck_assert_int_eq(x->gnt_share_fd, s);
    ck_assert_int_eq(hv_xen_gnt_attach(&x->hv, b, t), 0);
    ck_assert_int_eq(fcntl(b, F_GETFD), -1);
    ck_assert_int_eq(errno, EBADF);
    ck_assert_int_eq(fcntl(t, F_GETFD), -1);
    ck_assert_int_eq(errno, EBADF);
    ck_assert_int_eq(hv_xen_gnt_attach(&x->hv, -1, -1), 0);
    ck_assert_int_eq(x->gnt_fd, a);
    ck_assert_int_eq(x->gnt_share_fd, s);
    copy = hv_xen_gnt_share(&x->hv);
    ck_assert_int_ge(copy, 0);
    ck_assert(check_same_file(copy, s));
    ck_assert(!check_same_file(copy, a));
    close(copy);
    close(a);
    close(s);
    free(x);
}
END_TEST

/* Without an fd and without gntdev, attach fails and says so. */
START_TEST(test_gnt_attach_open_fails)
{
    struct hv_xen *x = gnt_fx();

    if (access("/dev/xen/gntdev", F_OK) == 0) {
        free(x);
        return; /* a Xen dom0: the open may well work */
    }
    ck_assert_int_eq(hv_xen_gnt_attach(&x->hv, -1, -1), -ENOENT);
    ck_assert(!hv_xen_gnt_attached(&x->hv));
    free(x);
}
END_TEST

/* xentoolcore_restrict_all() turns registered handles into /dev/null;
 * the gntdev fd is not one and must survive the restriction. */
START_TEST(test_gnt_survives_restrict)
{
    struct hv_xen *x = gnt_fx();
    int a = memfd_create("gntdev", MFD_CLOEXEC);
    struct stat before, after;

    ck_assert_int_ge(a, 0);
    ck_assert_int_eq(fstat(a, &before), 0);
    ck_assert_int_eq(hv_xen_gnt_attach(&x->hv, a, -1), 0);
    ck_assert_int_eq(hv_xen_restrict(&x->hv, 0, 0), 0);
    ck_assert_int_eq(fstat(x->gnt_fd, &after), 0);
    ck_assert_uint_eq(after.st_ino, before.st_ino);
    ck_assert_uint_eq(after.st_dev, before.st_dev);
    close(a);
    free(x);
}
END_TEST

void add_gnt_tests(Suite *s);

void
add_gnt_tests(Suite *s)
{
    CHECK_ADD(s, test_gnt_fill_segments, 5);
    CHECK_ADD(s, test_gnt_without_gntdev, 5);
    CHECK_ADD(s, test_gnt_attach_keeps_first, 5);
    CHECK_ADD(s, test_gnt_attach_open_fails, 5);
    CHECK_ADD(s, test_gnt_survives_restrict, 5);
}
