/*
 * Shared definitions for the freestanding wasm32 codec (no libc): fixed-width integer
 * types, the export attribute, and unaligned little-endian loads/stores written with
 * __builtin_memcpy so that clang emits one wasm load/store instead of byte accesses.
 */
#ifndef WALE_WASM_COMMON_H
#define WALE_WASM_COMMON_H

typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef int i32;
typedef unsigned long long u64;
typedef __SIZE_TYPE__ usize;

#define EXPORT(name) __attribute__((export_name(name), visibility("default")))
#define LIKELY(x) __builtin_expect(!!(x), 1)
#define UNLIKELY(x) __builtin_expect(!!(x), 0)
#define INLINE static inline __attribute__((always_inline))

/* Slack bytes after every heap buffer (and in lzo1x_bound), so copies may round up to 16. */
#define WILD 16u

INLINE u32 load32(const u8 *p) {
  u32 v;
  __builtin_memcpy(&v, p, 4);
  return v;
}

INLINE u64 load64(const u8 *p) {
  u64 v;
  __builtin_memcpy(&v, p, 8);
  return v;
}

INLINE void store32(u8 *p, u32 v) { __builtin_memcpy(p, &v, 4); }

/* 8 and 16 bytes from s to d; the two ranges must not overlap within the copied span. */
INLINE void copy8(u8 *d, const u8 *s) { __builtin_memcpy(d, s, 8); }
INLINE void copy16(u8 *d, const u8 *s) { __builtin_memcpy(d, s, 16); }

#endif
