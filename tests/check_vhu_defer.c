/*
 * Unit tests: vhu's deferred REPLY_ACKs (vhu_defer_acks), the pipelining
 * that lets the relay set a device up without waiting in a trap.  The
 * backend is the test itself on the other end of a socketpair: it writes
 * each reply when the test says so, so the order of events is fixed.
 */
#include <config.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check_common.h"
#include "log.h"
#include "vhu.h"
#include "vhu_wire.h"

#define T_MS 200u
#define PF(b) (1ull << (b))

struct px {
    struct vhu_conn *c;
    int peer; /* the backend's end */
};

/* Write one reply (flags: reply, version) with a payload on the peer end. */
static void
px_reply(struct px *x, uint32_t req, const void *p, uint32_t len)
{
    uint8_t buf[sizeof(struct vhu_wire_hdr) + 64];
    struct vhu_wire_hdr hdr = { req, VHU_FLAG_VERSION | VHU_FLAG_REPLY,
                                len };

    memcpy(buf, &hdr, sizeof(hdr));
    memcpy(buf + sizeof(hdr), p, len);
    ck_assert_int_eq(send(x->peer, buf, sizeof(hdr) + len, MSG_NOSIGNAL),
                     (ssize_t)(sizeof(hdr) + len));
}

static void
px_ack(struct px *x, uint32_t req, uint64_t status)
{
    px_reply(x, req, &status, sizeof(status));
}

/* Read one request off the peer end; its fds are closed. */
static struct vhu_wire_hdr
px_read(struct px *x)
{
    uint8_t buf[sizeof(struct vhu_wire_hdr) + 256];
    union {
        char b[CMSG_SPACE(sizeof(int) * VHU_MAX_FDS)];
        struct cmsghdr align;
    } ctl;
    struct iovec iov = { buf, sizeof(struct vhu_wire_hdr) };
    struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
                         .msg_control = ctl.b,
                         .msg_controllen = sizeof(ctl.b) };
    struct vhu_wire_hdr hdr;

    ck_assert_int_eq(recvmsg(x->peer, &mh, MSG_DONTWAIT), sizeof(hdr));
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm;
         cm = CMSG_NXTHDR(&mh, cm)) {
        size_t n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);

        for (size_t i = 0; i < n; i++) {
            int fd;

            memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
            close(fd);
        }
    }
    memcpy(&hdr, buf, sizeof(hdr));
    ck_assert_uint_le(hdr.size, 256);
    if (hdr.size) {
        ck_assert_int_eq(recv(x->peer, buf, hdr.size, MSG_DONTWAIT), hdr.size);
    }
    return hdr;
}

/*
 * A connection with REPLY_ACK negotiated: the handshake's three replies
 * are written before it runs, so it never waits.
 */
static void
px_start(struct px *x)
{
    uint64_t f = PF(32) | PF(VHU_F_PROTOCOL_FEATURES);
    uint64_t pf = PF(VHU_PF_REPLY_ACK);
    uint64_t features, protocol;
    int sv[2];

    signal(SIGPIPE, SIG_DFL); /* an unguarded send would kill the test */
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    x->peer = sv[1];
    ck_assert_int_eq(vhu_adopt(&x->c, sv[0], "test/defer", T_MS), 0);
    px_reply(x, VHU_REQ_GET_FEATURES, &f, sizeof(f));
    px_reply(x, VHU_REQ_GET_PROTOCOL_FEATURES, &pf, sizeof(pf));
    px_ack(x, VHU_REQ_SET_OWNER, 0);
    ck_assert_int_eq(vhu_handshake(x->c, pf, &features, &protocol), 0);
    ck_assert_uint_eq(protocol, pf);
    for (unsigned i = 0; i < 4; i++) {
        (void)px_read(x);
    }
}

static void
px_end(struct px *x)
{
    vhu_close(x->c);
    close(x->peer);
}

/*
 * Three requests go out at once, each asking for an ack; the acks are
 * taken as they arrive, never waited for, and a refusal in the middle is
 * reported by vhu_take_refused() while the connection stays usable.
 */
