/*
 * Test support: the hostile backend's ring side (see hostile_backend.h):
 * the memory table it maps, the chains it serves and the faults it
 * commits on the ring.  Every address taken from the shared ring is
 * checked against the mapped regions before it is touched.
 */
#include <config.h>

#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <unistd.h>

#include "hostile_priv.h"
#include "vq.h"

void
hb_unmap(struct hb_mem *m)
{
    for (unsigned i = 0; i < m->nreg; i++) {
        munmap(m->reg[i].map, m->reg[i].map_len);
    }
    m->nreg = 0;
}

/* Pointer for [addr, addr+len) in the backend's view (by gpa or uaddr). */
static uint8_t *
hb_ptr(const struct hb_mem *m, uint64_t addr, uint64_t len, bool by_uaddr)
{
    for (unsigned i = 0; i < m->nreg; i++) {
        const struct hb_region *r = &m->reg[i];
        uint64_t base = by_uaddr ? r->uaddr : r->gpa;

        if (addr >= base && addr - base <= r->len && len <= r->len - (addr - base)) {
            return r->map + r->map_off + (addr - base);
        }
    }
    return NULL;
}

static void
hb_call(int call_fd)
{
    uint64_t one = 1;

    if (call_fd >= 0 && write(call_fd, &one, sizeof(one)) < 0) {
        return;
    }
}

static void
hb_push_used(uint8_t *used, uint16_t num, uint16_t *used_idx, uint32_t id,
             uint32_t len)
{
    uint8_t *e = used + 4 + 8 * (*used_idx % num);

    memcpy(e, &id, 4);
    memcpy(e + 4, &len, 4);
    (*used_idx)++;
}

/*
 * Walk one chain of a num-entry ring in memory m: fill writable bytes;
 * -1 on a chain we cannot follow.
 */
static int64_t
hb_serve_chain(const struct hb_mem *m, const uint8_t *desc, uint16_t num,
               uint16_t head, uint8_t fill)
{
    uint64_t writable = 0;
    uint16_t i = head;

    for (unsigned n = 0; n < num; n++) {
        const uint8_t *d = desc + 16 * i;
        uint64_t addr;
        uint32_t len;
        uint16_t flags, next;
        uint8_t *p;

        memcpy(&addr, d, 8);
        memcpy(&len, d + 8, 4);
        memcpy(&flags, d + 12, 2);
        memcpy(&next, d + 14, 2);
        if (flags & VQ_DESC_F_INDIRECT) {
            return -1; /* never offered: the relay must not use it */
        }
        p = hb_ptr(m, addr, len, false);
        if (!p) {
            return -1;
        }
        if (flags & VQ_DESC_F_WRITE) {
            memset(p, fill, len);
            writable += len;
        }
        if (!(flags & VQ_DESC_F_NEXT)) {
            return (int64_t)writable;
        }
        if (next >= num) {
            return -1;
        }
        i = next;
    }
    return -1;
}

/* HOSTILE_LATE: the ring was stopped; keep what it holds aside. */
void
hb_late_keep(struct hostile *h)
{
    struct hb_late *l = &h->late;

    if (hb_fault(h) != HOSTILE_LATE || h->nheld == 0 || l->n > 0) {
        return;
    }
    l->desc = hb_ptr(&h->mem, h->desc_ua, VQ_DESC_BYTES(h->num), true);
    l->used = hb_ptr(&h->mem, h->used_ua, VQ_USED_BYTES(h->num), true);
    if (!l->desc || !l->used) {
        return;
    }
    l->mem = h->mem; /* the mappings move to the late batch */
    h->mem.nreg = 0;
    l->num = h->num;
    l->used_idx = h->used_idx;
    l->call_fd = h->call_fd >= 0 ? dup(h->call_fd) : -1;
    l->n = h->nheld;
    memcpy(l->head, h->held, sizeof(l->head[0]) * h->nheld);
    h->nheld = 0;
    __atomic_store_n(&h->fault, HOSTILE_NONE, __ATOMIC_RELEASE);
}

/* Complete the kept chains through the old session's memory. */
static void
hb_late_complete(struct hostile *h)
{
    struct hb_late *l = &h->late;
    unsigned n = l->n;

    for (unsigned i = 0; i < n; i++) {
        int64_t w = hb_serve_chain(&l->mem, l->desc, l->num, l->head[i],
                                   h->cfg.late_fill);

        hb_push_used(l->used, l->num, &l->used_idx, l->head[i],
                     w < 0 ? 0 : (uint32_t)w);
    }
    __atomic_thread_fence(__ATOMIC_RELEASE);
    memcpy(l->used + 2, &l->used_idx, 2);
    hb_call(l->call_fd);
    hb_close(&l->call_fd);
    hb_unmap(&l->mem);
    l->n = 0;
    __atomic_fetch_add(&h->late_done, n, __ATOMIC_RELEASE);
}

