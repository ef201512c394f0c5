/*
 * libFuzzer target: netctrl_exec(), the net control queue the daemon
 * serves for the guest.  Input: 4 bytes of driver features (bits 0-23 and
 * one byte of max pairs), then the request bytes.  Checks the answer's
 * invariants: ERR with a reason and no pairs, or OK with pairs only for a
 * VQ_PAIRS_SET within 1..max.
 */
#include <config.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "netctrl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct netctrl_result res;
    uint64_t features;
    unsigned max_pairs;

    if (size < 4) {
        return 0;
    }
    features = (uint64_t)data[0] | (uint64_t)data[1] << 8 |
               (uint64_t)data[2] << 16;
    max_pairs = data[3];
    netctrl_exec(data + 4, (uint32_t)(size - 4), features, max_pairs, &res);
    if (res.ack == NETCTRL_ERR) {
        if (!res.why || res.pairs) {
            abort();
        }
    } else if (res.ack != NETCTRL_OK || res.why ||
               (res.pairs && (res.pairs > max_pairs || size != 8 ||
                              data[4] != NETCTRL_MQ))) {
        abort();
    }
    return 0;
}
