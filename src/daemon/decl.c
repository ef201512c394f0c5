/*
 * decl: devices declared in the config file (see decl.h).
 *
 * Trust boundary: the administrator's strings, parsed strictly here; the
 * cross-section checks run once the whole file is read (cfg_parse_text).
 */
#include <config.h>

#include <errno.h>
#include <string.h>

#include "cfg.h"
#include "decl.h"
#include "devtype.h"
#include "log.h"

int
decl_set_key(struct decl_spec *s, const char *key, const char *value,
             char *err, size_t errlen)
{
    uint64_t v;

    if (!strcmp(key, "declare") || !strcmp(key, "grants")) {
        bool *flag = key[0] == 'd' ? &s->declared : &s->grants;

        if (!strcmp(value, "yes") || !strcmp(value, "1")) {
            *flag = true;
        } else if (!strcmp(value, "no") || !strcmp(value, "0")) {
            *flag = false;
        } else {
            log_errbuf(err, errlen, "bad %s '%s': want yes or no", key, value);
            return -EINVAL;
        }
    } else if (!strcmp(key, "base")) {
        if (disc_parse_u64(value, true, DISC_GPA_LIMIT - 1, &v) || v == 0 ||
            v % DISC_MMIO_SIZE) {
            log_errbuf(err, errlen, "bad base '%s': want a 0x%x-aligned "
                       "address", value, DISC_MMIO_SIZE);
            return -EINVAL;
        }
        s->base = v;
    } else if (!strcmp(key, "irq")) {
        if (disc_parse_u64(value, false, DISC_IRQ_MAX, &v) ||
            v < DISC_IRQ_MIN) {
            log_errbuf(err, errlen, "bad irq '%s': want a GIC SPI id "
                       "(%u-%u)", value, DISC_IRQ_MIN, DISC_IRQ_MAX);
            return -EINVAL;
        }
        s->irq = (unsigned)v;
    } else {
        return -ENOENT;
    }
    return 0;
}

/* "GUEST:DEVID" or "DOMID:DEVID", for messages. */
static void
decl_name(const struct cfg_dev *d, char *buf, size_t len)
{
    if (d->sel == CFG_SEL_GUEST) {
        snprintf(buf, len, "[device %s:%u]", d->guest, d->devid);
    } else {
        snprintf(buf, len, "[device %u:%u]", d->domid, d->devid);
    }
}

/* One section on its own. */
static int
decl_check_one(const struct cfg_dev *d, char *err, size_t errlen)
{
    const struct decl_spec *s = &d->decl;
    char name[CFG_GUEST_MAX + 32];

    decl_name(d, name, sizeof(name));
    if (d->sel == CFG_SEL_TYPE) {
        log_errbuf(err, errlen, "declare = yes needs a GUEST:DEVID or "
                   "DOMID:DEVID section, not a device type");
        return -EINVAL;
    }
    if (!d->device_id || !s->base || !s->irq) {
        log_errbuf(err, errlen, "%s: a declared device needs device-id, base "
                   "and irq", name);
        return -EINVAL;
    }
    if (s->base < DECL_MMIO_BASE ||
        s->base >= DECL_MMIO_BASE + DECL_MMIO_SIZE) {
        log_errbuf(err, errlen, "%s: base 0x%llx is outside the guest's "
                   "virtio-mmio window 0x%llx-0x%llx", name,
                   (unsigned long long)s->base, DECL_MMIO_BASE,
                   DECL_MMIO_BASE + DECL_MMIO_SIZE - 1);
        return -EINVAL;
    }
    if (s->irq < DECL_SPI_FIRST || s->irq > DECL_SPI_LAST) {
        log_errbuf(err, errlen, "%s: irq %u is not one of the SPIs Xen "
                   "reserves for virtio (%u-%u)", name, s->irq,
                   DECL_SPI_FIRST, DECL_SPI_LAST);
        return -EINVAL;
    }
    return 0;
}

/* Whether two sections name the same guest the same way. */
static bool
decl_same_guest(const struct cfg_dev *a, const struct cfg_dev *b)
{
    if (a->sel != b->sel) {
        return false;
    }
    return a->sel == CFG_SEL_GUEST ? !strcmp(a->guest, b->guest)
                                   : a->domid == b->domid;
}

