/*
 * Checksums lzop uses, computed in wasm over the codec's buffers: Adler-32 (zlib's, mod 65521)
 * with SIMD for bulk data, and CRC-32 (reflected polynomial 0xEDB88320, zlib's pre/post
 * inversion) by slicing-by-8. Written from the algorithm definitions.
 */
#include "common.h"
#include <wasm_simd128.h>

#define ADLER_MOD 65521u
/* Vectors per chunk between reductions: per-position sums must stay below 2^16 (257 * 255),
 * and s2 below 2^32 (zlib's NMAX, 5552 bytes). */
#define ADLER_CHUNK_VECTORS 256u

/* Scalar tail: sums bytes into *a and *b without reducing. */
INLINE void adler_bytes(u32 *a, u32 *b, const u8 *p, u32 n) {
  u32 s1 = *a, s2 = *b;
  while (n >= 4u) {
    s1 += p[0];
    s2 += s1;
    s1 += p[1];
    s2 += s1;
    s1 += p[2];
    s2 += s1;
    s1 += p[3];
    s2 += s1;
    p += 4;
    n -= 4u;
  }
  while (n--) {
    s1 += *p++;
    s2 += s1;
  }
  *a = s1;
  *b = s2;
}

INLINE u32 hsum(v128_t v) {
  return wasm_i32x4_extract_lane(v, 0) + wasm_i32x4_extract_lane(v, 1) +
         wasm_i32x4_extract_lane(v, 2) + wasm_i32x4_extract_lane(v, 3);
}

/* Adler-32 of p[0..n) continuing from adler (1 for a fresh checksum). */
EXPORT("adler32") u32 adler32(u32 adler, const u8 *p, u32 n) {
  u32 s1 = adler & 0xFFFFu;
  u32 s2 = adler >> 16;
  /* Byte i of a 16-byte vector adds (16 - i) times to s2 within that vector. */
  const v128_t weights_lo = wasm_i16x8_make(16, 15, 14, 13, 12, 11, 10, 9);
  const v128_t weights_hi = wasm_i16x8_make(8, 7, 6, 5, 4, 3, 2, 1);
  while (n >= 16u) {
    u32 k = n >> 4;
    if (k > ADLER_CHUNK_VECTORS) k = ADLER_CHUNK_VECTORS;
    n -= k << 4;
    /* sums: byte sums so far; prefix: `sums` added up before each vector (every earlier byte
     * adds 16 more to s2 per later vector); col_lo/col_hi: per-position byte sums, weighted
     * once per chunk. */
    v128_t sums = wasm_i32x4_splat(0);
    v128_t prefix = wasm_i32x4_splat(0);
    v128_t col_lo = wasm_i16x8_splat(0);
    v128_t col_hi = wasm_i16x8_splat(0);
    for (u32 j = 0; j < k; j++) {
      v128_t v = wasm_v128_load(p);
      p += 16;
      prefix = wasm_i32x4_add(prefix, sums);
      sums = wasm_i32x4_add(sums, wasm_u32x4_extadd_pairwise_u16x8(
                                      wasm_u16x8_extadd_pairwise_u8x16(v)));
      col_lo = wasm_i16x8_add(col_lo, wasm_u16x8_extend_low_u8x16(v));
      col_hi = wasm_i16x8_add(col_hi, wasm_u16x8_extend_high_u8x16(v));
    }
    /* Column sums are < 2^16 (k <= 257 vectors), so the signed 16-bit dot is exact only
     * below 2^15: split each into high and low bytes first. */
    v128_t mask = wasm_i16x8_splat(0xFF);
    v128_t weighted = wasm_i32x4_add(
        wasm_i32x4_add(wasm_i32x4_dot_i16x8(wasm_v128_and(col_lo, mask), weights_lo),
                       wasm_i32x4_dot_i16x8(wasm_v128_and(col_hi, mask), weights_hi)),
        wasm_i32x4_shl(
            wasm_i32x4_add(wasm_i32x4_dot_i16x8(wasm_u16x8_shr(col_lo, 8), weights_lo),
                           wasm_i32x4_dot_i16x8(wasm_u16x8_shr(col_hi, 8), weights_hi)),
            8));
    u64 b = (u64)s2 + (u64)(k << 4) * s1 + ((u64)hsum(prefix) << 4) + hsum(weighted);
    s1 = (s1 + hsum(sums)) % ADLER_MOD;
    s2 = (u32)(b % ADLER_MOD);
  }
  adler_bytes(&s1, &s2, p, n);
  s1 %= ADLER_MOD;
  s2 %= ADLER_MOD;
  return (s2 << 16) | s1;
}

/* Slicing-by-8 tables, built on first use (a static initialiser would bloat the module). */
static u32 crc_table[8][256];
static u32 crc_ready;

static void crc_init(void) {
  for (u32 i = 0; i < 256u; i++) {
    u32 c = i;
    for (u32 k = 0; k < 8u; k++) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
    crc_table[0][i] = c;
  }
  for (u32 i = 0; i < 256u; i++) {
    u32 c = crc_table[0][i];
    for (u32 t = 1; t < 8u; t++) {
      c = crc_table[0][c & 0xFFu] ^ (c >> 8);
      crc_table[t][i] = c;
    }
  }
  crc_ready = 1;
}

/* CRC-32 of p[0..n) continuing from crc (0 for a fresh checksum), as zlib's crc32(). */
EXPORT("crc32") u32 crc32(u32 crc, const u8 *p, u32 n) {
  if (!crc_ready) crc_init();
  u32 c = ~crc;
  while (n >= 8u) {
    u32 lo = load32(p) ^ c;
    u32 hi = load32(p + 4);
    c = crc_table[7][lo & 0xFFu] ^ crc_table[6][(lo >> 8) & 0xFFu] ^
        crc_table[5][(lo >> 16) & 0xFFu] ^ crc_table[4][lo >> 24] ^
        crc_table[3][hi & 0xFFu] ^ crc_table[2][(hi >> 8) & 0xFFu] ^
        crc_table[1][(hi >> 16) & 0xFFu] ^ crc_table[0][hi >> 24];
    p += 8;
    n -= 8u;
  }
  while (n--) c = crc_table[0][(c ^ *p++) & 0xFFu] ^ (c >> 8);
  return ~c;
}
