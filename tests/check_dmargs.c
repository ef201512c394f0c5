/* Unit tests: dmargs on the argvs libxl was recorded passing. */
#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "check_common.h"
#include "dmargs.h"

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* Capability probe (Xen 4.20). */
static char *const probe_argv[] = {
    "xvm", "-S", "-no-user-config", "-nodefaults", "-nographic", "-machine",
    "none,accel=xen", "-chardev",
    "socket,id=libxl-cmd,fd=16,server=on,wait=off", "-mon",
    "chardev=libxl-cmd,mode=control",
};

/* The device model proper, with device_model_args before -machine. */
static char *const real_argv[] = {
    "xvm", "-xen-domid", "1", "-no-shutdown", "-chardev",
    "socket,id=libxl-cmd,path=/var/run/xen/qmp-libxl-1,server=on,wait=off",
    "-mon", "chardev=libxl-cmd,mode=control", "-chardev",
    ("socket,id=libxenstat-cmd,path=/var/run/xen/qmp-libxenstat-1,server=on,"
     "wait=off"),
    "-mon", "chardev=libxenstat-cmd,mode=control", "-nodefaults",
    "-no-user-config", "-xen-attach", "-name", "g", "-vnc", "none",
    "-display", "none", "-nographic", "--socket-dir=/run/xvm", "--extra=1",
    "-machine", "xenpv", "-m", "256",
};

/* dm_restrict=1 */
static char *const restrict_argv[] = {
    "xvm", "-xen-domid", "5", "-chardev",
    "socket,id=libxl-cmd,fd=14,server=on,wait=off", "-mon",
    "chardev=libxl-cmd,mode=control", "-nodefaults", "-no-user-config",
    "-xen-attach", "-name", "guest=r,debug-threads=on", "-S",
    "-xen-domid-restrict", "-chroot", "/var/run/xen/qemu-root-5", "-runas",
    "xen-qemuuser-range-base", "--mode", "shadow", "-machine", "xenpv",
    "-m", "512",
};

START_TEST(test_probe)
{
    struct dmargs a;
    char err[DMARGS_ERR_MAX];

    ck_assert(dmargs_is_qemu_argv(N(probe_argv), probe_argv));
    ck_assert_int_eq(dmargs_parse(&a, N(probe_argv), probe_argv, err,
                                  sizeof(err)), 0);
    ck_assert(a.probe);
    ck_assert(a.start_paused);
    ck_assert_str_eq(a.machine, "none");
    ck_assert_uint_eq(a.nr_chardevs, 1);
    ck_assert_uint_eq(dmargs_qmp_count(&a), 1);
    ck_assert_str_eq(a.chardev[0].id, "libxl-cmd");
    ck_assert_int_eq(a.chardev[0].fd, 16);
    ck_assert_str_eq(a.chardev[0].path, "");
    ck_assert(a.chardev[0].server);
    ck_assert_uint_eq(a.nr_own, 0);
}
END_TEST

START_TEST(test_real)
{
    struct dmargs a;
    char err[DMARGS_ERR_MAX];

    ck_assert(dmargs_is_qemu_argv(N(real_argv), real_argv));
    ck_assert_int_eq(dmargs_parse(&a, N(real_argv), real_argv, err,
                                  sizeof(err)), 0);
    ck_assert(!a.probe);
    ck_assert_uint_eq(a.domid, 1);
    ck_assert(!a.domid_restrict);
    ck_assert(!a.start_paused);
    ck_assert_str_eq(a.name, "g");
    ck_assert_str_eq(a.machine, "xenpv");
    ck_assert_uint_eq(dmargs_qmp_count(&a), 2);
    ck_assert_str_eq(a.chardev[0].path, "/var/run/xen/qmp-libxl-1");
    ck_assert_int_eq(a.chardev[0].fd, -1);
    ck_assert_str_eq(a.chardev[1].id, "libxenstat-cmd");
    ck_assert_str_eq(a.chardev[1].path, "/var/run/xen/qmp-libxenstat-1");
    ck_assert_uint_eq(a.nr_own, 2);
    ck_assert_str_eq(a.own[0], "--socket-dir=/run/xvm");
    ck_assert_str_eq(a.own[1], "--extra=1");
}
END_TEST

