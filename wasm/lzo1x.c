/*
 * LZO1X codec for wasm32, written from the bitstream description (WAL-E-COMPAT §4.1 and the
 * public LZO1X format notes); no code from LZO, lzop or other implementations.
 *
 * - lzo1x_compress: an LZO1X-1 style compressor (single-probe hash of 4-byte sequences into
 *   2^14 slots, greedy, skipping faster the longer no match has been found), so output size
 *   tracks `lzop` (default level) closely.
 * - lzo1x_decompress: a hardened decoder for every LZO1X bitstream (what lzop -1..-9 write).
 *   Every read and write is checked against its buffer, every look-behind against the output
 *   start; malformed input yields a negative code, never a trap, an endless loop or an access
 *   outside [src, src+src_len) and [dst, dst+dst_cap).
 */
#include "common.h"

/* Result codes of lzo1x_decompress / lzo1x_compress (negative = failure). */
#define E_INPUT_OVERRUN (-1)  /* input ends inside an instruction */
#define E_OUTPUT_OVERRUN (-2) /* output would exceed dst_cap */
#define E_LOOKBEHIND (-3)     /* match distance reaches before the output start */
#define E_NO_END_MARKER (-4)  /* input ends between instructions, no end-of-stream code */
#define E_TRAILING_INPUT (-5) /* bytes follow the end-of-stream code */
#define E_BAD_ARGS (-6)       /* dst_cap smaller than lzo1x_bound(src_len), or overflow */

/* Instruction limits of the LZO1X format. */
#define M2_MAX_LEN 8u
#define M2_MAX_OFFSET 0x0800u
#define M3_MAX_OFFSET 0x4000u
#define M4_MAX_OFFSET 0xBFFFu
#define M3_LEN_FIELD 31u /* 5-bit length field of the 001LLLLL opcode */
#define M4_LEN_FIELD 7u  /* 3-bit length field of the 0001HLLL opcode */

#define DICT_BITS 14
/* Input is parsed in pieces of 48 KiB (lzop's layout: every match distance fits M4). */
#define PIECE_SIZE 49152u
#define PIECE_TAIL 20u

/* ---------------------------------------------------------------------------------------- */
/* Compressor */

/* Slot -> position (relative to src) of the last 4-byte sequence probed with that hash. */
static u32 dict[1u << DICT_BITS];

INLINE u32 hash4(u32 v) { return (v * 0x9E3779B1u) >> (32 - DICT_BITS); }

/* Worst-case compressed size (all literals) plus slack for the 16-byte literal copies. */
EXPORT("lzo1x_bound") u32 lzo1x_bound(u32 n) { return n + n / 16u + 64u + 3u + WILD; }

/* Writes the zero-byte run + final byte that extend a length field beyond its maximum. */
INLINE u8 *put_extension(u8 *op, u32 rest) {
  while (rest > 255u) {
    *op++ = 0;
    rest -= 255u;
  }
  *op++ = (u8)rest;
  return op;
}

/* Encodes t > 0 pending literals at lit. Runs of 1..3 after a match ride in the S bits of
 * that match (op[-2]). An input without any match is one run in the first byte's 17+t form
 * (only_run); LZO's own compressor uses that form nowhere else, nor do we. */
static u8 *put_literals(u8 *op, const u8 *lit, u32 t, const u8 *in_end, int only_run) {
  if (only_run && t <= 238u) {
    *op++ = (u8)(17u + t);
  } else if (t <= 3u) {
    op[-2] |= (u8)t;
  } else if (t <= 18u) {
    *op++ = (u8)(t - 3u);
  } else {
    *op++ = 0;
    op = put_extension(op, t - 18u);
  }
  if ((usize)(in_end - lit) >= t + WILD) {
    /* Rounds up to 16: the output has WILD bytes of slack and the overshoot is rewritten. */
    u8 *const end = op + t;
    do {
      copy16(op, lit);
      op += 16;
      lit += 16;
    } while (op < end);
    return end;
  }
  __builtin_memcpy(op, lit, t);
  return op + t;
}

