/*
 * hv_xen: the hv seam over Xen, one instance per guest domain.
 *
 * Start-up is a ladder of stages (enum hv_xen_stage): open the library
 * handles, read the guest's vcpus and RAM size, create an ioreq server
 * (no buffered ioreqs), map its ioreq page, enable it (which makes Xen
 * publish each vcpu's event channel in the page), bind one local port per
 * vcpu, and put the event channel fd in the loop.  Teardown walks the
 * same ladder down from wherever start-up stopped; destroying the server
 * and unmapping its page matter: a guest whose ioreq page stays mapped
 * lingers as a dying domain after it goes.
 *
 * Trust boundary: the ioreq page is written by Xen on the guest's behalf.
 * Slots are served by hv_xen_ioreq.c (one copy, then only the copy); the
 * event-channel ports read from the page are only handed to the evtchn
 * driver, which validates them.  Guest memory goes through the bounded
 * mapping cache of hv_xen_mem.c after hv.c's bank check; virtqueue rings
 * through direct pointers into buckets pinned while the queue is live.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <unistd.h>

#include <xenctrl.h>
#include <xenstore.h>

#include "hv_xen_gnt.h"
#include "hv_xen_priv.h"
#include "loop.h"

#if defined(__aarch64__) && defined(GUEST_RAM0_BASE)
/* On Arm the public header is in scope: hv.h's bank constants must agree. */
_Static_assert(GUEST_RAM0_BASE == HV_ARM_RAM0_GPA, "bank 0 base");
_Static_assert(GUEST_RAM0_SIZE == HV_ARM_RAM0_MAX, "bank 0 size");
_Static_assert(GUEST_RAM1_BASE == HV_ARM_RAM1_GPA, "bank 1 base");
#endif

_Static_assert(sizeof(struct ioreq) == 32, "ioreq_t ABI");

/* ---- guest memory ---- */

static void *
xen_map(void *opaque, uint64_t gpa, unsigned pages, int *page_err, int *rc)
{
    struct hv_xen *x = opaque;
    xen_pfn_t pfn[HV_XEN_BUCKET_PAGES];
    void *va;

    if (pages > HV_XEN_BUCKET_PAGES) {
        *rc = -EINVAL;
        return NULL;
    }
    for (unsigned i = 0; i < pages; i++) {
        pfn[i] = (xen_pfn_t)((gpa >> HV_XEN_PAGE_SHIFT) + i);
    }
    va = xenforeignmemory_map(x->fmem, x->hv.domid, PROT_READ | PROT_WRITE,
                              pages, pfn, page_err);
    if (va == NULL) {
        *rc = -errno;
        log_rl(&x->rl, LOG_LVL_WARN,
               "%s: foreign map of 0x%" PRIx64 " (%u pages) failed: %s",
               x->hv.name, gpa, pages, strerror(errno));
        return NULL;
    }
    *rc = 0;
    return va;
}

static void
xen_unmap(void *opaque, void *va, unsigned pages)
{
    struct hv_xen *x = opaque;

    if (xenforeignmemory_unmap(x->fmem, va, pages) < 0) {
        log_warn("%s: foreign unmap failed: %s", x->hv.name, strerror(errno));
    }
}

static int
xen_mem_read(struct hv *hv, unsigned bank, uint64_t off, void *buf, size_t len)
{
    struct hv_xen *x = hv_xen_of(hv);

    return hv_xen_mapcache_read(&x->mc, hv->ram.bank[bank].gpa + off, buf,
                                len);
}

static int
xen_mem_write(struct hv *hv, unsigned bank, uint64_t off, const void *buf,
              size_t len)
{
    struct hv_xen *x = hv_xen_of(hv);

    return hv_xen_mapcache_write(&x->mc, hv->ram.bank[bank].gpa + off, buf,
                                 len);
}

/* Rings: the bucket holding one stays pinned until the put. */
static void *
xen_mem_ptr(struct hv *hv, unsigned bank, uint64_t off, size_t len)
{
    struct hv_xen *x = hv_xen_of(hv);

    return hv_xen_mapcache_pin(&x->mc, hv->ram.bank[bank].gpa + off, len);
}