START_TEST(test_restrict)
{
    struct dmargs a;
    char err[DMARGS_ERR_MAX];

    ck_assert_int_eq(dmargs_parse(&a, N(restrict_argv), restrict_argv, err,
                                  sizeof(err)), 0);
    ck_assert_uint_eq(a.domid, 5);
    ck_assert(a.domid_restrict);
    ck_assert(a.start_paused);
    ck_assert_str_eq(a.name, "r");
    ck_assert_str_eq(a.chroot, "/var/run/xen/qemu-root-5");
    ck_assert_str_eq(a.runas, "xen-qemuuser-range-base");
    ck_assert_int_eq(a.chardev[0].fd, 14);
    ck_assert_uint_eq(a.nr_own, 2);
    ck_assert_str_eq(a.own[0], "--mode");
    ck_assert_str_eq(a.own[1], "shadow");
}
END_TEST

START_TEST(test_run_with_and_legacy)
{
    char *const argv[] = {
        "xvm", "-xen-domid", "32751", "-chardev",
        "socket,id=c,path=/run/q,server,nowait", "-mon",
        "chardev=c,mode=control", "-run-with",
        "chroot=/var/run/xen/qemu-root-9,user=qemu9", "-chardev",
        "pty,id=serial0", "-mon", "chardev=serial0,mode=readline",
    };
    struct dmargs a;
    char err[DMARGS_ERR_MAX];

    ck_assert_int_eq(dmargs_parse(&a, N(argv), argv, err, sizeof(err)), 0);
    ck_assert_uint_eq(a.domid, 32751);
    ck_assert(a.chardev[0].server);
    ck_assert(a.chardev[0].qmp);
    ck_assert(!a.chardev[1].is_socket);
    ck_assert(!a.chardev[1].qmp);
    ck_assert_str_eq(a.chroot, "/var/run/xen/qemu-root-9");
    ck_assert_str_eq(a.runas, "qemu9");
}
END_TEST

START_TEST(test_detect)
{
    char *const ours[] = { "xvm", "--service", "-d", "-c", "/etc/x.conf" };
    char *const help[] = { "xvm", "-h" };

    ck_assert(!dmargs_is_qemu_argv(N(ours), ours));
    ck_assert(!dmargs_is_qemu_argv(N(help), help));
    ck_assert(!dmargs_is_qemu_argv(1, ours));
}
END_TEST

struct bad {
    const char *opt;
    const char *value;   /* NULL: no value */
    const char *in_msg;
};

/* Each bad option appended to a valid real argv. */
START_TEST(test_bad)
{
    static const struct bad b[] = {
        { "-frobnicate", NULL, "'-frobnicate'" },
        { "-xen-domid", "0", "'0'" },
        { "-xen-domid", "32752", "'32752'" },
        { "-xen-domid", "1x", "'1x'" },
        { "-xen-domid", "-1", "'-1'" },
        { "-xen-domid", "", "''" },
        { "-xen-domid", "99999999999999999999999", "99999999999999999999999" },
        { "-chardev", "socket,path=/x,server=on", "bad -chardev" },  /* no id */
        { "-chardev", "socket,id=libxl-cmd,path=/y,server=on", "duplicate" },
        { "-chardev", "socket,id=z,server=on", "exactly one" },
        { "-chardev", "socket,id=z,path=/a,fd=5,server=on", "exactly one" },
        { "-chardev", "socket,id=z,fd=2,server=on", "bad -chardev" },
        { "-chardev", "socket,id=z,fd=1x,server=on", "bad -chardev" },
        { "-chardev", "socket,id=z,path=rel,server=on", "bad -chardev" },
        { "-chardev", "socket,id=z,path=/a,server=maybe", "bad -chardev" },
        { "-chardev", "id=z,path=/a", "bad -chardev" },       /* no backend */
        { "-mon", "chardev=nope,mode=control", "unknown chardev 'nope'" },
        { "-mon", "mode=control", "bad -mon" },
        { "-mon", "chardev=libxl-cmd,mode=weird", "bad -mon" },
        { "-name", "", "bad -name" },
        { "-machine", ",accel=xen", "bad -machine" },
        { "-run-with", "chroot", "bad -run-with" },
        { "stray", NULL, "'stray'" },
        { "-", NULL, "'-'" },
        { "-m", NULL, "needs a value" },
    };
    char *argv[64];
    struct dmargs a;
    char err[DMARGS_ERR_MAX];

    for (size_t i = 0; i < sizeof(b) / sizeof(b[0]); i++) {
        int n = N(real_argv);

        memcpy(argv, real_argv, sizeof(real_argv));
        argv[n++] = (char *)b[i].opt;
        if (b[i].value) {
            argv[n++] = (char *)b[i].value;
        }
        err[0] = '\0';
        ck_assert_msg(dmargs_parse(&a, n, argv, err, sizeof(err)) == -EINVAL,
                      "'%s %s' accepted", b[i].opt, b[i].value);
        ck_assert_msg(strstr(err, b[i].in_msg), "'%s %s': message '%s'",
                      b[i].opt, b[i].value, err);
    }
}
END_TEST

