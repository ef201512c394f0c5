/*
 * End to end: a minimal FUSE client in a simulated guest -> virtio-mmio ->
 * relay -> Debian's virtiofsd, in both relay modes, with the device set up
 * from the fs profile (devtype_fill) and probed as Linux 6.1 and 6.12 do.
 * Reads a file the test made on the host, writes one the test then
 * verifies on the host, and sends a FORGET on the hiprio queue.  Then the
 * same as a grant device (the guest hands out grant addresses only),
 * which virtiofsd can serve in shadow mode only, and hostile grants.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend_proc.h"
#include "check_common.h"
#include "devtype.h"
#include "grantcheck.h"
#include "hv_sim.h"
#include "linuxdrv.h"
#include "loop.h"
#include "relay.h"
#include "simdrv.h"
#include "vmmio.h"

#define FS_BASE 0x02000200ULL
#define FS_IRQ 34
#define HIPRIO_Q 0
#define REQ_Q 1

enum {
    FUSE_LOOKUP = 1, FUSE_FORGET = 2, FUSE_OPEN = 14, FUSE_READ = 15,
    FUSE_WRITE = 16, FUSE_RELEASE = 18, FUSE_FSYNC = 20, FUSE_INIT = 26,
    FUSE_CREATE = 35,
};

struct fs {
    struct hv_sim *sim;
    struct loop *loop;
    struct relay *relay;
    struct simdrv *drv;
    struct backend_proc vfs;
    char dir[256], shared[300];
    uint64_t in_gpa, out_gpa;  /* request and reply buffers */
    uint8_t *in, *out;
    uint64_t unique;
};

static void
put32(uint8_t *p, uint32_t v)
{
    memcpy(p, &v, 4); /* test runs on little-endian hosts */
}

static void
put64(uint8_t *p, uint64_t v)
{
    memcpy(p, &v, 8);
}

static uint64_t
get64(const uint8_t *p)
{
    uint64_t v;

    memcpy(&v, p, 8);
    return v;
}

static int32_t
get_error(const uint8_t *out)
{
    int32_t e;

    memcpy(&e, out + 4, 4);
    return e;
}

/* Build a FUSE request in f->in: header + args (+ data).  Its length. */
static uint32_t
fuse_request(struct fs *f, uint32_t opcode, uint64_t nodeid, const void *args,
             uint32_t args_len, const void *data, uint32_t data_len)
{
    uint32_t len = 40 + args_len + data_len;

    memset(f->in, 0, 40);
    put32(f->in, len);
    put32(f->in + 4, opcode);
    put64(f->in + 8, ++f->unique);
    put64(f->in + 16, nodeid);
    memcpy(f->in + 40, args, args_len);
    if (data_len) {
        memcpy(f->in + 40 + args_len, data, data_len);
    }
    return len;
}

/* Wait for the chain at `head` of q to come back; its used length. */
static uint32_t
fuse_wait(struct fs *f, unsigned q, uint16_t head)
{
    uint16_t got = head;
    uint32_t used;
    int rc;

    while ((rc = simdrv_poll(f->drv, q, &got, &used)) == 0) {
        ck_assert_int_ge(simdrv_wait_irq(f->drv, 10000), 0);
    }
    ck_assert_int_eq(rc, 1);
    ck_assert_uint_eq(got, head);
    return used;
}

/*
 * One FUSE request: header + args (+ data) readable, reply writable.
 * Returns the reply's error field; the reply is in f->out.
 */
static int32_t
fuse_call(struct fs *f, uint32_t opcode, uint64_t nodeid, const void *args,
          uint32_t args_len, const void *data, uint32_t data_len,
          uint32_t reply_len)
{
    struct simdrv_buf b[2];
    uint32_t len = fuse_request(f, opcode, nodeid, args, args_len, data,
                                data_len);
    uint16_t head;

    memset(f->out, 0, 16 + reply_len);
    b[0] = (struct simdrv_buf){ f->in_gpa, len, false };
    b[1] = (struct simdrv_buf){ f->out_gpa, 16 + reply_len, true };
    ck_assert_int_eq(simdrv_submit(f->drv, REQ_Q, b, 2, false, &head), 0);
    simdrv_kick(f->drv, REQ_Q);
    ck_assert_uint_ge(fuse_wait(f, REQ_Q, head), 16);
    ck_assert_uint_eq(get64(f->out + 8), f->unique);
    return get_error(f->out);
}

