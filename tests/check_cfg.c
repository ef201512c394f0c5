/* Unit tests: cfg (command line, config file, socket path conventions). */
#include <config.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cfg.h"
#include "check_common.h"

static int
args(struct cfg *c, char *err, ...)
{
    char *argv[32];
    int argc = 0;
    va_list ap;
    char *a;

    argv[argc++] = (char *)"xen-vhost-master";
    va_start(ap, err);
    while ((a = va_arg(ap, char *)) && argc < 31) {
        argv[argc++] = a;
    }
    va_end(ap);
    argv[argc] = NULL;
    err[0] = '\0';
    return cfg_setup(c, argc, argv, err, CFG_ERR_MAX);
}

START_TEST(test_defaults_and_flags)
{
    struct cfg c;
    char err[CFG_ERR_MAX];

    ck_assert_int_eq(args(&c, err, NULL), 0);
    ck_assert_int_eq(c.run, CFG_RUN_NONE);
    ck_assert_str_eq(c.backend_dir, "/run/xen-vhost-master");
    ck_assert_int_eq(c.mode, RELAY_MODE_AUTO);
    ck_assert(c.spawn_qsd);
    ck_assert_int_eq(args(&c, err, "--help", NULL), 0);
    ck_assert_int_eq(c.run, CFG_RUN_HELP);
    ck_assert_int_eq(args(&c, err, "-V", NULL), 0);
    ck_assert_int_eq(c.run, CFG_RUN_VERSION);
    ck_assert_int_eq(args(&c, err, "--service", "--mode", "shadow",
                          "--queue-size=128", "--user=1000:1001", "-d",
                          "--domid=7", "--spawn-qsd=no", "--backend-dir=/run/x",
                          NULL), 0);
    ck_assert_int_eq(c.run, CFG_RUN_SERVICE);
    ck_assert_int_eq(c.mode, RELAY_MODE_SHADOW);
    ck_assert_uint_eq(c.queue_size, 128);
    ck_assert(c.has_user);
    ck_assert_uint_eq(c.uid, 1000);
    ck_assert_uint_eq(c.gid, 1001);
    ck_assert_int_eq(c.log_level, LOG_LVL_DEBUG);
    ck_assert(c.has_domid);
    ck_assert_uint_eq(c.domid, 7);
    ck_assert(!c.spawn_qsd);
    ck_assert_str_eq(c.backend_dir, "/run/x");
}
END_TEST

/* Workers are deprivileged unless told otherwise: who they run as. */
START_TEST(test_worker_user_default_and_fallback)
{
    char err[CFG_ERR_MAX] = "";
    struct cfg c;

    /* Not given: the user if it exists, with its primary group. */
    cfg_init(&c);
    ck_assert(!c.has_user);
    ck_assert_int_eq(cfg_worker_user(&c, "root", "nobody", err, sizeof(err)),
                     0);
    ck_assert(c.has_user);
    ck_assert_uint_eq(c.uid, 0);
    /* Else the fallback. */
    cfg_init(&c);
    ck_assert_int_eq(cfg_worker_user(&c, "xvm-no-such-user", "root", err,
                                     sizeof(err)), 0);
    ck_assert(c.has_user);
    ck_assert_uint_eq(c.uid, 0);
    /* Neither exists: refused, naming the user to create. */
    cfg_init(&c);
    ck_assert_int_eq(cfg_worker_user(&c, "xvm-no-such-user",
                                     "xvm-no-such-either", err, sizeof(err)),
                     -ENOENT);
    ck_assert(!c.has_user);
    ck_assert_ptr_nonnull(strstr(err, "'xvm-no-such-user'"));
    ck_assert_ptr_nonnull(strstr(err, "'xvm-no-such-either'"));
    /* Given: kept as it is, whatever exists. */
    ck_assert_int_eq(args(&c, err, "--service", "--user=1000:1001", NULL), 0);
    ck_assert_int_eq(cfg_worker_user(&c, "xvm-no-such-user",
                                     "xvm-no-such-either", err, sizeof(err)),
                     0);
    ck_assert_uint_eq(c.uid, 1000);
    ck_assert_uint_eq(c.gid, 1001);
    /* The explicit opt-out. */
    ck_assert_int_eq(args(&c, err, "--service", "--user=root", NULL), 0);
    ck_assert_int_eq(cfg_worker_user(&c, "nobody", "nobody", err,
                                     sizeof(err)), 0);
    ck_assert_uint_eq(c.uid, 0);
    ck_assert_uint_eq(c.gid, 0);
}
END_TEST