static void
xen_mem_ptr_put(struct hv *hv, void *p)
{
    hv_xen_mapcache_unpin(&hv_xen_of(hv)->mc, p);
}

void
hv_xen_invalidate(void *opaque)
{
    struct hv_xen *x = opaque;

    hv_xen_mapcache_invalidate(&x->mc);
    x->hv.map_gen++;
}

/* ---- MMIO windows and interrupts ---- */

static int
xen_mmio_add(struct hv *hv, uint64_t base, uint64_t len, hv_mmio_fn fn,
             void *opaque)
{
    struct hv_xen *x = hv_xen_of(hv);
    int rc;

    if (x->stage < HV_XEN_ST_SERVER) {
        return -ENODEV;
    }
    rc = hv_xen_window_add(x->win, base, len, fn, opaque);
    if (rc < 0) {
        return rc;
    }
    if (xendevicemodel_map_io_range_to_ioreq_server(
            x->dm, hv->domid, x->ioservid, 1, base, base + len - 1) < 0) {
        rc = -errno;
        log_err("%s: cannot trap MMIO 0x%" PRIx64 "+0x%" PRIx64 ": %s",
                hv->name, base, len, strerror(errno));
        hv_xen_window_del(x->win, base, NULL);
        return rc;
    }
    log_debug("%s: trapping MMIO 0x%" PRIx64 "+0x%" PRIx64, hv->name, base,
              len);
    return 0;
}

static void
xen_mmio_del(struct hv *hv, uint64_t base)
{
    struct hv_xen *x = hv_xen_of(hv);
    struct hv_xen_window w;

    if (hv_xen_window_del(x->win, base, &w) < 0) {
        return;
    }
    if (xendevicemodel_unmap_io_range_from_ioreq_server(
            x->dm, hv->domid, x->ioservid, 1, w.base, w.base + w.len - 1) < 0) {
        log_warn("%s: cannot untrap MMIO 0x%" PRIx64 ": %s", hv->name, base,
                 strerror(errno));
    }
}

static int
xen_irq_set(struct hv *hv, unsigned irq, bool level)
{
    struct hv_xen *x = hv_xen_of(hv);

    if (xendevicemodel_set_irq_level(x->dm, hv->domid, irq, level ? 1 : 0) <
        0) {
        int rc = -errno;

        log_rl(&x->rl, LOG_LVL_WARN, "%s: set_irq_level(%u, %d) failed: %s",
               hv->name, irq, level, strerror(errno));
        return rc;
    }
    return 0;
}

/* ---- ioreq service ---- */

/*
 * A slot in INPROCESS belongs to the kernel's ioeventfd handler for the
 * few instructions it takes to compare the request with its list under a
 * spinlock; it is READY again (ours) when nothing matched.  Spin briefly,
 * then look again from a loop timer rather than hold the loop.
 */
#define XEN_BUSY_SPINS 4096u
#define XEN_BUSY_RETRY_MS 1u
/* How often every slot is looked at for requests that do not move. */
#define XEN_WATCH_MS 2000u

static void serve_all(void *opaque);

/* Answer vcpu's slot if it holds a request for us, and tell Xen. */
static void
serve_vcpu(struct hv_xen *x, unsigned vcpu)
{
    enum hv_xen_ioreq_verdict v = HV_XEN_IOREQ_DISPATCHED;
    enum hv_xen_slot_result r;
    unsigned spins = 0;

    while ((r = hv_xen_ioreq_serve_slot(&x->ioreq, &x->slots[vcpu], &v)) ==
               HV_XEN_SLOT_BUSY &&
           spins++ < XEN_BUSY_SPINS) {
        __atomic_signal_fence(__ATOMIC_SEQ_CST);
    }
    if (r == HV_XEN_SLOT_BUSY && x->busy_timer == 0) {
        int id = loop_add_timer(x->loop, XEN_BUSY_RETRY_MS, serve_all, x);

        x->busy_timer = id > 0 ? id : 0;
    }
    if (r == HV_XEN_SLOT_ANSWERED || r == HV_XEN_SLOT_KERNEL) {
        x->watch[vcpu].answered++;
    }
    if (r != HV_XEN_SLOT_ANSWERED) {
        return;
    }
    if (!x->answered_any) {
        /* Once per guest: a hung guest's log then says whether any of its
         * requests ever reached us. */
        x->answered_any = true;
        log_info("%s: first ioreq answered (vcpu %u: %s)", x->hv.name, vcpu,
                 hv_xen_ioreq_verdict_str(v));
    }
    if (xenevtchn_notify(x->xce, x->local_port[vcpu]) < 0) {
        log_rl(&x->rl, LOG_LVL_ERR, "%s: notify vcpu %u port %u failed: %s",
               x->hv.name, vcpu, x->local_port[vcpu], strerror(errno));
    }
}

