/*
 * xvm-test-blkd, end to end on the simulator: simulated guest ->
 * virtio-mmio -> relay in zero-copy mode -> xvm-test-blkd (a child
 * process mapping the simulator's memfd), plus the vhost-user server side
 * driven directly (features, XEN_MMAP negotiation) and with malformed
 * messages.  Grant devices in zero-copy mode run the same way: the
 * backend maps each request's grants through the simulator's shared
 * grant table (hv_sim_gnt.h), as it maps them through gntdev on Xen.  The XEN_MMAP FOREIGN mapping itself needs a hypervisor; here
 * only its refusal of a non-privcmd fd is seen.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "backend_proc.h"
#include "blkd_proc.h"
#include "blkdrv.h"
#include "check_common.h"
#include "vhu.h"
#include "vhu_wire.h"
#include "vmmio.h"

#define DISK_BYTES (16ULL << 20)
#define SEED 0x0b1cd5eedULL
#define WANT_ALL (~0ULL)

/* xvm-test-blkd on a fresh image, with up to two options. */
static void
fixture_up(struct blkd_proc *f, const char *flag1, const char *flag2)
{
    const char *const opts[] = { flag1, flag2, NULL };

    ck_assert_int_eq(blkd_proc_start(f, BLKD_PATH, DISK_BYTES, opts, false),
                     0);
}

/* Stop the backend; it must exit cleanly (0: no crash, no leak report). */
static void
fixture_down(struct blkd_proc *f)
{
    ck_assert_int_eq(blkd_proc_stop(f), 0);
}

/*
 * The whole disk written with seeded data (512 B .. 1 MiB requests,
 * single, multi-segment and indirect chains, up to 8 in flight), read
 * back and compared, flushed, and the image compared from outside.
 */
START_TEST(test_blkd_zerocopy_data)
{
    struct blkd_proc f;
    struct blkdrv b;
    char err[160];

    fixture_up(&f, NULL, NULL);
    ck_assert_int_eq(blkdrv_open(&b, f.sock, RELAY_MODE_ZEROCOPY, WANT_ALL, 8),
                     0);
    ck_assert_int_eq(relay_mode(b.relay), RELAY_MODE_ZEROCOPY);
    ck_assert_uint_eq(b.capacity, DISK_BYTES / 512);
    ck_assert(simdrv_features(b.drv) & (1ULL << VIRTIO_F_VERSION_1));
    ck_assert(simdrv_features(b.drv) & (1ULL << VIRTIO_BLK_F_FLUSH));
    if (blkdrv_roundtrip(&b, DISK_BYTES, SEED, 8, err, sizeof(err)) < 0) {
        ck_abort_msg("zero-copy through xvm-test-blkd: %s", err);
    }
    blkdrv_close(&b);
    ck_assert_uint_eq(blkdrv_file_hash(f.image),
                     blkdrv_pattern_hash(SEED, DISK_BYTES));
    fixture_down(&f);
}
END_TEST

/*
 * Grant zero-copy: the relay hands xvm-test-blkd the grant space (one
 * GRANT | NO_ADVANCE_MAP region) and the simulator's "gntdev"; the
 * backend maps each request's refs and nothing else.  The daemon copies
 * nothing, never touches guest RAM by guest-physical address, and every
 * buffer ref is revocable the moment its chain comes back.
 */
