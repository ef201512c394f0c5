/*
 * Unit tests for hv_xen's pure parts: the guest RAM layout, start-up on
 * a host without Xen, what a zero-copy backend is given (fake privcmd);
 * with the ioreq intake (check_hv_xen_ioreq.c), the bounded
 * foreign-mapping cache (check_hv_xen_mem.c) and grant access
 * (check_hv_xen_gnt.c) in the same program.  No hypervisor is needed.
 */
#include <config.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_common.h"
#include "fake_privcmd.h"
#include "hv_xen.h"
#include "hv_xen_mem.h"
#include "hv_xen_priv.h"
#include "vhu.h"

_Static_assert(HV_XEN_MMAP_FOREIGN == VHU_XEN_MMAP_FOREIGN,
               "hv_xen and vhu agree on the foreign-mapping flag");

/* ---- guest RAM layout ---- */

#define GIB (1ULL << 30)
#define MIB (1ULL << 20)

START_TEST(test_layout_small)
{
    struct hv_layout l;

    ck_assert_int_eq(hv_xen_layout_from_size(256 * MIB, &l), 0);
    ck_assert_uint_eq(l.nr, 1);
    ck_assert_uint_eq(l.bank[0].gpa, 0x40000000ULL);
    ck_assert_uint_eq(l.bank[0].len, 256 * MIB);
}
END_TEST

START_TEST(test_layout_exactly_3g)
{
    struct hv_layout l;

    ck_assert_int_eq(hv_xen_layout_from_size(3 * GIB, &l), 0);
    ck_assert_uint_eq(l.nr, 1);
    ck_assert_uint_eq(l.bank[0].len, 3 * GIB);
}
END_TEST

START_TEST(test_layout_4g_spills)
{
    struct hv_layout l;

    ck_assert_int_eq(hv_xen_layout_from_size(4 * GIB, &l), 0);
    ck_assert_uint_eq(l.nr, 2);
    ck_assert_uint_eq(l.bank[0].gpa, 0x40000000ULL);
    ck_assert_uint_eq(l.bank[0].len, 3 * GIB);
    ck_assert_uint_eq(l.bank[1].gpa, 0x200000000ULL);
    ck_assert_uint_eq(l.bank[1].len, 1 * GIB);
}
END_TEST

START_TEST(test_layout_rejects)
{
    struct hv_layout l;

    ck_assert_int_eq(hv_xen_layout_from_size(0, &l), -EINVAL);
    /* Above bank 0 + bank 1 (3 GiB + 1016 GiB). */
    ck_assert_int_eq(hv_xen_layout_from_size(1020 * GIB, &l), -E2BIG);
    ck_assert_int_eq(hv_xen_layout_from_size(UINT64_MAX, &l), -E2BIG);
    ck_assert_int_eq(hv_xen_layout_from_size(1019 * GIB, &l), 0);
    ck_assert_uint_eq(l.nr, 2);
    ck_assert_uint_eq(l.bank[1].len, 1016 * GIB);
}
END_TEST

/* ---- start-up on a host without Xen ---- */

START_TEST(test_open_bad_domid)
{
    struct hv *hv = (struct hv *)1;

    ck_assert_int_eq(hv_xen_open(&hv, NULL, 0, NULL), -EINVAL);
    ck_assert_ptr_null(hv);
    ck_assert_int_eq(hv_xen_open(&hv, NULL, 0x7ff0, NULL), -EINVAL);
}
END_TEST

START_TEST(test_open_without_xen_fails_cleanly)
{
    struct hv_xen_opts o = { .mapcache_mib = 4, .kernel_eventfd = 0 };
    struct hv *hv = (struct hv *)1;

    if (access("/dev/xen/privcmd", F_OK) == 0) {
        return; /* a real dom0: this test is for hosts without Xen */
    }
    ck_assert_int_lt(hv_xen_open(&hv, NULL, 1, &o), 0);
    ck_assert_ptr_null(hv);
}
END_TEST

/* ---- what a zero-copy backend is given (fake privcmd device) ---- */

#define SHARE_DOM 5u

static void
share_fx(struct hv_xen *x, struct fake_privcmd *f, enum fake_privcmd_mode m)
{
    fake_privcmd_init(f, m);
    memset(x, 0, sizeof(*x));
    x->hv.domid = SHARE_DOM;
    snprintf(x->hv.name, sizeof(x->hv.name), "dom%u", SHARE_DOM);
    ck_assert_int_eq(hv_layout_add(&x->hv.ram, HV_ARM_RAM0_GPA, 1u << 20), 0);
    x->priv = &f->ops;
    x->privcmd_fd = x->share_fd = -1;
    hv_xen_privcmd_open(x);
}