/* Encodes a match of len >= 4 bytes at distance dist (1..M4_MAX_OFFSET), S bits zero. */
INLINE u8 *put_match(u8 *op, u32 dist, u32 len) {
  if (len <= M2_MAX_LEN && dist <= M2_MAX_OFFSET) {
    u32 d = dist - 1u;
    *op++ = (u8)(((len - 1u) << 5) | ((d & 7u) << 2));
    *op++ = (u8)(d >> 3);
    return op;
  }
  u32 d;
  if (dist <= M3_MAX_OFFSET) {
    d = dist - 1u;
    if (len <= M3_LEN_FIELD + 2u) {
      *op++ = (u8)(0x20u | (len - 2u));
    } else {
      *op++ = 0x20u;
      op = put_extension(op, len - (M3_LEN_FIELD + 2u));
    }
  } else {
    d = dist - 0x4000u;
    u32 high = (d >> 11) & 8u;
    if (len <= M4_LEN_FIELD + 2u) {
      *op++ = (u8)(0x10u | high | (len - 2u));
    } else {
      *op++ = (u8)(0x10u | high);
      op = put_extension(op, len - (M4_LEN_FIELD + 2u));
    }
  }
  *op++ = (u8)(d << 2);
  *op++ = (u8)(d >> 6);
  return op;
}

/* Compressor state carried from one piece to the next. */
struct cstate {
  const u8 *src;    /* start of the whole input (dict positions are relative to it) */
  const u8 *in_end; /* end of the whole input */
  const u8 *anchor; /* first byte not yet encoded (pending literals start here) */
  u8 *op;           /* next output byte */
};

/* Greedy LZO1X-1 parse of one piece [piece, piece+len), len > PIECE_TAIL. As in lzop, the
 * dictionary only answers with positions inside the piece (older ones read as the piece
 * start), the last PIECE_TAIL bytes are never probed, and a match stops growing once it
 * reaches that tail. Matches therefore stay within 48 KiB, M4's reach. */
static void compress_piece(struct cstate *st, const u8 *piece, u32 len) {
  const u8 *const src = st->src;
  const u8 *const ip_end = piece + len - PIECE_TAIL;
  const u32 base = (u32)(piece - src);
  const u8 *anchor = st->anchor;
  u8 *op = st->op;
  u32 pending = (u32)(piece - anchor);
  const u8 *ip = piece + (pending < 4u ? 4u - pending : 0u);
  const u8 *skip_from = piece; /* the skip grows with the distance from here */
  for (;;) {
    /* Step grows by one every 32 misses: incompressible data is crossed quickly. */
    ip += 1u + ((u32)(ip - skip_from) >> 5);
  probe:
    if (UNLIKELY(ip >= ip_end)) break;
    u32 v = load32(ip);
    u32 *slot = &dict[hash4(v)];
    u32 pos = *slot;
    *slot = (u32)(ip - src);
    if (pos < base) pos = base;
    const u8 *m = src + pos;
    if (LIKELY(v != load32(m))) continue;

    if (ip != anchor) op = put_literals(op, anchor, (u32)(ip - anchor), st->in_end, 0);
    u32 mlen = 4u;
    u64 x = load64(ip + mlen) ^ load64(m + mlen);
    if (x == 0) {
      do {
        mlen += 8u;
        if (UNLIKELY(ip + mlen >= ip_end)) goto measured;
        x = load64(ip + mlen) ^ load64(m + mlen);
      } while (x == 0);
    }
    mlen += (u32)__builtin_ctzll(x) >> 3;
  measured:
    op = put_match(op, (u32)(ip - m), mlen);
    ip += mlen;
    anchor = ip;
    skip_from = ip;
    goto probe;
  }
  st->anchor = anchor;
  st->op = op;
}

/* Compresses src[0..n) into dst; returns the compressed length (ending with the end-of-stream
 * code 11 00 00) or E_BAD_ARGS when dst_cap < lzo1x_bound(n). */
