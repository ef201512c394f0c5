/*
 * Unit tests: vhu, the vhost-user frontend, against the scripted fake
 * backend (every request, every misbehaviour) and against a real
 * qemu-storage-daemon when one is installed.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check_common.h"
#include "log.h"
#include "vhu.h"
#include "vhu_fake_backend.h"
#include "vhu_wire.h"

#define T_MS 200u

#define PF(b) (1ull << (b))
#define ALL_PF                                                                 \
    (PF(VHU_PF_MQ) | PF(VHU_PF_REPLY_ACK) | PF(VHU_PF_CONFIG) |                \
     PF(VHU_PF_RESET_DEVICE) | PF(VHU_PF_STATUS))
#define DEV_FEATURES (PF(32) | PF(VHU_F_PROTOCOL_FEATURES) | PF(1))

struct fx {
    struct vhu_fake *f;
    struct vhu_conn *c;
    int fds_before;
};

static void
fx_config(struct vhu_fake_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->features = DEV_FEATURES;
    cfg->protocol = ALL_PF | PF(VHU_PF_LOG_SHMFD);
    cfg->queue_num = 2;
    cfg->vring_base = 42;
    for (unsigned i = 0; i < sizeof(cfg->config); i++) {
        cfg->config[i] = (uint8_t)(i * 7 + 1);
    }
}

static void
fx_start(struct fx *x, const struct vhu_fake_config *cfg)
{
    int fd = -1;

    x->fds_before = vhu_fake_count_fds();
    ck_assert_int_ge(x->fds_before, 0);
    ck_assert_int_eq(vhu_fake_start(&x->f, cfg, &fd), 0);
    ck_assert_int_eq(vhu_adopt(&x->c, fd, "test/dev0", T_MS), 0);
}

/* Close the frontend and wait for the backend: its record is complete. */
static void
fx_stop(struct fx *x)
{
    vhu_close(x->c);
    x->c = NULL;
    ck_assert_int_eq(vhu_fake_join(x->f, 2000), 0);
}

/* Free the backend and check no fd outlived the test. */
static void
fx_end(struct fx *x)
{
    if (x->c != NULL) {
        fx_stop(x);
    }
    vhu_fake_free(x->f);
    x->f = NULL;
    ck_assert_int_eq(vhu_fake_count_fds(), x->fds_before);
}

static int
fx_handshake(struct fx *x, uint64_t want)
{
    uint64_t f = 0, p = 0;

    return vhu_handshake(x->c, want, &f, &p);
}

/* ---- positive ---- */

START_TEST(test_handshake)
{
    struct vhu_fake_config cfg;
    const struct vhu_fake_msg *m;
    struct fx x;
    uint64_t f = 0, p = 0, v;

    fx_config(&cfg);
    fx_start(&x, &cfg);
    ck_assert_int_eq(vhu_handshake(x.c, ALL_PF | PF(VHU_PF_XEN_MMAP), &f, &p),
                     0);
    ck_assert_uint_eq(f, DEV_FEATURES);
    ck_assert_uint_eq(p, ALL_PF); /* LOG_SHMFD not wanted, XEN not offered */
    ck_assert_uint_eq(vhu_protocol(x.c), ALL_PF);
    ck_assert(!vhu_broken(x.c));
    fx_stop(&x);

    ck_assert_uint_eq(vhu_fake_count(x.f), 4);
    m = vhu_fake_msg(x.f, 0);
    ck_assert_uint_eq(m->request, VHU_REQ_GET_FEATURES);
    ck_assert_uint_eq(m->flags, VHU_FLAG_VERSION);
    ck_assert_uint_eq(m->size, 0);
    m = vhu_fake_msg(x.f, 1);
    ck_assert_uint_eq(m->request, VHU_REQ_GET_PROTOCOL_FEATURES);
    m = vhu_fake_msg(x.f, 2);
    ck_assert_uint_eq(m->request, VHU_REQ_SET_PROTOCOL_FEATURES);
    ck_assert_uint_eq(m->flags, VHU_FLAG_VERSION); /* ack not yet agreed */
    ck_assert_uint_eq(m->size, 8);
    memcpy(&v, m->payload, 8);
    ck_assert_uint_eq(v, ALL_PF);
    m = vhu_fake_msg(x.f, 3);
    ck_assert_uint_eq(m->request, VHU_REQ_SET_OWNER);
    ck_assert_uint_eq(m->flags, VHU_FLAG_VERSION | VHU_FLAG_NEED_REPLY);
    ck_assert_uint_eq(m->size, 0);
    fx_end(&x);
}
END_TEST

