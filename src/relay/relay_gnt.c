/*
 * relay_gnt: a grant device's rings (hv_gnt.h): mapped when the queue
 * starts, so ring accesses need no hypercall, unmapped when the guest
 * stops the queue or resets the device.
 */
#include <config.h>

#include <string.h>

#include "hv_gnt.h"
#include "relay_priv.h"

/*
 * Grant mode: map queue q's rings (their refs stay granted while the
 * queue lives) so ring accesses need no hypercall.  0 or -errno.
 */
int
relay_queue_map(struct relay *r, struct relay_queue *q)
{
    const struct vq *v = &q->gvq;
    int rc;

    if (!r->cfg.grants) {
        return 0;
    }
    hv_gnt_unmap(r->mem, q->idx);
    rc = hv_gnt_map(r->mem, q->idx, v->desc_gpa, VQ_DESC_BYTES(v->num),
                    false);
    if (rc == 0) {
        rc = hv_gnt_map(r->mem, q->idx, v->avail_gpa, VQ_AVAIL_BYTES(v->num),
                        false);
    }
    if (rc == 0) {
        rc = hv_gnt_map(r->mem, q->idx, v->used_gpa, VQ_USED_BYTES(v->num),
                        true);
    }
    if (rc < 0) {
        hv_gnt_unmap(r->mem, q->idx);
        log_rl(&r->rl, LOG_LVL_WARN, "%s: cannot map the rings' grants "
               "(desc 0x%llx avail 0x%llx used 0x%llx): %s", q->name,
               (unsigned long long)v->desc_gpa,
               (unsigned long long)v->avail_gpa,
               (unsigned long long)v->used_gpa, strerror(-rc));
    }
    return rc;
}

/* Grant mode: the rings of queues the guest stopped are unmapped. */
void
relay_queue_unmap(struct relay *r, unsigned first, unsigned n)
{
    for (unsigned i = first; r->cfg.grants && i < first + n; i++) {
        hv_gnt_unmap(r->mem, i);
    }
}