static void
serve_all(void *opaque)
{
    struct hv_xen *x = opaque;

    x->busy_timer = 0;
    for (unsigned vcpu = 0; vcpu < x->nr_bound; vcpu++) {
        serve_vcpu(x, vcpu);
    }
}

/*
 * Every XEN_WATCH_MS: a request that waited a whole period with no event
 * for it, or an answer Xen did not take, leaves the guest's vcpu blocked
 * for good; say which (rate-limited), and serve nothing (hv_xen_ioreq.h).
 */
static void
watch_slots(void *opaque)
{
    struct hv_xen *x = opaque;
    int id;

    for (unsigned vcpu = 0; vcpu < x->nr_bound; vcpu++) {
        struct ioreq seen;
        enum hv_xen_stall st =
            hv_xen_slot_look(&x->watch[vcpu], &x->slots[vcpu], &seen);

        if (st == HV_XEN_STALL_NONE) {
            continue;
        }
        log_rl(&x->rl, LOG_LVL_WARN,
               "%s: vcpu %u: %s for over %u ms (ioreq type %u, %s 0x%" PRIx64
               " size %" PRIu32 ", port %" PRIu32 ")",
               x->hv.name, vcpu,
               st == HV_XEN_STALL_UNSEEN
                   ? "a request waits in its slot that no event brought us"
                   : "our answer waits in its slot, not taken by Xen",
               XEN_WATCH_MS, (unsigned)seen.type,
               seen.dir == IOREQ_READ ? "read" : "write", seen.addr,
               seen.size, x->local_port[vcpu]);
    }
    id = loop_add_timer(x->loop, XEN_WATCH_MS, watch_slots, x);
    x->watch_timer = id > 0 ? id : 0;
}

static void
on_evtchn(void *opaque, uint32_t events)
{
    struct hv_xen *x = opaque;

    (void)events;
    /* Bounded: at most one pass per bound port per wakeup. */
    for (unsigned n = 0; n <= x->nr_bound; n++) {
        xenevtchn_port_or_error_t port = xenevtchn_pending(x->xce);
        unsigned vcpu;

        if (port < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK) {
                log_rl(&x->rl, LOG_LVL_ERR, "%s: evtchn pending: %s",
                       x->hv.name, strerror(errno));
            }
            return;
        }
        for (vcpu = 0; vcpu < x->nr_bound; vcpu++) {
            if (x->local_port[vcpu] == (uint32_t)port) {
                break;
            }
        }
        if (xenevtchn_unmask(x->xce, port) < 0) {
            log_rl(&x->rl, LOG_LVL_ERR, "%s: unmask port %d: %s", x->hv.name,
                   (int)port, strerror(errno));
        }
        if (vcpu == x->nr_bound) {
            log_rl(&x->rl, LOG_LVL_WARN, "%s: event on unknown port %d",
                   x->hv.name, (int)port);
            continue;
        }
        serve_vcpu(x, vcpu);
    }
}

/* ---- start-up stages ---- */

