/*
 * hv_sim_gnt: the simulator's grant table in shared memory (see
 * hv_sim_gnt.h).
 *
 * Concepts: the state word of an entry is the only thing two processes
 * race on; every transition is one compare-and-swap, so a revoke and a
 * map of the same ref cannot both succeed.  `file_off` is written before
 * the state says "granted" (release) and read after seeing it (acquire).
 * Mappings are built like gntdev's: a PROT_NONE reservation, then each
 * granted page mapped over it from the file, so refs whose pages are not
 * adjacent in guest RAM still give one contiguous range.
 */
#include <config.h>

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hv_sim_gnt.h"

#define GNT_GRANTED (1u << 31)
#define GNT_READONLY (1u << 30)
#define GNT_MAPS_MASK ((1u << 30) - 1)

static int
gnt_map_table(struct hv_sim_gnt *g, int fd, uint64_t data_len)
{
    void *p = mmap(NULL, HV_SIM_GNT_TABLE_BYTES, PROT_READ | PROT_WRITE,
                   MAP_SHARED, fd, (off_t)data_len);

    if (p == MAP_FAILED) {
        return -errno;
    }
    g->fd = fd;
    g->data_len = data_len;
    g->t = p;
    return 0;
}

int
hv_sim_gnt_create(struct hv_sim_gnt *g, int fd, uint64_t data_len,
                  uint32_t domid)
{
    int rc;

    if (data_len % HV_SIM_GNT_PAGE) {
        return -EINVAL;
    }
    if (ftruncate(fd, (off_t)(data_len + HV_SIM_GNT_TABLE_BYTES)) < 0) {
        return -errno;
    }
    rc = gnt_map_table(g, fd, data_len);
    if (rc == 0) {
        /* A new file reads as zeros: every entry is free. */
        g->t->domid = domid;
        g->t->nr = HV_SIM_GNT_MAX_REFS;
        g->t->magic = HV_SIM_GNT_MAGIC;
    }
    return rc;
}

int
hv_sim_gnt_open(struct hv_sim_gnt *g, int fd, uint32_t domid)
{
    struct stat st;
    uint64_t size;
    int rc;

    memset(g, 0, sizeof(*g));
    g->fd = -1;
    if (fstat(fd, &st) < 0) {
        return -errno;
    }
    size = (uint64_t)st.st_size;
    if (!S_ISREG(st.st_mode) || size < HV_SIM_GNT_TABLE_BYTES ||
        size % HV_SIM_GNT_PAGE) {
        return -EINVAL;
    }
    rc = gnt_map_table(g, fd, size - HV_SIM_GNT_TABLE_BYTES);
    if (rc < 0) {
        return rc;
    }
    if (g->t->magic != HV_SIM_GNT_MAGIC || g->t->nr != HV_SIM_GNT_MAX_REFS) {
        hv_sim_gnt_close(g);
        return -EINVAL;
    }
    if (g->t->domid != domid) {
        hv_sim_gnt_close(g);
        return -EPERM;
    }
    return 0;
}

void
hv_sim_gnt_close(struct hv_sim_gnt *g)
{
    if (g->t) {
        munmap(g->t, HV_SIM_GNT_TABLE_BYTES);
        g->t = NULL;
    }
    g->fd = -1;
}

void
hv_sim_gnt_set_domid(struct hv_sim_gnt *g, uint32_t domid)
{
    g->t->domid = domid;
}

int
hv_sim_gnt_grant(struct hv_sim_gnt *g, uint32_t ref, uint64_t file_off,
                 bool readonly)
{
    uint32_t want = 0;

    if (ref >= HV_SIM_GNT_MAX_REFS || file_off % HV_SIM_GNT_PAGE ||
        file_off >= g->data_len) {
        return -EINVAL;
    }
    if (atomic_load_explicit(&g->t->e[ref].state, memory_order_acquire)) {
        return -EBUSY;
    }
    g->t->e[ref].file_off = file_off;
    /* Pairs with the acquire in hv_sim_gnt_lookup: file_off first. */
    if (!atomic_compare_exchange_strong_explicit(
            &g->t->e[ref].state, &want,
            GNT_GRANTED | (readonly ? GNT_READONLY : 0),
            memory_order_release, memory_order_relaxed)) {
        return -EBUSY;
    }
    return 0;
}

