/*
 * libFuzzer target over hv_xen's ioreq intake: the bytes become one shared
 * ioreq slot (raw, so every state/type/size/flag combination is reachable),
 * a rewrite of that slot performed by the "guest" while the request is
 * being handled, and the value the device answers.  Checked invariants:
 * every READY slot is answered; a callback only ever sees an access of a
 * valid size wholly inside its window; a rejected read answers all-ones
 * and a write never changes the slot's data.
 *
 * Build and run: `make fuzz-ioreq` (clang, -fsanitize=fuzzer,address,undefined).
 */
#include <config.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hv_xen_ioreq.h"
#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

struct fz_win {
    uint64_t len;
    struct ioreq *slot;
    const uint8_t *rewrite; /* 32 bytes or NULL */
    uint64_t reply;
    unsigned calls;
};

static void
fz_mmio(void *opaque, uint64_t off, unsigned sz, bool is_write, uint64_t *val)
{
    struct fz_win *w = opaque;

    if (!(sz == 1 || sz == 2 || sz == 4 || sz == 8) || off >= w->len ||
        sz > w->len - off) {
        abort();
    }
    w->calls++;
    if (!is_write) {
        *val = w->reply;
    }
    if (w->rewrite != NULL) {
        memcpy(w->slot, w->rewrite, sizeof(*w->slot));
    }
}

static void
fz_invalidate(void *opaque)
{
    (*(unsigned *)opaque)++;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    log_set_level(LOG_LVL_ERR);
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct hv_xen_window win[HV_XEN_MAX_WINDOWS];
    struct hv_xen_ioreq_ctx ctx;
    struct fz_win fw[3];
    struct ioreq slot, before;
    enum hv_xen_ioreq_verdict v = HV_XEN_IOREQ_VERDICT_COUNT;
    unsigned inval = 0;
    bool served;

    if (size < sizeof(slot)) {
        return 0;
    }
    memset(win, 0, sizeof(win));
    memset(fw, 0, sizeof(fw));
    memcpy(&slot, data, sizeof(slot));
    before = slot;
    for (unsigned i = 0; i < 3; i++) {
        fw[i].slot = &slot;
        fw[i].rewrite = size >= 64 ? data + 32 : NULL;
    }
    if (size >= 72) {
        uint64_t r;

        memcpy(&r, data + 64, sizeof(r));
        for (unsigned i = 0; i < 3; i++) {
            fw[i].reply = r;
        }
    }
    fw[0].len = 0x200;
    fw[1].len = 0x200;
    fw[2].len = 0x100;
    hv_xen_ioreq_ctx_init(&ctx, "fuzz", win, fz_invalidate, &inval);
    if (hv_xen_window_add(win, 0x02000000, 0x200, fz_mmio, &fw[0]) < 0 ||
        hv_xen_window_add(win, 0x02000200, 0x200, fz_mmio, &fw[1]) < 0 ||
        hv_xen_window_add(win, UINT64_MAX - 0xff, 0x100, fz_mmio, &fw[2]) <
            0) {
        abort();
    }

    /* Queue 0's QueueNotify of the first window belongs to a kernel
     * ioeventfd: requests it matches must be left exactly as they were. */
    if (hv_xen_ioreq_kernel_add(&ctx, 0x02000050, 0) < 0) {
        abort();
    }
    served = hv_xen_ioreq_serve_slot(&ctx, &slot, &v) == HV_XEN_SLOT_ANSWERED;
    if (before.state != STATE_IOREQ_READY ||
        hv_xen_ioreq_kernel_owns(&ctx, &before)) {
        /* Not ours to answer: untouched. */
        if (served || memcmp(&slot, &before, sizeof(slot)) != 0) {
            abort();
        }
        return 0;
    }
    if (!served || slot.state != STATE_IORESP_READY) {
        abort();
    }
    if (v == HV_XEN_IOREQ_DISPATCHED) {
        if (fw[0].calls + fw[1].calls + fw[2].calls != 1) {
            abort();
        }
    } else if (fw[0].calls + fw[1].calls + fw[2].calls != 0) {
        abort();
    }
    if (v == HV_XEN_IOREQ_INVALIDATED) {
        if (inval != 1 || before.type != IOREQ_TYPE_INVALIDATE) {
            abort();
        }
    } else if (v != HV_XEN_IOREQ_DISPATCHED && before.dir == IOREQ_READ &&
               slot.data != UINT64_MAX) {
        abort();
    }
    if (before.dir == IOREQ_WRITE && size < 64 && slot.data != before.data) {
        abort(); /* a write never changes the slot's data */
    }
    return 0;
}
