/*
 * vqdrv: the driver side of one split virtqueue on an hv_sim guest, for
 * the vq suites (check_vq, check_vq_guest).  The test plays the driver,
 * building rings in guest RAM through hv_sim_ram(); failures are Check
 * assertions.
 */
#ifndef XVM_VQDRV_H
#define XVM_VQDRV_H

#include <stdint.h>

#include "hv.h"
#include "hv_sim.h"
#include "vq.h"

#define RAM0 HV_ARM_RAM0_GPA
#define RAM1 HV_ARM_RAM1_GPA
#define RAM0_LEN (1ULL << 20)
#define RAM1_LEN (8ULL << 20)
#define F_INDIRECT (1ULL << VQ_F_INDIRECT_DESC_BIT)
#define F_EVIDX (1ULL << VQ_F_EVENT_IDX_BIT)

#define DESC_GPA (RAM0 + 0x10000)
#define AVAIL_GPA (RAM0 + 0x20000)
#define USED_GPA (RAM0 + 0x30000)
#define TABLE_GPA (RAM0 + 0x40000) /* indirect tables */
#define BUF_GPA (RAM0 + 0x80000)

/* The driver's view of one queue. */
struct vqdrv {
    struct hv_sim *sim;
    struct hv *hv;
    struct vq vq;
    struct vq_chain chain;
    uint16_t num;
    uint16_t avail_idx;
};

/* Store / load an n-byte little-endian value at gpa. */
void vqdrv_put(struct vqdrv *d, uint64_t gpa, uint64_t v, unsigned n);
uint64_t vqdrv_get(struct vqdrv *d, uint64_t gpa, unsigned n);
/* Descriptor i of the table at `table` / of the ring's own table. */
void vqdrv_desc_at(struct vqdrv *d, uint64_t table, uint32_t i, uint64_t addr,
                   uint32_t len, uint16_t flags, uint16_t next);
void vqdrv_desc(struct vqdrv *d, uint32_t i, uint64_t addr, uint32_t len,
                uint16_t flags, uint16_t next);
/* Make chain `head` available (driver: ring entry, barrier, idx). */
void vqdrv_publish(struct vqdrv *d, uint16_t head);
/* A fresh guest and a vq of num entries offered `features`. */
void vqdrv_open(struct vqdrv *d, uint16_t num, uint64_t features);
void vqdrv_close(struct vqdrv *d);
/* Log lines the vq has emitted or suppressed. */
uint64_t vqdrv_logs(const struct vq *vq);
/* The next pop must break the queue, with a log line, for good; closes d. */
void vqdrv_expect_broken(struct vqdrv *d);
/* A queue of 8 with one chain posted and popped. */
void vqdrv_open_popped(struct vqdrv *d);

#endif