struct bad_arg {
    const char *arg;
    const char *in_msg;
};

/* Each rejected argument must be named in the message. */
START_TEST(test_bad_args)
{
    static const struct bad_arg b[] = {
        { "--mode=fast", "'fast'" },
        { "--queue-size=100", "'100'" },      /* not a power of two */
        { "--queue-size=65536", "'65536'" },
        { "--queue-size=0", "'0'" },
        { "--queue-size=-1", "'-1'" },
        { "--queue-size=64k", "'64k'" },
        { "--bounce-kib=1", "'1'" },
        { "--timeout-ms=0", "'0'" },
        { "--timeout-ms=99999999999999999999", "'99999999999999999999'" },
        { "--domid=0", "'0'" },
        { "--domid=32752", "'32752'" },
        { "--log-level=loud", "'loud'" },
        { "--backend-dir=relative", "'relative'" },
        { "--backend-dir=/0123456789012345678901234567890123456789"
          "01234567890123456789012345678901234567890", "backend-dir" },
        { "--spawn-qsd=maybe", "'maybe'" },
        { "--user=nosuchuser-xvm", "'nosuchuser-xvm'" },
        { "--user=", "user" },
        { "--frobnicate", "'frobnicate'" },
        { "--service=yes", "'yes'" },
        { "stray", "'stray'" },
        { "-x", "'-x'" },
        { "--", "'--'" },
        { "--config=/nonexistent/xvm.conf", "/nonexistent/xvm.conf" },
    };
    struct cfg c;
    char err[CFG_ERR_MAX];

    for (size_t i = 0; i < sizeof(b) / sizeof(b[0]); i++) {
        ck_assert_msg(args(&c, err, b[i].arg, NULL) < 0, "'%s' accepted",
                      b[i].arg);
        ck_assert_msg(strstr(err, b[i].in_msg), "'%s': message '%s'",
                      b[i].arg, err);
    }
    ck_assert_int_eq(args(&c, err, "--mode", NULL), -EINVAL);
    ck_assert(strstr(err, "needs a value"));
    /* A last argument that is no option at all is unknown, not valueless. */
    ck_assert_int_eq(args(&c, err, "--bogus", NULL), -EINVAL);
    ck_assert_msg(strstr(err, "unknown option 'bogus'"), "message '%s'", err);
    ck_assert_int_eq(args(&c, err, "-c", NULL), -EINVAL);
}
END_TEST

static const char good_conf[] =
    "# service settings\n"
    "backend-dir = /run/xvm\n"
    "mode = zero-copy\n"
    "queue-size = 256\n"
    "\n"
    "[device blk]\n"
    "socket = /run/xvm/disks.sock\n"
    "mode = shadow\r\n"
    "[device 3:0]\n"
    "  socket=/run/xvm/three.sock  \n"
    "queue-size = 64\n"
    "[device web:1]\n"
    "socket = /run/xvm/web1.sock\n"
    "[device device26]\n"
    "bounce-kib = 1024\n"
    "[device 5:2]\n"
    "device-id = rng\n";