START_TEST(test_handshake_no_protocol_features)
{
    struct vhu_fake_config cfg;
    struct fx x;
    uint64_t f = 0, p = 1;

    fx_config(&cfg);
    cfg.features = PF(32);
    fx_start(&x, &cfg);
    ck_assert_int_eq(vhu_handshake(x.c, ALL_PF, &f, &p), 0);
    ck_assert_uint_eq(p, 0);
    /* Requests gated on protocol features are refused locally. */
    ck_assert_int_eq(vhu_set_vring_enable(x.c, 0, true), -EOPNOTSUPP);
    ck_assert_int_eq(vhu_get_queue_num(x.c, &f), -EOPNOTSUPP);
    ck_assert(!vhu_broken(x.c));
    fx_stop(&x);
    ck_assert_uint_eq(vhu_fake_count(x.f), 2);
    ck_assert_uint_eq(vhu_fake_msg(x.f, 1)->request, VHU_REQ_SET_OWNER);
    ck_assert_uint_eq(vhu_fake_msg(x.f, 1)->flags, VHU_FLAG_VERSION);
    fx_end(&x);
}
END_TEST

/* Every request, REPLY_ACK negotiated, checking the bytes that arrive. */
START_TEST(test_all_requests)
{
    struct vhu_fake_config cfg;
    const struct vhu_fake_msg *m;
    struct vhu_region reg[2];
    struct vhu_wire_region wr[2];
    struct vhu_wire_mem_hdr mh;
    struct vhu_wire_state st;
    struct vhu_wire_addr ad;
    struct vhu_wire_config_hdr ch;
    uint8_t cfgbuf[60], setbuf[4] = { 9, 8, 7, 6 };
    uint64_t v, qn = 0;
    unsigned base = 0;
    int mem = memfd_create("t-ram", MFD_CLOEXEC);
    int kick = eventfd(0, EFD_CLOEXEC);
    struct fx x;

    ck_assert_int_ge(mem, 0);
    ck_assert_int_ge(kick, 0);
    fx_config(&cfg);
    fx_start(&x, &cfg);
    ck_assert_int_eq(fx_handshake(&x, ALL_PF), 0);

    ck_assert_int_eq(vhu_get_queue_num(x.c, &qn), 0);
    ck_assert_uint_eq(qn, 2);
    ck_assert_int_eq(vhu_set_features(x.c, PF(32) | PF(30)), 0);
    memset(reg, 0, sizeof(reg));
    reg[0] = (struct vhu_region){ .gpa = 0x40000000, .len = 0x100000,
                                  .uaddr = 0x7f0000000000, .mmap_off = 0,
                                  .fd = mem };
    reg[1] = (struct vhu_region){ .gpa = 0x200000000ull, .len = 0x2000,
                                  .uaddr = 0x7f1000000000, .mmap_off = 0x100000,
                                  .fd = mem, .xen_mmap_flags = 1,
                                  .xen_domid = 7 };
    /* Without XEN_MMAP the plain layout cannot say how to map a region
     * that needs Xen mapping: refused, nothing sent. */
    ck_assert_int_eq(vhu_set_mem_table(x.c, reg, 2), -EPROTO);
    ck_assert(!vhu_broken(x.c));
    reg[1].xen_mmap_flags = 0;
    ck_assert_int_eq(vhu_set_mem_table(x.c, reg, 2), 0);
    ck_assert_int_eq(vhu_set_vring_num(x.c, 1, 256), 0);
    ck_assert_int_eq(vhu_set_vring_addr(x.c, 1, 0x1000, 0x3000, 0x2000), 0);
    ck_assert_int_eq(vhu_set_vring_base(x.c, 1, 5), 0);
    ck_assert_int_eq(vhu_set_vring_kick(x.c, 1, kick), 0);
    ck_assert_int_eq(vhu_set_vring_call(x.c, 1, -1), 0);
    ck_assert_int_eq(vhu_set_vring_enable(x.c, 1, true), 0);
    ck_assert_int_eq(vhu_get_vring_base(x.c, 1, &base), 0);
    ck_assert_uint_eq(base, 42);
    ck_assert_int_eq(vhu_get_config(x.c, 4, cfgbuf, sizeof(cfgbuf)), 0);
    ck_assert_mem_eq(cfgbuf, cfg.config + 4, sizeof(cfgbuf));
    ck_assert_int_eq(vhu_set_config(x.c, 20, setbuf, sizeof(setbuf)), 0);
    ck_assert(!vhu_broken(x.c));
    fx_stop(&x);

    /* Requests without a natural reply asked for an ack; others did not. */
    for (unsigned i = 4; i < vhu_fake_count(x.f); i++) {
        uint32_t rq = vhu_fake_msg(x.f, i)->request;
        bool natural = rq == VHU_REQ_GET_QUEUE_NUM ||
                       rq == VHU_REQ_GET_VRING_BASE ||
                       rq == VHU_REQ_GET_CONFIG;

        ck_assert_uint_eq(vhu_fake_msg(x.f, i)->flags,
                          VHU_FLAG_VERSION |
                              (natural ? 0 : VHU_FLAG_NEED_REPLY));
    }
    m = vhu_fake_find(x.f, VHU_REQ_SET_FEATURES);
    memcpy(&v, m->payload, 8);
    ck_assert_uint_eq(v, PF(32) | PF(30));

    m = vhu_fake_find(x.f, VHU_REQ_SET_MEM_TABLE);
    ck_assert_uint_eq(m->size, 8 + 2 * 32); /* plain layout: 32 bytes each */
    memcpy(&mh, m->payload, sizeof(mh));
    ck_assert_uint_eq(mh.nregions, 2);
    memcpy(wr, m->payload + 8, sizeof(wr));
    ck_assert_uint_eq(wr[0].gpa, 0x40000000);
    ck_assert_uint_eq(wr[0].size, 0x100000);
    ck_assert_uint_eq(wr[0].uaddr, 0x7f0000000000);
    ck_assert_uint_eq(wr[1].gpa, 0x200000000ull);
    ck_assert_uint_eq(wr[1].mmap_off, 0x100000);
    ck_assert_uint_eq(m->nfds, 2);
    ck_assert(check_same_file(m->fds[0], mem));
    ck_assert(check_same_file(m->fds[1], mem));

    m = vhu_fake_find(x.f, VHU_REQ_SET_VRING_NUM);
    memcpy(&st, m->payload, sizeof(st));
    ck_assert_uint_eq(st.index, 1);
    ck_assert_uint_eq(st.num, 256);
    m = vhu_fake_find(x.f, VHU_REQ_SET_VRING_ADDR);
    ck_assert_uint_eq(m->size, 40);
    memcpy(&ad, m->payload, sizeof(ad));
    ck_assert_uint_eq(ad.index, 1);
    ck_assert_uint_eq(ad.desc, 0x1000);
    ck_assert_uint_eq(ad.used, 0x3000);
    ck_assert_uint_eq(ad.avail, 0x2000);
    m = vhu_fake_find(x.f, VHU_REQ_SET_VRING_BASE);
    memcpy(&st, m->payload, sizeof(st));
    ck_assert_uint_eq(st.num, 5);
    m = vhu_fake_find(x.f, VHU_REQ_SET_VRING_KICK);
    memcpy(&v, m->payload, 8);
    ck_assert_uint_eq(v, 1);
    ck_assert_uint_eq(m->nfds, 1);
    ck_assert(check_same_file(m->fds[0], kick));
    m = vhu_fake_find(x.f, VHU_REQ_SET_VRING_CALL);
    memcpy(&v, m->payload, 8);
    ck_assert_uint_eq(v, 1 | VHU_VRING_NOFD);
    ck_assert_uint_eq(m->nfds, 0);
    m = vhu_fake_find(x.f, VHU_REQ_SET_VRING_ENABLE);
    memcpy(&st, m->payload, sizeof(st));
    ck_assert_uint_eq(st.index, 1);
    ck_assert_uint_eq(st.num, 1);
    m = vhu_fake_find(x.f, VHU_REQ_GET_CONFIG);
    ck_assert_uint_eq(m->size, 12 + 60);
    memcpy(&ch, m->payload, sizeof(ch));
    ck_assert_uint_eq(ch.off, 4);
    ck_assert_uint_eq(ch.size, 60);
    m = vhu_fake_find(x.f, VHU_REQ_SET_CONFIG);
    ck_assert_uint_eq(m->size, 12 + 4);
    memcpy(&ch, m->payload, sizeof(ch));
    ck_assert_uint_eq(ch.off, 20);
    ck_assert_uint_eq(ch.flags, 0);
    ck_assert_mem_eq(m->payload + 12, setbuf, 4);
    fx_end(&x);
    close(kick);
    close(mem);
}
END_TEST

