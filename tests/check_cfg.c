/* Unit tests: cfg (command line, config file, socket path conventions). */
#include <config.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cfg.h"
#include "decl.h"
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
    ck_assert_int_eq(args(&c, err, "--status", NULL), 0);
    ck_assert_int_eq(c.run, CFG_RUN_STATUS);
    ck_assert(!c.status_json);
    ck_assert_int_eq(args(&c, err, "--json", "--status", "--backend-dir=/run/y",
                          NULL), 0);
    ck_assert_int_eq(c.run, CFG_RUN_STATUS);
    ck_assert(c.status_json);
    ck_assert_str_eq(c.backend_dir, "/run/y");
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
        { "--status=all", "'all'" },
        { "--json", "--json goes with --status" },
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
    "fs-tag = share-1\n"
    "[device 5:2]\n"
    "device-id = rng\n"
    "[device net]\n"
    "queues = 2\n"
    "mac = 52:54:00:AB:cd:0f\n"
    "mtu = 9000\n"
    "[device vsock]\n"
    "guest-cid = 0x10\n";

START_TEST(test_file_and_lookup)
{
    struct cfg c;
    char err[CFG_ERR_MAX];

    cfg_init(&c);
    ck_assert_int_eq(cfg_parse_text(&c, good_conf, strlen(good_conf), "t",
                                    err, sizeof(err)), 0);
    ck_assert_uint_eq(c.nr_devs, 7);
    ck_assert_str_eq(c.backend_dir, "/run/xvm");

    ck_assert_uint_eq(c.dev[0].sel, CFG_SEL_TYPE);
    ck_assert_uint_eq(c.dev[1].sel, CFG_SEL_DOMID);
    ck_assert_uint_eq(c.dev[2].sel, CFG_SEL_GUEST);
    ck_assert_str_eq(c.dev[2].guest, "web");
    ck_assert_str_eq(c.dev[2].socket, "/run/xvm/web1.sock");
    ck_assert_str_eq(c.dev[3].set.fs_tag, "share-1");
    ck_assert_uint_eq(c.dev[4].device_id, 4);
    ck_assert_uint_eq(c.dev[5].set.queues, 2);
    ck_assert(c.dev[5].set.has_mac);
    ck_assert_uint_eq(c.dev[5].set.mac[3], 0xab);
    ck_assert_uint_eq(c.dev[5].set.mac[5], 0x0f);
    ck_assert_uint_eq(c.dev[5].set.mtu, 9000);
    ck_assert_uint_eq(c.dev[6].set.guest_cid, 16);
    /* (what applies to a device: check_resolve.c) */
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
        { "[device fs]\nfs-tag = my share\n", "bad fs-tag 'my share'" },
        { "[device fs]\nfs-tag = 0123456789012345678901234567890123456\n",
          "want 1 to 36 printable" },
        { "[device net]\nqueues = 0\n", "bad queues '0': want 1 to 31" },
        { "[device net]\nqueues = 32\n", "bad queues '32'" },
        { "[device net]\nqueues = -1\n", "bad queues '-1'" },
        { "[device net]\nqueues = 2x\n", "bad queues '2x'" },
        { "[device net]\nmtu = 67\n", "bad mtu '67': want 68 to 65535" },
        { "[device net]\nmtu = 65536\n", "bad mtu" },
        { "[device net]\nmac = 01:00:5e:00:00:01\n", "want a unicast" },
        { "[device net]\nmac = 52:54:00:12:34\n", "bad mac" },
        { "[device net]\nmac = 52:54:00:12:34:56:78\n", "bad mac" },
        { "[device net]\nmac = 52-54-00-12-34-56\n", "bad mac" },
        { "[device net]\nmac = 52:54:00:12:34:5g\n", "bad mac" },
        { "[device vsock]\nguest-cid = 2\n", "bad guest-cid '2'" },
        { "[device vsock]\nguest-cid = 4294967295\n", "bad guest-cid" },
        { "service = yes\n", "not allowed" },
        { "status = yes\n", "not allowed" },
        { "json = yes\n", "not allowed" },
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
    ck_assert_uint_eq(c.nr_devs, 7);
    ck_assert_str_eq(c.config_path, path);
    unlink(path);
    ck_assert_int_eq(args(&c, err, "--config", "/", NULL), -EINVAL);
    ck_assert(strstr(err, "'/'"));
}
END_TEST

