/*
 * hv_sim: a simulated guest behind the hv seam (tests, benchmarks).
 *
 * Concepts: guest RAM is one memfd mapped once into this process; bank 0
 * occupies file offsets [0, ram0_len), bank 1 follows it, and the guest's
 * grant table (hv_sim_gnt.h) the RAM, so a zero-copy backend in another
 * process maps grants through the same fd.  The "guest"
 * is whoever calls hv_sim_mmio(): accesses go synchronously to the trap
 * callback of the window covering the address, exactly like an ioreq
 * would be delivered by Xen, and interrupt lines are plain booleans with
 * an edge counter so tests can assert that every completion was signalled.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <unistd.h>

#include "hv_sim.h"
#include "hv_sim_gnt.h"
#include "log.h"
#include "privfd.h"

struct hv_sim_mmio {
    uint64_t base;
    uint64_t len;
    hv_mmio_fn fn;
    void *opaque;
    bool used;
};

struct hv_sim_ioeventfd {
    uint64_t addr;
    uint32_t datamatch;
    int fd;          /* -1: slot free */
};

struct hv_sim_irqfd {
    struct hv_sim *sim;
    unsigned irq;
    int fd;          /* the caller's; -1: slot free */
    int own;         /* our copy of it, watched on irqfd_loop */
};

struct hv_sim {
    struct hv hv;          /* first: container_of by cast */
    struct hv_sim_gnt gnt;     /* grant table, at the memfd's tail */
    int memfd;
    uint8_t *ram;          /* whole memfd mapping */
    uint64_t ram_len;
    uint64_t bank_off[HV_MAX_BANKS];
    unsigned fail_mem;
    uint64_t mem_accesses;
    int ptrs_held;         /* hv_mem_ptr()s not yet given back */
    uint64_t hole_gpa, hole_len;  /* "ballooned out" range */
    struct hv_sim_mmio mmio[HV_SIM_MAX_MMIO];
    bool ioeventfd_on;
    bool xen_mmap;
    struct hv_sim_ioeventfd iofd[HV_SIM_MAX_IOEVENTFD];
    bool irq_level[HV_SIM_MAX_IRQ];
    uint64_t irq_edges[HV_SIM_MAX_IRQ];
    struct loop *irqfd_loop;      /* NULL: no irqfds */
    struct hv_sim_irqfd irqfd[HV_SIM_MAX_IOEVENTFD];
    uint64_t irqfd_edges[HV_SIM_MAX_IRQ];
    /* Xen-style sharing (hv_sim_share_privcmd): regions map from share_fd. */
    bool xen_share;
    struct privfd_ops priv;
    int share_fd;          /* -1: none (then RAM cannot be shared) */
};

static struct hv_sim *
sim_of(struct hv *hv)
{
    return (struct hv_sim *)hv;
}

/* Injected fault: [gpa, gpa+len) touches the "ballooned out" range. */
static bool
sim_in_hole(const struct hv_sim *sim, unsigned bank, uint64_t off, size_t len)
{
    uint64_t gpa = sim->hv.ram.bank[bank].gpa + off;

    return sim->hole_len && gpa < sim->hole_gpa + sim->hole_len &&
           sim->hole_gpa < gpa + len;
}

/* Injected faults: a countdown, or a range that is not mapped. */
static bool
sim_fault(struct hv_sim *sim, unsigned bank, uint64_t off, size_t len)
{
    if (sim->fail_mem) {
        if (--sim->fail_mem == 0) {
            sim->hv.map_gen++; /* direct pointers are good again */
        }
        return true;
    }
    return sim_in_hole(sim, bank, off, len);
}

static int
sim_mem_read(struct hv *hv, unsigned bank, uint64_t off, void *buf, size_t len)
{
    struct hv_sim *sim = sim_of(hv);

    sim->mem_accesses++;
    if (sim_fault(sim, bank, off, len)) {
        return -EFAULT;
    }
    memcpy(buf, sim->ram + sim->bank_off[bank] + off, len);
    return 0;
}

static int
sim_mem_write(struct hv *hv, unsigned bank, uint64_t off, const void *buf,
              size_t len)
{
    struct hv_sim *sim = sim_of(hv);

    sim->mem_accesses++;
    if (sim_fault(sim, bank, off, len)) {
        return -EFAULT;
    }
    memcpy(sim->ram + sim->bank_off[bank] + off, buf, len);
    return 0;
}

/* No direct pointer while a fault is injected on the range: the copy
 * path then sees it. */
