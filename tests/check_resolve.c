/*
 * resolve: section lookup, socket paths, and which backend serves a
 * device (checklist item 29): a disk that names its image is never served
 * from a per-type socket or from a socket an earlier guest left behind;
 * socket files nobody listens on are removed, not connected.  Last, two
 * virtio-fs devices with different tags, end to end to the guest's view.
 */
#include <config.h>

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backend_proc.h"
#include "check_common.h"
#include "devtype.h"
#include "hguest.h"
#include "hostile_backend.h"
#include "rawdrv.h"
#include "relay.h"
#include "resolve.h"
#include "vmmio.h"

static const char lookup_conf[] =
    "backend-dir = /run/xvm\n"
    "mode = zero-copy\n"
    "[device blk]\n"
    "socket = /run/xvm/disks.sock\n"
    "mode = shadow\n"
    "queue-size = 256\n"
    "[device 3:0]\n"
    "socket = /run/xvm/three.sock\n"
    "queue-size = 64\n"
    "[device web:1]\n"
    "socket = /run/xvm/web1.sock\n"
    "[device device26]\n"
    "bounce-kib = 1024\n"
    "fs-tag = shared\n"
    "[device 5:2]\n"
    "device-id = rng\n";

static void
parse(struct cfg *c, const char *text)
{
    char err[CFG_ERR_MAX];

    cfg_init(c);
    ck_assert_msg(cfg_parse_text(c, text, strlen(text), "t", err,
                                 sizeof(err)) == 0, "%s", err);
}

START_TEST(test_settings_lookup)
{
    struct resolve_settings r;
    struct cfg c;

    parse(&c, lookup_conf);
    /* by type */
    resolve_settings(&c, 9, "other", 0, 2, &r);
    ck_assert_str_eq(r.socket, "/run/xvm/disks.sock");
    ck_assert(!r.socket_per_device);
    ck_assert_int_eq(r.mode, RELAY_MODE_SHADOW);
    ck_assert_uint_eq(r.queue_size, 256);
    /* domid:devid beats the type */
    resolve_settings(&c, 3, NULL, 0, 2, &r);
    ck_assert_str_eq(r.socket, "/run/xvm/three.sock");
    ck_assert(r.socket_per_device);
    ck_assert_uint_eq(r.queue_size, 64);
    ck_assert_int_eq(r.mode, RELAY_MODE_ZEROCOPY);
    /* guest name beats the domid */
    resolve_settings(&c, 3, "web", 1, 2, &r);
    ck_assert_str_eq(r.socket, "/run/xvm/web1.sock");
    ck_assert(r.socket_per_device);
    /* nothing matches: globals, no socket */
    resolve_settings(&c, 4, "x", 0, 4, &r);
    ck_assert_str_eq(r.socket, "");
    ck_assert(!r.socket_per_device);
    ck_assert_int_eq(r.mode, RELAY_MODE_ZEROCOPY);
    resolve_settings(&c, 4, "x", 0, 26, &r);
    ck_assert_uint_eq(r.bounce_kib, 1024);
    ck_assert_str_eq(r.set.fs_tag, "shared");
    resolve_settings(&c, 5, NULL, 2, 0, &r);
    ck_assert_uint_eq(r.device_id, 4);
    ck_assert_str_eq(r.set.fs_tag, "");
}
END_TEST

START_TEST(test_socket_paths)
{
    char buf[CFG_SOCK_MAX];
    struct cfg c;

    cfg_init(&c);
    ck_assert_int_eq(resolve_device_socket(&c, 3, 51712, buf, sizeof(buf)), 0);
    ck_assert_str_eq(buf, "/run/xen-vhost-master/3-51712.sock");
    ck_assert_int_eq(resolve_type_socket(&c, 2, buf, sizeof(buf)), 0);
    ck_assert_str_eq(buf, "/run/xen-vhost-master/blk.sock");
    ck_assert_int_eq(resolve_type_socket(&c, 26, buf, sizeof(buf)), 0);
    ck_assert_str_eq(buf, "/run/xen-vhost-master/fs.sock");
    ck_assert_int_eq(resolve_type_socket(&c, 77, buf, sizeof(buf)), 0);
    ck_assert_str_eq(buf, "/run/xen-vhost-master/device77.sock");
    ck_assert_int_eq(resolve_type_socket(&c, 2, buf, 10), -ENAMETOOLONG);
}
END_TEST