EXPORT("lzo1x_compress") i32 lzo1x_compress(const u8 *src, u32 n, u8 *dst, u32 dst_cap) {
  if (n > 0x7FFF0000u || dst_cap < lzo1x_bound(n)) return E_BAD_ARGS;
  struct cstate st = {src, src + n, src, dst};
  /* Every slot starts below the first piece, i.e. as "the piece start". */
  __builtin_memset(dict, 0, sizeof dict);
  const u8 *piece = src;
  u32 left = n;
  while (left > PIECE_TAIL) {
    u32 len = left < PIECE_SIZE ? left : PIECE_SIZE;
    compress_piece(&st, piece, len);
    piece += len;
    left -= len;
  }
  const u8 *const in_end = st.in_end;
  u8 *op = st.op;
  if (st.anchor != in_end) {
    op = put_literals(op, st.anchor, (u32)(in_end - st.anchor), in_end, op == dst);
  }
  *op++ = 0x11u;
  *op++ = 0;
  *op++ = 0;
  return (i32)(op - dst);
}

/* ---------------------------------------------------------------------------------------- */
/* Decompressor */

/* Reads a length extension (zero bytes worth 255 each, then a non-zero byte) added to base.
 * Returns 0 on failure with *err set; lengths that can't fit in the output fail early. */
INLINE u32 get_extension(const u8 **ipp, const u8 *ie, u32 base, u32 cap, i32 *err) {
  const u8 *ip = *ipp;
  u32 acc = base;
  for (;;) {
    if (ip >= ie) {
      *err = E_INPUT_OVERRUN;
      return 0;
    }
    u32 b = *ip++;
    if (b != 0) {
      acc += b;
      break;
    }
    acc += 255u;
    if (acc > cap) {
      *err = E_OUTPUT_OVERRUN;
      return 0;
    }
  }
  *ipp = ip;
  return acc;
}

/* Copies a match of len bytes from dist back; the caller checked dist <= op - dst and
 * len <= oe - op. Uses whole-word copies when there is room for the overshoot. */
INLINE void copy_match(u8 *op, u32 dist, u32 len, const u8 *oe) {
  const u8 *m = op - dist;
  u8 *const end = op + len;
  usize room = (usize)(oe - end);
  if (dist >= 16u && room >= 16u) {
    if (len >= 256u && dist >= len) {
      __builtin_memcpy(op, m, len);
      return;
    }
    do {
      copy16(op, m);
      op += 16;
      m += 16;
    } while (op < end);
  } else if (dist >= 8u && room >= 8u) {
    do {
      copy8(op, m);
      op += 8;
      m += 8;
    } while (op < end);
  } else if (room >= 8u) {
    /* Period-dist pattern: after 8 single-byte steps, copy 8 at a time from the nearest
     * multiple of dist that is >= 8 back (it lies within the bytes already produced). */
    for (u32 i = 0; i < 8u; i++) op[i] = m[i];
    u32 step = dist;
    while (step < 8u) step += dist;
    op += 8;
    while (op < end) {
      copy8(op, op - step);
      op += 8;
    }
  } else {
    while (op < end) *op++ = *m++;
  }
}

/* Copies n literal bytes; the caller checked both ranges. */
INLINE void copy_literals(u8 *op, const u8 *ip, u32 n, const u8 *oe, const u8 *ie) {
  if (n <= 64u && (usize)(oe - op) >= n + WILD && (usize)(ie - ip) >= n + WILD) {
    u8 *const end = op + n;
    do {
      copy16(op, ip);
      op += 16;
      ip += 16;
    } while (op < end);
  } else {
    __builtin_memcpy(op, ip, n);
  }
}

/* Decodes one LZO1X stream src[0..src_len) into dst (capacity dst_cap). Returns the output
 * length, or a negative E_* code. The stream must end with the end-of-stream code and nothing
 * may follow it. */