int
hv_sim_gnt_revoke(struct hv_sim_gnt *g, uint32_t ref)
{
    uint32_t s;

    if (ref >= HV_SIM_GNT_MAX_REFS) {
        return -ENOENT;
    }
    s = atomic_load_explicit(&g->t->e[ref].state, memory_order_acquire);
    do {
        if (!(s & GNT_GRANTED)) {
            return -ENOENT;
        }
        if (s & GNT_MAPS_MASK) {
            return -EBUSY;
        }
    } while (!atomic_compare_exchange_weak_explicit(
        &g->t->e[ref].state, &s, 0, memory_order_acq_rel,
        memory_order_acquire));
    return 0;
}

/* The checked file offset of a granted page (`s` its state word). */
static int
gnt_page(const struct hv_sim_gnt *g, uint32_t ref, uint32_t s, bool write,
         uint64_t *file_off)
{
    uint64_t off = g->t->e[ref].file_off;

    if (!(s & GNT_GRANTED) || (write && (s & GNT_READONLY)) ||
        off % HV_SIM_GNT_PAGE || off >= g->data_len) {
        return -EFAULT;
    }
    *file_off = off;
    return 0;
}

int
hv_sim_gnt_lookup(const struct hv_sim_gnt *g, uint32_t ref, bool write,
                  uint64_t *file_off)
{
    if (ref >= HV_SIM_GNT_MAX_REFS) {
        return -EFAULT;
    }
    return gnt_page(g, ref, atomic_load_explicit(&g->t->e[ref].state,
                                                 memory_order_acquire),
                    write, file_off);
}

/* Count one more mapping of `ref` if it is mappable: 0 or -EFAULT. */
static int
gnt_take(struct hv_sim_gnt *g, uint32_t ref, bool write, uint64_t *file_off)
{
    _Atomic uint32_t *st = &g->t->e[ref].state;
    uint32_t s = atomic_load_explicit(st, memory_order_acquire);

    do {
        if (gnt_page(g, ref, s, write, file_off) < 0 ||
            (s & GNT_MAPS_MASK) == GNT_MAPS_MASK) {
            return -EFAULT;
        }
    } while (!atomic_compare_exchange_weak_explicit(
        st, &s, s + 1, memory_order_acq_rel, memory_order_acquire));
    return 0;
}

static void
gnt_put(struct hv_sim_gnt *g, uint32_t ref)
{
    _Atomic uint32_t *st = &g->t->e[ref].state;
    uint32_t s = atomic_load_explicit(st, memory_order_acquire);

    while ((s & GNT_MAPS_MASK) &&
           !atomic_compare_exchange_weak_explicit(
               st, &s, s - 1, memory_order_acq_rel, memory_order_acquire)) {
    }
}

int
hv_sim_gnt_map(struct hv_sim_gnt *g, uint32_t ref, uint32_t count,
               bool writable, void **out)
{
    int prot = PROT_READ | (writable ? PROT_WRITE : 0);
    uint32_t taken = 0;
    uint8_t *base;
    int rc = -EFAULT;

    if (count == 0 || ref >= HV_SIM_GNT_MAX_REFS ||
        count > HV_SIM_GNT_MAX_REFS - ref) {
        return -EFAULT;
    }
    base = mmap(NULL, (size_t)count * HV_SIM_GNT_PAGE, PROT_NONE,
                MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED) {
        return -errno;
    }
    for (; taken < count; taken++) {
        uint64_t off;

        if (gnt_take(g, ref + taken, writable, &off) < 0) {
            rc = -EFAULT;
            goto fail_put;
        }
        if (mmap(base + (size_t)taken * HV_SIM_GNT_PAGE, HV_SIM_GNT_PAGE, prot,
                 MAP_SHARED | MAP_FIXED, g->fd, (off_t)off) == MAP_FAILED) {
            rc = -errno;
            gnt_put(g, ref + taken);
            goto fail_put;
        }
    }
    *out = base;
    return 0;

fail_put:
    while (taken > 0) {
        gnt_put(g, ref + --taken);
    }
    munmap(base, (size_t)count * HV_SIM_GNT_PAGE);
    return rc;
}

void
hv_sim_gnt_unmap(struct hv_sim_gnt *g, void *p, uint32_t ref, uint32_t count)
{
    munmap(p, (size_t)count * HV_SIM_GNT_PAGE);
    for (uint32_t i = 0; i < count && ref + i < HV_SIM_GNT_MAX_REFS; i++) {
        gnt_put(g, ref + i);
    }
}

unsigned
hv_sim_gnt_live(const struct hv_sim_gnt *g)
{
    unsigned n = 0;

    for (uint32_t i = 0; i < HV_SIM_GNT_MAX_REFS; i++) {
        n += atomic_load_explicit(&g->t->e[i].state, memory_order_relaxed) &
             GNT_MAPS_MASK;
    }
    return n;
}
