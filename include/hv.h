/*
 * hv: the hypervisor seam.  Everything above this layer (virtio-mmio,
 * virtqueues, relay) reaches the guest only through a struct hv: guest
 * memory, MMIO trap windows, the interrupt line, and (optionally) kernel
 * ioeventfds and irqfds.  Implementations: hv_xen (libxendevicemodel &
 * co) and hv_sim (an in-process simulated guest for tests and
 * benchmarks).
 *
 * Trust boundary: every guest physical address (gpa) and length reaching
 * hv_mem_read()/hv_mem_write() is guest-controlled.  Those wrappers are the
 * one route to guest memory: they check that the whole [gpa, gpa+len) lies
 * inside one RAM bank of the guest (overflow-safe) before the backend's
 * op is called with a bank index and an offset already proven in range.
 */
#ifndef XVM_HV_H
#define XVM_HV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HV_MAX_BANKS 4

/* Arm guest RAM banks (Xen public/arch-arm.h GUEST_RAM_BANK_BASES). */
#define HV_ARM_RAM0_GPA 0x40000000ULL
#define HV_ARM_RAM0_MAX 0xc0000000ULL
#define HV_ARM_RAM1_GPA 0x200000000ULL

struct hv_bank {
    uint64_t gpa;
    uint64_t len;
};

/* The guest's RAM as a sorted list of non-overlapping banks. */
struct hv_layout {
    unsigned nr;
    struct hv_bank bank[HV_MAX_BANKS];
};

/*
 * Append a bank.  Banks must be added in ascending order, be non-empty,
 * not overlap or wrap around 2^64.  0 or -EINVAL / -ENOSPC.
 */
int hv_layout_add(struct hv_layout *l, uint64_t gpa, uint64_t len);

/*
 * Find the bank holding all of [gpa, gpa+len).  len 0 is treated as 1.
 * On success returns 0 and sets *bank and *off (offset inside the bank);
 * returns -EFAULT when the range is not wholly inside one bank.
 */
int hv_layout_find(const struct hv_layout *l, uint64_t gpa, uint64_t len,
                   unsigned *bank, uint64_t *off);

/*
 * VHOST_USER XEN_MMAP region flags (vhu.h has the same, rust-vmm's
 * vm-memory the meaning): a foreign mapping of guest frames through
 * privcmd, or grants mapped through gntdev, on demand (NO_ADVANCE_MAP:
 * the backend maps the refs each access needs, never the whole region).
 */
#define HV_XEN_MMAP_FOREIGN 0x1u
#define HV_XEN_MMAP_GRANT 0x2u
#define HV_XEN_MMAP_NO_ADVANCE_MAP 0x8u

/*
 * A guest RAM region as a backend process could map it (zero-copy), from
 * the fd hv_mem_share() gives.
 */
struct hv_region {
    uint64_t gpa;
    uint64_t len;
    uint64_t fd_off;         /* mmap offset of gpa inside the shared fd */
    uint32_t xen_mmap_flags; /* 0, or VHOST_USER XEN_MMAP flags */
    uint32_t xen_domid;
};

/*
 * One piece of a grant copy: `len` bytes at offset `off` of the page the
 * guest granted as `ref` (off + len <= 4096), and our buffer `buf`.
 */
struct hv_gnt_seg {
    uint32_t ref;
    uint32_t off;
    uint32_t len;
    void *buf;
};

/*
 * How the hv reached guest memory (Xen: its cache of foreign mappings;
 * zeros where guest RAM is mapped once, as under the simulator).
 */
struct hv_mem_stats {
    uint64_t hits;           /* accesses served by a live mapping */
    uint64_t maps;           /* mappings made (a hypercall each) */
    uint64_t evictions;      /* mappings dropped to make room */
    uint64_t failures;       /* mappings that failed */
    uint64_t pinned;         /* mappings held for direct pointers now */
};

/* MMIO trap callback: off is relative to the window base; *val in/out. */
typedef void (*hv_mmio_fn)(void *opaque, uint64_t off, unsigned size,
                           bool is_write, uint64_t *val);

struct hv;