START_TEST(test_blkd_grant_zerocopy_data)
{
    struct blkd_proc f;
    struct blkdrv b;
    struct relay_stats st;
    char err[160];

    fixture_up(&f, "--xen-mmap", NULL);
    ck_assert_int_eq(blkdrv_open_grants(&b, f.sock, RELAY_MODE_ZEROCOPY,
                                        WANT_ALL, 8), 0);
    ck_assert_int_eq(relay_mode(b.relay), RELAY_MODE_ZEROCOPY);
    ck_assert(simdrv_features(b.drv) & (1ULL << VIRTIO_F_ACCESS_PLATFORM));
    if (blkdrv_roundtrip(&b, DISK_BYTES, SEED, 8, err, sizeof(err)) < 0) {
        ck_abort_msg("grant zero-copy through xvm-test-blkd: %s", err);
    }
    relay_get_stats(b.relay, &st);
    ck_assert_uint_eq(st.grant_copies, 0);
    /* Completions are counted from the used index in grant space. */
    ck_assert_uint_gt(st.q[0].requests, 0);
    ck_assert_uint_eq(hv_sim_mem_accesses(b.sim), 0);
    ck_assert_uint_eq(simdrv_revoke_busy(b.drv), 0);
    /* Reset: the daemon's and the backend's ring maps both go (the
     * backend's when it answers GET_VRING_BASE, or, when a loaded machine
     * makes it miss the step, once it sees the connection closed). */
    simdrv_reset(b.drv);
    for (unsigned i = 0; hv_sim_gnt_mapped(b.sim) != 0; i++) {
        ck_assert_msg(i < 5000, "%u refs still mapped 5 s after the reset",
                      hv_sim_gnt_mapped(b.sim));
        usleep(1000);
    }
    blkdrv_close(&b);
    ck_assert_uint_eq(blkdrv_file_hash(f.image),
                      blkdrv_pattern_hash(SEED, DISK_BYTES));
    fixture_down(&f);
}
END_TEST

/* Submit `type` on lba 8 with its data ref revoked; the request's status. */
static uint8_t
revoked_request(struct blkdrv *b, uint32_t type, uint8_t fill)
{
    struct blkreq *r = blkdrv_next_slot(b), *done;
    uint32_t ref;

    memset(r->data, fill, 4096);
    ck_assert_int_eq(blkdrv_submit(b, type, 8, 4096, 1, false, &r), 0);
    ck_assert_int_eq(simdrv_buf_ref(b->drv, 0, r->head, 1, &ref), 0);
    ck_assert_int_eq(hv_sim_revoke(b->sim, ref), 0);
    blkdrv_kick(b);
    ck_assert_int_eq(blkdrv_wait(b, &done, 5000), 0);
    ck_assert_ptr_eq(done, r);
    /* Nothing reached the guest's page behind the revoked ref. */
    ck_assert_uint_eq(r->data[0], fill);
    ck_assert_uint_eq(r->data[4095], fill);
    blkdrv_release(b, r);
    return blkdrv_status(b, r);
}

/*
 * Hostile grant zero-copy: the guest revokes a data ref after posting
 * the request, before the backend maps it.  The backend's map fails, the
 * request completes with an I/O error, the disk and the guest's page are
 * untouched, and the device serves on without a reset.
 */
START_TEST(test_blkd_grant_revoked)
{
    struct blkd_proc f;
    struct blkdrv b;
    uint8_t buf[4096];

    fixture_up(&f, "--xen-mmap", NULL);
    ck_assert_int_eq(blkdrv_open_grants(&b, f.sock, RELAY_MODE_ZEROCOPY,
                                        WANT_ALL, 4), 0);
    memset(buf, 0x11, sizeof(buf));
    ck_assert_int_eq(blkdrv_sync(&b, VIRTIO_BLK_T_OUT, 8, buf, 4096), 0);
    ck_assert_uint_eq(revoked_request(&b, VIRTIO_BLK_T_OUT, 0x33), 1);
    ck_assert_uint_eq(revoked_request(&b, VIRTIO_BLK_T_IN, 0xee), 1);
    ck_assert(!(simdrv_status(b.drv) & VIRTIO_STATUS_NEEDS_RESET));
    memset(buf, 0, sizeof(buf));
    ck_assert_int_eq(blkdrv_sync(&b, VIRTIO_BLK_T_IN, 8, buf, 4096), 0);
    ck_assert_uint_eq(buf[0], 0x11);
    ck_assert_uint_eq(buf[4095], 0x11);
    ck_assert_uint_eq(simdrv_revoke_busy(b.drv), 0);
    ck_assert_uint_eq(hv_sim_mem_accesses(b.sim), 0);
    blkdrv_close(&b);
    fixture_down(&f);
}
END_TEST

/* Post a hand-built chain and wait for it; returns the used length. */
static uint32_t
post_chain(struct blkdrv *b, const struct simdrv_buf *bufs, unsigned n)
{
    uint16_t head, h2;
    uint32_t len;

    ck_assert_int_eq(simdrv_submit(b->drv, 0, bufs, n, false, &head), 0);
    simdrv_kick(b->drv, 0);
    for (int i = 0; i < 1000; i++) {
        int rc = simdrv_poll(b->drv, 0, &h2, &len);

        ck_assert_int_ge(rc, 0);
        if (rc == 1) {
            ck_assert_uint_eq(h2, head);
            return len;
        }
        simdrv_wait_irq(b->drv, 10);
    }
    ck_abort_msg("no completion");
    return 0;
}

