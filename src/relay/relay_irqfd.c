/*
 * relay_irqfd: the kernel raises the guest's interrupt when the backend
 * signals a queue's call eventfd (privcmd irqfd, Linux 6.7+), so a
 * completion in zero-copy mode never wakes the daemon.
 *
 * Concepts:
 *  - Only modes with nothing to do on a completion (relay_mode_ops.
 *    direct_call: zero-copy) hand their call eventfds over; shadow mode
 *    must copy and publish before the guest may look.  Optional and
 *    detected at run time: on -EOPNOTSUPP (no kernel support, logged once
 *    by the hv) the device keeps reading calls itself for good.
 *  - The kernel consumes every signal and injects an edge on the device's
 *    SPI; the daemon no longer learns of completions.  The guest's
 *    interrupt handler reads InterruptStatus and acts only on the bits it
 *    sees, so while any queue of the device has an irqfd, every read
 *    reports the used-buffer bit (vmmio interrupt_forced), as
 *    xen-vhost-frontend does.  A read with no new used buffers costs the
 *    driver one look at its rings.  InterruptACK cannot clear the bit; it
 *    goes when the last irqfd does (queue stop, reset, backend lost).
 *  - The daemon's own interrupts (config change, DEVICE_NEEDS_RESET,
 *    queues without an irqfd) still follow InterruptStatus as before.
 *
 * Trust boundary: none crossed here; the fds are the relay's own.
 */
#include <config.h>

#include <errno.h>

#include "relay_priv.h"

static void
relay_irqfd_sync(struct relay *r)
{
    r->dev.interrupt_forced = 0;
    for (unsigned i = 0; i < r->dev.nr_queues; i++) {
        if (r->q[i].irqfd) {
            r->dev.interrupt_forced = VMMIO_INT_VRING;
        }
    }
}

void
relay_queue_irqfd(struct relay *r, struct relay_queue *q)
{
    int rc;

    if (r->no_irqfd || !r->ops->direct_call || q->call_fd < 0) {
        return;
    }
    rc = hv_irqfd_add(r->hv, r->cfg.irq, q->call_fd);
    if (rc == -EOPNOTSUPP) {
        r->no_irqfd = true;
    }
    if (rc < 0) {
        return; /* the daemon keeps reading q's calls */
    }
    /* A signal already pending went to the kernel with the registration. */
    loop_del_fd(r->loop, q->call_fd);
    q->irqfd = true;
    relay_irqfd_sync(r);
    log_debug("%s: completions raise the interrupt in the kernel (irqfd)",
              q->name);
}

void
relay_queue_irqfd_del(struct relay *r, struct relay_queue *q)
{
    if (!q->irqfd) {
        return;
    }
    hv_irqfd_del(r->hv, r->cfg.irq, q->call_fd);
    q->irqfd = false;
    relay_irqfd_sync(r);
}