START_TEST(test_bad_structure)
{
    char *const noqmp[] = { "xvm", "-xen-domid", "1", "-machine", "xenpv" };
    char *const notserver[] = {
        "xvm", "-xen-domid", "1", "-chardev", "socket,id=c,path=/q", "-mon",
        "chardev=c,mode=control",
    };
    char *const restrict_probe[] = {
        "xvm", "-xen-domid-restrict", "-chardev",
        "socket,id=c,fd=16,server=on", "-mon", "chardev=c,mode=control",
    };
    char *const value_after_eq[] = {
        "xvm", "-chardev", "socket,id=c,fd=16,server=on", "-mon",
        "chardev=c,mode=control", "--mode=shadow", "extra",
    };
    struct dmargs a;
    char err[DMARGS_ERR_MAX];

    ck_assert_int_eq(dmargs_parse(&a, N(noqmp), noqmp, err, sizeof(err)),
                     -EINVAL);
    ck_assert(strstr(err, "no QMP socket"));
    ck_assert_int_eq(dmargs_parse(&a, N(notserver), notserver, err,
                                  sizeof(err)), -EINVAL);
    ck_assert(strstr(err, "server=on"));
    ck_assert_int_eq(dmargs_parse(&a, N(restrict_probe), restrict_probe, err,
                                  sizeof(err)), -EINVAL);
    ck_assert_int_eq(dmargs_parse(&a, N(value_after_eq), value_after_eq, err,
                                  sizeof(err)), -EINVAL);
    ck_assert(strstr(err, "'extra'"));
}
END_TEST

START_TEST(test_limits)
{
    char *argv[2 * DMARGS_MAX_CHARDEVS + 8];
    char ids[DMARGS_MAX_CHARDEVS + 1][64];
    struct dmargs a;
    char err[DMARGS_ERR_MAX];
    int n = 0;

    argv[n++] = "xvm";
    for (int i = 0; i <= DMARGS_MAX_CHARDEVS; i++) {
        snprintf(ids[i], sizeof(ids[i]), "pty,id=c%d", i);
        argv[n++] = "-chardev";
        argv[n++] = ids[i];
    }
    ck_assert_int_eq(dmargs_parse(&a, n, argv, err, sizeof(err)), -EINVAL);
    ck_assert(strstr(err, "too many"));
}
END_TEST

static Suite *
make_suite(void)
{
    Suite *s = suite_create("dmargs");

    CHECK_ADD(s, test_probe, 5);
    CHECK_ADD(s, test_real, 5);
    CHECK_ADD(s, test_restrict, 5);
    CHECK_ADD(s, test_run_with_and_legacy, 5);
    CHECK_ADD(s, test_detect, 5);
    CHECK_ADD(s, test_bad, 5);
    CHECK_ADD(s, test_bad_structure, 5);
    CHECK_ADD(s, test_limits, 5);
    return s;
}

CHECK_MAIN(make_suite)