START_TEST(test_acks_taken_as_they_arrive)
{
    struct px x;
    struct vhu_wire_hdr h;
    int kick = eventfd(0, EFD_CLOEXEC);
    uint64_t t0;

    px_start(&x);
    vhu_defer_acks(x.c, true);
    t0 = log_now_ns();
    ck_assert_int_eq(vhu_set_vring_num(x.c, 0, 64), 0);
    ck_assert_int_eq(vhu_set_vring_addr(x.c, 0, 0x1000, 0x3000, 0x2000), 0);
    ck_assert_int_eq(vhu_set_vring_kick(x.c, 0, kick), 0);
    ck_assert_uint_lt(log_now_ns() - t0, T_MS * 1000000ULL / 2);
    ck_assert_uint_eq(vhu_pending(x.c), 3);
    ck_assert_uint_eq(vhu_deferred(x.c), 3);
    h = px_read(&x);
    ck_assert_uint_eq(h.request, VHU_REQ_SET_VRING_NUM);
    ck_assert(h.flags & VHU_FLAG_NEED_REPLY);
    ck_assert_uint_eq(px_read(&x).request, VHU_REQ_SET_VRING_ADDR);
    ck_assert_uint_eq(px_read(&x).request, VHU_REQ_SET_VRING_KICK);

    ck_assert_int_eq(vhu_collect(x.c), 3); /* nothing arrived: no wait */
    px_ack(&x, VHU_REQ_SET_VRING_NUM, 0);
    ck_assert_int_eq(vhu_collect(x.c), 2);
    ck_assert_uint_eq(vhu_acked(x.c), 1);
    ck_assert_uint_eq(vhu_take_refused(x.c), 0);
    px_ack(&x, VHU_REQ_SET_VRING_ADDR, 1);
    px_ack(&x, VHU_REQ_SET_VRING_KICK, 0);
    ck_assert_int_eq(vhu_collect(x.c), 0);
    ck_assert_uint_eq(vhu_acked(x.c), 3);
    ck_assert_uint_eq(vhu_take_refused(x.c), VHU_REQ_SET_VRING_ADDR);
    ck_assert_uint_eq(vhu_take_refused(x.c), 0);
    ck_assert(!vhu_broken(x.c));

    /* Off again: a refusal is the request's own result. */
    vhu_defer_acks(x.c, false);
    px_ack(&x, VHU_REQ_SET_VRING_ENABLE, 1);
    ck_assert_int_eq(vhu_set_vring_enable(x.c, 0, true), -EIO);
    close(kick);
    px_end(&x);
}
END_TEST

/* A request with a natural reply first takes the acks owed before it. */
START_TEST(test_reply_after_owed_acks)
{
    struct px x;
    struct vhu_wire_state st = { 0, 7 };
    unsigned base = 0;

    px_start(&x);
    vhu_defer_acks(x.c, true);
    ck_assert_int_eq(vhu_set_features(x.c, PF(32)), 0);
    ck_assert_int_eq(vhu_set_vring_base(x.c, 0, 0), 0);
    px_ack(&x, VHU_REQ_SET_FEATURES, 0);
    px_ack(&x, VHU_REQ_SET_VRING_BASE, 0);
    px_reply(&x, VHU_REQ_GET_VRING_BASE, &st, sizeof(st));
    ck_assert_int_eq(vhu_get_vring_base(x.c, 0, &base), 0);
    ck_assert_uint_eq(base, 7);
    ck_assert_uint_eq(vhu_pending(x.c), 0);
    ck_assert_uint_eq(vhu_acked(x.c), 2);
    px_end(&x);
}
END_TEST

/* An owed ack that never comes: the next waiting request times out. */
START_TEST(test_owed_ack_never_comes)
{
    struct px x;
    unsigned base = 0;
    uint64_t t0;

    px_start(&x);
    vhu_defer_acks(x.c, true);
    ck_assert_int_eq(vhu_set_vring_num(x.c, 0, 64), 0);
    t0 = log_now_ns();
    ck_assert_int_eq(vhu_get_vring_base(x.c, 0, &base), -ETIMEDOUT);
    ck_assert_uint_ge(log_now_ns() - t0, T_MS * 1000000ULL);
    ck_assert(vhu_broken(x.c));
    ck_assert_int_eq(vhu_collect(x.c), -EPIPE);
    px_end(&x);
}
END_TEST

/* The reply to another request where an ack is owed: broken for good. */
START_TEST(test_owed_ack_wrong_request)
{
    struct px x;

    px_start(&x);
    vhu_defer_acks(x.c, true);
    ck_assert_int_eq(vhu_set_vring_num(x.c, 0, 64), 0);
    px_ack(&x, VHU_REQ_SET_VRING_ADDR, 0);
    ck_assert_int_eq(vhu_collect(x.c), -EPROTO);
    ck_assert(vhu_broken(x.c));
    ck_assert_int_eq(vhu_set_vring_num(x.c, 0, 64), -EPIPE);
    px_end(&x);
}
END_TEST