static void *
sim_mem_ptr(struct hv *hv, unsigned bank, uint64_t off, size_t len)
{
    struct hv_sim *sim = sim_of(hv);

    if (sim->fail_mem || sim->bank_off[bank] % 8 ||
        sim_in_hole(sim, bank, off, len)) {
        return NULL;
    }
    sim->ptrs_held++;
    return sim->ram + sim->bank_off[bank] + off;
}

/* RAM stays mapped: only counted, so tests see pointers given back
 * (a pointer given back twice drives the count below zero). */
static void
sim_mem_ptr_put(struct hv *hv, void *p)
{
    (void)p;
    sim_of(hv)->ptrs_held--;
}

static int
sim_mem_regions(struct hv *hv, struct hv_region *out, unsigned max)
{
    struct hv_sim *sim = sim_of(hv);

    if (sim->xen_share && sim->share_fd < 0) {
        return -EOPNOTSUPP;
    }
    if (max < hv->ram.nr) {
        return -ENOSPC;
    }
    for (unsigned i = 0; i < hv->ram.nr; i++) {
        out[i] = (struct hv_region){
            .gpa = hv->ram.bank[i].gpa,
            .len = hv->ram.bank[i].len,
            .fd_off = sim->xen_share ? 0 : sim->bank_off[i],
            .xen_mmap_flags =
                sim->xen_share || sim->xen_mmap ? HV_XEN_MMAP_FOREIGN : 0,
            .xen_domid = sim->xen_share || sim->xen_mmap ? hv->domid : 0,
        };
    }
    return (int)hv->ram.nr;
}

static int
sim_mem_share(struct hv *hv)
{
    struct hv_sim *sim = sim_of(hv);
    int fd;

    if (sim->xen_share) {
        return sim->share_fd < 0
                   ? -EOPNOTSUPP
                   : privfd_dup_for(&sim->priv, sim->share_fd, hv->domid);
    }
    fd = fcntl(sim->memfd, F_DUPFD_CLOEXEC, 3);
    return fd < 0 ? -errno : fd;
}

int
hv_sim_share_privcmd(struct hv_sim *sim, const struct privfd_ops *ops,
                     uint32_t domid)
{
    if (sim->share_fd >= 0) {
        close(sim->share_fd);
    }
    sim->xen_share = true;
    sim->priv = *ops;
    sim->hv.domid = domid;
    hv_sim_gnt_set_domid(&sim->gnt, domid);
    sim->share_fd = privfd_open_for(ops, domid);
    return sim->share_fd < 0 ? sim->share_fd : 0;
}

static int
sim_mmio_add(struct hv *hv, uint64_t base, uint64_t len, hv_mmio_fn fn,
             void *opaque)
{
    struct hv_sim *sim = sim_of(hv);
    struct hv_sim_mmio *free_slot = NULL;

    for (unsigned i = 0; i < HV_SIM_MAX_MMIO; i++) {
        struct hv_sim_mmio *m = &sim->mmio[i];

        if (!m->used) {
            free_slot = free_slot ? free_slot : m;
        } else if (base < m->base + m->len && m->base < base + len) {
            return -EEXIST;
        }
    }
    if (!free_slot) {
        return -ENOSPC;
    }
    *free_slot = (struct hv_sim_mmio){ base, len, fn, opaque, true };
    return 0;
}

static void
sim_mmio_del(struct hv *hv, uint64_t base)
{
    struct hv_sim *sim = sim_of(hv);

    for (unsigned i = 0; i < HV_SIM_MAX_MMIO; i++) {
        if (sim->mmio[i].used && sim->mmio[i].base == base) {
            sim->mmio[i].used = false;
        }
    }
}

static int
sim_irq_set(struct hv *hv, unsigned irq, bool level)
{
    struct hv_sim *sim = sim_of(hv);

    if (irq >= HV_SIM_MAX_IRQ) {
        return -EINVAL;
    }
    if (level && !sim->irq_level[irq]) {
        sim->irq_edges[irq]++;
    }
    sim->irq_level[irq] = level;
    return 0;
}

static int
sim_ioeventfd_add(struct hv *hv, uint64_t addr, uint32_t datamatch, int fd)
{
    struct hv_sim *sim = sim_of(hv);

    if (!sim->ioeventfd_on) {
        return -EOPNOTSUPP;
    }
    for (unsigned i = 0; i < HV_SIM_MAX_IOEVENTFD; i++) {
        if (sim->iofd[i].fd < 0) {
            sim->iofd[i] = (struct hv_sim_ioeventfd){ addr, datamatch, fd };
            return 0;
        }
    }
    return -ENOSPC;
}

