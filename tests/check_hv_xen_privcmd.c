/*
 * hv_xen_privcmd's kernel ioeventfd and irqfd registration against a fake
 * /dev/xen/privcmd that records each ioctl: the argument layouts are
 * checked field by field against Linux's include/uapi/xen/privcmd.h as
 * Debian's linux-source-6.12 has it (irqfd as changed in 6.7), and a
 * kernel without CONFIG_XEN_PRIVCMD_EVENTFD makes both fall back, once.
 */
#include <config.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "check_common.h"
#include "fake_privcmd.h"
#include "hv_xen_priv.h"

#define DOM 7u
#define BASE 0x2000000ULL
#define IRQ 40u
#define EVFD 1000 /* any number: the fake records it, opens nothing */

/* Little-endian fields of a recorded argument, by byte offset. */
static uint64_t
u64_at(const uint8_t *p, unsigned off)
{
    uint64_t v;

    memcpy(&v, p + off, sizeof(v));
    return v;
}

static uint32_t
u32_at(const uint8_t *p, unsigned off)
{
    uint32_t v;

    memcpy(&v, p + off, sizeof(v));
    return v;
}

static uint16_t
u16_at(const uint8_t *p, unsigned off)
{
    uint16_t v;

    memcpy(&v, p + off, sizeof(v));
    return v;
}

struct pfx {
    struct fake_privcmd f;
    struct hv_xen *x;
    struct ioreq slots[2];
    uint32_t ports[2];
};

static void
pfx_init(struct pfx *p, bool eventfd, int kernel_eventfd)
{
    memset(p, 0, sizeof(*p));
    fake_privcmd_init(&p->f, FAKE_PRIVCMD_OK);
    p->f.eventfd = eventfd;
    p->x = calloc(1, sizeof(*p->x));
    ck_assert_ptr_nonnull(p->x);
    p->x->hv.domid = DOM;
    snprintf(p->x->hv.name, sizeof(p->x->hv.name), "dom%u", DOM);
    p->x->opts.kernel_eventfd = kernel_eventfd;
    p->x->priv = &p->f.ops;
    p->x->privcmd_fd = p->f.ops.open(p->f.ops.opaque);
    ck_assert_int_ge(p->x->privcmd_fd, 0);
    p->x->stage = HV_XEN_ST_PORTS;
    p->x->nr_vcpus = 2;
    p->x->slots = p->slots;
    p->x->local_port = p->ports;
}

static void
pfx_fini(struct pfx *p)
{
    close(p->x->privcmd_fd);
    free(p->x);
}

/* IOCTL_PRIVCMD_IRQFD: _IOW('P', 8, struct privcmd_irqfd), 24 bytes. */
static void
expect_irqfd(const struct pfx *p, uint32_t flags)
{
    const uint8_t *a = p->f.last.arg, *op = p->f.last.dm_op;

    ck_assert_uint_eq(_IOC_DIR(p->f.last.req), _IOC_WRITE);
    ck_assert_uint_eq(_IOC_TYPE(p->f.last.req), 'P');
    ck_assert_uint_eq(_IOC_NR(p->f.last.req), 8);
    ck_assert_uint_eq(_IOC_SIZE(p->f.last.req), 24);
    ck_assert_uint_ne(u64_at(a, 0), 0);                 /* dm_op */
    ck_assert_uint_eq(u32_at(a, 8), p->f.last.dm_op_size);
    ck_assert_uint_eq(u32_at(a, 12), EVFD);             /* fd */
    ck_assert_uint_eq(u32_at(a, 16), flags);
    ck_assert_uint_eq(u16_at(a, 20), DOM);
    ck_assert_uint_eq(u16_at(a, 22), 0);                /* pad */
    /* struct xen_dm_op: op, pad, then xen_dm_op_set_irq_level {irq,
     * level, pad[3]}; Xen wants at least those 16 bytes. */
    ck_assert_uint_ge(p->f.last.dm_op_size, 16);
    ck_assert_uint_eq(u32_at(op, 0), 19);               /* set_irq_level */
    ck_assert_uint_eq(u32_at(op, 4), 0);
    ck_assert_uint_eq(u32_at(op, 8), IRQ);
    ck_assert_uint_eq(u32_at(op, 12), 1);               /* level 1, pad 0 */
}

START_TEST(test_irqfd_registration)
{
    struct pfx p;

    pfx_init(&p, true, 0);
    ck_assert_int_eq(hv_xen_irqfd_add(&p.x->hv, IRQ, EVFD), 0);
    ck_assert_uint_eq(p.f.ioctls, 1);
    expect_irqfd(&p, 0);
    hv_xen_irqfd_del(&p.x->hv, IRQ, EVFD);
    ck_assert_uint_eq(p.f.ioctls, 2);
    expect_irqfd(&p, 1); /* PRIVCMD_IRQFD_FLAG_DEASSIGN */
    /* Not registered: nothing to deassign. */
    hv_xen_irqfd_del(&p.x->hv, IRQ, EVFD);
    ck_assert_uint_eq(p.f.ioctls, 2);
    /* Teardown deassigns what is left. */
    ck_assert_int_eq(hv_xen_irqfd_add(&p.x->hv, IRQ, EVFD), 0);
    ck_assert_int_eq(hv_xen_irqfd_add(&p.x->hv, IRQ, EVFD + 1), 0);
    hv_xen_irqfd_clear(p.x);
    ck_assert_uint_eq(p.f.ioctls, 6);
    ck_assert_uint_eq(u32_at(p.f.last.arg, 16), 1);
    pfx_fini(&p);
}
END_TEST