START_TEST(test_file_and_lookup)
{
    struct cfg c;
    struct cfg_resolved r;
    char err[CFG_ERR_MAX];

    cfg_init(&c);
    ck_assert_int_eq(cfg_parse_text(&c, good_conf, strlen(good_conf), "t",
                                    err, sizeof(err)), 0);
    ck_assert_uint_eq(c.nr_devs, 5);
    ck_assert_str_eq(c.backend_dir, "/run/xvm");

    /* by type */
    cfg_resolve(&c, 9, "other", 0, 2, &r);
    ck_assert_str_eq(r.socket, "/run/xvm/disks.sock");
    ck_assert_int_eq(r.mode, RELAY_MODE_SHADOW);
    ck_assert_uint_eq(r.queue_size, 256);
    /* domid:devid beats the type */
    cfg_resolve(&c, 3, NULL, 0, 2, &r);
    ck_assert_str_eq(r.socket, "/run/xvm/three.sock");
    ck_assert_uint_eq(r.queue_size, 64);
    ck_assert_int_eq(r.mode, RELAY_MODE_ZEROCOPY);
    /* guest name beats the domid */
    cfg_resolve(&c, 3, "web", 1, 2, &r);
    ck_assert_str_eq(r.socket, "/run/xvm/web1.sock");
    /* nothing matches: globals, no socket */
    cfg_resolve(&c, 4, "x", 0, 4, &r);
    ck_assert_str_eq(r.socket, "");
    ck_assert_int_eq(r.mode, RELAY_MODE_ZEROCOPY);
    cfg_resolve(&c, 4, "x", 0, 26, &r);
    ck_assert_uint_eq(r.bounce_kib, 1024);
    cfg_resolve(&c, 5, NULL, 2, 0, &r);
    ck_assert_uint_eq(r.device_id, 4);
}
END_TEST

START_TEST(test_file_errors)
{
    static const struct bad_arg b[] = {
        { "mode = turbo\n", "t:1: bad mode 'turbo'" },
        { "\n\nnonsense\n", "t:3: expected 'key = value', got 'nonsense'" },
        { "[device]\n", "unknown section" },
        { "[device blk\n", "bad section header" },
        { "[disk blk]\n", "unknown section" },
        { "[device toaster]\n", "bad device selector 'toaster'" },
        { "[device 3:x]\n", "bad device selector '3:x'" },
        { "[device :1]\n", "bad device selector ':1'" },
        { "[device 3:99999999999]\n", "bad device selector" },
        { "[device blk]\nsocket = rel.sock\n", "t:2: bad socket 'rel.sock'" },
        { "[device blk]\nqueue-size = 3\n", "bad queue-size '3'" },
        { "[device blk]\nmode = x\n", "bad mode 'x'" },
        { "[device blk]\nbounce-kib = 0\n", "bad bounce-kib '0'" },
        { "[device blk]\ndevice-id = 0\n", "bad device-id '0'" },
        { "[device blk]\ncolour = red\n", "unknown device key 'colour'" },
        { "service = yes\n", "not allowed" },
        { "config = /etc/x\n", "not allowed" },
        { "= x\n", "missing key" },
        { "frobs = 1\n", "unknown option 'frobs'" },
    };
    struct cfg c;
    char err[CFG_ERR_MAX];
    char big[2048];

    for (size_t i = 0; i < sizeof(b) / sizeof(b[0]); i++) {
        cfg_init(&c);
        ck_assert_msg(cfg_parse_text(&c, b[i].arg, strlen(b[i].arg), "t", err,
                                     sizeof(err)) < 0, "'%s' accepted",
                      b[i].arg);
        ck_assert_msg(strstr(err, b[i].in_msg), "'%s': message '%s'",
                      b[i].arg, err);
    }
    memset(big, 'a', sizeof(big));
    cfg_init(&c);
    ck_assert_int_eq(cfg_parse_text(&c, big, sizeof(big), "t", err,
                                    sizeof(err)), -EINVAL);
    ck_assert(strstr(err, "longer"));
    ck_assert_int_eq(cfg_parse_text(&c, "a\0b", 3, "t", err, sizeof(err)),
                     -EINVAL);
    cfg_init(&c);
    for (int i = 0; i <= CFG_MAX_DEVS; i++) {
        const char *sec = "[device blk]\n";
        int rc = cfg_parse_text(&c, sec, strlen(sec), "t", err, sizeof(err));

        ck_assert_int_eq(rc, i < CFG_MAX_DEVS ? 0 : -EINVAL);
    }
}
END_TEST

