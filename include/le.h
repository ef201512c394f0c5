/*
 * le: little-endian loads and stores for guest- and backend-visible
 * memory (virtio rings and descriptors are little-endian on the wire).
 * Through memcpy of a converted value, so they work on any host and any
 * alignment, and compile to one load or store where the host allows it.
 */
#ifndef XVM_LE_H
#define XVM_LE_H

#include <stdint.h>
#include <string.h>

/* CPU <-> little-endian (the same swap both ways); no <endian.h>, so the
 * header compiles without _DEFAULT_SOURCE. */
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define LE_SWAP16(x) ((uint16_t)(x))
#define LE_SWAP32(x) ((uint32_t)(x))
#define LE_SWAP64(x) ((uint64_t)(x))
#else
#define LE_SWAP16(x) __builtin_bswap16(x)
#define LE_SWAP32(x) __builtin_bswap32(x)
#define LE_SWAP64(x) __builtin_bswap64(x)
#endif

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
    uint16_t v;

    memcpy(&v, p, sizeof(v));
    return LE_SWAP16(v);
}

static inline uint32_t
le32_load(const uint8_t *p)
{
    uint32_t v;

    memcpy(&v, p, sizeof(v));
    return LE_SWAP32(v);
}

static inline void
le16_store(uint8_t *p, uint16_t v)
{
    v = LE_SWAP16(v);
    memcpy(p, &v, sizeof(v));
}

static inline void
le32_store(uint8_t *p, uint32_t v)
{
    v = LE_SWAP32(v);
    memcpy(p, &v, sizeof(v));
}

static inline void
le64_store(uint8_t *p, uint64_t v)
{
    v = LE_SWAP64(v);
    memcpy(p, &v, sizeof(v));
}

/* Encode one 16-byte split-ring descriptor {addr, len, flags, next}. */
static inline void
le_desc_store(uint8_t *d, uint64_t addr, uint32_t len, uint16_t flags,
              uint16_t next)
{
    le64_store(d, addr);
    le32_store(d + 8, len);
    le16_store(d + 12, flags);
    le16_store(d + 14, next);
}

/*
 * Fields of memory another party may rewrite at any moment (guest rings,
 * the backend's shadow rings): each is fetched or stored exactly once by
 * an atomic access, which the compiler can neither split nor repeat the
 * way it may a plain access to shared memory.  p must be naturally
 * aligned.
 */
static inline uint16_t
le16_load_once(const uint8_t *p)
{
    return LE_SWAP16(__atomic_load_n((const uint16_t *)(const void *)p,
                                   __ATOMIC_RELAXED));
}

static inline uint32_t
le32_load_once(const uint8_t *p)
{
    return LE_SWAP32(__atomic_load_n((const uint32_t *)(const void *)p,
                                   __ATOMIC_RELAXED));
}

static inline uint64_t
le64_load_once(const uint8_t *p)
{
    return LE_SWAP64(__atomic_load_n((const uint64_t *)(const void *)p,
                                   __ATOMIC_RELAXED));
}

static inline void
le16_store_once(uint8_t *p, uint16_t v)
{
    __atomic_store_n((uint16_t *)(void *)p, LE_SWAP16(v), __ATOMIC_RELAXED);
}

static inline void
le32_store_once(uint8_t *p, uint32_t v)
{
    __atomic_store_n((uint32_t *)(void *)p, LE_SWAP32(v), __ATOMIC_RELAXED);
}

#endif