/* XEN_MMAP negotiated: 40-byte regions carrying flags and domid. */
START_TEST(test_mem_table_xen_layout)
{
    struct vhu_fake_config cfg;
    const struct vhu_fake_msg *m;
    struct vhu_wire_region_xen wr[2];
    struct vhu_region reg[2];
    int priv = memfd_create("t-privcmd", MFD_CLOEXEC);
    struct fx x;

    fx_config(&cfg);
    cfg.protocol |= PF(VHU_PF_XEN_MMAP);
    fx_start(&x, &cfg);
    ck_assert_int_eq(fx_handshake(&x, PF(VHU_PF_XEN_MMAP)), 0);
    ck_assert_uint_eq(vhu_protocol(x.c), PF(VHU_PF_XEN_MMAP));
    memset(reg, 0, sizeof(reg));
    reg[0] = (struct vhu_region){ .gpa = 0x40000000, .len = 0x10000000,
                                  .uaddr = 0x40000000, .fd = priv,
                                  .xen_mmap_flags = VHU_XEN_MMAP_FOREIGN,
                                  .xen_domid = 5 };
    reg[1] = (struct vhu_region){ .gpa = 0x200000000ull, .len = 0x1000,
                                  .uaddr = 0x200000000ull, .fd = priv,
                                  .xen_mmap_flags = VHU_XEN_MMAP_GRANT |
                                                    VHU_XEN_MMAP_NO_ADVANCE_MAP,
                                  .xen_domid = 5 };
    ck_assert_int_eq(vhu_set_mem_table(x.c, reg, 2), 0);
    /* Neither or both of FOREIGN/GRANT: refused before sending. */
    reg[0].xen_mmap_flags = 0;
    ck_assert_int_eq(vhu_set_mem_table(x.c, reg, 1), -EINVAL);
    reg[0].xen_mmap_flags = VHU_XEN_MMAP_FOREIGN | VHU_XEN_MMAP_GRANT;
    ck_assert_int_eq(vhu_set_mem_table(x.c, reg, 1), -EINVAL);
    ck_assert(!vhu_broken(x.c));
    fx_stop(&x);

    m = vhu_fake_find(x.f, VHU_REQ_SET_MEM_TABLE);
    ck_assert_uint_eq(m->size, 8 + 2 * 40);
    ck_assert_uint_eq(m->flags, VHU_FLAG_VERSION); /* no REPLY_ACK here */
    memcpy(wr, m->payload + 8, sizeof(wr));
    ck_assert_uint_eq(wr[0].gpa, 0x40000000);
    ck_assert_uint_eq(wr[0].size, 0x10000000);
    ck_assert_uint_eq(wr[0].xen_mmap_flags, 1);
    ck_assert_uint_eq(wr[0].xen_mmap_data, 5);
    ck_assert_uint_eq(wr[1].gpa, 0x200000000ull);
    ck_assert_uint_eq(wr[1].xen_mmap_flags, 0x2 | 0x8);
    ck_assert_uint_eq(wr[1].xen_mmap_data, 5);
    ck_assert_uint_eq(m->nfds, 2);
    ck_assert(check_same_file(m->fds[0], priv));
    ck_assert_uint_eq(vhu_fake_count(x.f), 5); /* nothing sent when refused */
    fx_end(&x);
    close(priv);
}
END_TEST