static int
stage_handles(struct hv_xen *x)
{
    x->dm = xendevicemodel_open(NULL, 0);
    x->fmem = xenforeignmemory_open(NULL, 0);
    x->xce = xenevtchn_open(NULL, 0);
    if (x->dm == NULL || x->fmem == NULL || x->xce == NULL) {
        int rc = errno ? -errno : -ENODEV;

        log_err("%s: cannot open Xen handles (devicemodel %s, "
                "foreignmemory %s, evtchn %s): %s",
                x->hv.name, x->dm ? "ok" : "failed",
                x->fmem ? "ok" : "failed", x->xce ? "ok" : "failed",
                strerror(-rc));
        return rc;
    }
    /* Only zero-copy backends and kernel ioeventfds need privcmd. */
    hv_xen_privcmd_open(x);
    return 0;
}


/*
 * The RAM the guest really has, in bytes.  libxl describes `memory` to the
 * guest (memory/target in xenstore, KiB, at creation) and sets max_pages a
 * little higher (LIBXL_MAXMEM_CONSTANT, 1 MiB of slack): those extra pages
 * are not populated, so a layout from max_pages would offer a backend
 * frames that cannot be mapped.  Prefer the target; else max_pages less
 * the slack.
 */
#define HV_XEN_LIBXL_SLACK (1024ULL * 1024)

static uint64_t
hv_xen_ram_bytes(uint32_t domid, uint64_t max_pages)
{
    uint64_t max_bytes = max_pages << HV_XEN_PAGE_SHIFT;
    struct xs_handle *xs = xs_open(XS_OPEN_READONLY);
    uint64_t kib = 0;
    char path[64];

    if (xs) {
        unsigned int len = 0;
        char *v;

        snprintf(path, sizeof(path), "/local/domain/%u/memory/target", domid);
        v = xs_read(xs, XBT_NULL, path, &len);
        if (v) {
            char *end = NULL;

            kib = strtoull(v, &end, 10);
            if (end == v || *end != '\0') {
                kib = 0;
            }
            free(v);
        }
        xs_close(xs);
    }
    if (kib && kib <= max_bytes / 1024) {
        return kib * 1024;
    }
    log_warn("dom%u: no usable memory/target in xenstore; assuming max_pages "
             "less libxl's slack", domid);
    return max_bytes > 2 * HV_XEN_LIBXL_SLACK ? max_bytes - HV_XEN_LIBXL_SLACK
                                              : max_bytes;
}

/*
 * The live domain's info and vCPU count (max_vcpu_id + 1, what one ioreq
 * page can serve).  0 or -errno, logged with `name`.
 */
static int
xen_domain_info(uint32_t domid, const char *name, xc_domaininfo_t *info,
                unsigned *nr_vcpus)
{
    xc_interface *xch = xc_interface_open(NULL, NULL, 0);
    int rc;

    if (xch == NULL) {
        rc = errno ? -errno : -ENODEV;
        log_err("%s: xc_interface_open: %s", name, strerror(-rc));
        return rc;
    }
    memset(info, 0, sizeof(*info));
    rc = xc_domain_getinfolist(xch, domid, 1, info);
    if (rc < 0) {
        rc = -errno;
    }
    xc_interface_close(xch);
    if (rc != 1 || info->domain != domid) {
        log_err("%s: no such domain", name);
        return rc < 0 ? rc : -ENOENT;
    }
    if (info->flags & XEN_DOMINF_dying) {
        log_err("%s: domain is dying", name);
        return -ENOENT;
    }
    if (info->max_vcpu_id == XEN_INVALID_MAX_VCPU_ID ||
        (uint64_t)info->max_vcpu_id + 1 >
            HV_XEN_PAGE_SIZE / sizeof(struct ioreq)) {
        log_err("%s: unusable vcpu count (max_vcpu_id %" PRIu32 ")", name,
                info->max_vcpu_id);
        return -E2BIG;
    }
    *nr_vcpus = info->max_vcpu_id + 1;
    return 0;
}

int
hv_xen_domain_vcpus(uint32_t domid, unsigned *nr_vcpus)
{
    xc_domaininfo_t info;
    char name[16];

    snprintf(name, sizeof(name), "dom%u", domid);
    return xen_domain_info(domid, name, &info, nr_vcpus);
}

