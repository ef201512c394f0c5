/*
 * libFuzzer target: grant address decoding and every access through a
 * grant device's address space (hv_gnt over hv_sim's grant table).  The
 * input grants a few pages (some read-only), maps a few ranges, then
 * reads and writes arbitrary (addr, len) pairs: each access must succeed
 * only inside granted refs, fail with -EFAULT otherwise, and never touch
 * memory outside the buffers (ASan checks that).
 */
#include <config.h>

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hv_gnt.h"
#include "hv_sim.h"
#include "log.h"

#define FZ_BUF (3u * 4096u)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t
take(const uint8_t **p, size_t *n, unsigned bytes)
{
    uint64_t v = 0;

    for (unsigned i = 0; i < bytes && *n; i++, (*p)++, (*n)--) {
        v |= (uint64_t)**p << (8 * i);
    }
    return v;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct hv_sim *sim;
    static uint8_t buf[FZ_BUF];
    struct hv_sim_config c = { .name = "fz", .ram0_len = 1u << 20 };
    struct hv *gnt;
    unsigned ngrants;

    if (!sim) {
        log_set_level(LOG_LVL_ERR);
        if (hv_sim_new(&sim, &c)) {
            abort();
        }
    }
    if (hv_gnt_new(&gnt, hv_sim_hv(sim))) {
        abort();
    }
    ngrants = (unsigned)take(&data, &size, 1) % 8;
    for (unsigned i = 0; i < ngrants; i++) {
        uint32_t ref = (uint32_t)take(&data, &size, 1) % 16;
        uint64_t page = take(&data, &size, 1) % 256;

        hv_sim_grant(sim, ref, HV_ARM_RAM0_GPA + page * 4096,
                     take(&data, &size, 1) & 1);
    }
    for (unsigned i = 0; i < 2 && size; i++) {
        uint64_t addr = take(&data, &size, 8);

        hv_gnt_map(gnt, i, addr, take(&data, &size, 2), i == 0);
    }
    while (size >= 11) {
        uint64_t addr = take(&data, &size, 8);
        size_t len = (size_t)(take(&data, &size, 2) % (FZ_BUF + 1));
        bool write = take(&data, &size, 1) & 1;
        uint32_t ref, off;
        int rc;

        if (hv_gnt_decode(addr, &ref, &off) == 0 &&
            (ref >= HV_GNT_MAX_REFS || off >= HV_GNT_PAGE_SIZE)) {
            abort();
        }
        rc = write ? hv_mem_write(gnt, addr, buf, len)
                   : hv_mem_read(gnt, addr, buf, len);
        if (rc != 0 && rc != -EFAULT) {
            abort();
        }
        if (rc == 0 && len && !(addr & HV_GNT_ADDR_BIT)) {
            abort(); /* a guest-physical address must never work here */
        }
    }
    hv_free(gnt);
    for (uint32_t r = 0; r < 16; r++) {
        hv_sim_revoke(sim, r);
    }
    if (hv_sim_gnt_mapped(sim) != 0) {
        abort();
    }
    return 0;
}