/* Caller mistakes: -EINVAL, nothing sent, connection fine. */
START_TEST(test_bad_arguments)
{
    struct vhu_fake_config cfg;
    struct vhu_region reg[VHU_MAX_REGIONS + 1];
    uint8_t buf[300];
    struct fx x;

    fx_config(&cfg);
    fx_start(&x, &cfg);
    ck_assert_int_eq(fx_handshake(&x, ALL_PF), 0);
    memset(reg, 0, sizeof(reg));
    for (unsigned i = 0; i < VHU_MAX_REGIONS + 1; i++) {
        reg[i].fd = 0;
        reg[i].len = 1;
    }
    ck_assert_int_eq(vhu_set_mem_table(x.c, reg, 0), -EINVAL);
    ck_assert_int_eq(vhu_set_mem_table(x.c, reg, VHU_MAX_REGIONS + 1),
                     -EINVAL);
    reg[0].fd = -1;
    ck_assert_int_eq(vhu_set_mem_table(x.c, reg, 1), -EINVAL);
    ck_assert_int_eq(vhu_set_vring_kick(x.c, 256, -1), -EINVAL);
    ck_assert_int_eq(vhu_get_config(x.c, 0, buf, 0), -EINVAL);
    ck_assert_int_eq(vhu_get_config(x.c, 0, buf, 257), -EINVAL);
    ck_assert_int_eq(vhu_set_config(x.c, 0, buf, 257), -EINVAL);
    ck_assert_int_eq(vhu_set_features(x.c, PF(33)), -EINVAL);
    ck_assert(!vhu_broken(x.c));
    fx_stop(&x);
    ck_assert_uint_eq(vhu_fake_count(x.f), 4);
    fx_end(&x);
}
END_TEST

