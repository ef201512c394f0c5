/*
 * relay_irqfd: completions raise the guest's interrupt in the kernel
 * (simulated privcmd irqfd: hv_sim consumes the call eventfd's signal and
 * makes an interrupt edge), against a real qemu-storage-daemon.
 */
#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "backend_proc.h"
#include "blkdrv.h"
#include "check_common.h"
#include "vmmio.h"

#define WANT_ALL (~0ULL)
#define ISR (BLKDRV_MMIO_BASE + VMMIO_INTERRUPT_STATUS)
#define ACK (BLKDRV_MMIO_BASE + VMMIO_INTERRUPT_ACK)

static void
fixture_up(struct backend_disk *f)
{
    int rc = backend_disk_up(f, 1 << 20, 1);

    if (rc == -ENOENT) {
        ck_abort_msg("qemu-storage-daemon is not installed "
                     "(package qemu-system-common)");
    }
    ck_assert_int_eq(rc, 0);
}

/* One 4 KiB write and its read back through the device. */
static void
write_read(struct blkdrv *b)
{
    static uint8_t out[4096], in[4096];

    memset(out, 0x5a, sizeof(out));
    memset(in, 0, sizeof(in));
    ck_assert_int_eq(blkdrv_sync(b, VIRTIO_BLK_T_OUT, 8, out, sizeof(out)),
                     0);
    ck_assert_int_eq(blkdrv_sync(b, VIRTIO_BLK_T_IN, 8, in, sizeof(in)), 0);
    ck_assert_mem_eq(in, out, sizeof(in));
}

/*
 * A write the guest waits for as a driver does: an interrupt edge, then
 * InterruptStatus (acknowledged), then a look at the used ring, until the
 * completion is there.  Returns the InterruptStatus bits it read.
 */
static uint32_t
write_wait_irq(struct blkdrv *b)
{
    struct blkreq *r = blkdrv_next_slot(b), *done = NULL;
    uint32_t seen = 0;

    /* edges from before (a completion found without waiting) are not
     * this write's: take them first, so the edge waited for below is */
    while (simdrv_wait_irq(b->drv, 0) >= 0) {
    }
    memset(r->data, 0x33, 4096);
    ck_assert_int_eq(blkdrv_submit(b, VIRTIO_BLK_T_OUT, 16, 4096, 1, false,
                                   &r), 0);
    blkdrv_kick(b);
    for (unsigned i = 0; done == NULL; i++) {
        int isr = simdrv_wait_irq(b->drv, 10000);

        ck_assert_int_ge(isr, 0);
        ck_assert_uint_lt(i, 10);
        seen |= (uint32_t)isr;
        ck_assert_int_ge(blkdrv_take(b, &done), 0);
    }
    ck_assert_ptr_eq(done, r);
    ck_assert_uint_eq(blkdrv_status(b, done), VIRTIO_BLK_S_OK);
    blkdrv_release(b, done);
    return seen;
}

static void
open_blk(struct blkdrv *b, const struct backend_disk *f, enum relay_mode mode,
         bool irqfd)
{
    const struct blkdrv_opts o = { .irqfd = irqfd };

    ck_assert_int_eq(blkdrv_open_opts(b, f->qsd.sock, mode, WANT_ALL, 4, &o),
                     0);
}

/*
 * Zero-copy with a kernel irqfd: the backend's completions interrupt the
 * guest without the daemon (it handles no call and raises no line), and
 * every InterruptStatus read reports the used-buffer bit, which an ACK
 * cannot clear, until the device is reset and the irqfd is gone.
 */