static void
share_fx_close(struct hv_xen *x)
{
    if (x->privcmd_fd >= 0) {
        close(x->privcmd_fd);
    }
    if (x->share_fd >= 0) {
        close(x->share_fd);
    }
}

/*
 * The process never restricted itself (xl-spawned without dm_restrict):
 * the backend's fd is restricted to the guest all the same, and is not
 * our own privcmd fd.
 */
START_TEST(test_share_restricted_in_unrestricted_process)
{
    struct fake_privcmd f;
    struct hv_xen x;
    struct hv_region reg[HV_MAX_BANKS];
    int fd;

    share_fx(&x, &f, FAKE_PRIVCMD_OK);
    ck_assert_int_ge(x.privcmd_fd, 0);
    ck_assert_uint_eq(fake_privcmd_fd_domid(&f, x.privcmd_fd),
                      PRIVFD_DOMID_INVALID);
    ck_assert_int_eq(hv_xen_mem_regions(&x.hv, reg, HV_MAX_BANKS), 1);
    ck_assert_uint_eq(reg[0].xen_mmap_flags, HV_XEN_MMAP_FOREIGN);
    ck_assert_uint_eq(reg[0].xen_domid, SHARE_DOM);
    for (int i = 0; i < 3; i++) {
        fd = hv_xen_mem_share(&x.hv);
        ck_assert_int_ge(fd, 0);
        ck_assert_uint_eq(fake_privcmd_fd_domid(&f, fd), SHARE_DOM);
        close(fd);
    }
    /* Ours stays ours: the share fd is a file of its own. */
    ck_assert_uint_eq(fake_privcmd_fd_domid(&f, x.privcmd_fd),
                      PRIVFD_DOMID_INVALID);
    ck_assert_uint_eq(f.opens, 2);
    share_fx_close(&x);
}
END_TEST

/* A kernel without RESTRICT, or one that ignores it: no zero-copy. */
START_TEST(test_share_refused_without_restriction)
{
    static const enum fake_privcmd_mode modes[] = { FAKE_PRIVCMD_OLD_KERNEL,
                                                    FAKE_PRIVCMD_LYING };

    for (unsigned i = 0; i < 2; i++) {
        struct fake_privcmd f;
        struct hv_xen x;
        struct hv_region reg[HV_MAX_BANKS];

        share_fx(&x, &f, modes[i]);
        ck_assert_int_ge(x.privcmd_fd, 0); /* kernel ioeventfds still work */
        ck_assert_int_eq(x.share_fd, -1);
        ck_assert_int_eq(hv_xen_mem_regions(&x.hv, reg, HV_MAX_BANKS),
                         -EOPNOTSUPP);
        ck_assert_int_eq(hv_xen_mem_share(&x.hv), -EOPNOTSUPP);
        ck_assert_uint_eq(fake_privcmd_open_fds(&f), 1);
        share_fx_close(&x);
    }
}
END_TEST

/* The share fd is checked again before every copy. */
START_TEST(test_share_rechecked_each_time)
{
    struct fake_privcmd f;
    struct hv_xen x;

    share_fx(&x, &f, FAKE_PRIVCMD_OK);
    f.file[1].domid = PRIVFD_DOMID_INVALID; /* as if the kernel forgot */
    ck_assert_int_eq(hv_xen_mem_share(&x.hv), -EPERM);
    ck_assert_uint_eq(fake_privcmd_open_fds(&f), 2);
    share_fx_close(&x);
}
END_TEST

/* In check_hv_xen_ioreq.c, check_hv_xen_mem.c and check_hv_xen_gnt.c. */
void add_ioreq_tests(Suite *s);
void add_mem_tests(Suite *s);
void add_gnt_tests(Suite *s);
/* In check_hv_xen_privcmd.c. */
void add_privcmd_tests(Suite *s);

static Suite *
make_suite(void)
{
    Suite *s = suite_create("hv_xen");

    add_ioreq_tests(s);
    CHECK_ADD(s, test_share_restricted_in_unrestricted_process, 5);
    CHECK_ADD(s, test_share_refused_without_restriction, 5);
    CHECK_ADD(s, test_share_rechecked_each_time, 5);
    CHECK_ADD(s, test_layout_small, 5);
    CHECK_ADD(s, test_layout_exactly_3g, 5);
    CHECK_ADD(s, test_layout_4g_spills, 5);
    CHECK_ADD(s, test_layout_rejects, 5);
    CHECK_ADD(s, test_open_bad_domid, 5);
    CHECK_ADD(s, test_open_without_xen_fails_cleanly, 10);
    add_mem_tests(s);
    add_gnt_tests(s);
    add_privcmd_tests(s);
    return s;
}

CHECK_MAIN(make_suite)