/* ---- backend refusing one request: -EIO, connection kept ---- */

START_TEST(test_nack_keeps_connection)
{
    struct vhu_fake_config cfg;
    struct fx x;
    uint64_t qn = 0;

    fx_config(&cfg);
    cfg.fault_request = VHU_REQ_SET_VRING_NUM;
    cfg.fault = VHU_FAKE_NACK;
    fx_start(&x, &cfg);
    ck_assert_int_eq(fx_handshake(&x, ALL_PF), 0);
    ck_assert_int_eq(vhu_set_vring_num(x.c, 0, 128), -EIO);
    ck_assert(!vhu_broken(x.c));
    ck_assert_int_eq(vhu_get_queue_num(x.c, &qn), 0);
    ck_assert_uint_eq(qn, 2);
    fx_end(&x);
}
END_TEST

START_TEST(test_config_error_keeps_connection)
{
    struct vhu_fake_config cfg;
    uint8_t buf[8];
    struct fx x;

    fx_config(&cfg);
    cfg.fault_request = VHU_REQ_GET_CONFIG;
    cfg.fault = VHU_FAKE_CONFIG_ERROR;
    fx_start(&x, &cfg);
    ck_assert_int_eq(fx_handshake(&x, ALL_PF), 0);
    ck_assert_int_eq(vhu_get_config(x.c, 0, buf, sizeof(buf)), -EIO);
    ck_assert(!vhu_broken(x.c));
    ck_assert_int_eq(vhu_set_vring_num(x.c, 0, 128), 0);
    fx_end(&x);
}
END_TEST

/* ---- misbehaviour: right error, sticky, no fd leak ---- */

enum op {
    OP_HANDSHAKE,
    OP_QUEUE_NUM,
    OP_VRING_NUM,
    OP_VRING_BASE,
    OP_CONFIG,
};

static int
run_op(struct fx *x, enum op op)
{
    uint8_t buf[60];
    uint64_t v;
    unsigned base;
    int r = fx_handshake(x, ALL_PF);

    if (r < 0 || op == OP_HANDSHAKE) {
        return r;
    }
    switch (op) {
    case OP_QUEUE_NUM:
        return vhu_get_queue_num(x->c, &v);
    case OP_VRING_NUM:
        return vhu_set_vring_num(x->c, 0, 128);
    case OP_VRING_BASE:
        return vhu_get_vring_base(x->c, 0, &base);
    case OP_CONFIG:
        return vhu_get_config(x->c, 0, buf, sizeof(buf));
    default:
        return -ENOSYS;
    }
}