/* ---- a scratch backend directory with sockets that listen or not ---- */

struct dir {
    char path[CFG_DIR_MAX];
    int fds[4];
    unsigned nfds;
    struct cfg cfg;
};

/* Parse `conf` with every '@' standing for the directory. */
static void
dir_open(struct dir *d, const char *conf)
{
    char text[1024];
    size_t o = 0;

    memset(d, 0, sizeof(*d));
    ck_assert_int_eq(backend_tmpdir(d->path, sizeof(d->path)), 0);
    for (const char *p = conf; *p; p++) {
        const char *add = *p == '@' ? d->path : (char[]){ *p, '\0' };
        size_t n = strlen(add);

        ck_assert_uint_lt(o + n, sizeof(text));
        memcpy(text + o, add, n);
        o += n;
    }
    text[o] = '\0';
    parse(&d->cfg, text);
}

/* A socket at dir/name: listening, or (stale) bound and closed again. */
static void
dir_sock(struct dir *d, const char *name, bool listening)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    ck_assert_int_ge(fd, 0);
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s", d->path, name);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    if (listening) {
        ck_assert_int_eq(listen(fd, 1), 0);
        ck_assert_uint_lt(d->nfds, 4);
        d->fds[d->nfds++] = fd;
    } else {
        close(fd);
    }
}

static bool
dir_has(const struct dir *d, const char *name)
{
    char p[CFG_SOCK_MAX + 64];

    snprintf(p, sizeof(p), "%s/%s", d->path, name);
    return access(p, F_OK) == 0;
}

static void
dir_close(struct dir *d)
{
    for (unsigned i = 0; i < d->nfds; i++) {
        close(d->fds[i]);
    }
    backend_rmtree(d->path);
}

static void
disk_entry(struct disc_dev *e, uint32_t domid, const char *target)
{
    memset(e, 0, sizeof(*e));
    e->kind = DISC_KIND_DISK;
    e->domid = domid;
    e->devid = 51712;
    e->base = 0x2000000;
    e->irq = 33;
    e->device_id = DEVTYPE_BLK;
    snprintf(e->target, sizeof(e->target), "%s", target);
}

static void
virtio_entry(struct disc_dev *e, uint32_t domid, uint32_t device_id)
{
    memset(e, 0, sizeof(*e));
    e->kind = DISC_KIND_VIRTIO;
    e->domid = domid;
    e->base = 0x2000000;
    e->irq = 33;
    e->device_id = device_id;
}

static void
expect_spawn(struct dir *d, const struct disc_dev *e, const char *guest)
{
    char err[CFG_ERR_MAX] = "", want[CFG_SOCK_MAX + 64];
    enum resolve_how how = RESOLVE_CONNECT;
    struct worker_dev wd;

    ck_assert_msg(resolve_device(&d->cfg, e, guest, &wd, &how, err,
                                 sizeof(err)) == 0, "%s", err);
    snprintf(want, sizeof(want), "%s/%u-%u.sock", d->path, e->domid, e->devid);
    ck_assert_str_eq(wd.socket, want);
    ck_assert_int_eq(how, RESOLVE_SPAWN);
}

