/*
 * heap_alloc: a bump allocator over wasm linear memory. Buffers live from __heap_base up and
 * the memory grows on demand; the TypeScript side pools what it gets, so nothing is freed.
 */
#include "common.h"

extern u8 __heap_base;
static u64 heap_top;

/* Reserves size bytes (64-byte aligned) plus WILD bytes of slack; 0 when memory can't grow. */
EXPORT("heap_alloc") u32 heap_alloc(u32 size) {
  if (heap_top == 0) heap_top = (u64)(usize)&__heap_base;
  u64 start = (heap_top + 63u) & ~(u64)63u;
  u64 end = start + (u64)size + WILD;
  if (end > 0xFFFF0000ull) return 0;
  u64 have = (u64)__builtin_wasm_memory_size(0) << 16;
  if (end > have) {
    u64 pages = (end - have + 0xFFFFu) >> 16;
    if (__builtin_wasm_memory_grow(0, (usize)pages) == (usize)-1) return 0;
  }
  heap_top = end;
  return (u32)start;
}