static void
put_hdr(struct blkdrv *b, uint64_t gpa, uint32_t type, uint64_t sector)
{
    uint8_t *h = simdrv_ptr(b->drv, gpa, 16);

    memset(h, 0, 16);
    memcpy(h, &type, 4);
    memcpy(h + 8, &sector, 8);
}

/* GET_ID, and one request per guest-side rule: each answered, none fatal. */
START_TEST(test_blkd_requests_and_bad_requests)
{
    struct blkd_proc f;
    struct blkdrv b;
    uint64_t hdr, data, st;
    uint8_t *status, buf[4096];

    fixture_up(&f, NULL, NULL);
    ck_assert_int_eq(blkdrv_open(&b, f.sock, RELAY_MODE_ZEROCOPY, WANT_ALL, 2),
                     0);
    hdr = simdrv_alloc(b.drv, 16, 16);
    data = simdrv_alloc(b.drv, 4096, 4096);
    st = simdrv_alloc(b.drv, 1, 1);
    ck_assert(hdr && data && st);
    status = simdrv_ptr(b.drv, st, 1);
    {
        /* GET_ID: 20 bytes of id, used length 21. */
        struct simdrv_buf c[] = { { hdr, 16, false }, { data, 20, true },
                                  { st, 1, true } };

        put_hdr(&b, hdr, 8, 0);
        *status = 0xff;
        ck_assert_uint_eq(post_chain(&b, c, 3), 21);
        ck_assert_uint_eq(*status, 0);
        ck_assert_str_eq((char *)simdrv_ptr(b.drv, data, 20), "xvm-test-blkd");
    }
    {
        /* Read past the end of the disk: IOERR, status only. */
        struct simdrv_buf c[] = { { hdr, 16, false }, { data, 1024, true },
                                  { st, 1, true } };

        put_hdr(&b, hdr, VIRTIO_BLK_T_IN, DISK_BYTES / 512 - 1);
        ck_assert_uint_eq(post_chain(&b, c, 3), 1);
        ck_assert_uint_eq(*status, 1);
        put_hdr(&b, hdr, VIRTIO_BLK_T_IN, ~0ULL / 256);
        ck_assert_uint_eq(post_chain(&b, c, 3), 1);
        ck_assert_uint_eq(*status, 1);
    }
    {
        /* A write of a partial sector: IOERR. */
        struct simdrv_buf c[] = { { hdr, 16, false }, { data, 100, false },
                                  { st, 1, true } };

        put_hdr(&b, hdr, VIRTIO_BLK_T_OUT, 0);
        ck_assert_uint_eq(post_chain(&b, c, 3), 1);
        ck_assert_uint_eq(*status, 1);
    }
    {
        /* Unknown type: UNSUPP.  Short header: IOERR. */
        struct simdrv_buf c[] = { { hdr, 16, false }, { st, 1, true } };
        struct simdrv_buf s[] = { { hdr, 8, false }, { st, 1, true } };

        put_hdr(&b, hdr, 99, 0);
        ck_assert_uint_eq(post_chain(&b, c, 2), 1);
        ck_assert_uint_eq(*status, 2);
        ck_assert_uint_eq(post_chain(&b, s, 2), 1);
        ck_assert_uint_eq(*status, 1);
    }
    {
        /* No writable byte at all: returned with length 0. */
        struct simdrv_buf c[] = { { hdr, 16, false }, { data, 512, false } };

        put_hdr(&b, hdr, VIRTIO_BLK_T_OUT, 0);
        ck_assert_uint_eq(post_chain(&b, c, 2), 0);
    }
    /* The device still works. */
    memset(buf, 0x3c, sizeof(buf));
    ck_assert_int_eq(blkdrv_sync(&b, VIRTIO_BLK_T_OUT, 16, buf, 4096), 0);
    memset(buf, 0, sizeof(buf));
    ck_assert_int_eq(blkdrv_sync(&b, VIRTIO_BLK_T_IN, 16, buf, 4096), 0);
    for (unsigned i = 0; i < sizeof(buf); i++) {
        ck_assert_uint_eq(buf[i], 0x3c);
    }
    ck_assert_uint_eq(simdrv_status(b.drv) & VIRTIO_STATUS_NEEDS_RESET, 0);
    blkdrv_close(&b);
    fixture_down(&f);
}
END_TEST

