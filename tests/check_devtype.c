/* Unit tests: per-device-type layouts and profiles (devtype, netctrl). */
#include <config.h>

#include <errno.h>
#include <string.h>

#include "check_common.h"
#include "devtype.h"
#include "netctrl.h"

#define BIT(n) (1ULL << (n))

/* devtype_fill for `id` with settings s (NULL: defaults); must succeed. */
static void
fill(struct relay_config *rc, uint32_t id, const struct devtype_settings *s,
     struct devtype_config *st)
{
    const char *why = "?";
    int rc_ = devtype_fill(rc, id, s, st, &why);

    ck_assert_msg(rc_ == 0, "type %u: %s", id, why ? why : "?");
    ck_assert_ptr_null(why);
}

/* devtype_fill must refuse s for id, naming why. */
static void
refuse(uint32_t id, const struct devtype_settings *s)
{
    struct relay_config rc = { 0 };
    struct devtype_config st;
    const char *why = NULL;

    ck_assert_int_eq(devtype_fill(&rc, id, s, &st, &why), -EINVAL);
    ck_assert_ptr_nonnull(why);
}

START_TEST(test_blk_asks_backend_for_config)
{
    struct relay_config rc = { 0 };
    struct devtype_settings s = { .queues = 4 };
    struct devtype_config st;

    fill(&rc, DEVTYPE_BLK, NULL, &st);
    ck_assert_uint_eq(rc.config_len, 60);
    ck_assert_ptr_null(rc.config);
    ck_assert(rc.config_required && !rc.own_config);
    ck_assert_uint_eq(rc.nr_queues, 0);      /* the backend's count */
    ck_assert_uint_eq(rc.queue_num_unit, 0);
    fill(&rc, DEVTYPE_BLK, &s, &st);
    ck_assert_uint_eq(rc.nr_queues, 4);      /* checked against its count */
    ck_assert_uint_eq(rc.queue_num_unit, 1);
    /* and the guest is shown that many in num_queues */
    ck_assert_uint_eq(rc.queue_count_off, DEVTYPE_BLK_NUM_QUEUES_OFF);
}
END_TEST

START_TEST(test_fs_config_synthesised)
{
    struct relay_config rc = { 0 };
    struct devtype_settings s = { .fs_tag = "share0" };
    struct devtype_config st;

    fill(&rc, DEVTYPE_FS, &s, &st);
    ck_assert_uint_eq(rc.config_len, 40);
    ck_assert_ptr_eq(rc.config, st.bytes);
    ck_assert(rc.own_config);
    ck_assert_str_eq((const char *)st.bytes, "share0");
    ck_assert_uint_eq(st.bytes[36], 1);
    ck_assert_uint_eq(rc.nr_queues, 2);
    fill(&rc, DEVTYPE_FS, NULL, &st);
    ck_assert_str_eq((const char *)st.bytes, DEVTYPE_FS_TAG_DEFAULT);
    s.queues = 3; /* hiprio + 3 request queues */
    fill(&rc, DEVTYPE_FS, &s, &st);
    ck_assert_uint_eq(rc.nr_queues, 4);
    ck_assert_uint_eq(st.bytes[36], 3);
}
END_TEST

START_TEST(test_fs_tag_bounds)
{
    struct relay_config rc = { 0 };
    struct devtype_settings s = { 0 };
    struct devtype_config st;

    memset(s.fs_tag, 'a', 36);
    fill(&rc, DEVTYPE_FS, &s, &st);
    ck_assert_mem_eq(st.bytes, s.fs_tag, 36);  /* exactly 36: no terminator */
    ck_assert_uint_eq(st.bytes[36], 1);
}
END_TEST