static void
misbehave(uint32_t req, enum vhu_fake_fault fault, enum op op, int want)
{
    struct vhu_fake_config cfg;
    uint64_t v;
    struct fx x;

    fx_config(&cfg);
    cfg.fault_request = req;
    cfg.fault = fault;
    fx_start(&x, &cfg);
    ck_assert_int_eq(run_op(&x, op), want);
    ck_assert(vhu_broken(x.c));
    /* Sticky: every later call refuses without touching the socket. */
    ck_assert_int_eq(vhu_get_queue_num(x.c, &v), -EPIPE);
    ck_assert_int_eq(vhu_set_vring_num(x.c, 0, 64), -EPIPE);
    ck_assert_int_eq(fx_handshake(&x, ALL_PF), -EPIPE);
    fx_end(&x);
}

START_TEST(test_wrong_request_code)
{
    misbehave(VHU_REQ_GET_FEATURES, VHU_FAKE_WRONG_REQUEST, OP_HANDSHAKE,
              -EPROTO);
}
END_TEST

START_TEST(test_reply_flag_missing)
{
    misbehave(VHU_REQ_GET_PROTOCOL_FEATURES, VHU_FAKE_NO_REPLY_FLAG,
              OP_HANDSHAKE, -EPROTO);
}
END_TEST

START_TEST(test_size_disagrees)
{
    misbehave(VHU_REQ_GET_QUEUE_NUM, VHU_FAKE_BAD_SIZE, OP_QUEUE_NUM, -EPROTO);
}
END_TEST

START_TEST(test_size_above_bound)
{
    misbehave(VHU_REQ_GET_VRING_BASE, VHU_FAKE_HUGE_SIZE, OP_VRING_BASE,
              -EPROTO);
}
END_TEST

START_TEST(test_ack_size_disagrees)
{
    misbehave(VHU_REQ_SET_VRING_NUM, VHU_FAKE_BAD_SIZE, OP_VRING_NUM, -EPROTO);
}
END_TEST

START_TEST(test_short_payload_then_close)
{
    misbehave(VHU_REQ_GET_QUEUE_NUM, VHU_FAKE_SHORT_PAYLOAD, OP_QUEUE_NUM,
              -EPIPE);
}
END_TEST

START_TEST(test_too_many_fds)
{
    misbehave(VHU_REQ_GET_QUEUE_NUM, VHU_FAKE_EXTRA_FD, OP_QUEUE_NUM, -EPROTO);
}
END_TEST

START_TEST(test_fd_with_ack)
{
    misbehave(VHU_REQ_SET_VRING_NUM, VHU_FAKE_EXTRA_FD, OP_VRING_NUM, -EPROTO);
}
END_TEST

START_TEST(test_truncated_control_data)
{
    misbehave(VHU_REQ_GET_QUEUE_NUM, VHU_FAKE_CTRUNC, OP_QUEUE_NUM, -EPROTO);
}
END_TEST

START_TEST(test_silence_times_out)
{
    uint64_t t0 = log_now_ns();
    uint64_t ms;

    misbehave(VHU_REQ_GET_VRING_BASE, VHU_FAKE_SILENT, OP_VRING_BASE,
              -ETIMEDOUT);
    ms = (log_now_ns() - t0) / 1000000u;
    ck_assert_uint_ge(ms, T_MS);
    ck_assert_uint_lt(ms, 5 * T_MS);
}
END_TEST

/* A deadline sooner than timeout_ms bounds the request instead. */
START_TEST(test_deadline_caps_timeout)
{
    struct vhu_fake_config cfg;
    struct fx x;
    unsigned base;
    uint64_t t0, ms;

    fx_config(&cfg);
    cfg.fault_request = VHU_REQ_GET_VRING_BASE;
    cfg.fault = VHU_FAKE_SILENT;
    fx_start(&x, &cfg);
    ck_assert_int_eq(fx_handshake(&x, ALL_PF), 0);
    t0 = log_now_ns();
    vhu_set_deadline(x.c, t0 + 30 * 1000000ULL);
    ck_assert_int_eq(vhu_get_vring_base(x.c, 0, &base), -ETIMEDOUT);
    ms = (log_now_ns() - t0) / 1000000u;
    ck_assert_uint_ge(ms, 30);
    ck_assert_uint_lt(ms, T_MS);
    ck_assert(vhu_broken(x.c));
    fx_end(&x);
}
END_TEST