static void
sim_ioeventfd_del(struct hv *hv, uint64_t addr, int fd)
{
    struct hv_sim *sim = sim_of(hv);

    for (unsigned i = 0; i < HV_SIM_MAX_IOEVENTFD; i++) {
        if (sim->iofd[i].fd == fd && sim->iofd[i].addr == addr) {
            sim->iofd[i].fd = -1;
        }
    }
}

/* The kernel's irqfd: consume the signal, inject an edge (Xen's
 * set_irq_level(1) injects each time, whatever the line was). */
static void
sim_irqfd_fire(struct hv_sim_irqfd *e)
{
    uint64_t n;

    if (read(e->own, &n, sizeof(n)) == (ssize_t)sizeof(n)) {
        e->sim->irq_edges[e->irq]++;
        e->sim->irqfd_edges[e->irq]++;
    }
}

static void
sim_on_irqfd(void *opaque, uint32_t events)
{
    (void)events;
    sim_irqfd_fire(opaque);
}

static int
sim_irqfd_add(struct hv *hv, unsigned irq, int fd)
{
    struct hv_sim *sim = sim_of(hv);

    if (!sim->irqfd_loop) {
        return -EOPNOTSUPP;
    }
    if (irq >= HV_SIM_MAX_IRQ || fd < 0) {
        return -EINVAL;
    }
    for (unsigned i = 0; i < HV_SIM_MAX_IOEVENTFD; i++) {
        struct hv_sim_irqfd *e = &sim->irqfd[i];
        int rc;

        if (e->fd >= 0) {
            continue;
        }
        /* The kernel holds the eventfd itself: so does the sim, by a fd
         * of its own, which the caller's loop may still watch too. */
        *e = (struct hv_sim_irqfd){ sim, irq, fd,
                                    fcntl(fd, F_DUPFD_CLOEXEC, 0) };
        if (e->own < 0) {
            e->fd = -1;
            return -errno;
        }
        rc = loop_add_fd(sim->irqfd_loop, e->own, EPOLLIN, sim_on_irqfd, e);
        if (rc < 0) {
            close(e->own);
            e->fd = -1;
            return rc;
        }
        /* A signal already pending is delivered now, as the kernel does. */
        sim_irqfd_fire(e);
        return 0;
    }
    return -ENOSPC;
}

static void
sim_irqfd_del(struct hv *hv, unsigned irq, int fd)
{
    struct hv_sim *sim = sim_of(hv);

    for (unsigned i = 0; i < HV_SIM_MAX_IOEVENTFD; i++) {
        struct hv_sim_irqfd *e = &sim->irqfd[i];

        if (e->fd == fd && e->irq == irq) {
            loop_del_fd(sim->irqfd_loop, e->own);
            close(e->own);
            e->fd = -1;
        }
    }
}

/* A 4-byte write the kernel would turn into an eventfd signal. */
static bool
sim_ioeventfd_hit(struct hv_sim *sim, uint64_t addr, unsigned size,
                  uint64_t val)
{
    uint64_t one = 1;

    if (size != 4) {
        return false;
    }
    for (unsigned i = 0; i < HV_SIM_MAX_IOEVENTFD; i++) {
        const struct hv_sim_ioeventfd *e = &sim->iofd[i];

        if (e->fd >= 0 && e->addr == addr && e->datamatch == (uint32_t)val) {
            if (write(e->fd, &one, sizeof(one)) < 0) {
                log_warn("%s: ioeventfd write failed", sim->hv.name);
            }
            return true;
        }
    }
    return false;
}

static int
sim_gnt_copy(struct hv *hv, const struct hv_gnt_seg *seg, unsigned n,
             bool to_guest)
{
    struct hv_sim *sim = sim_of(hv);

    for (unsigned i = 0; i < n; i++) {
        uint64_t off;

        if (hv_sim_gnt_lookup(&sim->gnt, seg[i].ref, to_guest, &off) < 0 ||
            seg[i].off > 4096 || seg[i].len > 4096 - seg[i].off) {
            return -EFAULT;
        }
        if (to_guest) {
            memcpy(sim->ram + off + seg[i].off, seg[i].buf, seg[i].len);
        } else {
            memcpy(seg[i].buf, sim->ram + off + seg[i].off, seg[i].len);
        }
    }
    return 0;
}

/* Like gntdev, through the same table a backend process maps from. */
static int
sim_gnt_map(struct hv *hv, uint32_t ref, uint32_t count, bool writable,
            void **out)
{
    return hv_sim_gnt_map(&sim_of(hv)->gnt, ref, count, writable, out);
}

static void
sim_gnt_unmap(struct hv *hv, void *p, uint32_t ref, uint32_t count)
{
    hv_sim_gnt_unmap(&sim_of(hv)->gnt, p, ref, count);
}