/* Checklist 27 and issue 12 item 6: features the relayed bytes carry. */
START_TEST(test_features_fit_config_len)
{
    struct relay_config rc = { 0 };
    struct devtype_config st;
    uint64_t blk;

    fill(&rc, DEVTYPE_BLK, NULL, &st);
    blk = rc.device_features;
    ck_assert(rc.mask_features);
    ck_assert_uint_eq(blk, devtype_features(DEVTYPE_BLK, 60));
    /* 60 bytes end after the write-zeroes fields. */
    for (unsigned b = 0; b <= 15; b++) {
        ck_assert_msg(blk & (1ULL << b), "blk bit %u masked", b);
    }
    ck_assert(!(blk & (1ULL << 16)));   /* SECURE_ERASE: bytes 60-71 */
    ck_assert(!(blk & (1ULL << 17)));   /* ZONED: bytes 72-95 */
    ck_assert(blk & (1ULL << 23));      /* bits without config fields */
    ck_assert_uint_eq(blk & ~DEVTYPE_DEVICE_BITS, 0);
    /* A longer window would carry them. */
    ck_assert(devtype_features(DEVTYPE_BLK, 96) & (1ULL << 17));
    ck_assert(!(devtype_features(DEVTYPE_BLK, 95) & (1ULL << 17)));
    ck_assert(devtype_features(DEVTYPE_BLK, 72) & (1ULL << 16));
    ck_assert(!(devtype_features(DEVTYPE_BLK, 32) & (1ULL << 11)));
    /* virtio-fs: 40 synthesised bytes carry no notify_buf_size. */
    fill(&rc, DEVTYPE_FS, NULL, &st);
    ck_assert(rc.mask_features);
    ck_assert_uint_eq(rc.device_features, 0);
    /* balloon: 8 bytes, no hint or poison fields */
    ck_assert(!(devtype_features(DEVTYPE_BALLOON, 8) & (1ULL << 3)));
    ck_assert(!(devtype_features(DEVTYPE_BALLOON, 8) & (1ULL << 4)));
    /* No table: 0. */
    ck_assert_uint_eq(devtype_features(DEVTYPE_RNG, 0), 0);
    ck_assert_uint_eq(devtype_features(999, 0), 0);
    /* An unprofiled type without a table: every bit passes. */
    fill(&rc, 999, NULL, &st);
    ck_assert(!rc.mask_features);
}
END_TEST

START_TEST(test_writable_fields)
{
    struct relay_config rc = { 0 };
    struct devtype_config st;

    fill(&rc, DEVTYPE_BLK, NULL, &st);
    ck_assert_uint_eq(rc.nr_writable, 1);
    ck_assert_uint_eq(rc.writable[0].off, 32);
    ck_assert_uint_eq(rc.writable[0].len, 1);
    ck_assert_int_eq(rc.writable[0].feature, 11);
    for (uint32_t id = 0; id < 64; id++) {
        fill(&rc, id, NULL, &st);
        ck_assert_uint_eq(rc.writable == NULL, rc.nr_writable == 0);
        for (unsigned i = 0; i < rc.nr_writable; i++) {
            /* inside what is relayed, and within a feature's reach */
            ck_assert_uint_le(rc.writable[i].off + rc.writable[i].len,
                              rc.config_len);
            ck_assert_int_lt(rc.writable[i].feature, 24);
        }
    }
    fill(&rc, DEVTYPE_NET, NULL, &st);
    ck_assert_uint_eq(rc.nr_writable, 0);
    fill(&rc, DEVTYPE_FS, NULL, &st);
    ck_assert_uint_eq(rc.nr_writable, 0);
}
END_TEST

/* Issue 14: net queues are pairs plus the control queue the daemon serves;
 * config from the settings; control features the daemon's. */
