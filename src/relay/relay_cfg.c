/*
 * relay_cfg: the device's config space between the guest and the backend.
 *
 * Concepts:
 *  - The backend's config space (GET_CONFIG) is copied into the register
 *    model when the relay connects; the guest reads that copy.
 *  - The guest may write only what its device type defines as
 *    driver-writable (relay_config.writable, from devtype.c), and only once
 *    it has accepted the field's feature.  Such a write is forwarded as
 *    SET_CONFIG and, once the backend took it, stored in the copy.  Every
 *    other write is dropped with a rate-limited log line: backends are
 *    entitled to refuse them, and qemu-storage-daemon's library answers a
 *    refused SET_CONFIG by dropping the connection, which a guest must not
 *    be able to cause at will.
 *  - The config is read again when the backend announces a change
 *    (CONFIG_CHANGE_MSG on its request channel) and on a reconnect, after
 *    the fields the guest wrote are written again (a restarted backend
 *    starts from its defaults).  If it differs from the guest's copy, the
 *    copy is replaced, ConfigGeneration changes and, after DRIVER_OK, the
 *    guest gets a configuration-change interrupt.  ConfigGeneration
 *    changes at no other time.
 *
 * Trust boundary: the guest's writes are checked against the type's table
 * here; the backend's replies are checked by vhu.
 */
#include <config.h>

#include <errno.h>
#include <string.h>

#include "le.h"
#include "relay_priv.h"

/* The writable field [off, off+len) lies in, or -1. */
static int
relay_cfg_field(const struct relay *r, uint32_t off, uint32_t len)
{
    for (unsigned i = 0; i < r->cfg.nr_writable; i++) {
        const struct relay_config_field *f = &r->cfg.writable[i];

        if (off >= f->off && len <= f->len && off - f->off <= f->len - len) {
            return (int)i;
        }
    }
    return -1;
}

/* Has the driver accepted field i's feature (and finished negotiating)? */
static bool
relay_cfg_field_enabled(const struct relay *r, unsigned i)
{
    int bit = r->cfg.writable[i].feature;

    if (bit < 0) {
        return true;
    }
    return (r->dev.status & VIRTIO_STATUS_FEATURES_OK) &&
           (r->dev.driver_features & (1ULL << bit));
}

void
relay_cfg_write(struct relay *r, uint32_t off, uint32_t len, uint64_t val)
{
    uint8_t bytes[8];
    int i = relay_cfg_field(r, off, len);
    int rc;

    if (i < 0 || !relay_cfg_field_enabled(r, (unsigned)i)) {
        relay_log(r, RELAY_LOG_CONFIG, LOG_LVL_WARN,
                  "%s: config write of %u bytes at 0x%x dropped: %s", r->name,
                  len, off,
                  i < 0 ? "not a driver-writable field of this device type"
                        : "its feature was not negotiated");
        return;
    }
    for (uint32_t k = 0; k < len; k++) {
        bytes[k] = (uint8_t)(val >> (8 * k));
    }
    if (r->conn) {
        rc = vhu_set_config(r->conn, off, bytes, len);
        if (rc < 0 && r->conn && vhu_broken(r->conn)) {
            /* Kept below: the write is replayed on the next connection. */
            relay_conn_lost(r, "config write failed");
        } else if (rc < 0) {
            relay_log(r, RELAY_LOG_CONFIG, LOG_LVL_WARN,
                      "%s: backend refused the config write of %u bytes at "
                      "0x%x: %s", r->name, len, off, strerror(-rc));
            return;
        }
    }
    vmmio_config_store(&r->dev, off, len, val);
    r->config_written |= 1u << i;
}

void
relay_cfg_fix_queues(const struct relay *r, uint8_t *config, uint32_t len,
                     unsigned nq)
{
    uint32_t off = r->cfg.queue_count_off;

    if (off == 0 || len < 2 || off > len - 2) {
        return;
    }
    if (le16_load(config + off) > nq) {
        le16_store(config + off, (uint16_t)nq);
    }
}

int
relay_cfg_refresh(struct relay *r)
{
    uint8_t fresh[VMMIO_CONFIG_MAX];
    uint32_t len = r->dev.config_len;
    int rc;

    if (!r->conn || !r->config_from_backend ||
        !(r->protocol & (1ULL << VHU_PF_CONFIG))) {
        return 0;
    }
    rc = vhu_get_config(r->conn, 0, fresh, len);
    if (rc < 0) {
        return rc;
    }
    relay_cfg_fix_queues(r, fresh, len,
                         r->dev.nr_queues - (r->cfg.own ? 1u : 0u));
    if (vmmio_update_config(&r->dev, fresh, len)) {
        relay_log(r, RELAY_LOG_CONFIG, LOG_LVL_INFO,
                  "%s: config space changed (generation %u)", r->name,
                  r->dev.config_generation);
        if (r->dev.status & VIRTIO_STATUS_DRIVER_OK) {
            vmmio_raise(&r->dev, VMMIO_INT_CONFIG);
            relay_sync_line(r);
        }
    }
    return 0;
}

int
relay_cfg_resume(struct relay *r)
{
    int rc;

    if (!r->config_from_backend || !(r->protocol & (1ULL << VHU_PF_CONFIG))) {
        return 0;
    }
    for (unsigned i = 0; i < r->cfg.nr_writable; i++) {
        const struct relay_config_field *f = &r->cfg.writable[i];

        if (!(r->config_written & (1u << i))) {
            continue;
        }
        rc = vhu_set_config(r->conn, f->off, r->dev.config + f->off, f->len);
        if (rc < 0) {
            log_warn("%s: returning backend refused the config the guest "
                     "wrote at 0x%x: %s", r->name, f->off, strerror(-rc));
            return rc;
        }
    }
    return relay_cfg_refresh(r);
}
