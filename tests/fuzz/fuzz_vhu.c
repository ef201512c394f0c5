/*
 * fuzz_vhu: libFuzzer target for vhu's reply decoder and for the
 * backend's request channel.
 *
 * The input plays the backend: its bytes arrive on the frontend's socket
 * (through a socketpair) while vhu runs a fixed conversation covering every
 * request that reads a reply: handshake, queue count, ring base, config,
 * and acked requests; or, when byte 0 is 0x80 or more, while vhu reads
 * requests from it as from a backend request channel until it breaks.
 * Input layout:
 *   byte 0      number of fds to attach (modulo FUZZ_MAX_FDS + 1; above 8
 *               the frontend sees truncated control data); bit 7: mode
 *   bytes 1..2  offset (le16) into the rest where those fds ride
 *   rest        the backend's byte stream, followed by EOF
 * The fds are memfds of 64 KiB.
 * XVM_FUZZ_LOG=1 in the environment logs every rejection.
 * Checked: no crash or sanitizer report, and no fd left open afterwards.
 *
 * Build and run (see src/vhost/vhost.am):
 *   make fuzz-vhu
 *   tests/fuzz/fuzz_vhu -max_total_time=60 -max_len=4096 \
 *       <srcdir>/tests/fuzz/corpus/vhu
 */
#include <config.h>

#include <dirent.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "vhu.h"

#define FUZZ_MAX_INPUT 32768
#define FUZZ_MEMFD_BYTES 65536
#define FUZZ_MAX_FDS 12

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int n = 0;

    if (d == NULL) {
        abort();
    }
    while ((e = readdir(d)) != NULL) {
        n += e->d_name[0] != '.';
    }
    closedir(d);
    return n;
}

static int
send_chunk(int fd, const uint8_t *p, size_t len, const int *fds, unsigned n)
{
    union {
        char buf[CMSG_SPACE(sizeof(int) * FUZZ_MAX_FDS)];
        struct cmsghdr align;
    } ctl;
    struct iovec iov = { .iov_base = (void *)p, .iov_len = len };
    struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

    if (len == 0) {
        return 0;
    }
    if (n > 0) {
        struct cmsghdr *cm;

        memset(&ctl, 0, sizeof(ctl));
        mh.msg_control = ctl.buf;
        mh.msg_controllen = CMSG_SPACE(sizeof(int) * n);
        cm = CMSG_FIRSTHDR(&mh);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(int) * n);
        memcpy(CMSG_DATA(cm), fds, sizeof(int) * n);
    }
    return sendmsg(fd, &mh, MSG_NOSIGNAL) == (ssize_t)len ? 0 : -1;
}

static void
converse(struct vhu_conn *c)
{
    uint64_t f, p, v;
    uint8_t cfg[60];
    unsigned base;
    int kick = -1;
    struct vhu_region reg = { .gpa = 0x40000000, .len = 0x1000, .fd = 0,
                              .xen_mmap_flags = VHU_XEN_MMAP_FOREIGN };

    vhu_handshake(c, ~0ull, &f, &p);
    vhu_get_queue_num(c, &v);
    vhu_get_vring_base(c, 0, &base);
    vhu_get_config(c, 0, cfg, sizeof(cfg));
    vhu_set_features(c, f);
    vhu_set_vring_num(c, 0, 4);
    vhu_set_vring_addr(c, 0, 0x1000, 0x2000, 0x3000);
    vhu_set_vring_base(c, 0, 0);
    vhu_set_vring_call(c, 0, -1);
    vhu_set_vring_enable(c, 0, true);
    vhu_set_mem_table(c, &reg, 1);
    vhu_set_vring_kick(c, 0, kick);
    vhu_set_config(c, 0, cfg, 4);
    vhu_get_vring_base(c, 1, &base);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fds[FUZZ_MAX_FDS];
    struct vhu_conn *c = NULL;
    unsigned nfds;
    size_t off;
    int before, sv[2];
    bool mode_backend;

    if (size < 3 || size > FUZZ_MAX_INPUT) {
        return 0;
    }
    /* XVM_FUZZ_LOG=1 shows why each reply was rejected (reproducing). */
    log_set_level(getenv("XVM_FUZZ_LOG") ? LOG_LVL_DEBUG : LOG_LVL_ERR);
    before = count_fds();
    nfds = data[0] % (FUZZ_MAX_FDS + 1);
    mode_backend = data[0] >= 0x80;
    off = (size_t)data[1] | (size_t)data[2] << 8;
    data += 3;
    size -= 3;
    if (off > size) {
        off = size;
    }
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
        abort();
    }
    for (unsigned i = 0; i < nfds; i++) {
        fds[i] = memfd_create("fuzz", MFD_CLOEXEC);
        if (fds[i] < 0 || ftruncate(fds[i], FUZZ_MEMFD_BYTES) < 0) {
            abort();
        }
    }
    if (send_chunk(sv[1], data, off, NULL, 0) < 0 ||
        send_chunk(sv[1], data + off, size - off, fds,
                   off < size ? nfds : 0) < 0) {
        abort();
    }
    for (unsigned i = 0; i < nfds; i++) {
        close(fds[i]);
    }
    shutdown(sv[1], SHUT_WR); /* the frontend sees EOF after the input */

    if (vhu_adopt(&c, sv[0], "fuzz", 100) != 0) {
        abort();
    }
    if (mode_backend) {
        /* The input is what a backend sends on its request channel. */
        while (vhu_backend_request(c, ~0ULL) >= 0) {
        }
    } else {
        converse(c);
    }
    vhu_close(c);
    close(sv[1]); /* drops any fds vhu never read */
    if (count_fds() != before) {
        abort(); /* an fd leaked */
    }
    return 0;
}