START_TEST(test_net_profile)
{
    struct relay_config rc = { 0 };
    struct devtype_settings s = {
        .queues = 2, .has_mac = true, .mac = { 0x52, 0x54, 0, 1, 2, 3 },
        .mtu = 9000,
    };
    struct devtype_config st;
    static const uint8_t want[12] = { 0x52, 0x54, 0, 1, 2, 3,
                                      1, 0,          /* status: link up */
                                      2, 0,          /* max pairs */
                                      0x28, 0x23 };  /* mtu 9000 */

    fill(&rc, DEVTYPE_NET, &s, &st);
    ck_assert_uint_eq(rc.nr_queues, 5);
    ck_assert_uint_eq(rc.queue_num_unit, 2); /* GET_QUEUE_NUM counts pairs */
    ck_assert_ptr_nonnull(rc.own);
    ck_assert(rc.own_config);
    ck_assert_uint_eq(rc.config_len, 12);
    ck_assert_mem_eq(st.bytes, want, 12);
    ck_assert(rc.own_features & BIT(NETCTRL_F_CTRL_VQ));
    ck_assert(rc.own_features & BIT(NETCTRL_F_MAC));
    ck_assert(rc.own_features & BIT(NETCTRL_F_MTU));
    ck_assert(rc.own_features & BIT(NETCTRL_F_STATUS));
    ck_assert(rc.device_features & BIT(NETCTRL_F_MQ));
    ck_assert(rc.device_features & BIT(NETCTRL_F_MRG_RXBUF));
    /* never from the backend: offloads control, RSS-less MQ commands */
    ck_assert(!(rc.device_features & BIT(NETCTRL_F_CTRL_GUEST_OFFLOADS)));
    ck_assert(!(rc.device_features & BIT(NETCTRL_F_MTU)));
    ck_assert(!(rc.device_features & BIT(NETCTRL_F_CTRL_VQ)));
    /* defaults: one pair, no MQ, no MAC or MTU offered */
    fill(&rc, DEVTYPE_NET, NULL, &st);
    ck_assert_uint_eq(rc.nr_queues, 3);
    ck_assert(!(rc.device_features & BIT(NETCTRL_F_MQ)));
    ck_assert(!(rc.own_features & (BIT(NETCTRL_F_MAC) | BIT(NETCTRL_F_MTU))));
    ck_assert_uint_eq(st.bytes[8], 1);
}
END_TEST

START_TEST(test_fixed_layouts)
{
    static const struct {
        uint32_t id;
        unsigned queues;
        uint32_t config_len;
    } t[] = {
        { DEVTYPE_RNG, 1, 0 },   { DEVTYPE_VSOCK, 3, 8 },
        { DEVTYPE_SOUND, 4, 12 }, { DEVTYPE_SCMI, 2, 0 },
        { DEVTYPE_I2C, 1, 0 },   { DEVTYPE_GPIO, 2, 8 },
    };
    struct relay_config rc = { 0 };
    struct devtype_config st;

    for (unsigned i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        fill(&rc, t[i].id, NULL, &st);
        ck_assert_uint_eq(rc.nr_queues, t[i].queues);
        ck_assert_uint_eq(rc.queue_num_unit, 1);
        ck_assert_uint_eq(rc.config_len, t[i].config_len);
        ck_assert_ptr_null(rc.own);
        ck_assert(rc.mask_features);
    }
    fill(&rc, DEVTYPE_RNG, NULL, &st);
    ck_assert_uint_eq(rc.device_features, 0);
    ck_assert(!rc.config_required);
    fill(&rc, DEVTYPE_GPIO, NULL, &st);
    ck_assert(rc.config_required); /* ngpio: only the backend knows */
}
END_TEST

START_TEST(test_vsock_cid)
{
    struct relay_config rc = { 0 };
    struct devtype_settings s = { .guest_cid = 0x1234 };
    struct devtype_config st;

    fill(&rc, DEVTYPE_VSOCK, NULL, &st);  /* the backend's config */
    ck_assert_ptr_null(rc.config);
    ck_assert(rc.config_required && !rc.own_config);
    fill(&rc, DEVTYPE_VSOCK, &s, &st);
    ck_assert_ptr_eq(rc.config, st.bytes);
    ck_assert(rc.own_config);
    ck_assert_uint_eq(st.bytes[0], 0x34);
    ck_assert_uint_eq(st.bytes[1], 0x12);
    ck_assert_uint_eq(st.bytes[2], 0);
}
END_TEST

