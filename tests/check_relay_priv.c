/*
 * Privilege of what a zero-copy backend receives (bad-input checklist
 * item 26), end to end through the relay: a simulated guest shares its
 * RAM the way hv_xen does (hv_sim_share_privcmd) through a fake privcmd
 * device, and a backend offering XEN_MMAP records the identity of every
 * fd SET_MEM_TABLE brings it.  Each fd must be a privcmd file restricted
 * to exactly this guest; our own copy must be closed once sent; a device
 * that cannot restrict, or a fd that lost its restriction, must mean that
 * no privcmd fd reaches the backend at all.  In shadow mode the one fd is
 * the relay's shadow memfd, which the backend must not be able to resize.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "check_common.h"
#include "fake_privcmd.h"
#include "hguest.h"
#include "hostile_backend.h"
#include "vmmio.h"

#define DOM 9u
#define WANT (1ULL << VIRTIO_F_VERSION_1)
#define ST_OK                                                                  \
    (VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |                        \
     VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK)

struct env {
    struct hguest g;
    struct fake_privcmd f;
    struct hostile *hb;
    struct hdev d;
    char sock[300];
};

/* Guest sharing through a fake privcmd in `mode`; backend offers XEN_MMAP. */
static int
env_open(struct env *e, enum fake_privcmd_mode mode)
{
    struct hostile_config hc = { .fill = 0x5a, .xen_mmap = true };

    ck_assert_int_eq(hguest_new(&e->g, 0), 0);
    fake_privcmd_init(&e->f, mode);
    snprintf(e->sock, sizeof(e->sock), "%s/xen-mmap.sock", e->g.dir);
    hc.sock_path = e->sock;
    ck_assert_int_eq(hostile_start(&e->hb, &hc), 0);
    return hv_sim_share_privcmd(e->g.sim, &e->f.ops, DOM);
}

/* A working fake device: the relay chooses zero-copy by itself. */
static void
env_open_zerocopy(struct env *e)
{
    ck_assert_int_eq(env_open(e, FAKE_PRIVCMD_OK), 0);
    ck_assert_int_eq(hdev_open(&e->d, &e->g, 0, e->sock, RELAY_MODE_AUTO,
                               NULL), 0);
    ck_assert_int_eq(relay_mode(e->d.relay), RELAY_MODE_ZEROCOPY);
}

static void
env_close(struct env *e)
{
    hdev_close(&e->d);
    hostile_stop(e->hb);
    hguest_free(&e->g);
}

/* How many fds the last SET_MEM_TABLE carried that are privcmd files. */
static unsigned
privcmd_fds_sent(struct env *e, unsigned *tables, bool *all_restricted)
{
    struct hostile_fd_id ids[8];
    unsigned nfds, n = 0;

    *tables = hostile_mem_table_fds(e->hb, ids, 8, &nfds);
    *all_restricted = nfds > 0;
    for (unsigned i = 0; i < nfds && i < 8; i++) {
        if (fake_privcmd_owns(&e->f, ids[i].dev, ids[i].ino)) {
            n++;
            *all_restricted &=
                fake_privcmd_domid(&e->f, ids[i].dev, ids[i].ino) == DOM;
        } else {
            *all_restricted = false;
        }
    }
    return n;
}

START_TEST(test_zerocopy_backend_gets_restricted_fd)
{
    struct env e;
    unsigned tables, sent;
    bool restricted;

    env_open_zerocopy(&e);
    /* Two sessions: each SET_MEM_TABLE carries a restricted fd. */
    for (unsigned round = 1; round <= 2; round++) {
        ck_assert_uint_eq(rawdrv_init(&e.d.drv, WANT, 64), ST_OK);
        sent = privcmd_fds_sent(&e, &tables, &restricted);
        ck_assert_uint_eq(tables, round);
        ck_assert_uint_ge(sent, 1);
        ck_assert_msg(restricted, "round %u: a fd not restricted to dom%u "
                      "reached SET_MEM_TABLE", round, DOM);
        /* Left open: the guest's template alone (ours was closed once
         * sent, the backend closed what it received). */
        ck_assert_uint_eq(fake_privcmd_open_fds(&e.f), 1);
    }
    env_close(&e);
}
END_TEST