static int
stage_layout(struct hv_xen *x)
{
    xc_domaininfo_t info;
    uint64_t bytes;
    int rc;

    rc = xen_domain_info(x->hv.domid, x->hv.name, &info, &x->nr_vcpus);
    if (rc < 0) {
        return rc;
    }
    x->hv.nr_vcpus = x->nr_vcpus;
    if (info.max_pages > (UINT64_MAX >> HV_XEN_PAGE_SHIFT)) {
        return -E2BIG;
    }
    bytes = hv_xen_ram_bytes(x->hv.domid, info.max_pages);
    rc = hv_xen_layout_from_size(bytes, &x->hv.ram);
    if (rc < 0) {
        log_err("%s: cannot lay out %" PRIu64 " bytes of RAM: %s", x->hv.name,
                bytes, strerror(-rc));
        return rc;
    }
    x->local_port = calloc(x->nr_vcpus, sizeof(*x->local_port));
    x->watch = calloc(x->nr_vcpus, sizeof(*x->watch));
    if (x->local_port == NULL || x->watch == NULL) {
        free(x->local_port);
        free(x->watch);
        x->local_port = NULL;
        x->watch = NULL;
        return -ENOMEM;
    }
    {
        struct hv_xen_mapper m = { xen_map, xen_unmap, x };

        rc = hv_xen_mapcache_init(&x->mc, &m, x->opts.mapcache_mib);
    }
    if (rc < 0) {
        free(x->local_port);
        free(x->watch);
        x->local_port = NULL;
        x->watch = NULL;
        return rc;
    }
    log_info("%s: %u vcpus, %" PRIu64 " MiB RAM in %u bank(s), mapcache "
             "%u MiB",
             x->hv.name, x->nr_vcpus, bytes >> 20, x->hv.ram.nr, x->mc.max);
    return 0;
}

static int
stage_server(struct hv_xen *x)
{
    if (xendevicemodel_create_ioreq_server(x->dm, x->hv.domid,
                                           HVM_IOREQSRV_BUFIOREQ_OFF,
                                           &x->ioservid) < 0) {
        int rc = -errno;

        log_err("%s: create_ioreq_server: %s (is the hypervisor built with "
                "CONFIG_IOREQ_SERVER?)",
                x->hv.name, strerror(errno));
        return rc;
    }
    return 0;
}

static int
stage_page(struct hv_xen *x)
{
    void *page = NULL;

    x->ioreq_res = xenforeignmemory_map_resource(
        x->fmem, x->hv.domid, XENMEM_resource_ioreq_server, x->ioservid,
        XENMEM_resource_ioreq_server_frame_ioreq(0), 1, &page,
        PROT_READ | PROT_WRITE, 0);
    if (x->ioreq_res == NULL) {
        int rc = -errno;

        log_err("%s: map ioreq page: %s", x->hv.name, strerror(errno));
        return rc;
    }
    x->slots = page;
    return 0;
}

static int
stage_enabled(struct hv_xen *x)
{
    if (xendevicemodel_set_ioreq_server_state(x->dm, x->hv.domid, x->ioservid,
                                              1) < 0) {
        int rc = -errno;

        log_err("%s: enable ioreq server: %s", x->hv.name, strerror(errno));
        return rc;
    }
    return 0;
}

static int
stage_ports(struct hv_xen *x)
{
    for (unsigned v = 0; v < x->nr_vcpus; v++) {
        /* Written by Xen when the server was enabled; read it once. */
        uint32_t remote = ((volatile struct ioreq *)&x->slots[v])->vp_eport;
        xenevtchn_port_or_error_t local;

        local = xenevtchn_bind_interdomain(x->xce, x->hv.domid, remote);
        if (local < 0) {
            int rc = -errno;

            log_err("%s: bind vcpu %u event channel %" PRIu32 ": %s",
                    x->hv.name, v, remote, strerror(errno));
            return rc;
        }
        x->local_port[v] = (uint32_t)local;
        x->nr_bound = v + 1;
    }
    return 0;
}