/* The "gntdev" of a zero-copy backend: the RAM memfd with its table. */
static int
sim_gnt_share(struct hv *hv)
{
    struct hv_sim *sim = sim_of(hv);
    int fd;

    hv_sim_gnt_set_domid(&sim->gnt, hv->domid);
    fd = fcntl(sim->memfd, F_DUPFD_CLOEXEC, 3);
    return fd < 0 ? -errno : fd;
}

static void
sim_free(struct hv *hv)
{
    struct hv_sim *sim = sim_of(hv);

    if (sim->ram) {
        munmap(sim->ram, sim->ram_len);
    }
    hv_sim_gnt_close(&sim->gnt);
    if (sim->memfd >= 0) {
        close(sim->memfd);
    }
    if (sim->share_fd >= 0) {
        close(sim->share_fd);
    }
    for (unsigned i = 0; i < HV_SIM_MAX_IOEVENTFD; i++) {
        if (sim->irqfd[i].fd >= 0) {
            loop_del_fd(sim->irqfd_loop, sim->irqfd[i].own);
            close(sim->irqfd[i].own);
        }
    }
    free(sim);
}

static const struct hv_ops hv_sim_ops = {
    .name = "sim",
    .mem_read = sim_mem_read,
    .mem_write = sim_mem_write,
    .mem_ptr = sim_mem_ptr,
    .mem_ptr_put = sim_mem_ptr_put,
    .mem_regions = sim_mem_regions,
    .mem_share = sim_mem_share,
    .mmio_add = sim_mmio_add,
    .mmio_del = sim_mmio_del,
    .irq_set = sim_irq_set,
    .ioeventfd_add = sim_ioeventfd_add,
    .ioeventfd_del = sim_ioeventfd_del,
    .irqfd_add = sim_irqfd_add,
    .irqfd_del = sim_irqfd_del,
    .gnt_copy = sim_gnt_copy,
    .gnt_map = sim_gnt_map,
    .gnt_unmap = sim_gnt_unmap,
    .gnt_share = sim_gnt_share,
    .free = sim_free,
};

int
hv_sim_new(struct hv_sim **out, const struct hv_sim_config *cfg)
{
    struct hv_sim *sim;
    int rc;

    if (cfg->ram0_len == 0 || cfg->ram0_len > HV_ARM_RAM0_MAX ||
        cfg->ram0_len % 4096 || cfg->ram1_len % 4096) {
        return -EINVAL;
    }
    sim = calloc(1, sizeof(*sim));
    if (!sim) {
        return -ENOMEM;
    }
    sim->hv.ops = &hv_sim_ops;
    snprintf(sim->hv.name, sizeof(sim->hv.name), "%s",
             cfg->name ? cfg->name : "sim");
    sim->memfd = -1;
    sim->share_fd = -1;
    sim->ioeventfd_on = cfg->ioeventfd;
    sim->xen_mmap = cfg->xen_mmap;
    sim->hv.domid = cfg->domid;
    sim->hv.nr_vcpus = cfg->vcpus ? cfg->vcpus : 1;
    sim->irqfd_loop = cfg->irqfd_loop;
    for (unsigned i = 0; i < HV_SIM_MAX_IOEVENTFD; i++) {
        sim->iofd[i].fd = -1;
        sim->irqfd[i].fd = -1;
    }
    sim->ram_len = cfg->ram0_len + cfg->ram1_len;
    hv_layout_add(&sim->hv.ram, HV_ARM_RAM0_GPA, cfg->ram0_len);
    sim->bank_off[0] = 0;
    if (cfg->ram1_len) {
        hv_layout_add(&sim->hv.ram, HV_ARM_RAM1_GPA, cfg->ram1_len);
        sim->bank_off[1] = cfg->ram0_len;
    }
    sim->memfd = memfd_create("xvm-sim-ram", MFD_CLOEXEC);
    if (sim->memfd < 0) {
        rc = -errno;
        goto fail;
    }
    rc = hv_sim_gnt_create(&sim->gnt, sim->memfd, sim->ram_len, cfg->domid);
    if (rc < 0) {
        goto fail;
    }
    sim->ram = mmap(NULL, sim->ram_len, PROT_READ | PROT_WRITE, MAP_SHARED,
                    sim->memfd, 0);
    if (sim->ram == MAP_FAILED) {
        sim->ram = NULL;
        rc = -errno;
        goto fail;
    }
    *out = sim;
    return 0;

fail:
    sim_free(&sim->hv);
    return rc;
}

void
hv_sim_free(struct hv_sim *sim)
{
    if (sim) {
        sim_free(&sim->hv);
    }
}