static void
decl_to_disc(const struct cfg_dev *d, uint32_t domid, struct disc_dev *out)
{
    memset(out, 0, sizeof(*out));
    out->kind = DISC_KIND_DECLARED;
    out->domid = domid;
    out->devid = d->devid;
    out->base = d->decl.base;
    out->irq = d->decl.irq;
    out->device_id = d->device_id;
    out->online = true;
    out->state = DISC_STATE_CONNECTED;
    out->grants = d->decl.grants;
}

int
decl_check(const struct cfg *c, char *err, size_t errlen)
{
    for (unsigned i = 0; i < c->nr_devs; i++) {
        const struct cfg_dev *a = &c->dev[i];
        struct disc_dev da, db;
        unsigned same = 1;

        if (!a->decl.declared) {
            continue;
        }
        if (decl_check_one(a, err, errlen)) {
            return -EINVAL;
        }
        decl_to_disc(a, 0, &da);
        for (unsigned j = 0; j < i; j++) {
            const struct cfg_dev *b = &c->dev[j];
            char na[CFG_GUEST_MAX + 32], nb[CFG_GUEST_MAX + 32];

            if (!b->decl.declared || !decl_same_guest(a, b)) {
                continue;
            }
            same++;
            decl_to_disc(b, 0, &db);
            if (a->devid != b->devid && !disc_dev_overlap(&da, &db)) {
                continue;
            }
            decl_name(a, na, sizeof(na));
            decl_name(b, nb, sizeof(nb));
            log_errbuf(err, errlen, "%s and %s share a devid, a register "
                       "window or an irq", nb, na);
            return -EINVAL;
        }
        if (same > DECL_MAX_PER_GUEST) {
            log_errbuf(err, errlen, "more than %d declared devices for one "
                       "guest", DECL_MAX_PER_GUEST);
            return -EINVAL;
        }
    }
    return 0;
}

/*
 * Append the declarations of one selector kind naming guest `name` or
 * `domid` to out[n..max), as devices of `domid`.
 */
static unsigned
decl_collect(const struct cfg *c, enum cfg_sel sel, uint32_t domid,
             const char *name, struct disc_dev *out, unsigned n, unsigned max)
{
    for (unsigned i = 0; i < c->nr_devs && n < max; i++) {
        const struct cfg_dev *d = &c->dev[i];
        bool clash = false;

        if (!d->decl.declared || d->sel != sel ||
            (sel == CFG_SEL_GUEST && strcmp(d->guest, name)) ||
            (sel == CFG_SEL_DOMID && d->domid != domid)) {
            continue;
        }
        decl_to_disc(d, domid, &out[n]);
        for (unsigned j = 0; j < n && !clash; j++) {
            clash = out[j].devid == out[n].devid ||
                    disc_dev_overlap(&out[j], &out[n]);
        }
        if (clash) {
            log_err("dom%u: declared device %u (by domid) clashes with one "
                    "declared by name: not served", domid, d->devid);
            continue;
        }
        n++;
    }
    return n;
}

unsigned
decl_for_guest(const struct cfg *c, uint32_t domid, const char *name,
               struct disc_dev *out, unsigned max)
{
    unsigned n = 0;

    if (name) {
        n = decl_collect(c, CFG_SEL_GUEST, domid, name, out, n, max);
    }
    return decl_collect(c, CFG_SEL_DOMID, domid, NULL, out, n, max);
}

unsigned
decl_for_selector(const struct cfg *c, const char *guest,
                  struct disc_dev *out, unsigned max)
{
    uint64_t domid;

    if (!disc_parse_u64(guest, false, DISC_DOMID_MAX, &domid)) {
        return decl_collect(c, CFG_SEL_DOMID, (uint32_t)domid, NULL, out, 0,
                            max);
    }
    return decl_collect(c, CFG_SEL_GUEST, 0, guest, out, 0, max);
}

void
decl_dump(const struct decl_spec *s, FILE *out)
{
    if (!s->declared) {
        return;
    }
    fprintf(out, "declare = yes\nbase = 0x%llx\nirq = %u\ngrants = %s\n",
            (unsigned long long)s->base, s->irq, s->grants ? "yes" : "no");
}