/* Driver resets and re-initialisations, I/O before and after each. */
START_TEST(test_blkd_reset_reinit)
{
    struct blkd_proc f;
    struct blkdrv b;
    uint8_t buf[4096], back[4096];

    fixture_up(&f, NULL, NULL);
    ck_assert_int_eq(blkdrv_open(&b, f.sock, RELAY_MODE_ZEROCOPY, WANT_ALL, 4),
                     0);
    for (int round = 0; round < 4; round++) {
        memset(buf, 0x40 + round, sizeof(buf));
        ck_assert_int_eq(blkdrv_sync(&b, VIRTIO_BLK_T_OUT, 8, buf, 4096), 0);
        ck_assert_int_eq(blkdrv_sync(&b, VIRTIO_BLK_T_IN, 8, back, 4096), 0);
        ck_assert_mem_eq(buf, back, sizeof(buf));
        /* Every other round without EVENT_IDX and indirect descriptors. */
        ck_assert_int_eq(simdrv_init(b.drv, round % 2 ? WANT_ALL
                                     : WANT_ALL & ~((1ULL << VIRTIO_F_EVENT_IDX) |
                                                    (1ULL << VIRTIO_F_INDIRECT_DESC)),
                                     1, 0), 0);
    }
    blkdrv_close(&b);
    fixture_down(&f);
}
END_TEST


/* --- the vhost-user server side, driven directly --- */

static struct vhu_conn *
connect_vhu(const char *sock, uint64_t want, uint64_t *features,
            uint64_t *protocol)
{
    struct vhu_conn *c;

    ck_assert_int_eq(vhu_connect(&c, sock, "test", 5000), 0);
    ck_assert_int_eq(vhu_handshake(c, want, features, protocol), 0);
    return c;
}

/* A memfd of len bytes. */
static int
make_memfd(uint64_t len)
{
    int fd = memfd_create("blkd-test", MFD_CLOEXEC);

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(ftruncate(fd, (off_t)len), 0);
    return fd;
}

/* Without --xen-mmap: the features asked for, and no XEN_MMAP. */
START_TEST(test_blkd_no_xen_mmap)
{
    struct blkd_proc f;
    struct vhu_conn *c;
    uint64_t feat, proto, nq;
    uint8_t cfg[60];
    uint64_t cap;
    uint32_t seg_max, blk_size;

    fixture_up(&f, NULL, NULL);
    c = connect_vhu(f.sock, WANT_ALL, &feat, &proto);
    ck_assert(feat & (1ULL << VIRTIO_F_VERSION_1));
    ck_assert(feat & (1ULL << VHU_F_PROTOCOL_FEATURES));
    ck_assert(feat & (1ULL << VIRTIO_BLK_F_FLUSH));
    ck_assert(feat & (1ULL << 2));  /* SEG_MAX */
    ck_assert(feat & (1ULL << 6));  /* BLK_SIZE */
    ck_assert_uint_eq(proto, (1ULL << VHU_PF_MQ) | (1ULL << VHU_PF_REPLY_ACK) |
                             (1ULL << VHU_PF_CONFIG));
    ck_assert_uint_eq(vhu_protocol(c) & (1ULL << VHU_PF_XEN_MMAP), 0);
    ck_assert_int_eq(vhu_get_queue_num(c, &nq), 0);
    ck_assert_uint_eq(nq, 1);
    ck_assert_int_eq(vhu_get_config(c, 0, cfg, sizeof(cfg)), 0);
    memcpy(&cap, cfg, 8);
    memcpy(&seg_max, cfg + 12, 4);
    memcpy(&blk_size, cfg + 20, 4);
    ck_assert_uint_eq(cap, DISK_BYTES / 512);
    ck_assert_uint_gt(seg_max, 0);
    ck_assert_uint_eq(blk_size, 512);
    /* Past the config space: the empty (failure) reply. */
    ck_assert_int_eq(vhu_get_config(c, 56, cfg, 8), -EIO);
    ck_assert(!vhu_broken(c));
    vhu_close(c);
    fixture_down(&f);
}
END_TEST