/* FORGET goes on the hiprio queue, readable only, and gets no reply. */
static void
fuse_forget(struct fs *f, uint64_t nodeid)
{
    struct simdrv_buf b;
    uint8_t args[8];
    uint16_t head;

    put64(args, 1); /* nlookup */
    b = (struct simdrv_buf){ f->in_gpa,
                             fuse_request(f, FUSE_FORGET, nodeid, args, 8,
                                          NULL, 0),
                             false };
    ck_assert_int_eq(simdrv_submit(f->drv, HIPRIO_Q, &b, 1, false, &head), 0);
    simdrv_kick(f->drv, HIPRIO_Q);
    ck_assert_uint_eq(fuse_wait(f, HIPRIO_Q, head), 0);
}

static const char content[] = "hello from the host, through virtiofsd\n";

/* The host side: a shared dir with hello.txt, served by virtiofsd. */
static void
fs_backend_up(struct fs *f)
{
    char path[400];
    int fd;

    if (!backend_virtiofsd_path()) {
        ck_abort_msg("virtiofsd is not installed (qemu-system-common or virtiofsd)");
    }
    if (geteuid() != 0) {
        ck_abort_msg("virtiofsd needs root for its sandbox; run as root");
    }
    ck_assert_int_eq(backend_tmpdir(f->dir, sizeof(f->dir)), 0);
    snprintf(f->shared, sizeof(f->shared), "%s/shared", f->dir);
    ck_assert_int_eq(mkdir(f->shared, 0755), 0);
    snprintf(path, sizeof(path), "%s/hello.txt", f->shared);
    fd = open(path, O_CREAT | O_WRONLY, 0644);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, content, sizeof(content) - 1),
                     (ssize_t)sizeof(content) - 1);
    close(fd);
    ck_assert_int_eq(backend_start_virtiofsd(&f->vfs, f->dir, "fs", f->shared),
                     0);
}

static void
fs_backend_down(struct fs *f)
{
    backend_stop(&f->vfs);
    backend_rmtree(f->dir);
}

/*
 * The guest side: a relay for the device set up from the fs profile.
 * 0, or relay_new()'s error (nothing else set up then).
 */
static int
fs_relay_up(struct fs *f, enum relay_mode mode, bool grants)
{
    struct hv_sim_config hc = { .ram0_len = 32u << 20 };
    struct relay_config rc = {
        .name = "sim/fs0", .mode = mode, .mmio_base = FS_BASE, .irq = FS_IRQ,
        .device_id = DEVTYPE_FS, .queue_size = 128, .grants = grants,
    };
    struct devtype_settings set = { .fs_tag = "share", .queues = 1 };
    struct devtype_config st;
    const char *why;
    int err;

    ck_assert_int_eq(devtype_fill(&rc, DEVTYPE_FS, &set, &st, &why), 0);
    ck_assert_int_eq(hv_sim_new(&f->sim, &hc), 0);
    f->loop = loop_new();
    ck_assert_ptr_nonnull(f->loop);
    rc.socket_path = f->vfs.sock;
    err = relay_new(&f->relay, hv_sim_hv(f->sim), f->loop, &rc);
    if (err < 0) {
        hv_sim_free(f->sim);
        loop_free(f->loop);
        return err;
    }
    ck_assert_int_eq(simdrv_new(&f->drv, f->sim, f->loop, FS_BASE, FS_IRQ), 0);
    simdrv_set_grants(f->drv, grants);
    f->in_gpa = simdrv_alloc(f->drv, 8192, 4096);
    f->out_gpa = simdrv_alloc(f->drv, 8192, 4096);
    f->in = simdrv_ptr(f->drv, f->in_gpa, 8192);
    f->out = simdrv_ptr(f->drv, f->out_gpa, 8192);
    return 0;
}

