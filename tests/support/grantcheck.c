/* Test support: a grant device's end state (see grantcheck.h). */
#include <config.h>

#include "grantcheck.h"
#include "log.h"

#define fail(err, errlen, ...) (log_errbuf((err), (errlen), __VA_ARGS__), -1)

int
grantcheck_clean_reset(struct hv_sim *sim, struct simdrv *drv,
                       struct relay *relay, unsigned ring_ranges, char *err,
                       size_t errlen)
{
    struct relay_stats st;
    uint64_t gpa_accesses = hv_sim_mem_accesses(sim);
    unsigned mapped = hv_sim_gnt_mapped(sim);
    unsigned busy = simdrv_revoke_busy(drv);

    relay_get_stats(relay, &st);
    if (st.grant_copies == 0) {
        return fail(err, errlen, "no grant copy: the data did not move by "
                                 "grant");
    }
    if (st.grant_maps != ring_ranges || mapped != ring_ranges) {
        return fail(err, errlen, "%llu grant maps made and %u live, want %u "
                                 "(the rings' ranges only)",
                    (unsigned long long)st.grant_maps, mapped, ring_ranges);
    }
    if (gpa_accesses != 0) {
        return fail(err, errlen, "%llu guest-physical accesses to guest RAM",
                    (unsigned long long)gpa_accesses);
    }
    if (busy != 0) {
        return fail(err, errlen, "%u buffer refs still mapped when their "
                                 "chains came back", busy);
    }
    simdrv_reset(drv);
    mapped = hv_sim_gnt_mapped(sim);
    busy = simdrv_revoke_busy(drv);
    if (mapped != 0 || busy != 0) {
        return fail(err, errlen, "after reset: %u refs still mapped, %u "
                                 "revocations refused", mapped, busy);
    }
    return 0;
}