/*
 * With --xen-mmap: XEN_MMAP negotiated, the 40-byte layout parsed, and a
 * FOREIGN region whose fd is not privcmd (or a GRANT region) refused
 * without breaking the connection.  Mapping real foreign memory needs
 * Xen: only the arm64 harness proves that part.
 */
START_TEST(test_blkd_xen_mmap_offered)
{
    struct blkd_proc f;
    struct vhu_conn *c;
    uint64_t feat, proto, nq;
    int mfd = make_memfd(1 << 20);
    struct vhu_region r = { .gpa = 0x40000000, .len = 1 << 20,
                            .uaddr = 0x40000000, .fd = mfd,
                            .xen_mmap_flags = VHU_XEN_MMAP_FOREIGN,
                            .xen_domid = 7 };

    fixture_up(&f, "--xen-mmap", NULL);
    c = connect_vhu(f.sock, WANT_ALL, &feat, &proto);
    ck_assert(proto & (1ULL << VHU_PF_XEN_MMAP));
    ck_assert_int_eq(vhu_set_mem_table(c, &r, 1), -EIO);
    r.xen_mmap_flags = VHU_XEN_MMAP_FOREIGN | VHU_XEN_MMAP_NO_ADVANCE_MAP;
    r.xen_domid = 0x7ff0; /* reserved: refused before the fd is looked at */
    ck_assert_int_eq(vhu_set_mem_table(c, &r, 1), -EIO);
    r.xen_mmap_flags = VHU_XEN_MMAP_GRANT; /* not at (1 << 63) | ref */
    ck_assert_int_eq(vhu_set_mem_table(c, &r, 1), -EIO);
    r.gpa = r.uaddr = 1ULL << 63; /* a memfd with no grant table */
    ck_assert_int_eq(vhu_set_mem_table(c, &r, 1), -EIO);
    ck_assert_int_eq(vhu_get_queue_num(c, &nq), 0);
    vhu_close(c);
    /* A frontend that does not ask for it gets the plain layout. */
    c = connect_vhu(f.sock, 1ULL << VHU_PF_REPLY_ACK, &feat, &proto);
    ck_assert_uint_eq(proto & (1ULL << VHU_PF_XEN_MMAP), 0);
    r.xen_mmap_flags = 0;
    ck_assert_int_eq(vhu_set_mem_table(c, &r, 1), 0);
    vhu_close(c);
    close(mfd);
    fixture_down(&f);
}
END_TEST

/* --once: the first disconnect ends the process, exit status 0. */
START_TEST(test_blkd_once)
{
    struct blkd_proc f;
    struct vhu_conn *c;
    uint64_t feat, proto;

    fixture_up(&f, "--once", NULL);
    c = connect_vhu(f.sock, WANT_ALL, &feat, &proto);
    vhu_close(c);
    ck_assert_int_eq(blkd_proc_wait_exit(f.pid, 10000), 0);
    ck_assert_int_ne(access(f.sock, F_OK), 0);
    backend_rmtree(f.dir);
}
END_TEST

/* Bad command lines exit 2; an image that cannot be opened exits 1. */
START_TEST(test_blkd_bad_args)
{
    char *const no_image[] = { (char *)BLKD_PATH, "--socket", "/nonexistent/s",
                               NULL };
    char *const unknown[] = { (char *)BLKD_PATH, "--socket", "/x/s", "--image",
                              "/x/i", "--bogus", NULL };
    char *const missing[] = { (char *)BLKD_PATH, "--socket", "/nonexistent/s",
                              "--image", "/nonexistent/img", NULL };
    char *const probe[] = { (char *)BLKD_PATH, "--socket", "/x/s", "--image",
                            "/x/i", "--probe-gntdev", NULL };
    char *const *cases[] = { no_image, unknown, missing, probe };
    const int want[] = { 2, 2, 1, 2 };

    for (unsigned i = 0; i < 4; i++) {
        pid_t pid = fork();

        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
            int null = open("/dev/null", O_RDWR);

            dup2(null, 2);
            execv(BLKD_PATH, cases[i]);
            _exit(127);
        }
        ck_assert_int_eq(blkd_proc_wait_exit(pid, 5000), want[i]);
    }
}
END_TEST

