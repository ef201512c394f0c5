/*
 * libFuzzer target: the split virtqueue walker over arbitrary guest RAM.
 *
 * Input: a 16-byte header choosing the queue (log2 size, features, ring
 * placement, starting indices), then the contents of guest RAM (two 64 KiB
 * banks of an hv_sim guest, zero beyond the input).  The target pops and
 * pushes until the queue is empty or broken and checks that nothing it
 * returns points outside guest RAM.  A violation aborts.
 * Build and run: see the fuzz-virtio rules in src/virtio/virtio.am.
 */
#include <config.h>

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hv.h"
#include "hv_sim.h"
#include "log.h"
#include "vq.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_BANK_LEN 0x10000ULL
#define FZ_HDR 16

#define FZ_CHECK(cond)                                                         \
    do {                                                                       \
        if (!(cond)) {                                                         \
            abort();                                                           \
        }                                                                      \
    } while (0)

/* One simulated guest for the whole run: creating a memfd per input is slow. */
static struct hv_sim *fz_sim;

static uint16_t
fz_le16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

/* A ring address: bit 15 picks the bank, the rest an offset in it. */
static uint64_t
fz_gpa(uint16_t sel, unsigned align)
{
    uint64_t base = (sel & 0x8000) ? HV_ARM_RAM1_GPA : HV_ARM_RAM0_GPA;

    return base + ((uint64_t)(sel & 0x7fff) * 2 / align * align);
}

static void
fz_check_chain(const struct vq_chain *c, uint16_t num)
{
    uint64_t out = 0, in = 0;

    FZ_CHECK(c->head < num);
    FZ_CHECK(c->nseg >= 1 && c->nseg <= VQ_MAX_SEGS);
    FZ_CHECK(c->nout <= c->nseg);
    for (unsigned i = 0; i < c->nseg; i++) {
        const struct vq_seg *s = &c->seg[i];

        FZ_CHECK(s->len > 0);
        FZ_CHECK(hv_sim_ram(fz_sim, s->gpa, s->len) != NULL);
        FZ_CHECK(s->write == (i >= c->nout));
        if (s->write) {
            in += s->len;
        } else {
            out += s->len;
        }
    }
    FZ_CHECK(out == c->out_bytes && in == c->in_bytes);
    FZ_CHECK(out + in <= UINT32_MAX);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct vq_chain chain;
    struct hv_sim_config cfg = { .name = "fuzz", .ram0_len = FZ_BANK_LEN,
                                 .ram1_len = FZ_BANK_LEN };
    struct vq vq;
    uint8_t *ram0, *ram1;
    size_t body;
    uint16_t num;
    uint64_t features;

    if (!fz_sim) {
        log_set_level(LOG_LVL_ERR); /* rejections are warnings */
        if (hv_sim_new(&fz_sim, &cfg) < 0) {
            abort();
        }
    }
    if (size < FZ_HDR) {
        return 0;
    }
    ram0 = hv_sim_ram(fz_sim, HV_ARM_RAM0_GPA, FZ_BANK_LEN);
    ram1 = hv_sim_ram(fz_sim, HV_ARM_RAM1_GPA, FZ_BANK_LEN);
    memset(ram0, 0, FZ_BANK_LEN);
    memset(ram1, 0, FZ_BANK_LEN);
    body = size - FZ_HDR;
    memcpy(ram0, data + FZ_HDR, body < FZ_BANK_LEN ? body : FZ_BANK_LEN);
    if (body > FZ_BANK_LEN) {
        body -= FZ_BANK_LEN;
        memcpy(ram1, data + FZ_HDR + FZ_BANK_LEN,
               body < FZ_BANK_LEN ? body : FZ_BANK_LEN);
    }

    num = (uint16_t)(1u << (data[0] % 12));
    features = ((uint64_t)(data[1] & 1) << VQ_F_INDIRECT_DESC_BIT) |
               ((uint64_t)((data[1] >> 1) & 1) << VQ_F_EVENT_IDX_BIT);
    if (vq_init(&vq, hv_sim_hv(fz_sim), "fuzz/q0", num,
                fz_gpa(fz_le16(data + 2), 16), fz_gpa(fz_le16(data + 4), 2),
                fz_gpa(fz_le16(data + 6), 4), features) < 0) {
        return 0;
    }
    if (data[1] & 4) {
        vq_set_indices(&vq, fz_le16(data + 8), fz_le16(data + 10));
    }
    /* Pushes may land in the avail ring (the guest chose the layout), so
     * bound the rounds rather than trust the ring to run dry. */
    for (unsigned round = 0; round < 2u * num + 4; round++) {
        int rc = vq_pop(&vq, &chain);

        if (rc <= 0) {
            FZ_CHECK(rc == 0 || (rc == -EIO && vq.broken));
            break;
        }
        fz_check_chain(&chain, num);
        if (vq_push(&vq, chain.head, (uint32_t)chain.in_bytes) < 0) {
            FZ_CHECK(vq.broken);
            break;
        }
        (void)vq_need_notify(&vq);
    }
    return 0;
}
