/*
 * le: little-endian loads and stores for guest- and backend-visible
 * memory (virtio rings and descriptors are little-endian on the wire).
 * Byte by byte, so they work on any host and any alignment.
 */
#ifndef XVM_LE_H
#define XVM_LE_H

#include <stdint.h>

static inline uint64_t
le_load(const uint8_t *p, unsigned n)
{
    uint64_t v = 0;

    for (unsigned i = n; i-- > 0;) {
        v = (v << 8) | p[i];
    }
    return v;
}

static inline void
le_store(uint8_t *p, uint64_t v, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

static inline uint16_t
le16_load(const uint8_t *p)
{
    return (uint16_t)le_load(p, 2);
}

static inline uint32_t
le32_load(const uint8_t *p)
{
    return (uint32_t)le_load(p, 4);
}

static inline void
le16_store(uint8_t *p, uint16_t v)
{
    le_store(p, v, 2);
}

static inline void
le32_store(uint8_t *p, uint32_t v)
{
    le_store(p, v, 4);
}

/* Encode one 16-byte split-ring descriptor {addr, len, flags, next}. */
static inline void
le_desc_store(uint8_t *d, uint64_t addr, uint32_t len, uint16_t flags,
              uint16_t next)
{
    le_store(d, addr, 8);
    le_store(d + 8, len, 4);
    le_store(d + 12, flags, 2);
    le_store(d + 14, next, 2);
}

#endif