static int
stage_serving(struct hv_xen *x)
{
    int fd = xenevtchn_fd(x->xce);
    int fl;
    int rc;

    if (fd < 0) {
        return -EBADF;
    }
    /* Non-blocking, so a spurious wakeup never stalls the loop. */
    fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
        return -errno;
    }
    rc = loop_add_fd(x->loop, fd, EPOLLIN, on_evtchn, x);
    if (rc < 0) {
        return rc;
    }
    x->evtchn_fd = fd;
    return 0;
}

static void
xen_teardown(struct hv_xen *x)
{
    /* Kernel ioeventfds point into the ioreq page and at our ports. */
    hv_xen_ioeventfd_clear(x);
    hv_xen_irqfd_clear(x);
    if (x->busy_timer) {
        loop_cancel_timer(x->loop, x->busy_timer);
        x->busy_timer = 0;
    }
    if (x->watch_timer) {
        loop_cancel_timer(x->loop, x->watch_timer);
        x->watch_timer = 0;
    }
    switch (x->stage) {
    case HV_XEN_ST_SERVING:
        loop_del_fd(x->loop, x->evtchn_fd);
        x->evtchn_fd = -1;
        /* fall through */
    case HV_XEN_ST_PORTS:
    case HV_XEN_ST_ENABLED:
        /* A partial PORTS stage leaves nr_bound ports to undo. */
        while (x->nr_bound > 0) {
            x->nr_bound--;
            xenevtchn_unbind(x->xce, x->local_port[x->nr_bound]);
        }
        xendevicemodel_set_ioreq_server_state(x->dm, x->hv.domid, x->ioservid,
                                              0);
        /* fall through */
    case HV_XEN_ST_PAGE:
        xenforeignmemory_unmap_resource(x->fmem, x->ioreq_res);
        x->ioreq_res = NULL;
        x->slots = NULL;
        /* fall through */
    case HV_XEN_ST_SERVER:
        /* Also drops every MMIO range mapped to it. */
        if (xendevicemodel_destroy_ioreq_server(x->dm, x->hv.domid,
                                                x->ioservid) < 0) {
            log_warn("%s: destroy_ioreq_server: %s", x->hv.name,
                     strerror(errno));
        }
        memset(x->win, 0, sizeof(x->win));
        /* fall through */
    case HV_XEN_ST_LAYOUT:
        hv_xen_mapcache_fini(&x->mc);
        free(x->local_port);
        free(x->watch);
        x->local_port = NULL;
        x->watch = NULL;
        /* fall through */
    case HV_XEN_ST_HANDLES:
    case HV_XEN_ST_NONE:
        break;
    }
    /* Handles are opened together; close whichever exist. */
    if (x->gnt_fd >= 0) {
        close(x->gnt_fd);
        x->gnt_fd = -1;
    }
    if (x->privcmd_fd >= 0) {
        close(x->privcmd_fd);
        x->privcmd_fd = -1;
    }
    if (x->gnt_share_fd >= 0) {
        close(x->gnt_share_fd);
        x->gnt_share_fd = -1;
    }
    if (x->share_fd >= 0) {
        close(x->share_fd);
        x->share_fd = -1;
    }
    if (x->xce != NULL) {
        xenevtchn_close(x->xce);
        x->xce = NULL;
    }
    if (x->fmem != NULL) {
        xenforeignmemory_close(x->fmem);
        x->fmem = NULL;
    }
    if (x->dm != NULL) {
        xendevicemodel_close(x->dm);
        x->dm = NULL;
    }
    x->stage = HV_XEN_ST_NONE;
}

static void
xen_free(struct hv *hv)
{
    struct hv_xen *x = hv_xen_of(hv);

    log_info("%s: ioreq server down", hv->name);
    xen_teardown(x);
    free(x);
}

static void
xen_mem_stats(struct hv *hv, struct hv_mem_stats *out)
{
    const struct hv_xen_mapcache_stats *st = &hv_xen_of(hv)->mc.st;

    out->hits = st->hits;
    out->maps = st->maps;
    out->evictions = st->evictions;
    out->failures = st->failures;
    out->pinned = hv_xen_of(hv)->mc.pinned;
}