/* --- malformed messages, on a raw socket --- */

static int
raw_connect(const char *path)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    ck_assert_int_ge(fd, 0);
    ck_assert_uint_lt(strlen(path), sizeof(sa.sun_path));
    memcpy(sa.sun_path, path, strlen(path));
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    return fd;
}

static void
raw_send(int fd, uint32_t req, uint32_t flags, uint32_t size, const void *p,
         uint32_t plen, const int *fds, unsigned nfds)
{
    struct vhu_wire_hdr h = { req, flags, size };
    struct iovec iov[2] = { { &h, sizeof(h) }, { (void *)p, plen } };
    union {
        char buf[CMSG_SPACE(VHU_MAX_FDS * sizeof(int))];
        struct cmsghdr align;
    } ctl;
    struct msghdr mh = { .msg_iov = iov, .msg_iovlen = plen ? 2 : 1 };

    if (nfds) {
        struct cmsghdr *c;

        mh.msg_control = ctl.buf;
        mh.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
        c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
        memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
    }
    ck_assert_int_eq(sendmsg(fd, &mh, MSG_NOSIGNAL),
                     (ssize_t)(sizeof(h) + plen));
}

/*
 * Wait for the backend's answer: 1 with *ack (u64 payload) or *size set,
 * 0 when it closed the connection.
 */
static int
raw_answer(int fd, uint64_t *ack, uint32_t *size)
{
    struct pollfd p = { .fd = fd, .events = POLLIN };
    struct vhu_wire_hdr h;
    uint8_t payload[512];
    ssize_t n;

    ck_assert_int_eq(poll(&p, 1, 5000), 1);
    n = recv(fd, &h, sizeof(h), MSG_WAITALL);
    if (n == 0 || (n < 0 && errno == ECONNRESET)) {
        return 0;
    }
    ck_assert_int_eq(n, sizeof(h));
    ck_assert_uint_eq(h.flags, VHU_FLAG_VERSION | VHU_FLAG_REPLY);
    ck_assert_uint_le(h.size, sizeof(payload));
    if (h.size) {
        ck_assert_int_eq(recv(fd, payload, h.size, MSG_WAITALL), h.size);
    }
    *size = h.size;
    if (h.size == 8) {
        memcpy(ack, payload, 8);
    }
    return 1;
}

enum raw_expect { RAW_DROP, RAW_NACK, RAW_EMPTY };

struct raw_case {
    const char *what;
    uint32_t req, flags, size;
    uint8_t payload[300];
    uint32_t plen;
    unsigned nfds; /* memfds of 1 MiB sent along */
    enum raw_expect expect;
};

static void
put_region(uint8_t *p, unsigned i, uint64_t gpa, uint64_t size, uint64_t ua)
{
    struct vhu_wire_region r = { gpa, size, ua, 0 };

    memcpy(p + sizeof(struct vhu_wire_mem_hdr) + i * sizeof(r), &r, sizeof(r));
}

static void
put_u32s(uint8_t *p, uint32_t a, uint32_t b)
{
    memcpy(p, &a, 4);
    memcpy(p + 4, &b, 4);
}

static void
put_u64(uint8_t *p, uint64_t v)
{
    memcpy(p, &v, 8);
}

#define NR (VHU_FLAG_VERSION | VHU_FLAG_NEED_REPLY)