START_TEST(test_close_mid_reply)
{
    misbehave(VHU_REQ_GET_FEATURES, VHU_FAKE_CLOSE_MID_REPLY, OP_HANDSHAKE,
              -EPIPE);
}
END_TEST

START_TEST(test_close_instead_of_reply)
{
    misbehave(VHU_REQ_GET_CONFIG, VHU_FAKE_CLOSE, OP_CONFIG, -EPIPE);
}
END_TEST

START_TEST(test_vring_base_wrong_index)
{
    misbehave(VHU_REQ_GET_VRING_BASE, VHU_FAKE_WRONG_INDEX, OP_VRING_BASE,
              -EPROTO);
}
END_TEST

START_TEST(test_config_wrong_offset)
{
    misbehave(VHU_REQ_GET_CONFIG, VHU_FAKE_CONFIG_WRONG_OFF, OP_CONFIG,
              -EPROTO);
}
END_TEST

/* Writing after the backend closed: -EPIPE, and the process lives on. */
START_TEST(test_no_sigpipe)
{
    struct vhu_fake_config cfg;
    struct fx x;

    signal(SIGPIPE, SIG_DFL);
    fx_config(&cfg);
    cfg.fault_request = VHU_REQ_SET_FEATURES;
    cfg.fault = VHU_FAKE_CLOSE;
    fx_start(&x, &cfg);
    ck_assert_int_eq(fx_handshake(&x, PF(VHU_PF_MQ)), 0); /* no REPLY_ACK */
    ck_assert_int_eq(vhu_set_features(x.c, PF(32)), 0);   /* peer closes */
    ck_assert_int_eq(vhu_fake_join(x.f, 2000), 0);
    ck_assert_int_eq(vhu_set_vring_num(x.c, 0, 64), -EPIPE);
    ck_assert(vhu_broken(x.c));
    ck_assert_int_eq(vhu_set_vring_num(x.c, 0, 64), -EPIPE);
    fx_end(&x);
}
END_TEST

/* ---- a real backend: qemu-storage-daemon's vhost-user-blk export ---- */

#define QSD_IMG_BYTES (64ull << 20)

/* Find an executable in $XVM_QSD or along $PATH; false if absent. */
static bool
find_qsd(char *out, size_t n)
{
    const char *env = getenv("XVM_QSD");
    const char *path = getenv("PATH");
    char dirs[4096];
    char *save = NULL;

    if (env != NULL && *env != '\0') {
        snprintf(out, n, "%s", env);
        return access(out, X_OK) == 0;
    }
    snprintf(dirs, sizeof(dirs), "%s:/usr/bin:/usr/local/bin",
             path ? path : "");
    for (char *d = strtok_r(dirs, ":", &save); d != NULL;
         d = strtok_r(NULL, ":", &save)) {
        if ((size_t)snprintf(out, n, "%s/qemu-storage-daemon", d) < n &&
            access(out, X_OK) == 0) {
            return true;
        }
    }
    return false;
}