const struct hv_ops hv_xen_ops = {
    .name = "xen",
    .mem_read = xen_mem_read,
    .mem_write = xen_mem_write,
    .mem_ptr = xen_mem_ptr,
    .mem_ptr_put = xen_mem_ptr_put,
    .mem_regions = hv_xen_mem_regions,
    .mem_share = hv_xen_mem_share,
    .mmio_add = xen_mmio_add,
    .mmio_del = xen_mmio_del,
    .irq_set = xen_irq_set,
    .ioeventfd_add = hv_xen_ioeventfd_add,
    .ioeventfd_del = hv_xen_ioeventfd_del,
    .irqfd_add = hv_xen_irqfd_add,
    .irqfd_del = hv_xen_irqfd_del,
    .gnt_copy = hv_xen_gnt_copy,
    .gnt_map = hv_xen_gnt_map,
    .gnt_unmap = hv_xen_gnt_unmap,
    .gnt_share = hv_xen_gnt_share,
    .mem_stats = xen_mem_stats,
    .free = xen_free,
};

int
hv_xen_open(struct hv **out, struct loop *loop, uint32_t domid,
            const struct hv_xen_opts *opts)
{
    static int (*const stages[])(struct hv_xen *) = {
        [HV_XEN_ST_HANDLES] = stage_handles,
        [HV_XEN_ST_LAYOUT] = stage_layout,
        [HV_XEN_ST_SERVER] = stage_server,
        [HV_XEN_ST_PAGE] = stage_page,
        [HV_XEN_ST_ENABLED] = stage_enabled,
        [HV_XEN_ST_PORTS] = stage_ports,
        [HV_XEN_ST_SERVING] = stage_serving,
    };
    static const char *const names[] = {
        [HV_XEN_ST_HANDLES] = "open handles",
        [HV_XEN_ST_LAYOUT] = "read domain info",
        [HV_XEN_ST_SERVER] = "create ioreq server",
        [HV_XEN_ST_PAGE] = "map ioreq page",
        [HV_XEN_ST_ENABLED] = "enable ioreq server",
        [HV_XEN_ST_PORTS] = "bind event channels",
        [HV_XEN_ST_SERVING] = "watch event channels",
    };
    struct hv_xen *x;
    int rc = 0;

    *out = NULL;
    if (domid == 0 || domid >= DOMID_FIRST_RESERVED) {
        return -EINVAL;
    }
    x = calloc(1, sizeof(*x));
    if (x == NULL) {
        return -ENOMEM;
    }
    x->hv.ops = &hv_xen_ops;
    x->hv.domid = domid;
    snprintf(x->hv.name, sizeof(x->hv.name), "dom%" PRIu32, domid);
    x->loop = loop;
    if (opts != NULL) {
        x->opts = *opts;
    }
    x->evtchn_fd = -1;
    x->privcmd_fd = -1;
    x->share_fd = -1;
    x->gnt_fd = -1;
    x->gnt_share_fd = -1;
    x->priv = x->opts.privcmd ? x->opts.privcmd : &privfd_dev;
    {
        struct log_ratelimit rl = LOG_RATELIMIT_INIT;

        x->rl = rl;
    }
    hv_xen_ioreq_ctx_init(&x->ioreq, x->hv.name, x->win, hv_xen_invalidate,
                          x);

    for (unsigned s = HV_XEN_ST_HANDLES; s <= HV_XEN_ST_SERVING; s++) {
        rc = stages[s](x);
        if (rc < 0) {
            log_err("%s: start-up failed (%s): %s", x->hv.name, names[s],
                    strerror(-rc));
            /* A stage that failed half-way undoes itself, except PORTS,
             * whose bound ports the teardown of ENABLED/PORTS unbinds. */
            xen_teardown(x);
            free(x);
            return rc;
        }
        x->stage = (enum hv_xen_stage)s;
    }
    /* Requests posted before our ports were bound raised no event. */
    for (unsigned v = 0; v < x->nr_vcpus; v++) {
        serve_vcpu(x, v);
    }
    watch_slots(x);
    log_info("%s: ioreq server %u serving %u vcpu(s)", x->hv.name,
             (unsigned)x->ioservid, x->nr_vcpus);
    *out = &x->hv;
    return 0;
}