/* Builds the table of malformed and refused requests; returns its size. */
static unsigned
raw_cases(struct raw_case *c)
{
    unsigned n = 0;

    memset(c, 0, 24 * sizeof(*c));
    c[n++] = (struct raw_case){ "version 2", VHU_REQ_GET_FEATURES, 2, 0,
                                .expect = RAW_DROP };
    c[n++] = (struct raw_case){ "reply flag", VHU_REQ_GET_FEATURES,
                                VHU_FLAG_VERSION | VHU_FLAG_REPLY, 0,
                                .expect = RAW_DROP };
    c[n++] = (struct raw_case){ "oversized payload", VHU_REQ_SET_FEATURES, NR,
                                VHU_MAX_PAYLOAD + 1, .expect = RAW_DROP };
    c[n++] = (struct raw_case){ "SET_FEATURES of 4 bytes", VHU_REQ_SET_FEATURES,
                                NR, 4, .plen = 4, .expect = RAW_DROP };
    c[n] = (struct raw_case){ "SET_VRING_NUM ring 1", VHU_REQ_SET_VRING_NUM, NR,
                              8, .plen = 8, .expect = RAW_DROP };
    put_u32s(c[n++].payload, 1, 256);
    c[n++] = (struct raw_case){ "KICK without fd or NOFD", VHU_REQ_SET_VRING_KICK,
                                NR, 8, .plen = 8, .expect = RAW_DROP };
    c[n] = (struct raw_case){ "CALL with NOFD and an fd", VHU_REQ_SET_VRING_CALL,
                              NR, 8, .plen = 8, .nfds = 1, .expect = RAW_DROP };
    put_u64(c[n++].payload, VHU_VRING_NOFD);
    c[n++] = (struct raw_case){ "GET_FEATURES with an fd", VHU_REQ_GET_FEATURES,
                                NR, 0, .nfds = 1, .expect = RAW_DROP };
    c[n] = (struct raw_case){ "MEM_TABLE of 0 regions", VHU_REQ_SET_MEM_TABLE,
                              NR, 8, .plen = 8, .expect = RAW_DROP };
    put_u32s(c[n++].payload, 0, 0);
    c[n] = (struct raw_case){ "MEM_TABLE of 9 regions", VHU_REQ_SET_MEM_TABLE,
                              NR, 8 + 9 * 32, .plen = 8 + 9 * 32,
                              .expect = RAW_DROP };
    put_u32s(c[n++].payload, 9, 0);
    c[n] = (struct raw_case){ "MEM_TABLE size mismatch", VHU_REQ_SET_MEM_TABLE,
                              NR, 8 + 32, .plen = 8 + 32, .nfds = 2,
                              .expect = RAW_DROP };
    put_u32s(c[n++].payload, 2, 0);
    c[n] = (struct raw_case){ "MEM_TABLE 1 region 2 fds", VHU_REQ_SET_MEM_TABLE,
                              NR, 8 + 32, .plen = 8 + 32, .nfds = 2,
                              .expect = RAW_DROP };
    put_u32s(c[n].payload, 1, 0);
    put_region(c[n++].payload, 0, 0x1000, 0x1000, 0x1000);
    c[n] = (struct raw_case){ "region beyond its memfd", VHU_REQ_SET_MEM_TABLE,
                              NR, 8 + 32, .plen = 8 + 32, .nfds = 1,
                              .expect = RAW_NACK };
    put_u32s(c[n].payload, 1, 0);
    put_region(c[n++].payload, 0, 0, 2 << 20, 0);
    c[n] = (struct raw_case){ "regions overlapping", VHU_REQ_SET_MEM_TABLE, NR,
                              8 + 64, .plen = 8 + 64, .nfds = 2,
                              .expect = RAW_NACK };
    put_u32s(c[n].payload, 2, 0);
    put_region(c[n].payload, 0, 0x100000, 0x80000, 0);
    put_region(c[n++].payload, 1, 0x140000, 0x80000, 0x100000);
    c[n] = (struct raw_case){ "region wrapping", VHU_REQ_SET_MEM_TABLE, NR,
                              8 + 32, .plen = 8 + 32, .nfds = 1,
                              .expect = RAW_NACK };
    put_u32s(c[n].payload, 1, 0);
    put_region(c[n++].payload, 0, ~0ULL - 0xfff, 0x2000, 0);
    c[n] = (struct raw_case){ "5 regions", VHU_REQ_SET_MEM_TABLE, NR,
                              8 + 5 * 32, .plen = 8 + 5 * 32, .nfds = 5,
                              .expect = RAW_NACK };
    put_u32s(c[n].payload, 5, 0);
    for (unsigned i = 0; i < 5; i++) {
        put_region(c[n].payload, i, i * 0x100000ULL, 0x1000, i * 0x100000ULL);
    }
    n++;
    c[n] = (struct raw_case){ "unoffered feature", VHU_REQ_SET_FEATURES, NR, 8,
                              .plen = 8, .expect = RAW_NACK };
    put_u64(c[n++].payload, 1ULL << 40);
    c[n] = (struct raw_case){ "unoffered XEN_MMAP", VHU_REQ_SET_PROTOCOL_FEATURES,
                              NR, 8, .plen = 8, .expect = RAW_NACK };
    put_u64(c[n++].payload, (1ULL << VHU_PF_XEN_MMAP) |
                                (1ULL << VHU_PF_REPLY_ACK));
    c[n] = (struct raw_case){ "ring size 3", VHU_REQ_SET_VRING_NUM, NR, 8,
                              .plen = 8, .expect = RAW_NACK };
    put_u32s(c[n++].payload, 0, 3);
    c[n] = (struct raw_case){ "base 70000", VHU_REQ_SET_VRING_BASE, NR, 8,
                              .plen = 8, .expect = RAW_NACK };
    put_u32s(c[n++].payload, 0, 70000);
    c[n] = (struct raw_case){ "ring log flag", VHU_REQ_SET_VRING_ADDR, NR, 40,
                              .plen = 40, .expect = RAW_NACK };
    put_u32s(c[n++].payload, 0, 1);
    c[n++] = (struct raw_case){ "unknown request", 99, NR, 0, .expect = RAW_NACK };
    c[n] = (struct raw_case){ "config past its end", VHU_REQ_GET_CONFIG, NR,
                              12 + 8, .plen = 12 + 8, .expect = RAW_EMPTY };
    put_u32s(c[n++].payload, 56, 8);
    return n;
}