static pid_t
qsd_spawn(const char *qsd, const char *img, const char *sock)
{
    char bd[PATH_MAX + 64], ex[PATH_MAX + 128];
    pid_t pid;

    snprintf(bd, sizeof(bd), "driver=file,node-name=f0,filename=%s", img);
    snprintf(ex, sizeof(ex),
             "type=vhost-user-blk,id=e0,node-name=f0,addr.type=unix,"
             "addr.path=%s,writable=on", sock);
    pid = fork();
    if (pid == 0) {
        /* Dies with the test process even if an assertion ends it early. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        execl(qsd, qsd, "--blockdev", bd, "--export", ex, (char *)NULL);
        _exit(127);
    }
    return pid;
}

static void
qsd_stop(pid_t pid)
{
    int status;

    kill(pid, SIGTERM);
    for (int i = 0; i < 300; i++) {
        if (waitpid(pid, &status, WNOHANG) == pid) {
            return;
        }
        usleep(10000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
}

START_TEST(test_qemu_storage_daemon)
{
    char qsd[PATH_MAX], dir[PATH_MAX], img[PATH_MAX + 16], sock[PATH_MAX + 16];
    const char *tmp = getenv("TMPDIR");
    struct vhu_conn *c = NULL;
    uint64_t f = 0, p = 0, qn = 0, cap;
    uint8_t cfg[60];
    int fd, r = -1;
    pid_t pid;

    if (!find_qsd(qsd, sizeof(qsd))) {
        printf("SKIP test_qemu_storage_daemon: qemu-storage-daemon not found "
               "(PATH or $XVM_QSD)\n");
        return;
    }
    snprintf(dir, sizeof(dir), "%s/xvm-vhu-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(img, sizeof(img), "%s/disk.raw", dir);
    snprintf(sock, sizeof(sock), "%s/vhu.sock", dir);
    fd = open(img, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(ftruncate(fd, (off_t)QSD_IMG_BYTES), 0);
    close(fd);

    pid = qsd_spawn(qsd, img, sock);
    ck_assert_int_gt(pid, 0);
    /* Wait (bounded: 10 s) for the export to listen. */
    for (int i = 0; i < 1000; i++) {
        int status;

        r = vhu_connect(&c, sock, "qsd/blk0", 2000);
        if (r == 0) {
            break;
        }
        ck_assert_msg(waitpid(pid, &status, WNOHANG) == 0,
                      "qemu-storage-daemon exited early");
        usleep(10000);
    }
    ck_assert_int_eq(r, 0);

    ck_assert_int_eq(vhu_handshake(c, PF(VHU_PF_MQ) | PF(VHU_PF_REPLY_ACK) |
                                          PF(VHU_PF_CONFIG),
                                   &f, &p),
                     0);
    ck_assert(f & PF(VHU_F_PROTOCOL_FEATURES));
    ck_assert(p & PF(VHU_PF_CONFIG));
    ck_assert(p & PF(VHU_PF_REPLY_ACK)); /* SET_OWNER went with an ack */
    ck_assert_int_eq(vhu_get_queue_num(c, &qn), 0);
    ck_assert_uint_ge(qn, 1);
    ck_assert_int_eq(vhu_get_config(c, 0, cfg, sizeof(cfg)), 0);
    memcpy(&cap, cfg, sizeof(cap)); /* virtio is little-endian, as is host */
    ck_assert_uint_eq(cap, QSD_IMG_BYTES / 512);
    ck_assert(!vhu_broken(c));
    vhu_close(c);

    qsd_stop(pid);
    unlink(sock);
    unlink(img);
    rmdir(dir);
}
END_TEST

static Suite *
make_suite(void)
{
    Suite *s = suite_create("vhu");

    CHECK_ADD(s, test_handshake, 10);
    CHECK_ADD(s, test_handshake_no_protocol_features, 10);
    CHECK_ADD(s, test_all_requests, 10);
    CHECK_ADD(s, test_mem_table_xen_layout, 10);
    CHECK_ADD(s, test_bad_arguments, 10);
    CHECK_ADD(s, test_nack_keeps_connection, 10);
    CHECK_ADD(s, test_config_error_keeps_connection, 10);
    CHECK_ADD(s, test_wrong_request_code, 10);
    CHECK_ADD(s, test_reply_flag_missing, 10);
    CHECK_ADD(s, test_size_disagrees, 10);
    CHECK_ADD(s, test_size_above_bound, 10);
    CHECK_ADD(s, test_ack_size_disagrees, 10);
    CHECK_ADD(s, test_short_payload_then_close, 10);
    CHECK_ADD(s, test_too_many_fds, 10);
    CHECK_ADD(s, test_fd_with_ack, 10);
    CHECK_ADD(s, test_truncated_control_data, 10);
    CHECK_ADD(s, test_silence_times_out, 10);
    CHECK_ADD(s, test_deadline_caps_timeout, 10);
    CHECK_ADD(s, test_close_mid_reply, 10);
    CHECK_ADD(s, test_close_instead_of_reply, 10);
    CHECK_ADD(s, test_vring_base_wrong_index, 10);
    CHECK_ADD(s, test_config_wrong_offset, 10);
    CHECK_ADD(s, test_no_sigpipe, 10);
    CHECK_ADD(s, test_qemu_storage_daemon, 30);
    return s;
}

CHECK_MAIN(make_suite)