/* Half an ack, then the backend hangs up: broken, not a busy wait. */
START_TEST(test_owed_ack_cut_short)
{
    struct px x;
    struct vhu_wire_hdr hdr = { VHU_REQ_SET_VRING_NUM,
                                VHU_FLAG_VERSION | VHU_FLAG_REPLY, 8 };

    px_start(&x);
    vhu_defer_acks(x.c, true);
    ck_assert_int_eq(vhu_set_vring_num(x.c, 0, 64), 0);
    ck_assert_int_eq(send(x.peer, &hdr, sizeof(hdr), MSG_NOSIGNAL),
                     sizeof(hdr));
    shutdown(x.peer, SHUT_WR);
    ck_assert_int_eq(vhu_collect(x.c), -EPIPE);
    ck_assert(vhu_broken(x.c));
    px_end(&x);
}
END_TEST

/* More requests than acks can be owed: the oldest is taken first. */
START_TEST(test_owed_acks_bounded)
{
    struct px x;

    px_start(&x);
    vhu_defer_acks(x.c, true);
    for (unsigned i = 0; i < 200; i++) {
        px_ack(&x, VHU_REQ_SET_VRING_NUM, 0);
    }
    for (unsigned i = 0; i < 200; i++) {
        ck_assert_int_eq(vhu_set_vring_num(x.c, 0, 64), 0);
        ck_assert_uint_le(vhu_pending(x.c), 128);
    }
    ck_assert_uint_eq(vhu_acked(x.c) + vhu_pending(x.c), 200);
    ck_assert_int_eq(vhu_collect(x.c), 0);
    ck_assert_uint_eq(vhu_acked(x.c), 200);
    px_end(&x);
}
END_TEST

/*
 * GET_VRING_BASE with its reply owed: returns once sent (acks off), the
 * reply is taken when it arrives, behind the acks owed before it, and
 * its base kept for its ring; vhu_settle() waits for one not yet sent.
 */
START_TEST(test_vring_base_owed)
{
    struct px x;
    struct vhu_wire_state st = { 2, 9 }, st0 = { 0, 4 };

    px_start(&x);
    vhu_defer_acks(x.c, true);
    ck_assert_int_eq(vhu_set_vring_num(x.c, 2, 64), 0);
    vhu_defer_acks(x.c, false);
    ck_assert_int_eq(vhu_request_vring_base(x.c, 2), 0);
    ck_assert_uint_eq(vhu_pending(x.c), 2);
    ck_assert_uint_eq(vhu_pending_bases(x.c), 1);
    ck_assert_uint_eq(vhu_deferred(x.c), 2);
    ck_assert_int_eq(vhu_collect(x.c), 2);
    px_ack(&x, VHU_REQ_SET_VRING_NUM, 0);
    px_reply(&x, VHU_REQ_GET_VRING_BASE, &st, sizeof(st));
    ck_assert_int_eq(vhu_collect(x.c), 0);
    ck_assert_uint_eq(vhu_acked(x.c), 2);
    ck_assert_uint_eq(vhu_pending_bases(x.c), 0);
    ck_assert_uint_eq(vhu_vring_base(x.c, 2), 9);
    ck_assert_uint_eq(vhu_take_refused(x.c), 0);
    ck_assert_int_eq(vhu_request_vring_base(x.c, 0), 0);
    px_reply(&x, VHU_REQ_GET_VRING_BASE, &st0, sizeof(st0));
    ck_assert_int_eq(vhu_settle(x.c), 0);
    ck_assert_uint_eq(vhu_vring_base(x.c, 0), 4);
    px_end(&x);
}
END_TEST

/* An owed GET_VRING_BASE answered for another ring breaks the connection. */
START_TEST(test_vring_base_owed_wrong_ring)
{
    struct px x;
    struct vhu_wire_state st = { 1, 9 };

    px_start(&x);
    ck_assert_int_eq(vhu_request_vring_base(x.c, 0), 0);
    px_reply(&x, VHU_REQ_GET_VRING_BASE, &st, sizeof(st));
    ck_assert_int_eq(vhu_collect(x.c), -EPROTO);
    ck_assert(vhu_broken(x.c));
    px_end(&x);
}
END_TEST

static Suite *
make_suite(void)
{
    Suite *s = suite_create("vhu_defer");

    CHECK_ADD(s, test_acks_taken_as_they_arrive, 10);
    CHECK_ADD(s, test_reply_after_owed_acks, 10);
    CHECK_ADD(s, test_owed_ack_never_comes, 10);
    CHECK_ADD(s, test_owed_ack_wrong_request, 10);
    CHECK_ADD(s, test_owed_ack_cut_short, 10);
    CHECK_ADD(s, test_owed_acks_bounded, 10);
    CHECK_ADD(s, test_vring_base_owed, 10);
    CHECK_ADD(s, test_vring_base_owed_wrong_ring, 10);
    return s;
}

CHECK_MAIN(make_suite)