EXPORT("lzo1x_decompress")
i32 lzo1x_decompress(const u8 *src, u32 src_len, u8 *dst, u32 dst_cap) {
  if (src_len > 0x7FFF0000u || dst_cap > 0x7FFF0000u) return E_BAD_ARGS;
  const u8 *ip = src;
  const u8 *const ie = src + src_len;
  u8 *op = dst;
  const u8 *const oe = dst + dst_cap;
  i32 err = 0;
  /* Literals copied by the previous instruction: 0, 1..3 (S bits), or 4 for a run of >= 4.
   * It decides what an opcode below 16 means. */
  u32 state = 0;

  if (ip == ie) return E_NO_END_MARKER;
  if (*ip > 17u) {
    u32 t = *ip++ - 17u;
    if (t > (u32)(ie - ip)) return E_INPUT_OVERRUN;
    if (t > (u32)(oe - op)) return E_OUTPUT_OVERRUN;
    copy_literals(op, ip, t, oe, ie);
    op += t;
    ip += t;
    state = t < 4u ? t : 4u;
  }

  for (;;) {
    if (UNLIKELY(ip >= ie)) return E_NO_END_MARKER;
    u32 c = *ip++;
    u32 len, dist, s;
    if (c >= 64u) {
      /* 1LLDDDSS / 01LDDDSS HHHHHHHH: 3..8 bytes within 2 KiB. */
      if (UNLIKELY(ip >= ie)) return E_INPUT_OVERRUN;
      dist = 1u + ((c >> 2) & 7u) + ((u32)*ip++ << 3);
      len = (c >> 5) + 1u;
      s = c & 3u;
    } else if (c >= 32u) {
      /* 001LLLLL [ext] DDDDDDSS DDDDDDDD: within 16 KiB. */
      len = c & M3_LEN_FIELD;
      if (len == 0) {
        len = get_extension(&ip, ie, M3_LEN_FIELD + 2u, dst_cap, &err);
        if (err) return err;
      } else {
        len += 2u;
      }
      if (UNLIKELY((usize)(ie - ip) < 2u)) return E_INPUT_OVERRUN;
      u32 w = (u32)ip[0] | ((u32)ip[1] << 8);
      ip += 2;
      dist = 1u + (w >> 2);
      s = w & 3u;
    } else if (c >= 16u) {
      /* 0001HLLL [ext] DDDDDDSS DDDDDDDD: 16..48 KiB; distance 16384 is the end code. */
      len = c & M4_LEN_FIELD;
      if (len == 0) {
        len = get_extension(&ip, ie, M4_LEN_FIELD + 2u, dst_cap, &err);
        if (err) return err;
      } else {
        len += 2u;
      }
      if (UNLIKELY((usize)(ie - ip) < 2u)) return E_INPUT_OVERRUN;
      u32 w = (u32)ip[0] | ((u32)ip[1] << 8);
      ip += 2;
      dist = ((c & 8u) << 11) + (w >> 2);
      if (dist == 0) return ip == ie ? (i32)(op - dst) : E_TRAILING_INPUT;
      dist += 0x4000u;
      s = w & 3u;
    } else if (state == 0) {
      /* 0000LLLL [ext]: a run of >= 4 literals. */
      if (c != 0) {
        len = c + 3u;
      } else {
        len = get_extension(&ip, ie, 15u + 3u, dst_cap, &err);
        if (err) return err;
      }
      if (UNLIKELY(len > (u32)(ie - ip))) return E_INPUT_OVERRUN;
      if (UNLIKELY(len > (u32)(oe - op))) return E_OUTPUT_OVERRUN;
      copy_literals(op, ip, len, oe, ie);
      op += len;
      ip += len;
      state = 4u;
      continue;
    } else {
      /* 0000DDSS HHHHHHHH: 2 bytes within 1 KiB after 1..3 literals, 3 bytes at
       * 2049..3072 after a longer literal run. */
      if (UNLIKELY(ip >= ie)) return E_INPUT_OVERRUN;
      dist = 1u + (c >> 2) + ((u32)*ip++ << 2);
      if (state == 4u) {
        dist += M2_MAX_OFFSET;
        len = 3u;
      } else {
        len = 2u;
      }
      s = c & 3u;
    }
    if (UNLIKELY(dist > (u32)(op - dst))) return E_LOOKBEHIND;
    if (UNLIKELY(len > (u32)(oe - op))) return E_OUTPUT_OVERRUN;
    copy_match(op, dist, len, oe);
    op += len;
    if (s != 0) {
      if (UNLIKELY(s > (u32)(ie - ip))) return E_INPUT_OVERRUN;
      if (UNLIKELY(s > (u32)(oe - op))) return E_OUTPUT_OVERRUN;
      if ((usize)(ie - ip) >= 4u && (usize)(oe - op) >= 4u) {
        store32(op, load32(ip));
      } else {
        for (u32 i = 0; i < s; i++) op[i] = ip[i];
      }
      op += s;
      ip += s;
    }
    state = s;
  }
}