/* No RESTRICT in the kernel, or a RESTRICT that does nothing: shadow. */
START_TEST(test_unrestrictable_device_means_no_privcmd_fd)
{
    static const enum fake_privcmd_mode modes[] = { FAKE_PRIVCMD_OLD_KERNEL,
                                                    FAKE_PRIVCMD_LYING };

    for (unsigned i = 0; i < 2; i++) {
        struct env e;
        struct hdev zc;
        unsigned tables, sent;
        bool restricted;

        ck_assert_int_lt(env_open(&e, modes[i]), 0);
        ck_assert_int_eq(hdev_open(&zc, &e.g, 1, e.sock, RELAY_MODE_ZEROCOPY,
                                   NULL), -ENOTSUP);
        ck_assert_int_eq(hdev_open(&e.d, &e.g, 0, e.sock, RELAY_MODE_AUTO,
                                   NULL), 0);
        ck_assert_int_eq(relay_mode(e.d.relay), RELAY_MODE_SHADOW);
        ck_assert_uint_eq(rawdrv_init(&e.d.drv, WANT, 64), ST_OK);
        sent = privcmd_fds_sent(&e, &tables, &restricted);
        ck_assert_uint_eq(tables, 1);
        ck_assert_uint_eq(sent, 0);
        ck_assert_uint_eq(fake_privcmd_open_fds(&e.f), 0);
        env_close(&e);
    }
}
END_TEST

/* The restriction is checked before each send, not only at open. */
START_TEST(test_fd_that_lost_restriction_is_not_sent)
{
    struct env e;
    unsigned tables, sent;
    bool restricted;

    env_open_zerocopy(&e);
    e.f.file[0].domid = PRIVFD_DOMID_INVALID; /* as if never restricted */
    ck_assert(rawdrv_init(&e.d.drv, WANT, 64) & VIRTIO_STATUS_NEEDS_RESET);
    sent = privcmd_fds_sent(&e, &tables, &restricted);
    ck_assert_uint_eq(tables, 0);
    ck_assert_uint_eq(sent, 0);
    ck_assert_uint_eq(fake_privcmd_open_fds(&e.f), 1);
    env_close(&e);
}
END_TEST

/* Shadow mode: the shadow memfd is sealed against shrinking and growing. */
START_TEST(test_shadow_memfd_cannot_be_resized)
{
    struct env e;
    struct hostile_fd_id ids[8];
    unsigned nfds;
    const int want = F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL;

    ck_assert_int_eq(env_open(&e, FAKE_PRIVCMD_OLD_KERNEL), -ENOTTY);
    ck_assert_int_eq(hdev_open(&e.d, &e.g, 0, e.sock, RELAY_MODE_SHADOW,
                               NULL), 0);
    ck_assert_uint_eq(rawdrv_init(&e.d.drv, WANT, 64), ST_OK);
    ck_assert_uint_eq(hostile_mem_table_fds(e.hb, ids, 8, &nfds), 1);
    ck_assert_uint_eq(nfds, 1);
    ck_assert_msg(ids[0].seals != -1 && (ids[0].seals & want) == want,
                  "shadow memfd seals %#x, want %#x", (unsigned)ids[0].seals,
                  (unsigned)want);
    env_close(&e);
}
END_TEST

static Suite *
make_suite(void)
{
    Suite *s = suite_create("relay_priv");

    CHECK_ADD(s, test_zerocopy_backend_gets_restricted_fd, 20);
    CHECK_ADD(s, test_unrestrictable_device_means_no_privcmd_fd, 20);
    CHECK_ADD(s, test_fd_that_lost_restriction_is_not_sent, 20);
    CHECK_ADD(s, test_shadow_memfd_cannot_be_resized, 20);
    return s;
}

CHECK_MAIN(make_suite)