START_TEST(test_paths_and_types)
{
    uint32_t t;

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

/* cfg_dump's output parses back to the same settings. */
static void
expect_dump_roundtrip(const struct cfg *c)
{
    struct cfg d;
    char err[CFG_ERR_MAX];
    char *text = NULL;
    size_t len = 0;
    FILE *f;

    f = open_memstream(&text, &len);
    ck_assert_ptr_nonnull(f);
    cfg_dump(c, f);
    fclose(f);
    cfg_init(&d);
    ck_assert_msg(cfg_parse_text(&d, text, len, "dump", err, sizeof(err)) == 0,
                  "%s", err);
    ck_assert_uint_eq(d.nr_devs, c->nr_devs);
    ck_assert_int_eq(memcmp(&d, c, sizeof(d)), 0);
    free(text);
}

START_TEST(test_dump_roundtrip)
{
    struct cfg c;
    char err[CFG_ERR_MAX];

    cfg_init(&c);
    ck_assert_int_eq(cfg_parse_text(&c, good_conf, strlen(good_conf), "t",
                                    err, sizeof(err)), 0);
    expect_dump_roundtrip(&c);
}
END_TEST

/* Two guests' declared devices, and one ordinary override section. */
static const char decl_conf[] =
    "[device g1:0]\n"
    "declare = yes\ndevice-id = blk\nbase = 0x2000400\nirq = 40\n"
    "grants = yes\nsocket = /run/g1-0.sock\n"
    "[device g1:1]\n"
    "declare = yes\ndevice-id = fs\nbase = 0x2000600\nirq = 41\n"
    "fs-tag = share1\n"
    "[device 7:2]\n"
    "declare = yes\ndevice-id = 4\nbase = 0x2000800\nirq = 42\n"
    "[device 7:3]\n"
    "declare = yes\ndevice-id = 4\nbase = 0x2000400\nirq = 43\n"
    "[device g2:0]\n"
    "declare = yes\ndevice-id = blk\nbase = 0x2000400\nirq = 40\n"
    "[device g1:9]\n"
    "mode = shadow\n";

START_TEST(test_declared_parse)
{
    struct cfg c;
    char err[CFG_ERR_MAX];

    cfg_init(&c);
    ck_assert_msg(cfg_parse_text(&c, decl_conf, strlen(decl_conf), "t", err,
                                 sizeof(err)) == 0, "%s", err);
    ck_assert_uint_eq(c.nr_devs, 6);
    ck_assert(c.dev[0].decl.declared);
    ck_assert(c.dev[0].decl.grants);
    ck_assert_uint_eq(c.dev[0].decl.base, 0x2000400);
    ck_assert_uint_eq(c.dev[0].decl.irq, 40);
    ck_assert_uint_eq(c.dev[0].device_id, 2);
    ck_assert_str_eq(c.dev[1].set.fs_tag, "share1");
    ck_assert(!c.dev[1].decl.grants);
    ck_assert(!c.dev[5].decl.declared);
    expect_dump_roundtrip(&c);
}
END_TEST

START_TEST(test_declared_bad)
{
    static const char head[] = "[device g1:0]\ndeclare = yes\n";
    static const char ok[] = "device-id = blk\nbase = 0x2000400\nirq = 40\n";
    static const struct {
        const char *text; /* after head (and `ok` when with_ok) */
        bool with_ok;
        const char *want;
    } b[] = {
        { "base = 0x2000401\n", true, "bad base '0x2000401'" },
        { "base = 0\n", true, "bad base '0'" },
        { "base = 0x2100000\n", true, "outside the guest's virtio-mmio" },
        { "base = 0x1fffe00\n", true, "outside the guest's virtio-mmio" },
        { "irq = 31\n", true, "bad irq '31'" },
        { "irq = 1020\n", true, "bad irq '1020'" },
        { "irq = 44\n", true, "irq 44 is not one of the SPIs" },
        { "irq = 32\n", true, "irq 32 is not one of the SPIs" },
        { "grants = maybe\n", true, "bad grants 'maybe'" },
        { "declare = sure\n", true, "bad declare 'sure'" },
        { "base = 0x2000400\nirq = 40\n", false,
          "needs device-id, base and irq" },
        { "device-id = blk\nirq = 40\n", false,
          "needs device-id, base and irq" },
        { "device-id = blk\nbase = 0x2000400\n", false,
          "needs device-id, base and irq" },
        /* Two declarations of one guest sharing a devid, window or SPI. */
        { "[device g1:0]\nmode = shadow\n[device g1:0]\ndeclare = yes\n"
          "device-id = blk\nbase = 0x2000600\nirq = 41\n", true,
          "[device g1:0] and [device g1:0] share" },
        { "[device g1:1]\ndeclare = yes\ndevice-id = blk\n"
          "base = 0x2000400\nirq = 41\n", true,
          "[device g1:0] and [device g1:1] share" },
        { "[device g1:1]\ndeclare = yes\ndevice-id = blk\n"
          "base = 0x2000600\nirq = 40\n", true,
          "[device g1:0] and [device g1:1] share" },
    };
    struct cfg c;
    char err[CFG_ERR_MAX];
    char text[1024];

    for (size_t i = 0; i < sizeof(b) / sizeof(b[0]); i++) {
        snprintf(text, sizeof(text), "%s%s%s", head, b[i].with_ok ? ok : "",
                 b[i].text);
        cfg_init(&c);
        err[0] = '\0';
        ck_assert_msg(cfg_parse_text(&c, text, strlen(text), "t", err,
                                     sizeof(err)) == -EINVAL,
                      "accepted: %s", text);
        ck_assert_msg(strstr(err, b[i].want), "case %zu: '%s' lacks '%s'", i,
                      err, b[i].want);
    }
    /* A type selector cannot declare a device. */
    cfg_init(&c);
    snprintf(text, sizeof(text), "[device blk]\ndeclare = yes\n%s", ok);
    ck_assert_int_eq(cfg_parse_text(&c, text, strlen(text), "t", err,
                                    sizeof(err)), -EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "needs a GUEST:DEVID or DOMID:DEVID"));
    /* declare = no is an ordinary section; keys are kept. */
    cfg_init(&c);
    snprintf(text, sizeof(text), "[device g1:0]\ndeclare = no\nirq = 99\n");
    ck_assert_int_eq(cfg_parse_text(&c, text, strlen(text), "t", err,
                                    sizeof(err)), 0);
    ck_assert(!c.dev[0].decl.declared);
}
END_TEST