struct hv_ops {
    const char *name;
    /* bank/off already validated to hold len bytes. 0 or -errno. */
    int (*mem_read)(struct hv *hv, unsigned bank, uint64_t off, void *buf,
                    size_t len);
    int (*mem_write)(struct hv *hv, unsigned bank, uint64_t off,
                     const void *buf, size_t len);
    /*
     * Optional (NULL = none): a host pointer to len bytes at bank/off
     * (already validated), aligned as the guest address is (mod 8); NULL
     * when the range cannot be reached directly now.  The memory behind
     * it stays mapped until mem_ptr_put (NULL: nothing to release).
     */
    void *(*mem_ptr)(struct hv *hv, unsigned bank, uint64_t off, size_t len);
    void (*mem_ptr_put)(struct hv *hv, void *p);
    /* Fill out[] with mappable regions; count, or -EOPNOTSUPP. */
    int (*mem_regions)(struct hv *hv, struct hv_region *out, unsigned max);
    /*
     * A new fd (close-on-exec) every region maps from, carrying no more
     * privilege than this guest's RAM needs; the caller closes it once it
     * is sent.  fd, or -errno (nothing may be sent then).
     */
    int (*mem_share)(struct hv *hv);
    /* Trap guest accesses to [base, base+len).  0 or -errno. */
    int (*mmio_add)(struct hv *hv, uint64_t base, uint64_t len, hv_mmio_fn fn,
                    void *opaque);
    void (*mmio_del)(struct hv *hv, uint64_t base);
    /* Drive an interrupt line (SPI number on Arm). 0 or -errno. */
    int (*irq_set)(struct hv *hv, unsigned irq, bool level);
    /*
     * Optional (NULL = unsupported): have the kernel signal `fd` when the
     * guest writes `datamatch` (4 bytes) at `addr`, bypassing mmio_add's
     * callback.  0, or -EOPNOTSUPP when the running kernel cannot.
     */
    int (*ioeventfd_add)(struct hv *hv, uint64_t addr, uint32_t datamatch,
                         int fd);
    void (*ioeventfd_del)(struct hv *hv, uint64_t addr, int fd);
    /*
     * Optional (NULL = unsupported): have the kernel raise interrupt `irq`
     * whenever `fd` (an eventfd) is signalled, consuming the signal, so
     * nobody else sees it.  An edge each time, as irq_set(irq, true) is.
     * 0, or -EOPNOTSUPP when the running kernel cannot.
     */
    int (*irqfd_add)(struct hv *hv, unsigned irq, int fd);
    void (*irqfd_del)(struct hv *hv, unsigned irq, int fd);
    /*
     * Grant access (NULL = unsupported; hv_gnt.h builds on these).  Copy
     * every segment, to the guest's pages (`to_guest`) or from them: 0,
     * or -EFAULT when a ref is not granted to us, or granted read-only and
     * `to_guest`.  The hypervisor does the copy: nothing is mapped.
     */
    int (*gnt_copy)(struct hv *hv, const struct hv_gnt_seg *seg, unsigned n,
                    bool to_guest);
    /*
     * Map `count` consecutive refs from `ref` as one virtually contiguous
     * range (*out): 0, or -EFAULT as for gnt_copy.  Unmap with the same
     * ref and count.
     */
    int (*gnt_map)(struct hv *hv, uint32_t ref, uint32_t count, bool writable,
                   void **out);
    void (*gnt_unmap)(struct hv *hv, void *p, uint32_t ref, uint32_t count);
    /*
     * Optional (NULL: grants cannot be shared): a new fd (close-on-exec)
     * a zero-copy backend maps this guest's grants through (Xen: an open
     * /dev/xen/gntdev of the guest's own, never the hv's handle); the
     * caller closes it once sent.  fd or -errno.
     */
    int (*gnt_share)(struct hv *hv);
    /* Optional (NULL: all zero). */
    void (*mem_stats)(struct hv *hv, struct hv_mem_stats *out);
    void (*free)(struct hv *hv);
};

struct hv {
    const struct hv_ops *ops;
    uint32_t domid;
    char name[32];         /* for log lines: "dom3", "sim0" */
    struct hv_layout ram;  /* what the guest really has */
    unsigned nr_vcpus;     /* the guest's vCPUs; 0: unknown */
    /* Bumped whenever pointers from hv_mem_ptr() may have gone stale. */
    uint64_t map_gen;
};

/* Copy guest memory; -EFAULT if not wholly inside one RAM bank. */
int hv_mem_read(struct hv *hv, uint64_t gpa, void *buf, size_t len);
int hv_mem_write(struct hv *hv, uint64_t gpa, const void *buf, size_t len);

/*
 * Direct access for hot, small structures (virtqueue rings): a host
 * pointer to [gpa, gpa+len) after the same bank check as hv_mem_read, or
 * NULL (not wholly in one bank, or the hv cannot map it directly; then
 * use hv_mem_read/write).  The pointer pins what maps it: every non-NULL
 * one is given back exactly once with hv_mem_ptr_put(), also after
 * map_gen moved.  Use it only while hv->map_gen keeps the value it had
 * when the pointer was taken (until the put, dereferencing it stays
 * safe, but it may no longer show the guest's current page).  Guest
 * values behind it are still the guest's: read each once
 * (le*_load_once) and check the copy.
 */
void *hv_mem_ptr(struct hv *hv, uint64_t gpa, size_t len);
/* Release a pointer hv_mem_ptr() gave (NULL: nothing). */
void hv_mem_ptr_put(struct hv *hv, void *p);

/* Little-endian scalar helpers over hv_mem_read/write (0 or -errno). */
int hv_read_le16(struct hv *hv, uint64_t gpa, uint16_t *v);
int hv_read_le32(struct hv *hv, uint64_t gpa, uint32_t *v);
int hv_read_le64(struct hv *hv, uint64_t gpa, uint64_t *v);
int hv_write_le16(struct hv *hv, uint64_t gpa, uint16_t v);
int hv_write_le32(struct hv *hv, uint64_t gpa, uint32_t v);

/* True when [gpa, gpa+len) is wholly guest RAM (one bank). */
bool hv_mem_valid(const struct hv *hv, uint64_t gpa, uint64_t len);

int hv_mem_regions(struct hv *hv, struct hv_region *out, unsigned max);
/* The fd hv_mem_regions' regions map from (see hv_ops.mem_share). */
int hv_mem_share(struct hv *hv);
int hv_mmio_add(struct hv *hv, uint64_t base, uint64_t len, hv_mmio_fn fn,
                void *opaque);
void hv_mmio_del(struct hv *hv, uint64_t base);
int hv_irq_set(struct hv *hv, unsigned irq, bool level);
int hv_ioeventfd_add(struct hv *hv, uint64_t addr, uint32_t datamatch, int fd);
void hv_ioeventfd_del(struct hv *hv, uint64_t addr, int fd);
int hv_irqfd_add(struct hv *hv, unsigned irq, int fd);
void hv_irqfd_del(struct hv *hv, unsigned irq, int fd);
void hv_mem_stats(struct hv *hv, struct hv_mem_stats *out);
void hv_free(struct hv *hv);

#endif