START_TEST(test_irqfd_zerocopy)
{
    struct backend_disk f;
    struct relay_stats st0, st;
    struct blkdrv b;

    fixture_up(&f);
    open_blk(&b, &f, RELAY_MODE_ZEROCOPY, true);
    ck_assert_uint_eq(hv_sim_irqfds(b.sim), 1);
    /* Until the queue went live (its setup acknowledged) the daemon
     * watched the call fd itself: a signal the backend sent when its
     * ring started may have been read then.  From here on, none is. */
    relay_get_stats(b.relay, &st0);
    /* No completion yet, and still the bit: the daemon cannot know. */
    ck_assert_uint_eq(hv_sim_read32(b.sim, ISR), VMMIO_INT_VRING);
    ck_assert_uint_eq(write_wait_irq(&b), VMMIO_INT_VRING);
    write_read(&b);
    relay_get_stats(b.relay, &st);
    ck_assert(st.q[0].kernel_irqfd);
    ck_assert_uint_eq(st.q[0].calls, st0.q[0].calls);
    ck_assert_uint_eq(st.irqs, st0.irqs);
    ck_assert_uint_eq(st.q[0].requests, 3);
    ck_assert_uint_ge(hv_sim_irqfd_edges(b.sim, BLKDRV_IRQ), 1);
    ck_assert(!hv_sim_irq_level(b.sim, BLKDRV_IRQ));
    hv_sim_write32(b.sim, ACK, VMMIO_INT_VRING);
    ck_assert_uint_eq(hv_sim_read32(b.sim, ISR), VMMIO_INT_VRING);

    simdrv_reset(b.drv);
    ck_assert_int_eq(blkdrv_wait_old_session(b.relay, b.loop, 10000), 0);
    ck_assert_uint_eq(hv_sim_irqfds(b.sim), 0);
    ck_assert_uint_eq(hv_sim_read32(b.sim, ISR), 0);
    /* A new session registers again. */
    ck_assert_int_eq(simdrv_init(b.drv, WANT_ALL, 1, 0), 0);
    /* the queue goes live (and gets its irqfd) once the backend acked its
     * setup, which the loop takes after DRIVER_OK was answered */
    ck_assert_int_eq(blkdrv_settle(b.relay, b.loop, 5000), 0);
    ck_assert_uint_eq(hv_sim_irqfds(b.sim), 1);
    write_read(&b);
    blkdrv_close(&b);
    backend_disk_down(&f);
}
END_TEST

/*
 * No irqfd in the kernel (Debian's kernels): the daemon reads every call
 * and drives the line from InterruptStatus, which an ACK clears.
 */
START_TEST(test_irqfd_fallback)
{
    struct backend_disk f;
    struct relay_stats st;
    struct blkdrv b;

    fixture_up(&f);
    open_blk(&b, &f, RELAY_MODE_ZEROCOPY, false);
    /* a backend may signal its call fd when its ring starts (a spurious
     * used-buffer interrupt, which drivers tolerate): one ACK clears it */
    hv_sim_write32(b.sim, ACK, hv_sim_read32(b.sim, ISR));
    ck_assert_uint_eq(hv_sim_read32(b.sim, ISR), 0);
    ck_assert_uint_eq(write_wait_irq(&b), VMMIO_INT_VRING);
    write_read(&b);
    relay_get_stats(b.relay, &st);
    ck_assert(!st.q[0].kernel_irqfd);
    ck_assert_uint_ge(st.q[0].calls, 1);
    ck_assert_uint_ge(st.irqs, 1);
    /* a completion the driver found in the used ring without reading
     * InterruptStatus may have left the bit: one ACK clears it */
    hv_sim_write32(b.sim, ACK, hv_sim_read32(b.sim, ISR));
    ck_assert_uint_eq(hv_sim_read32(b.sim, ISR), 0);
    blkdrv_close(&b);
    backend_disk_down(&f);
}
END_TEST

/*
 * Shadow mode copies and publishes each completion before the guest may
 * see it: it never hands its call eventfds to the kernel.
 */
START_TEST(test_irqfd_not_in_shadow)
{
    struct backend_disk f;
    struct relay_stats st;
    struct blkdrv b;

    fixture_up(&f);
    open_blk(&b, &f, RELAY_MODE_SHADOW, true);
    ck_assert_uint_eq(hv_sim_irqfds(b.sim), 0);
    ck_assert_uint_eq(write_wait_irq(&b), VMMIO_INT_VRING);
    write_read(&b);
    relay_get_stats(b.relay, &st);
    ck_assert(!st.q[0].kernel_irqfd);
    ck_assert_uint_ge(st.q[0].calls, 1);
    ck_assert_uint_eq(hv_sim_irqfd_edges(b.sim, BLKDRV_IRQ), 0);
    hv_sim_write32(b.sim, ACK, hv_sim_read32(b.sim, ISR));
    ck_assert_uint_eq(hv_sim_read32(b.sim, ISR), 0);
    blkdrv_close(&b);
    backend_disk_down(&f);
}
END_TEST

static Suite *
make_suite(void)
{
    Suite *s = suite_create("relay_irqfd");

    CHECK_ADD(s, test_irqfd_zerocopy, 60);
    CHECK_ADD(s, test_irqfd_fallback, 60);
    CHECK_ADD(s, test_irqfd_not_in_shadow, 60);
    return s;
}

CHECK_MAIN(make_suite)