START_TEST(test_declared_for_guest)
{
    struct disc_dev d[DECL_MAX_PER_GUEST];
    struct cfg c;
    char err[CFG_ERR_MAX];

    cfg_init(&c);
    ck_assert_int_eq(cfg_parse_text(&c, decl_conf, strlen(decl_conf), "t",
                                    err, sizeof(err)), 0);
    /* g1 by name: its two; domid 5 has no domid sections. */
    ck_assert_uint_eq(decl_for_guest(&c, 5, "g1", d, DECL_MAX_PER_GUEST), 2);
    ck_assert_int_eq(d[0].kind, DISC_KIND_DECLARED);
    ck_assert_uint_eq(d[0].domid, 5);
    ck_assert_uint_eq(d[0].devid, 0);
    ck_assert_uint_eq(d[0].base, 0x2000400);
    ck_assert_uint_eq(d[0].irq, 40);
    ck_assert_uint_eq(d[0].device_id, 2);
    ck_assert(d[0].grants);
    ck_assert(d[0].online);
    ck_assert_uint_eq(d[1].device_id, 26);
    /* Domid 7 named g1: 7:2 is added, 7:3 clashes with g1:0 (window). */
    ck_assert_uint_eq(decl_for_guest(&c, 7, "g1", d, DECL_MAX_PER_GUEST), 3);
    ck_assert_uint_eq(d[2].devid, 2);
    ck_assert_uint_eq(d[2].domid, 7);
    /* Unnamed domid 7: both of its own. */
    ck_assert_uint_eq(decl_for_guest(&c, 7, NULL, d, DECL_MAX_PER_GUEST), 2);
    ck_assert_uint_eq(d[1].devid, 3);
    /* `max` bounds the output. */
    ck_assert_uint_eq(decl_for_guest(&c, 7, "g1", d, 1), 1);
    ck_assert_uint_eq(decl_for_guest(&c, 9, "nobody", d, 4), 0);
    /* By selector text: a number picks domid sections. */
    ck_assert_uint_eq(decl_for_selector(&c, "7", d, 4), 2);
    ck_assert_uint_eq(decl_for_selector(&c, "g2", d, 4), 1);
    ck_assert_uint_eq(d[0].domid, 0);
    ck_assert_uint_eq(decl_for_selector(&c, "g3", d, 4), 0);
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
    CHECK_ADD(s, test_declared_parse, 5);
    CHECK_ADD(s, test_declared_bad, 5);
    CHECK_ADD(s, test_declared_for_guest, 5);
    CHECK_ADD(s, test_worker_user_default_and_fallback, 5);
    return s;
}

CHECK_MAIN(make_suite)