/* The device is served by a backend already listening at dir/name. */
static void
expect_connect(struct dir *d, const struct disc_dev *e, const char *guest,
               const char *name)
{
    char err[CFG_ERR_MAX] = "", want[CFG_SOCK_MAX + 64];
    enum resolve_how how = RESOLVE_SPAWN;
    struct worker_dev wd;

    ck_assert_msg(resolve_device(&d->cfg, e, guest, &wd, &how, err,
                                 sizeof(err)) == 0, "%s", err);
    snprintf(want, sizeof(want), "%s/%s", d->path, name);
    ck_assert_str_eq(wd.socket, want);
    ck_assert_int_eq(how, RESOLVE_CONNECT);
}

/* The device is refused with `rc`, the message naming `what`. */
static void
expect_refused(struct dir *d, const struct disc_dev *e, int rc,
               const char *what)
{
    char err[CFG_ERR_MAX] = "";
    enum resolve_how how;
    struct worker_dev wd;

    ck_assert_int_eq(resolve_device(&d->cfg, e, NULL, &wd, &how, err,
                                    sizeof(err)), rc);
    ck_assert_msg(strstr(err, what), "message '%s' lacks '%s'", err, what);
}

/* A disk naming /img/B.img is never served from whatever blk.sock exports,
 * even when a type section names that socket. */
START_TEST(test_disk_target_not_type_socket)
{
    struct disc_dev e;
    struct dir d;

    dir_open(&d, "backend-dir = @\n");
    dir_sock(&d, "blk.sock", true);
    disk_entry(&e, 3, "/img/B.img");
    expect_spawn(&d, &e, "guest-b");
    dir_close(&d);

    dir_open(&d, "backend-dir = @\n[device blk]\nsocket = @/blk.sock\n");
    dir_sock(&d, "blk.sock", true);
    expect_spawn(&d, &e, "guest-b");
    dir_close(&d);
}
END_TEST

/* An earlier guest with the same domid left its (still listening) backend
 * at the per-device path: the new guest does not get attached to it. */
START_TEST(test_disk_leftover_not_attached)
{
    struct disc_dev e;
    struct dir d;

    dir_open(&d, "backend-dir = @\n");
    dir_sock(&d, "3-51712.sock", true);
    disk_entry(&e, 3, "/img/new-guest.img");
    expect_spawn(&d, &e, NULL);
    /* Without spawning, nothing can prove which image a socket exports. */
    d.cfg.spawn_qsd = false;
    expect_refused(&d, &e, -EINVAL, "/img/new-guest.img");
    expect_refused(&d, &e, -EINVAL, "spawn-qsd is off");
    dir_close(&d);
}
END_TEST

/* The configuration may say which socket serves one disk. */
START_TEST(test_disk_named_socket)
{
    struct disc_dev e;
    struct dir d;

    dir_open(&d, "backend-dir = @\n[device web:51712]\nsocket = @/web.sock\n");
    disk_entry(&e, 7, "/img/web.img");
    expect_connect(&d, &e, "web", "web.sock");
    /* Another guest's disk is not served from it. */
    expect_spawn(&d, &e, "other");
    dir_close(&d);
}
END_TEST

/* virtio= devices: a socket file nobody listens on is removed, not used. */
START_TEST(test_stale_socket_removed)
{
    struct disc_dev e;
    struct dir d;

    dir_open(&d, "backend-dir = @\n");
    dir_sock(&d, "4-0.sock", false);
    dir_sock(&d, "rng.sock", true);
    virtio_entry(&e, 4, 4);
    expect_connect(&d, &e, NULL, "rng.sock");
    ck_assert(!dir_has(&d, "4-0.sock"));
    dir_close(&d);

    dir_open(&d, "backend-dir = @\n");
    dir_sock(&d, "4-0.sock", false);
    dir_sock(&d, "rng.sock", false);
    expect_refused(&d, &e, -ENOENT, "no backend listens");
    ck_assert(!dir_has(&d, "4-0.sock"));
    ck_assert(!dir_has(&d, "rng.sock"));
    dir_close(&d);

    /* A live per-device socket wins over the type socket. */
    dir_open(&d, "backend-dir = @\n");
    dir_sock(&d, "4-0.sock", true);
    dir_sock(&d, "rng.sock", true);
    expect_connect(&d, &e, NULL, "4-0.sock");
    dir_close(&d);
}
END_TEST