/* The command line wins over the file; the file is found through -c. */
START_TEST(test_file_on_disk)
{
    char path[] = "/tmp/xvm-cfg-XXXXXX";
    int fd = mkstemp(path);
    struct cfg c;
    char err[CFG_ERR_MAX];

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, good_conf, strlen(good_conf)),
                     (ssize_t)strlen(good_conf));
    close(fd);
    ck_assert_int_eq(args(&c, err, "--service", "-c", path, "--mode=auto",
                          NULL), 0);
    ck_assert_int_eq(c.mode, RELAY_MODE_AUTO);
    ck_assert_uint_eq(c.queue_size, 256);
    ck_assert_uint_eq(c.nr_devs, 5);
    ck_assert_str_eq(c.config_path, path);
    unlink(path);
    ck_assert_int_eq(args(&c, err, "--config", "/", NULL), -EINVAL);
    ck_assert(strstr(err, "'/'"));
}
END_TEST

START_TEST(test_paths_and_types)
{
    struct cfg c;
    char buf[CFG_SOCK_MAX];
    uint32_t t;

    cfg_init(&c);
    ck_assert_int_eq(cfg_device_socket(&c, 3, 51712, buf, sizeof(buf)), 0);
    ck_assert_str_eq(buf, "/run/xen-vhost-master/3-51712.sock");
    ck_assert_int_eq(cfg_type_socket(&c, 2, buf, sizeof(buf)), 0);
    ck_assert_str_eq(buf, "/run/xen-vhost-master/blk.sock");
    ck_assert_int_eq(cfg_type_socket(&c, 26, buf, sizeof(buf)), 0);
    ck_assert_str_eq(buf, "/run/xen-vhost-master/fs.sock");
    ck_assert_int_eq(cfg_type_socket(&c, 77, buf, sizeof(buf)), 0);
    ck_assert_str_eq(buf, "/run/xen-vhost-master/device77.sock");
    ck_assert_int_eq(cfg_type_socket(&c, 2, buf, 10), -ENAMETOOLONG);
    ck_assert_int_eq(cfg_parse_type("fs", &t), 0);
    ck_assert_uint_eq(t, 26);
    ck_assert_int_eq(cfg_parse_type("device4", &t), 0);
    ck_assert_uint_eq(t, 4);
    ck_assert_int_eq(cfg_parse_type("4", &t), 0);
    ck_assert_int_eq(cfg_parse_type("device", &t), -EINVAL);
    ck_assert_int_eq(cfg_parse_type("65536", &t), -EINVAL);
    ck_assert_ptr_null(cfg_type_name(77));
}
END_TEST

START_TEST(test_dump_roundtrip)
{
    struct cfg c, d;
    char err[CFG_ERR_MAX];
    char *text = NULL;
    size_t len = 0;
    FILE *f;

    cfg_init(&c);
    ck_assert_int_eq(cfg_parse_text(&c, good_conf, strlen(good_conf), "t",
                                    err, sizeof(err)), 0);
    f = open_memstream(&text, &len);
    ck_assert_ptr_nonnull(f);
    cfg_dump(&c, f);
    fclose(f);
    cfg_init(&d);
    ck_assert_msg(cfg_parse_text(&d, text, len, "dump", err, sizeof(err)) == 0,
                  "%s", err);
    ck_assert_uint_eq(d.nr_devs, c.nr_devs);
    ck_assert_int_eq(memcmp(&d, &c, sizeof(c)), 0);
    free(text);
}
END_TEST

static Suite *
make_suite(void)
{
    Suite *s = suite_create("cfg");

    CHECK_ADD(s, test_defaults_and_flags, 5);
    CHECK_ADD(s, test_bad_args, 5);
    CHECK_ADD(s, test_file_and_lookup, 5);
    CHECK_ADD(s, test_file_errors, 5);
    CHECK_ADD(s, test_file_on_disk, 5);
    CHECK_ADD(s, test_paths_and_types, 5);
    CHECK_ADD(s, test_dump_roundtrip, 5);
    CHECK_ADD(s, test_worker_user_default_and_fallback, 5);
    return s;
}

CHECK_MAIN(make_suite)
