/*
 * hv_sim_gnt: the simulated guest's grant table, kept in the same memfd
 * as its RAM so that another process can map grants through it: under
 * the simulator this memfd is the "gntdev" a zero-copy backend receives
 * for a grant device (Xen: an open /dev/xen/gntdev).
 *
 * Layout of the file: guest RAM from offset 0, then the table in the
 * last HV_SIM_GNT_TABLE_BYTES.  Entry `ref` names the file offset of the
 * page the guest granted and one atomic state word (granted, read-only,
 * live map count), so the guest (hv_sim, in the test process) and a
 * backend (another process) agree on every grant, revoke and map the way
 * Xen's grant table arbitrates between a guest and dom0: a ref maps only
 * while granted (and writably only if not read-only), and cannot be
 * revoked while mapped.
 *
 * Trust boundary: a backend is not trusted with the table any more than
 * with a real gntdev.  Every entry it reads is checked (magic, domid,
 * ref range, page offset inside the RAM part) before it maps anything;
 * the simulator is a test tool, so a backend that writes the table
 * itself is out of scope, as one writing /dev/mem would be.
 */
#ifndef XVM_HV_SIM_GNT_H
#define XVM_HV_SIM_GNT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define HV_SIM_GNT_MAGIC 0x474d5658u /* "XVMG" */
#define HV_SIM_GNT_MAX_REFS 4096u
#define HV_SIM_GNT_PAGE 4096u

struct hv_sim_gnt_entry {
    _Atomic uint32_t state;   /* HV_SIM_GNT_GRANTED | _READONLY | maps */
    uint32_t pad;
    uint64_t file_off;        /* the granted page, in the shared file */
};

struct hv_sim_gnt_table {
    uint32_t magic;
    uint32_t domid;           /* the granting guest */
    uint32_t nr;              /* HV_SIM_GNT_MAX_REFS */
    uint32_t pad;
    struct hv_sim_gnt_entry e[HV_SIM_GNT_MAX_REFS];
};

/* The table's share of the file: whole pages. */
#define HV_SIM_GNT_TABLE_BYTES                                                 \
    ((sizeof(struct hv_sim_gnt_table) + HV_SIM_GNT_PAGE - 1) /                 \
     HV_SIM_GNT_PAGE * HV_SIM_GNT_PAGE)

/* One process's view of a table (the guest's or a backend's). */
struct hv_sim_gnt {
    int fd;                   /* not owned */
    uint64_t data_len;        /* bytes before the table (granted pages) */
    struct hv_sim_gnt_table *t;
};

/*
 * Guest side: grow `fd` (data_len bytes of RAM, page aligned) by a table
 * and map it, empty, for guest `domid`.  0 or -errno.
 */
int hv_sim_gnt_create(struct hv_sim_gnt *g, int fd, uint64_t data_len,
                      uint32_t domid);
/*
 * Backend side: the table `fd` carries, for grants of guest `domid`.
 * 0, -EINVAL (not a simulator grant fd), -EPERM (`domid` is not the
 * guest whose table it is), or -errno.
 */
int hv_sim_gnt_open(struct hv_sim_gnt *g, int fd, uint32_t domid);
void hv_sim_gnt_close(struct hv_sim_gnt *g);
/* The guest whose table it is (the sim changes it with its domid). */
void hv_sim_gnt_set_domid(struct hv_sim_gnt *g, uint32_t domid);

/*
 * Guest: grant the page at file offset `file_off` as `ref`.  0, -EINVAL
 * (ref or offset out of range), -EBUSY (ref granted or still mapped).
 */
int hv_sim_gnt_grant(struct hv_sim_gnt *g, uint32_t ref, uint64_t file_off,
                     bool readonly);
/* Guest: end access to `ref`.  0, -ENOENT (not granted), -EBUSY (mapped). */
int hv_sim_gnt_revoke(struct hv_sim_gnt *g, uint32_t ref);
/*
 * The file offset of `ref`'s page if it is granted (and writable when
 * `write`), as Xen checks a grant copy: 0 or -EFAULT.
 */
int hv_sim_gnt_lookup(const struct hv_sim_gnt *g, uint32_t ref, bool write,
                      uint64_t *file_off);
/*
 * Map `count` consecutive refs from `ref` as one contiguous range (like
 * IOCTL_GNTDEV_MAP_GRANT_REF + mmap): 0, or -EFAULT when any is not
 * granted (read-only when `writable`), nothing mapped then.  Undo with
 * hv_sim_gnt_unmap() with the same ref and count.
 */
int hv_sim_gnt_map(struct hv_sim_gnt *g, uint32_t ref, uint32_t count,
                   bool writable, void **out);
void hv_sim_gnt_unmap(struct hv_sim_gnt *g, void *p, uint32_t ref,
                      uint32_t count);
/* Live mappings of all refs, by every process (each mapping counted). */
unsigned hv_sim_gnt_live(const struct hv_sim_gnt *g);

#endif