START_TEST(test_settings_refused)
{
    struct devtype_settings s;

    memset(&s, 0, sizeof(s));
    s.queues = 16;                    /* 2 * 16 + 1 > 32 queues */
    refuse(DEVTYPE_NET, &s);
    s.queues = 32;
    refuse(DEVTYPE_FS, &s);
    memset(&s, 0, sizeof(s));
    s.mtu = 67;
    refuse(DEVTYPE_NET, &s);
    s.mtu = 1500;
    refuse(DEVTYPE_BLK, &s);          /* not a net device */
    memset(&s, 0, sizeof(s));
    s.guest_cid = 2;
    refuse(DEVTYPE_VSOCK, &s);
    s.guest_cid = 0x100000000ULL;
    refuse(DEVTYPE_VSOCK, &s);
    s.guest_cid = 3;
    refuse(DEVTYPE_NET, &s);
    memset(&s, 0, sizeof(s));
    s.has_mac = true;
    s.mac[0] = 1;                     /* multicast */
    refuse(DEVTYPE_NET, &s);
    memset(&s, 0, sizeof(s));
    memcpy(s.fs_tag, "x", 2);
    refuse(DEVTYPE_BLK, &s);
    s.fs_tag[0] = '\0';
    s.queues = 2;
    refuse(DEVTYPE_RNG, &s);
    refuse(999, &s);                  /* unprofiled: takes nothing */
}
END_TEST

START_TEST(test_names)
{
    ck_assert_str_eq(devtype_name(2), "blk");
    ck_assert_str_eq(devtype_name(26), "fs");
    ck_assert_str_eq(devtype_name(1), "net");
    ck_assert_str_eq(devtype_name(999), "device");
    ck_assert_ptr_nonnull(strstr(devtype_serves(DEVTYPE_NET), "control queue"));
    ck_assert_str_eq(devtype_serves(DEVTYPE_RNG), "nothing");
}
END_TEST

/* netctrl: what a frontend answers on the net control queue. */
#define ALL_CTRL                                                               \
    (BIT(NETCTRL_F_CTRL_RX) | BIT(NETCTRL_F_CTRL_RX_EXTRA) |                   \
     BIT(NETCTRL_F_CTRL_VLAN) | BIT(NETCTRL_F_GUEST_ANNOUNCE) |                \
     BIT(NETCTRL_F_MQ) | BIT(NETCTRL_F_CTRL_MAC_ADDR))

static uint8_t
ctrl(const uint8_t *in, uint32_t len, uint64_t features, unsigned *pairs)
{
    struct netctrl_result res;

    netctrl_exec(in, len, features, 2, &res);
    ck_assert_uint_eq(res.ack == NETCTRL_OK, res.why == NULL);
    if (pairs) {
        *pairs = res.pairs;
    }
    return res.ack;
}

START_TEST(test_netctrl_commands)
{
    static const uint8_t promisc[] = { 0, 0, 1 };
    static const uint8_t nobcast[] = { 0, 5, 1 };
    static const uint8_t tables[] = { 1, 0, 1, 0, 0, 0, 2, 0, 0, 0, 0, 1,
                                      0, 0, 0, 0 };
    static const uint8_t addr[] = { 1, 1, 2, 0, 0, 0, 0, 7 };
    static const uint8_t vlan[] = { 2, 0, 5, 0 };
    static const uint8_t announce[] = { 3, 0 };
    static const uint8_t pairs2[] = { 4, 0, 2, 0 };
    unsigned pairs = 9;

    ck_assert_uint_eq(ctrl(promisc, 3, ALL_CTRL, NULL), NETCTRL_OK);
    ck_assert_uint_eq(ctrl(nobcast, 3, ALL_CTRL, NULL), NETCTRL_OK);
    ck_assert_uint_eq(ctrl(tables, sizeof(tables), ALL_CTRL, NULL), NETCTRL_OK);
    ck_assert_uint_eq(ctrl(addr, sizeof(addr), ALL_CTRL, NULL), NETCTRL_OK);
    {
        struct netctrl_result res;

        netctrl_exec(addr, sizeof(addr), ALL_CTRL, 2, &res);
        ck_assert(res.set_mac);
        ck_assert_mem_eq(res.mac, addr + 2, 6);
        netctrl_exec(tables, sizeof(tables), ALL_CTRL, 2, &res);
        ck_assert(!res.set_mac);
    }
    ck_assert_uint_eq(ctrl(vlan, sizeof(vlan), ALL_CTRL, NULL), NETCTRL_OK);
    ck_assert_uint_eq(ctrl(announce, 2, ALL_CTRL, NULL), NETCTRL_OK);
    ck_assert_uint_eq(ctrl(pairs2, 4, ALL_CTRL, &pairs), NETCTRL_OK);
    ck_assert_uint_eq(pairs, 2);
    ck_assert_uint_eq(ctrl(promisc, 3, 0, NULL), NETCTRL_ERR);
}
END_TEST