static void
fs_relay_down(struct fs *f)
{
    simdrv_free(f->drv);
    relay_free(f->relay);
    hv_sim_free(f->sim);
    loop_free(f->loop);
}

/* Probe as `kernel` does: hiprio + 1 request queue, the tag in config. */
static void
fs_probe(struct fs *f, enum linuxdrv_kernel kernel)
{
    char tag[37] = { 0 }, err[200];
    unsigned nq = 0;

    ck_assert_uint_eq(simdrv_device_id(f->drv), 26);
    if (linuxdrv_probe(f->drv, kernel, &nq, err, sizeof(err)) < 0) {
        ck_abort_msg("probe: %s", err);
    }
    ck_assert_uint_eq(nq, 2);
    simdrv_config(f->drv, 0, tag, 36);
    ck_assert_str_eq(tag, "share");
}

/*
 * A FUSE session: INIT, read hello.txt, write `name`, then check the
 * written file on the host.
 */
static void
fs_session(struct fs *f, const char *name)
{
    char wpath[400], back[128];
    uint8_t args[64];
    uint64_t node, fh;
    int fd;

    /* INIT 7.31 */
    memset(args, 0, sizeof(args));
    put32(args, 7);
    put32(args + 4, 31);
    put32(args + 8, 65536);
    ck_assert_int_eq(fuse_call(f, FUSE_INIT, 0, args, 16, NULL, 0, 64), 0);

    /* LOOKUP hello.txt, OPEN, READ, RELEASE, FORGET (on hiprio) */
    ck_assert_int_eq(fuse_call(f, FUSE_LOOKUP, 1, "hello.txt", 10, NULL, 0, 128),
                     0);
    node = get64(f->out + 16);
    ck_assert_uint_ne(node, 0);
    memset(args, 0, sizeof(args)); /* O_RDONLY */
    ck_assert_int_eq(fuse_call(f, FUSE_OPEN, node, args, 8, NULL, 0, 16), 0);
    fh = get64(f->out + 16);
    memset(args, 0, sizeof(args));
    put64(args, fh);
    put32(args + 16, 4096);
    ck_assert_int_eq(fuse_call(f, FUSE_READ, node, args, 40, NULL, 0, 4096), 0);
    ck_assert_uint_eq(*(uint32_t *)f->out, 16 + sizeof(content) - 1);
    ck_assert_mem_eq(f->out + 16, content, sizeof(content) - 1);
    memset(args, 0, sizeof(args));
    put64(args, fh);
    ck_assert_int_eq(fuse_call(f, FUSE_RELEASE, node, args, 24, NULL, 0, 0), 0);
    fuse_forget(f, node);

    /* CREATE name, WRITE, FSYNC, RELEASE */
    memset(args, 0, sizeof(args));
    put32(args, O_WRONLY | O_CREAT);
    put32(args + 4, 0100644);
    ck_assert_uint_lt(strlen(name), sizeof(args) - 16);
    memcpy(args + 16, name, strlen(name) + 1);
    ck_assert_int_eq(fuse_call(f, FUSE_CREATE, 1, args,
                               16 + (uint32_t)strlen(name) + 1, NULL, 0, 144),
                     0);
    node = get64(f->out + 16);
    fh = get64(f->out + 16 + 128);
    memset(args, 0, sizeof(args));
    put64(args, fh);
    put32(args + 16, sizeof(content) - 1);
    ck_assert_int_eq(fuse_call(f, FUSE_WRITE, node, args, 40, content,
                               sizeof(content) - 1, 8), 0);
    ck_assert_uint_eq(*(uint32_t *)(f->out + 16), sizeof(content) - 1);
    memset(args, 0, sizeof(args));
    put64(args, fh);
    ck_assert_int_eq(fuse_call(f, FUSE_FSYNC, node, args, 16, NULL, 0, 0), 0);
    memset(args, 0, sizeof(args));
    put64(args, fh);
    ck_assert_int_eq(fuse_call(f, FUSE_RELEASE, node, args, 24, NULL, 0, 0), 0);

    snprintf(wpath, sizeof(wpath), "%s/%s", f->shared, name);
    fd = open(wpath, O_RDONLY);
    ck_assert_int_ge(fd, 0);
    memset(back, 0, sizeof(back));
    ck_assert_int_eq(read(fd, back, sizeof(back)), (ssize_t)sizeof(content) - 1);
    close(fd);
    ck_assert_str_eq(back, content);
}