struct hv *
hv_sim_hv(struct hv_sim *sim)
{
    return &sim->hv;
}

void *
hv_sim_ram(struct hv_sim *sim, uint64_t gpa, uint64_t len)
{
    unsigned bank;
    uint64_t off;

    if (hv_layout_find(&sim->hv.ram, gpa, len, &bank, &off) < 0) {
        return NULL;
    }
    return sim->ram + sim->bank_off[bank] + off;
}

int
hv_sim_mmio(struct hv_sim *sim, uint64_t addr, unsigned size, bool is_write,
            uint64_t *val)
{
    if (is_write && sim_ioeventfd_hit(sim, addr, size, *val)) {
        return 0;
    }
    for (unsigned i = 0; i < HV_SIM_MAX_MMIO; i++) {
        struct hv_sim_mmio *m = &sim->mmio[i];

        if (m->used && addr >= m->base && addr - m->base < m->len) {
            m->fn(m->opaque, addr - m->base, size, is_write, val);
            return 0;
        }
    }
    if (!is_write) {
        *val = ~0ULL;
    }
    return -ENODEV;
}

uint32_t
hv_sim_read32(struct hv_sim *sim, uint64_t addr)
{
    uint64_t v = 0;

    hv_sim_mmio(sim, addr, 4, false, &v);
    return (uint32_t)v;
}

void
hv_sim_write32(struct hv_sim *sim, uint64_t addr, uint32_t val)
{
    uint64_t v = val;

    hv_sim_mmio(sim, addr, 4, true, &v);
}

bool
hv_sim_irq_level(const struct hv_sim *sim, unsigned irq)
{
    return irq < HV_SIM_MAX_IRQ && sim->irq_level[irq];
}

uint64_t
hv_sim_irq_edges(const struct hv_sim *sim, unsigned irq)
{
    return irq < HV_SIM_MAX_IRQ ? sim->irq_edges[irq] : 0;
}

unsigned
hv_sim_irqfds(const struct hv_sim *sim)
{
    unsigned n = 0;

    for (unsigned i = 0; i < HV_SIM_MAX_IOEVENTFD; i++) {
        n += sim->irqfd[i].fd >= 0;
    }
    return n;
}

uint64_t
hv_sim_irqfd_edges(const struct hv_sim *sim, unsigned irq)
{
    return irq < HV_SIM_MAX_IRQ ? sim->irqfd_edges[irq] : 0;
}

int
hv_sim_wait_edge(struct hv_sim *sim, struct loop *loop, unsigned irq,
                 uint64_t *edges_seen, int timeout_ms)
{
    uint64_t deadline = log_now_ns() + (uint64_t)timeout_ms * 1000000ULL;

    while (hv_sim_irq_edges(sim, irq) == *edges_seen) {
        uint64_t now = log_now_ns();

        if (now >= deadline) {
            return -ETIMEDOUT;
        }
        loop_run_once(loop, (int)((deadline - now) / 1000000ULL) + 1);
    }
    *edges_seen = hv_sim_irq_edges(sim, irq);
    return 0;
}

void
hv_sim_set_hole(struct hv_sim *sim, uint64_t gpa, uint64_t len)
{
    sim->hole_gpa = gpa;
    sim->hole_len = len;
    sim->hv.map_gen++;
}

void
hv_sim_fail_mem(struct hv_sim *sim, unsigned n)
{
    sim->fail_mem = n;
    sim->hv.map_gen++;
}

unsigned
hv_sim_mmio_windows(const struct hv_sim *sim)
{
    unsigned n = 0;

    for (unsigned i = 0; i < HV_SIM_MAX_MMIO; i++) {
        n += sim->mmio[i].used;
    }
    return n;
}

int
hv_sim_grant(struct hv_sim *sim, uint32_t ref, uint64_t gpa, bool readonly)
{
    uint8_t *page = gpa % 4096 ? NULL : hv_sim_ram(sim, gpa, 4096);

    if (!page) {
        return -EINVAL;
    }
    return hv_sim_gnt_grant(&sim->gnt, ref, (uint64_t)(page - sim->ram),
                            readonly);
}

int
hv_sim_revoke(struct hv_sim *sim, uint32_t ref)
{
    return hv_sim_gnt_revoke(&sim->gnt, ref);
}

unsigned
hv_sim_gnt_mapped(const struct hv_sim *sim)
{
    return hv_sim_gnt_live(&sim->gnt);
}

uint64_t
hv_sim_mem_accesses(const struct hv_sim *sim)
{
    return sim->mem_accesses;
}

int
hv_sim_ptrs_held(const struct hv_sim *sim)
{
    return sim->ptrs_held;
}
