/*
 * Test support: what must hold once a grant device (relay_config.grants)
 * has carried a guest's traffic through the simulator, the same for every
 * device type's end-to-end suite.
 */
#ifndef XVM_TEST_GRANTCHECK_H
#define XVM_TEST_GRANTCHECK_H

#include <stddef.h>

#include "hv_sim.h"
#include "relay.h"
#include "simdrv.h"

/*
 * After the traffic, with the queues still set up: the data moved by
 * grant copy, the only grant mappings are the `ring_ranges` ring ranges
 * (desc, avail, used per queue), mapped once each, the guest's RAM was
 * never accessed by guest-physical address, and every buffer ref was
 * revocable the moment its chain came back.  Then the driver resets the
 * device: the rings are unmapped before the guest revokes them.
 * 0, or -1 with the first violation in err.
 */
int grantcheck_clean_reset(struct hv_sim *sim, struct simdrv *drv,
                           struct relay *relay, unsigned ring_ranges,
                           char *err, size_t errlen);

#endif