static void
fs_read_write(enum relay_mode mode, enum linuxdrv_kernel kernel)
{
    struct fs f = { 0 };

    fs_backend_up(&f);
    ck_assert_int_eq(fs_relay_up(&f, mode, false), 0);
    ck_assert_int_eq(relay_mode(f.relay), mode);
    fs_probe(&f, kernel);
    fs_session(&f, "written.txt");
    fs_relay_down(&f);
    fs_backend_down(&f);
}

START_TEST(test_fs_shadow)
{
    fs_read_write(RELAY_MODE_SHADOW, LINUX_6_1);
}
END_TEST

START_TEST(test_fs_zerocopy)
{
    fs_read_write(RELAY_MODE_ZEROCOPY, LINUX_6_12);
}
END_TEST

/*
 * Grant mode (hv_gnt): the simulated guest hands out only grant
 * addresses, as Linux's grant-dma-ops does.  Both queues' rings are
 * mapped by grant, every FUSE request and reply moves by grant copy
 * through the daemon's shadow memory to virtiofsd, and the guest's RAM
 * is never touched by guest-physical address.  Configured shadow and
 * automatic (virtiofsd cannot map grants: shadow) alike.
 */
START_TEST(test_fs_grant_data)
{
    const enum relay_mode modes[] = { RELAY_MODE_SHADOW, RELAY_MODE_AUTO };

    for (unsigned m = 0; m < 2; m++) {
        struct fs f = { 0 };
        char err[160];

        fs_backend_up(&f);
        ck_assert_int_eq(fs_relay_up(&f, modes[m], true), 0);
        ck_assert_int_eq(relay_mode(f.relay), RELAY_MODE_SHADOW);
        fs_probe(&f, m ? LINUX_6_12 : LINUX_6_1);
        ck_assert(simdrv_features(f.drv) & (1ULL << VIRTIO_F_ACCESS_PLATFORM));
        /* desc, avail, used of hiprio and of the request queue */
        ck_assert_uint_eq(hv_sim_gnt_mapped(f.sim), 6);
        fs_session(&f, "written.txt");
        if (grantcheck_clean_reset(f.sim, f.drv, f.relay, 6, err,
                                   sizeof(err)) < 0) {
            ck_abort_msg("grant mode: %s", err);
        }
        fs_relay_down(&f);
        fs_backend_down(&f);
    }
}
END_TEST

/*
 * A grant device whose backend cannot map grants (virtiofsd offers no
 * XEN_MMAP): zero-copy is refused with a reason, not faked.
 */
START_TEST(test_fs_grant_zerocopy_refused)
{
    struct fs f = { 0 };
    char *log = NULL;
    size_t len = 0;
    FILE *tmp = tmpfile();
    int saved = dup(2);

    ck_assert_ptr_nonnull(tmp);
    ck_assert_int_ge(saved, 0);
    fs_backend_up(&f);
    fflush(stderr);
    ck_assert_int_eq(dup2(fileno(tmp), 2), 2);
    ck_assert_int_eq(fs_relay_up(&f, RELAY_MODE_ZEROCOPY, true), -ENOTSUP);
    fflush(stderr);
    ck_assert_int_eq(dup2(saved, 2), 2);
    close(saved);
    rewind(tmp);
    ck_assert_int_gt(getdelim(&log, &len, '\0', tmp), 0);
    fclose(tmp);
    fputs(log, stderr);
    ck_assert_ptr_nonnull(strstr(log, "sim/fs0: zero-copy requested but the "
                                      "backend does not offer XEN_MMAP"));
    free(log);
    fs_backend_down(&f);
}
END_TEST

