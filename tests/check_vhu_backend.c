/*
 * vhu: the backend's request channel (VHU_PF_BACKEND_REQ): handing the
 * backend its end, reading what it sends there with the same strictness
 * as replies, answering it.  The rest of vhu: check_vhu.c.
 */
#include <config.h>

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check_common.h"
#include "vhu.h"
#include "vhu_fake_backend.h"
#include "vhu_wire.h"

#define T_MS 200u
#define PF(b) (1ull << (b))

/*
 * Send a raw backend request on fd: its header (announcing `size` payload
 * bytes), the first `sent` (<= 16) payload bytes, optionally an fd.
 */
static void
breq_send(int fd, uint32_t req, uint32_t flags, uint32_t size, uint32_t sent,
          int pass_fd)
{
    uint8_t buf[sizeof(struct vhu_wire_hdr) + 16] = { 0 };
    struct vhu_wire_hdr hdr = { req, flags, size };
    struct iovec iov = { buf, sizeof(hdr) + sent };
    union {
        char b[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } ctl;
    struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

    memcpy(buf, &hdr, sizeof(hdr));
    if (pass_fd >= 0) {
        struct cmsghdr *cm;

        mh.msg_control = ctl.b;
        mh.msg_controllen = sizeof(ctl.b);
        cm = CMSG_FIRSTHDR(&mh);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(cm), &pass_fd, sizeof(int));
    }
    ck_assert_int_eq(sendmsg(fd, &mh, MSG_NOSIGNAL), (ssize_t)iov.iov_len);
}

/* The u64 answer to request `req` on fd, or -1 when there is none. */
static int64_t
breq_answer(int fd, uint32_t req)
{
    uint8_t buf[sizeof(struct vhu_wire_hdr) + 8];
    struct vhu_wire_hdr hdr;
    uint64_t v;

    if (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) != (ssize_t)sizeof(buf)) {
        return -1;
    }
    memcpy(&hdr, buf, sizeof(hdr));
    memcpy(&v, buf + sizeof(hdr), 8);
    ck_assert_uint_eq(hdr.request, req);
    ck_assert_uint_eq(hdr.flags, VHU_FLAG_VERSION | VHU_FLAG_REPLY);
    ck_assert_uint_eq(hdr.size, 8);
    return (int64_t)v;
}

START_TEST(test_backend_channel)
{
    const uint64_t config_change = PF(VHU_BACKEND_CONFIG_CHANGE_MSG);
    const uint64_t pf = PF(VHU_PF_REPLY_ACK) | PF(VHU_PF_BACKEND_REQ);
    struct vhu_fake_config cfg = { .features = PF(32) | PF(30),
                                   .protocol = pf };
    const struct vhu_fake_msg *m;
    struct vhu_conn *c = NULL, *chan = NULL;
    struct vhu_fake *f = NULL;
    int fds_before = vhu_fake_count_fds();
    uint64_t feat, prot;
    int b, fd = -1;

    ck_assert_int_eq(vhu_fake_start(&f, &cfg, &fd), 0);
    ck_assert_int_eq(vhu_adopt(&c, fd, "test/dev0", T_MS), 0);
    ck_assert_int_eq(vhu_handshake(c, pf, &feat, &prot), 0);
    ck_assert_uint_eq(prot, pf);
    ck_assert_int_eq(vhu_backend_channel(c, &chan), 0);
    vhu_close(c);
    ck_assert_int_eq(vhu_fake_join(f, 2000), 0);
    m = vhu_fake_find(f, VHU_REQ_SET_BACKEND_REQ_FD);
    ck_assert_ptr_nonnull(m);
    ck_assert_uint_eq(m->size, 0);
    ck_assert_uint_eq(m->nfds, 1);
    ck_assert_uint_eq(m->flags, VHU_FLAG_VERSION | VHU_FLAG_NEED_REPLY);
    b = m->fds[0]; /* the backend's end, open until vhu_fake_free */

    /* A config change asking for an answer: answered 0, code returned. */
    breq_send(b, VHU_BACKEND_CONFIG_CHANGE_MSG,
              VHU_FLAG_VERSION | VHU_FLAG_NEED_REPLY, 0, 0, -1);
    ck_assert_int_eq(vhu_backend_request(chan, config_change),
                     VHU_BACKEND_CONFIG_CHANGE_MSG);
    ck_assert_int_eq(breq_answer(b, VHU_BACKEND_CONFIG_CHANGE_MSG), 0);
    /* Not asking: no answer. */
    breq_send(b, VHU_BACKEND_CONFIG_CHANGE_MSG, VHU_FLAG_VERSION, 0, 0, -1);
    ck_assert_int_eq(vhu_backend_request(chan, config_change),
                     VHU_BACKEND_CONFIG_CHANGE_MSG);
    ck_assert_int_eq(breq_answer(b, 0), -1);
    /* A request we do not serve (IOTLB, with payload): refused, 1. */
    breq_send(b, 1, VHU_FLAG_VERSION | VHU_FLAG_NEED_REPLY, 16, 16, -1);
    ck_assert_int_eq(vhu_backend_request(chan, config_change), 1);
    ck_assert_int_eq(breq_answer(b, 1), 1);
    ck_assert(!vhu_broken(chan));
    /* A message flagged as a reply: the channel is broken for good. */
    breq_send(b, VHU_BACKEND_CONFIG_CHANGE_MSG,
              VHU_FLAG_VERSION | VHU_FLAG_REPLY, 0, 0, -1);
    ck_assert_int_eq(vhu_backend_request(chan, config_change), -EPROTO);
    ck_assert(vhu_broken(chan));
    ck_assert_int_eq(vhu_backend_request(chan, config_change), -EPIPE);
    vhu_close(chan);
    vhu_fake_free(f);
    ck_assert_int_eq(vhu_fake_count_fds(), fds_before);
}
END_TEST

/* Requests that break the backend channel, each on a fresh one. */
START_TEST(test_backend_channel_rejects)
{
    static const struct {
        uint32_t flags, size, sent;
        bool with_fd;
        int want;
    } bad[] = {
        { VHU_FLAG_VERSION, VHU_MAX_PAYLOAD + 1, 0, false, -EPROTO },
        { 2, 0, 0, false, -EPROTO },                /* version 2 */
        { VHU_FLAG_VERSION, 0, 0, true, -EPROTO },  /* an fd */
        { VHU_FLAG_VERSION, 8, 0, false, -ETIMEDOUT }, /* payload missing */
    };
    int fds_before = vhu_fake_count_fds();

    for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct vhu_conn *chan;
        int sv[2], extra = eventfd(0, EFD_CLOEXEC);

        ck_assert_int_ge(extra, 0);
        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
                                    sv), 0);
        ck_assert_int_eq(vhu_adopt(&chan, sv[0], "test/backend", T_MS), 0);
        breq_send(sv[1], VHU_BACKEND_CONFIG_CHANGE_MSG, bad[i].flags,
                  bad[i].size, bad[i].sent, bad[i].with_fd ? extra : -1);
        ck_assert_int_eq(vhu_backend_request(chan, ~0ULL), bad[i].want);
        ck_assert(vhu_broken(chan));
        vhu_close(chan);
        close(sv[1]);
        close(extra);
    }
    ck_assert_int_eq(vhu_fake_count_fds(), fds_before);
}
END_TEST

static Suite *
make_suite(void)
{
    Suite *s = suite_create("vhu_backend");

    CHECK_ADD(s, test_backend_channel, 10);
    CHECK_ADD(s, test_backend_channel_rejects, 10);
    return s;
}

CHECK_MAIN(make_suite)
