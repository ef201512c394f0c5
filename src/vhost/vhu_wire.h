/*
 * vhu_wire: the vhost-user message layouts as they travel on the socket.
 *
 * Private to vhu.c (and the test backend / fuzz target, which speak the
 * same bytes).  All fields are in the host's byte order, as the protocol
 * specifies.  Every struct's size is pinned with a static_assert: these
 * are wire formats, and a silent change of padding would break peers.
 * Nothing here is trusted when it arrives; vhu.c checks each field.
 */
#ifndef XVM_VHU_WIRE_H
#define XVM_VHU_WIRE_H

#include <assert.h>
#include <stdint.h>

#include "vhu.h"

/* Request codes (VHOST_USER_*), frontend to backend. */
enum vhu_wire_req {
    VHU_REQ_GET_FEATURES = 1,
    VHU_REQ_SET_FEATURES = 2,
    VHU_REQ_SET_OWNER = 3,
    VHU_REQ_SET_MEM_TABLE = 5,
    VHU_REQ_SET_VRING_NUM = 8,
    VHU_REQ_SET_VRING_ADDR = 9,
    VHU_REQ_SET_VRING_BASE = 10,
    VHU_REQ_GET_VRING_BASE = 11,
    VHU_REQ_SET_VRING_KICK = 12,
    VHU_REQ_SET_VRING_CALL = 13,
    VHU_REQ_SET_VRING_ERR = 14,
    VHU_REQ_GET_PROTOCOL_FEATURES = 15,
    VHU_REQ_SET_PROTOCOL_FEATURES = 16,
    VHU_REQ_GET_QUEUE_NUM = 17,
    VHU_REQ_SET_VRING_ENABLE = 18,
    VHU_REQ_SET_BACKEND_REQ_FD = 21,
    VHU_REQ_GET_CONFIG = 24,
    VHU_REQ_SET_CONFIG = 25,
    VHU_REQ_GET_INFLIGHT_FD = 31,
    VHU_REQ_SET_INFLIGHT_FD = 32,
    VHU_REQ_RESET_DEVICE = 34,
    VHU_REQ_SET_STATUS = 39,
    VHU_REQ_MAX = 40, /* one past the highest code we know */
};

/* Header flags: low two bits are the version. */
#define VHU_FLAG_VERSION_MASK 0x3u
#define VHU_FLAG_VERSION 0x1u
#define VHU_FLAG_REPLY 0x4u
#define VHU_FLAG_NEED_REPLY 0x8u

/* Vring index + fd messages (SET_VRING_KICK/CALL/ERR): u64 payload. */
#define VHU_VRING_IDX_MASK 0xffu
#define VHU_VRING_NOFD 0x100u

/* Most fds a message carries (SET_MEM_TABLE: one per region). */
#define VHU_MAX_FDS 8
/* Largest payload we ever send or accept; checked before reading. */
#define VHU_MAX_PAYLOAD 4096u
/* Largest device config space access (QEMU uses the same bound). */
#define VHU_MAX_CONFIG 256u

struct vhu_wire_hdr {
    uint32_t request;
    uint32_t flags;
    uint32_t size; /* payload bytes that follow */
};
static_assert(sizeof(struct vhu_wire_hdr) == 12, "vhost-user header");

struct vhu_wire_state {
    uint32_t index;
    uint32_t num;
};
static_assert(sizeof(struct vhu_wire_state) == 8, "vring state");

struct vhu_wire_addr {
    uint32_t index;
    uint32_t flags;
    uint64_t desc;
    uint64_t used;
    uint64_t avail;
    uint64_t log;
};
static_assert(sizeof(struct vhu_wire_addr) == 40, "vring addr");

struct vhu_wire_mem_hdr {
    uint32_t nregions;
    uint32_t padding;
};
static_assert(sizeof(struct vhu_wire_mem_hdr) == 8, "memory table header");

struct vhu_wire_region {
    uint64_t gpa;
    uint64_t size;
    uint64_t uaddr;
    uint64_t mmap_off;
};
static_assert(sizeof(struct vhu_wire_region) == 32, "memory region");

/*
 * With VHU_PF_XEN_MMAP every region grows by two u32: the mapping flags and
 * the domid.  This is the layout rust-vmm's vhost crate (feature `xen`) and
 * vm-memory read.  QEMU's vhost-user.rst describes NO_ADVANCE_MAP as "bit 8"
 * while that implementation uses the value 0x8 (bit 3); we follow the
 * implementation, since it is the only backend family that speaks this.
 */
struct vhu_wire_region_xen {
    uint64_t gpa;
    uint64_t size;
    uint64_t uaddr;
    uint64_t mmap_off;
    uint32_t xen_mmap_flags;
    uint32_t xen_mmap_data; /* the guest's domid */
};
static_assert(sizeof(struct vhu_wire_region_xen) == 40, "xen memory region");

struct vhu_wire_config_hdr {
    uint32_t off;
    uint32_t size;
    uint32_t flags;
    /* uint8_t payload[size] follows */
};
static_assert(sizeof(struct vhu_wire_config_hdr) == 12, "config header");

/* Largest payload we build: a full memory table in the Xen layout. */
static_assert(sizeof(struct vhu_wire_mem_hdr) +
                      VHU_MAX_REGIONS * sizeof(struct vhu_wire_region_xen) <=
                  VHU_MAX_PAYLOAD,
              "memory table fits the payload bound");
static_assert(sizeof(struct vhu_wire_config_hdr) + VHU_MAX_CONFIG <=
                  VHU_MAX_PAYLOAD,
              "config fits the payload bound");

#endif