/*
 * One connection per malformed or refused message: a violation drops the
 * connection, a refusal is a REPLY_ACK of 1; either way the backend goes
 * on serving (a clean handshake afterwards).
 */
START_TEST(test_blkd_bad_messages)
{
    static struct raw_case cases[24];
    struct blkd_proc f;
    unsigned n = raw_cases(cases);

    fixture_up(&f, NULL, NULL);
    for (unsigned i = 0; i < n; i++) {
        const struct raw_case *c = &cases[i];
        uint64_t pf = (1ULL << VHU_PF_REPLY_ACK) | (1ULL << VHU_PF_CONFIG);
        int fds[VHU_MAX_FDS];
        uint64_t ack = 0;
        uint32_t size = 0;
        int fd = raw_connect(f.sock);
        int got;

        for (unsigned k = 0; k < c->nfds; k++) {
            fds[k] = make_memfd(1 << 20);
        }
        raw_send(fd, VHU_REQ_SET_PROTOCOL_FEATURES, VHU_FLAG_VERSION, 8, &pf, 8,
                 NULL, 0);
        raw_send(fd, c->req, c->flags, c->size, c->payload, c->plen, fds,
                 c->nfds);
        got = raw_answer(fd, &ack, &size);
        switch (c->expect) {
        case RAW_DROP:
            ck_assert_msg(got == 0, "%s: connection not dropped", c->what);
            break;
        case RAW_NACK:
            ck_assert_msg(got == 1 && size == 8 && ack != 0,
                          "%s: not refused (got %d, size %u, ack %llu)",
                          c->what, got, size, (unsigned long long)ack);
            break;
        case RAW_EMPTY:
            ck_assert_msg(got == 1 && size == 0, "%s: no empty reply", c->what);
            break;
        }
        for (unsigned k = 0; k < c->nfds; k++) {
            close(fds[k]);
        }
        close(fd);
    }
    {
        uint64_t feat, proto;
        struct vhu_conn *vc = connect_vhu(f.sock, WANT_ALL, &feat, &proto);

        vhu_close(vc);
    }
    fixture_down(&f);
}
END_TEST

static void
check_blkd_proto_add(Suite *s)
{
    CHECK_ADD(s, test_blkd_no_xen_mmap, 30);
    CHECK_ADD(s, test_blkd_xen_mmap_offered, 30);
    CHECK_ADD(s, test_blkd_once, 30);
    CHECK_ADD(s, test_blkd_bad_args, 30);
    CHECK_ADD(s, test_blkd_bad_messages, 60);
}

static Suite *
make_suite(void)
{
    Suite *s = suite_create("blkd");

    CHECK_ADD(s, test_blkd_zerocopy_data, 120);
    CHECK_ADD(s, test_blkd_requests_and_bad_requests, 60);
    CHECK_ADD(s, test_blkd_reset_reinit, 60);
    CHECK_ADD(s, test_blkd_grant_zerocopy_data, 120);
    CHECK_ADD(s, test_blkd_grant_revoked, 60);
    check_blkd_proto_add(s);
    return s;
}

CHECK_MAIN(make_suite)