/*
 * A kernel without the ioctl (ENOTTY, as Debian's): -EOPNOTSUPP, asked
 * once; the relay then reads calls itself.  Never asked when disabled.
 * Other errors are the registration's own, not the kernel's verdict.
 */
START_TEST(test_irqfd_fallback)
{
    struct pfx p;

    pfx_init(&p, false, 0);
    ck_assert_int_eq(hv_xen_irqfd_add(&p.x->hv, IRQ, EVFD), -EOPNOTSUPP);
    ck_assert_int_eq(hv_xen_irqfd_add(&p.x->hv, IRQ, EVFD), -EOPNOTSUPP);
    ck_assert_uint_eq(p.f.ioctls, 1);
    hv_xen_irqfd_clear(p.x);
    ck_assert_uint_eq(p.f.ioctls, 1);
    pfx_fini(&p);

    pfx_init(&p, true, -1);
    ck_assert_int_eq(hv_xen_irqfd_add(&p.x->hv, IRQ, EVFD), -EOPNOTSUPP);
    ck_assert_uint_eq(p.f.ioctls, 0);
    pfx_fini(&p);

    pfx_init(&p, true, 0);
    p.f.ioctl_rc = -EBUSY; /* the kernel: that eventfd has an irqfd */
    ck_assert_int_eq(hv_xen_irqfd_add(&p.x->hv, IRQ, EVFD), -EBUSY);
    p.f.ioctl_rc = 0;
    ck_assert_int_eq(hv_xen_irqfd_add(&p.x->hv, IRQ, EVFD), 0);
    ck_assert_uint_eq(p.f.ioctls, 2);
    pfx_fini(&p);
}
END_TEST

/*
 * IOCTL_PRIVCMD_IOEVENTFD (_IOW('P', 9, 48 bytes)) through the same ops:
 * the ioreq page, the ports, the device base (QueueNotify - 0x50), and
 * from then on the daemon leaves the matching slots to the kernel
 * (checklist item 31); after the deassign they are its own again.
 */
START_TEST(test_ioeventfd_registration)
{
    struct pfx p;
    const uint8_t *a;
    struct ioreq slot;

    pfx_init(&p, true, 0);
    hv_xen_ioreq_ctx_init(&p.x->ioreq, "dom7", p.x->win, NULL, NULL);
    ck_assert_int_eq(hv_xen_ioeventfd_add(&p.x->hv, BASE + 0x50, 3, EVFD),
                     0);
    a = p.f.last.arg;
    ck_assert_uint_eq(_IOC_NR(p.f.last.req), 9);
    ck_assert_uint_eq(_IOC_SIZE(p.f.last.req), 48);
    ck_assert_uint_eq(u64_at(a, 0), (uint64_t)(uintptr_t)p.slots);
    ck_assert_uint_eq(u64_at(a, 8), (uint64_t)(uintptr_t)p.ports);
    ck_assert_uint_eq(u64_at(a, 16), BASE);
    ck_assert_uint_eq(u32_at(a, 24), 4);     /* addr_len */
    ck_assert_uint_eq(u32_at(a, 28), EVFD);  /* event_fd */
    ck_assert_uint_eq(u32_at(a, 32), 2);     /* vcpus */
    ck_assert_uint_eq(u32_at(a, 36), 3);     /* vq */
    ck_assert_uint_eq(u32_at(a, 40), 0);     /* flags */
    ck_assert_uint_eq(u16_at(a, 44), DOM);

    memset(&slot, 0, sizeof(slot));
    slot.type = IOREQ_TYPE_COPY;
    slot.addr = BASE + 0x50;
    slot.size = 4;
    slot.count = 1;
    slot.dir = IOREQ_WRITE;
    slot.data = 3;
    slot.state = STATE_IOREQ_READY;
    ck_assert_int_eq(hv_xen_ioreq_serve_slot(&p.x->ioreq, &slot, NULL),
                     HV_XEN_SLOT_KERNEL);
    hv_xen_ioeventfd_del(&p.x->hv, BASE + 0x50, EVFD);
    ck_assert_uint_eq(u32_at(p.f.last.arg, 40), 1); /* DEASSIGN */
    ck_assert_int_eq(hv_xen_ioreq_kernel_del(&p.x->ioreq, BASE + 0x50, 3),
                     -ENOENT);
    pfx_fini(&p);
}
END_TEST

void add_privcmd_tests(Suite *s);

void
add_privcmd_tests(Suite *s)
{
    CHECK_ADD(s, test_irqfd_registration, 5);
    CHECK_ADD(s, test_irqfd_fallback, 5);
    CHECK_ADD(s, test_ioeventfd_registration, 5);
}