START_TEST(test_socket_live)
{
    char p[CFG_SOCK_MAX + 64];
    struct dir d;

    dir_open(&d, "backend-dir = @\n");
    dir_sock(&d, "up.sock", true);
    dir_sock(&d, "down.sock", false);
    snprintf(p, sizeof(p), "%s/up.sock", d.path);
    ck_assert(resolve_socket_live(p));
    snprintf(p, sizeof(p), "%s/down.sock", d.path);
    ck_assert(!resolve_socket_live(p));
    snprintf(p, sizeof(p), "%s/none.sock", d.path);
    ck_assert(!resolve_socket_live(p));
    /* A prefix of a listening path is not that path. */
    snprintf(p, sizeof(p), "%s/up.so", d.path);
    ck_assert(!resolve_socket_live(p));
    dir_close(&d);
}
END_TEST

/*
 * A backend in another network namespace is not in our /proc/net/unix:
 * it must still count as live (probed by connecting), never be removed.
 */
START_TEST(test_socket_live_other_netns)
{
    char p[CFG_SOCK_MAX + 64], ok = 0;
    int up[2], done[2];      /* child -> parent, parent -> child */
    struct dir d;
    pid_t pid;

    if (geteuid() != 0) {
        ck_abort_msg("needs root for a network namespace; run as root");
    }
    dir_open(&d, "backend-dir = @\n");
    snprintf(p, sizeof(p), "%s/other.sock", d.path);
    ck_assert_uint_lt(strlen(p), sizeof(((struct sockaddr_un *)0)->sun_path));
    ck_assert_int_eq(pipe(up), 0);
    ck_assert_int_eq(pipe(done), 0);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd;

        close(up[0]);
        close(done[1]);
        memcpy(sa.sun_path, p, strlen(p) + 1); /* checked below 108 */
        if (unshare(CLONE_NEWNET) != 0) {
            _exit(1);
        }
        fd = socket(AF_UNIX, SOCK_STREAM, 0);
        if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) ||
            listen(fd, 4) || write(up[1], "y", 1) != 1) {
            _exit(1);
        }
        if (read(done[0], &ok, 1) < 0) { /* until the parent is done */
            _exit(1);
        }
        _exit(0);
    }
    close(up[1]);
    close(done[0]);
    ck_assert_int_eq(read(up[0], &ok, 1), 1); /* EOF: the child failed */
    ck_assert(resolve_socket_live(p));
    ck_assert(access(p, F_OK) == 0);
    close(done[1]);
    ck_assert_int_eq(waitpid(pid, NULL, 0), pid);
    close(up[0]);
    /* Its owner gone, the file is a leftover. */
    ck_assert(!resolve_socket_live(p));
    dir_close(&d);
}
END_TEST

/* The tag a guest sees in config space (bytes 0..35). */
static void
read_tag(struct rawdrv *drv, char *tag)
{
    for (unsigned i = 0; i < DEVTYPE_FS_TAG_MAX; i++) {
        tag[i] = (char)rawdrv_access(drv, VMMIO_CONFIG_OFF + i, 1, false, 0);
    }
    tag[DEVTYPE_FS_TAG_MAX] = '\0';
}