/* One negative case per rule: every one is ERR, none sets pairs. */
START_TEST(test_netctrl_refusals)
{
    static const struct {
        uint8_t in[20];
        uint32_t len;
        uint64_t features;
    } t[] = {
        { { 0 }, 1, ALL_CTRL },                         /* no command byte */
        { { 0, 0, 1 }, 3, 0 },                          /* RX without CTRL_RX */
        { { 0, 2, 1 }, 3, BIT(NETCTRL_F_CTRL_RX) },     /* ALLUNI w/o EXTRA */
        { { 0, 6, 1 }, 3, ALL_CTRL },                   /* unknown RX */
        { { 0, 0 }, 2, ALL_CTRL },                      /* RX without data */
        { { 1, 0, 1, 0, 0, 0 }, 6, ALL_CTRL },          /* table too short */
        { { 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9 }, 11, ALL_CTRL }, /* trailing */
        { { 1, 0, 0xff, 0xff, 0xff, 0xff }, 6, ALL_CTRL }, /* huge count */
        { { 1, 1, 2, 0, 0, 0, 0 }, 7, ALL_CTRL },       /* 5-byte address */
        { { 1, 1, 2, 0, 0, 0, 0, 7 }, 8, BIT(NETCTRL_F_CTRL_RX) },
        { { 2, 0, 5 }, 3, ALL_CTRL },                   /* 1-byte VLAN id */
        { { 2, 2, 5, 0 }, 4, ALL_CTRL },                /* unknown VLAN */
        { { 2, 0, 5, 0 }, 4, BIT(NETCTRL_F_CTRL_RX) },
        { { 3, 0, 1 }, 3, ALL_CTRL },                   /* ack with data */
        { { 3, 0 }, 2, BIT(NETCTRL_F_CTRL_RX) },
        { { 4, 0, 0, 0 }, 4, ALL_CTRL },                /* 0 pairs */
        { { 4, 0, 3, 0 }, 4, ALL_CTRL },                /* beyond max 2 */
        { { 4, 0, 1 }, 3, ALL_CTRL },
        { { 4, 0, 1, 0 }, 4, BIT(NETCTRL_F_CTRL_RX) },  /* MQ not accepted */
        { { 4, 1, 1, 0 }, 4, ALL_CTRL },                /* RSS not offered */
        { { 5, 0, 0, 0, 0, 0, 0, 0, 0, 0 }, 10, ALL_CTRL }, /* offloads */
        { { 0xff, 0 }, 2, ALL_CTRL },
    };

    for (unsigned i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        unsigned pairs = 9;

        ck_assert_msg(ctrl(t[i].in, t[i].len, t[i].features, &pairs) ==
                          NETCTRL_ERR, "case %u accepted", i);
        ck_assert_uint_eq(pairs, 0);
    }
}
END_TEST

static Suite *
make_suite(void)
{
    Suite *s = suite_create("devtype");

    CHECK_ADD(s, test_blk_asks_backend_for_config, 10);
    CHECK_ADD(s, test_fs_config_synthesised, 10);
    CHECK_ADD(s, test_fs_tag_bounds, 10);
    CHECK_ADD(s, test_features_fit_config_len, 5);
    CHECK_ADD(s, test_writable_fields, 5);
    CHECK_ADD(s, test_net_profile, 5);
    CHECK_ADD(s, test_fixed_layouts, 5);
    CHECK_ADD(s, test_vsock_cid, 5);
    CHECK_ADD(s, test_settings_refused, 5);
    CHECK_ADD(s, test_names, 10);
    CHECK_ADD(s, test_netctrl_commands, 5);
    CHECK_ADD(s, test_netctrl_refusals, 5);
    return s;
}

CHECK_MAIN(make_suite)