void
hb_ring(struct hostile *h)
{
    uint8_t *desc = hb_ptr(&h->mem, h->desc_ua, VQ_DESC_BYTES(h->num), true);
    uint8_t *avail = hb_ptr(&h->mem, h->avail_ua, VQ_AVAIL_BYTES(h->num), true);
    uint8_t *used = hb_ptr(&h->mem, h->used_ua, VQ_USED_BYTES(h->num), true);
    int fault = hb_fault(h);
    uint16_t aidx, first = 0;
    unsigned batch = 0;

    if (!desc || !avail || !used || h->num == 0) {
        return;
    }
    memcpy(&aidx, avail + 2, 2);
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    while (h->last_avail != aidx) {
        uint16_t head;
        int64_t w;
        uint32_t id, len;

        memcpy(&head, avail + 4 + 2 * (h->last_avail % h->num), 2);
        h->last_avail++;
        __atomic_fetch_add(&h->chains, 1, __ATOMIC_RELEASE);
        if (fault == HOSTILE_CLOSE_ON_KICK) {
            __atomic_store_n(&h->fault, HOSTILE_NONE, __ATOMIC_RELEASE);
            hb_drop_conn(h);
            return;
        }
        if (head < h->num && h->nheld < HB_MAX_HELD &&
            (fault == HOSTILE_LATE ||
             (fault == HOSTILE_HOLD_FIRST && h->nheld == 0))) {
            h->held[h->nheld++] = head;
            continue;
        }
        if (fault == HOSTILE_HOLD || head >= h->num) {
            continue;
        }
        w = hb_serve_chain(&h->mem, desc, h->num, head, h->cfg.fill);
        if (w < 0) {
            continue;
        }
        id = head;
        len = (uint32_t)w;
        if (batch == 0) {
            first = head;
        }
        switch (fault) {
        case HOSTILE_BAD_ID:
            id = (uint32_t)((head + h->num / 2) % h->num);
            break;
        case HOSTILE_DUP_ID:
            id = first;
            break;
        case HOSTILE_BIG_LEN:
            len += 4096;
            break;
        default:
            break;
        }
        batch++;
        hb_push_used(used, h->num, &h->used_idx, id, len);
    }
    if (batch == 0) {
        return;
    }
    if (h->late.n > 0) {
        hb_late_complete(h);
    }
    if (fault == HOSTILE_JUMP_IDX) {
        h->used_idx = (uint16_t)(h->used_idx + 1000);
    }
    __atomic_thread_fence(__ATOMIC_RELEASE);
    memcpy(used + 2, &h->used_idx, 2);
    hb_call(h->call_fd);
}

void
hb_mem_table(struct hostile *h, const uint8_t *p, uint32_t size, int *fds,
             unsigned nfds)
{
    struct vhu_wire_mem_hdr mh;
    bool xen = h->protocol & (1ULL << VHU_PF_XEN_MMAP);
    size_t stride = xen ? sizeof(struct vhu_wire_region_xen)
                        : sizeof(struct vhu_wire_region);

    hb_unmap(&h->mem);
    pthread_mutex_lock(&h->mem_lock);
    h->mem_tables++;
    h->mem_nfds = 0;
    for (unsigned i = 0; i < nfds && i < VHU_MAX_REGIONS; i++) {
        struct stat st;

        if (fstat(fds[i], &st) == 0) {
            h->mem_ids[h->mem_nfds++] = (struct hostile_fd_id){
                st.st_dev, st.st_ino, fcntl(fds[i], F_GET_SEALS)
            };
        }
    }
    pthread_mutex_unlock(&h->mem_lock);
    if (size < sizeof(mh) || h->cfg.xen_mmap) {
        return; /* record-only regions (privcmd fds) are not mapped here */
    }
    memcpy(&mh, p, sizeof(mh));
    for (unsigned i = 0; i < mh.nregions && i < nfds && i < VHU_MAX_REGIONS &&
                         sizeof(mh) + (i + 1) * stride <= size;
         i++) {
        struct vhu_wire_region wr;
        struct hb_region *r = &h->mem.reg[h->mem.nreg];

        /* The Xen layout extends the plain one: its first 32 bytes. */
        memcpy(&wr, p + sizeof(mh) + i * stride, sizeof(wr));
        r->gpa = wr.gpa;
        r->len = wr.size;
        r->uaddr = wr.uaddr;
        r->map_off = wr.mmap_off;
        r->map_len = (size_t)(wr.size + wr.mmap_off);
        r->map = mmap(NULL, r->map_len, PROT_READ | PROT_WRITE, MAP_SHARED,
                      fds[i], 0);
        if (r->map != MAP_FAILED) {
            h->mem.nreg++;
        }
    }
}