/*
 * Hostile grant use on the request queue, each answered with
 * DEVICE_NEEDS_RESET and no used element for the chain.  After each the
 * driver resets and probes again; at the end a full session still
 * passes, virtiofsd and the daemon serving on, no refusal reached guest
 * RAM by guest-physical address and no ref is left mapped.
 */
enum fs_hostile {
    FS_REQ_REVOKED,        /* the request's ref revoked before the kick */
    FS_REQ_RUNS_OFF,       /* a two-page request, its second ref revoked */
    FS_REPLY_READONLY,     /* the reply granted read-only: found when the
                            * daemon copies virtiofsd's reply back */
    FS_REQ_GUEST_PHYSICAL, /* a buffer by guest-physical address */
    FS_HOSTILE_CASES
};

START_TEST(test_fs_grant_hostile)
{
    struct fs f = { 0 };

    fs_backend_up(&f);
    ck_assert_int_eq(fs_relay_up(&f, RELAY_MODE_SHADOW, true), 0);
    for (unsigned c = 0; c < FS_HOSTILE_CASES; c++) {
        struct simdrv_buf b[2];
        uint8_t args[16] = { 0 };
        uint16_t head;
        uint32_t ref, used;

        fs_probe(&f, LINUX_6_12);
        put32(args, 7);
        put32(args + 4, 31);
        b[0] = (struct simdrv_buf){ f.in_gpa,
                                    fuse_request(&f, FUSE_INIT, 0, args, 16,
                                                 NULL, 0),
                                    false };
        b[1] = (struct simdrv_buf){ f.out_gpa, 16 + 64, true };
        if (c == FS_REQ_RUNS_OFF) {
            b[0].len = 8192;
        }
        simdrv_set_grants(f.drv, c != FS_REQ_GUEST_PHYSICAL);
        ck_assert_int_eq(simdrv_submit(f.drv, REQ_Q, b, 2, false, &head), 0);
        simdrv_set_grants(f.drv, true);
        switch (c) {
        case FS_REQ_REVOKED:
        case FS_REQ_RUNS_OFF:
            ck_assert_int_eq(simdrv_buf_ref(f.drv, REQ_Q, head, 0, &ref), 0);
            ref += c == FS_REQ_RUNS_OFF;
            ck_assert_int_eq(hv_sim_revoke(f.sim, ref), 0);
            break;
        case FS_REPLY_READONLY:
            ck_assert_int_eq(simdrv_buf_ref(f.drv, REQ_Q, head, 1, &ref), 0);
            ck_assert_int_eq(hv_sim_revoke(f.sim, ref), 0);
            ck_assert_int_eq(hv_sim_grant(f.sim, ref, f.out_gpa, true), 0);
            break;
        default:
            break;
        }
        simdrv_kick(f.drv, REQ_Q);
        while (!(simdrv_status(f.drv) & VIRTIO_STATUS_NEEDS_RESET)) {
            ck_assert_int_ge(simdrv_wait_irq(f.drv, 10000), 0);
        }
        ck_assert_int_eq(simdrv_poll(f.drv, REQ_Q, &head, &used), 0);
    }
    fs_probe(&f, LINUX_6_12);
    fs_session(&f, "after-reset.txt");
    ck_assert_uint_eq(hv_sim_mem_accesses(f.sim), 0);
    ck_assert_uint_eq(simdrv_revoke_busy(f.drv), 0);
    fs_relay_down(&f);
    fs_backend_down(&f);
}
END_TEST

static Suite *
make_suite(void)
{
    Suite *s = suite_create("relay_fs");

    CHECK_ADD(s, test_fs_shadow, 60);
    CHECK_ADD(s, test_fs_zerocopy, 60);
    CHECK_ADD(s, test_fs_grant_data, 120);
    CHECK_ADD(s, test_fs_grant_zerocopy_refused, 60);
    CHECK_ADD(s, test_fs_grant_hostile, 60);
    return s;
}

CHECK_MAIN(make_suite)
