/*
 * hv_sim: an in-process simulated guest behind the hv seam.
 *
 * Guest RAM is one memfd holding up to two banks laid out like an Arm Xen
 * guest (bank 0 at 0x40000000, bank 1 at 0x200000000, a hole between), so
 * zero-copy backends can map it exactly as they map a QEMU guest.  The
 * driver side (tests, benchmarks) performs MMIO accesses that are delivered
 * synchronously to the trap callbacks, and observes the interrupt lines.
 * Faults can be injected to exercise error paths.
 */
#ifndef XVM_HV_SIM_H
#define XVM_HV_SIM_H

#include <stdbool.h>
#include <stdint.h>

#include "hv.h"
#include "hv_sim_gnt.h"
#include "loop.h"
#include "privfd.h"

#define HV_SIM_MAX_IRQ 1024
#define HV_SIM_MAX_MMIO 32
#define HV_SIM_MAX_IOEVENTFD 64
/* Grant table entries of the simulated guest (refs 0..N-1). */
#define HV_SIM_MAX_GREFS HV_SIM_GNT_MAX_REFS

struct hv_sim_config {
    const char *name;   /* log name, default "sim" */
    uint64_t ram0_len;  /* bank 0 at HV_ARM_RAM0_GPA, must be > 0 */
    uint64_t ram1_len;  /* bank 1 at HV_ARM_RAM1_GPA, 0 = none */
    bool ioeventfd;     /* offer kernel-style ioeventfds (QueueNotify
                         * writes signal an eventfd, no trap callback) */
    /* Offer kernel-style irqfds, served on this loop: a signal on the
     * eventfd is consumed and makes an interrupt edge (NULL: none). */
    struct loop *irqfd_loop;
    bool xen_mmap;      /* RAM regions say what Xen's do: map them with
                         * XEN_MMAP (FOREIGN, domid); the fd stays a memfd */
    uint32_t domid;     /* the guest's domid in those regions */
    unsigned vcpus;     /* the guest's vCPU count (hv.nr_vcpus); 0: 1 */
};

struct hv_sim;

/* 0 or -errno. */
int hv_sim_new(struct hv_sim **out, const struct hv_sim_config *cfg);
/* Frees the sim and its hv (the hv's own free op does the same). */
void hv_sim_free(struct hv_sim *sim);
struct hv *hv_sim_hv(struct hv_sim *sim);

/*
 * Driver-side direct pointer to guest RAM, NULL unless [gpa, gpa+len) is
 * inside one bank.  Tests use it to build rings and check buffers.
 */
void *hv_sim_ram(struct hv_sim *sim, uint64_t gpa, uint64_t len);

/*
 * Guest MMIO access, delivered to the trapping window's callback.  Returns
 * 0, or -ENODEV when no window covers addr (reads then see all-ones).
 */
int hv_sim_mmio(struct hv_sim *sim, uint64_t addr, unsigned size,
                bool is_write, uint64_t *val);
uint32_t hv_sim_read32(struct hv_sim *sim, uint64_t addr);
void hv_sim_write32(struct hv_sim *sim, uint64_t addr, uint32_t val);

/* Interrupt line state and the number of 0->1 edges seen so far. */
bool hv_sim_irq_level(const struct hv_sim *sim, unsigned irq);
uint64_t hv_sim_irq_edges(const struct hv_sim *sim, unsigned irq);

/*
 * Run `loop` until interrupt line `irq` has a 0->1 edge beyond *edges_seen
 * (updated), as a guest waits for its interrupt.  0 or -ETIMEDOUT.
 */
int hv_sim_wait_edge(struct hv_sim *sim, struct loop *loop, unsigned irq,
                     uint64_t *edges_seen, int timeout_ms);

/*
 * Fault injection: accesses touching [gpa, gpa+len) fail with -EFAULT, as
 * a page the guest ballooned out would under Xen (len 0 clears it).
 */
void hv_sim_set_hole(struct hv_sim *sim, uint64_t gpa, uint64_t len);

/* Fault injection: the next `n` guest memory accesses fail with -EFAULT. */
void hv_sim_fail_mem(struct hv_sim *sim, unsigned n);

/*
 * Share guest RAM the way hv_xen does, for tests of what reaches a
 * backend: the sim becomes guest `domid`, its regions carry the XEN_MMAP
 * foreign flag at offset 0, and hv_mem_share() hands out copies of one
 * fd opened and restricted through `ops` now (privfd_open_for), each
 * checked again (privfd_dup_for).  When that fails, guest RAM cannot be
 * shared at all.  0 or the -errno of privfd_open_for.
 */
int hv_sim_share_privcmd(struct hv_sim *sim, const struct privfd_ops *ops,
                         uint32_t domid);

/* Counters for leak checks: live MMIO windows. */
unsigned hv_sim_mmio_windows(const struct hv_sim *sim);
/* Live irqfds; edges they made on line `irq` so far. */
unsigned hv_sim_irqfds(const struct hv_sim *sim);
uint64_t hv_sim_irqfd_edges(const struct hv_sim *sim, unsigned irq);

/*
 * The guest's grant table, as the backend domain sees it through the
 * hv's gnt_copy/gnt_map ops.  Grant the 4 KiB page at `gpa` as `ref`
 * (read-only: the backend may only read it).  0, or -EINVAL (ref out of
 * range, page not in RAM or unaligned), -EBUSY (ref in use).
 */
int hv_sim_grant(struct hv_sim *sim, uint32_t ref, uint64_t gpa,
                 bool readonly);
/*
 * End the backend's access to `ref`, as the guest does when a request
 * completes.  0; -ENOENT when not granted; -EBUSY while the backend still
 * maps it (Linux then leaks the page and marks the device broken).
 */
int hv_sim_revoke(struct hv_sim *sim, uint32_t ref);
/* Refs currently mapped by the backend (each mapping counted). */
unsigned hv_sim_gnt_mapped(const struct hv_sim *sim);
/*
 * Guest memory accesses by guest-physical address through the hv
 * (mem_read/mem_write: what foreign mapping does under Xen), as opposed
 * to grant copies and maps.
 */
uint64_t hv_sim_mem_accesses(const struct hv_sim *sim);
/*
 * Direct pointers (hv_mem_ptr) given out and not yet given back
 * (hv_mem_ptr_put); below zero after a pointer was given back twice.
 */
int hv_sim_ptrs_held(const struct hv_sim *sim);

#endif