/* Two virtio-fs devices of one guest, each with its own tag. */
START_TEST(test_two_fs_tags)
{
    static const char conf[] =
        "backend-dir = @\n"
        "[device 6:0]\nsocket = @/fs0.sock\nfs-tag = docs\n"
        "[device 6:1]\nsocket = @/fs1.sock\nfs-tag = home-dir\n";
    static const char *const want[2] = { "docs", "home-dir" };
    struct hostile *be[2];
    struct relay *relay[2];
    struct rawdrv drv[2];
    struct hguest g;
    struct dir d;

    ck_assert_int_eq(hguest_new(&g, 0), 0);
    dir_open(&d, conf);
    for (unsigned i = 0; i < 2; i++) {
        char err[CFG_ERR_MAX] = "", tag[DEVTYPE_FS_TAG_MAX + 1];
        struct hostile_config hc = { .fill = 0 };
        struct devtype_config store;
        const char *why;
        struct relay_config rc;
        enum resolve_how how;
        struct worker_dev wd;
        struct disc_dev e;

        virtio_entry(&e, 6, DEVTYPE_FS);
        e.devid = i;
        ck_assert_msg(resolve_device(&d.cfg, &e, NULL, &wd, &how, err,
                                     sizeof(err)) == 0, "%s", err);
        ck_assert_str_eq(wd.set.fs_tag, want[i]);
        hc.sock_path = wd.socket;
        ck_assert_int_eq(hostile_start(&be[i], &hc), 0);
        /* What worker_guest_add does with the resolved device. */
        memset(&rc, 0, sizeof(rc));
        rc.name = wd.name;
        rc.socket_path = wd.socket;
        rc.mode = RELAY_MODE_SHADOW;
        rc.mmio_base = HGUEST_MMIO + 0x200ULL * i;
        rc.irq = HGUEST_IRQ + i;
        rc.device_id = wd.device_id;
        rc.timeout_ms = 2000;
        ck_assert_int_eq(devtype_fill(&rc, wd.device_id, &wd.set, &store,
                                      &why), 0);
        ck_assert_int_eq(relay_new(&relay[i], hv_sim_hv(g.sim), g.loop, &rc),
                         0);
        rawdrv_bind(&drv[i], g.sim, g.loop, rc.mmio_base, rc.irq,
                    HV_ARM_RAM0_GPA + (1ULL + i) * (1u << 20), 1u << 20);
        read_tag(&drv[i], tag);
        ck_assert_str_eq(tag, want[i]);
    }
    for (unsigned i = 0; i < 2; i++) {
        relay_free(relay[i]);
        hostile_stop(be[i]);
    }
    dir_close(&d);
    hguest_free(&g);
}
END_TEST

/*
 * The queues of a qemu-storage-daemon the service starts for a disk: the
 * device's queues setting, else one per guest vCPU (one when the count is
 * unknown), never more than the relay serves.
 */
START_TEST(test_qsd_queues)
{
    struct worker_dev wd;

    memset(&wd, 0, sizeof(wd));
    ck_assert_uint_eq(resolve_qsd_queues(&wd, 0), 1);
    ck_assert_uint_eq(resolve_qsd_queues(&wd, 1), 1);
    ck_assert_uint_eq(resolve_qsd_queues(&wd, 4), 4);
    ck_assert_uint_eq(resolve_qsd_queues(&wd, 200), VMMIO_MAX_QUEUES);
    wd.set.queues = 3;
    ck_assert_uint_eq(resolve_qsd_queues(&wd, 0), 3);
    ck_assert_uint_eq(resolve_qsd_queues(&wd, 8), 3);
}
END_TEST

static Suite *
make_suite(void)
{
    Suite *s = suite_create("resolve");

    CHECK_ADD(s, test_settings_lookup, 5);
    CHECK_ADD(s, test_socket_paths, 5);
    CHECK_ADD(s, test_disk_target_not_type_socket, 5);
    CHECK_ADD(s, test_disk_leftover_not_attached, 5);
    CHECK_ADD(s, test_disk_named_socket, 5);
    CHECK_ADD(s, test_stale_socket_removed, 5);
    CHECK_ADD(s, test_socket_live, 5);
    CHECK_ADD(s, test_socket_live_other_netns, 5);
    CHECK_ADD(s, test_two_fs_tags, 10);
    CHECK_ADD(s, test_qsd_queues, 5);
    return s;
}

CHECK_MAIN(make_suite)
