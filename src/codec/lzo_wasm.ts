/**
 * The only module that touches the LZO1X WebAssembly instance (`wasm/lzo1x.wasm`, built from
 * `wasm/*.c` by `scripts/build-wasm`). It hands out pooled buffers inside wasm linear memory,
 * so streams fill them in place and the codec runs once per block with no per-block
 * allocation, and it wraps block compression, decompression and the two checksums.
 *
 * One instance serves every stream in the isolate: calls are synchronous, and each stream owns
 * its own buffers, so interleaved streams never share bytes.
 */
import * as lzo from "../../wasm/lzo1x.wasm";

/** Failure codes of `decompressBlock` (the negative results of the C decoder). */
export const LZO_STATUS = {
  INPUT_OVERRUN: -1,
  OUTPUT_OVERRUN: -2,
  LOOKBEHIND_OVERRUN: -3,
  NO_END_MARKER: -4,
  TRAILING_INPUT: -5,
  BAD_ARGUMENTS: -6,
} as const;

const STATUS_TEXT: ReadonlyMap<number, string> = new Map([
  [LZO_STATUS.INPUT_OVERRUN, "input ends inside an instruction"],
  [LZO_STATUS.OUTPUT_OVERRUN, "output exceeds the block size"],
  [LZO_STATUS.LOOKBEHIND_OVERRUN, "match reaches before the start of the block"],
  [LZO_STATUS.NO_END_MARKER, "no end-of-stream code"],
  [LZO_STATUS.TRAILING_INPUT, "bytes follow the end-of-stream code"],
  [LZO_STATUS.BAD_ARGUMENTS, "buffer too small"],
]);

/** Human text for a negative `decompressBlock` result. */
export function describeLzoStatus(code: number): string {
  return STATUS_TEXT.get(code) ?? `unknown error ${code}`;
}

/** A region of wasm linear memory owned by one stream at a time (see `acquireBuffer`). */
export class WasmBuffer {
  /** Byte offset in linear memory. */
  readonly ptr: number;
  /** Usable bytes. */
  readonly capacity: number;
  #view: Uint8Array | undefined;

  constructor(ptr: number, capacity: number) {
    this.ptr = ptr;
    this.capacity = capacity;
  }

  /** A view of the whole buffer. Re-read it after any `acquireBuffer` call: growing the
   * memory detaches earlier views. */
  get bytes(): Uint8Array {
    const buffer = lzo.memory.buffer;
    if (this.#view === undefined || this.#view.buffer !== buffer) {
      this.#view = new Uint8Array(buffer, this.ptr, this.capacity);
    }
    return this.#view;
  }
}

/** Smallest pooled size: a 256 KiB lzop block plus its worst-case compressed form. */
const MIN_CLASS = 320 * 1024;
const pool = new Map<number, WasmBuffer[]>();

/** Buffers whose owner was collected without releasing them go back to the pool. */
const orphans = new FinalizationRegistry<WasmBuffer>((buffer) => giveBack(buffer));

function sizeClass(bytes: number): number {
  if (bytes <= MIN_CLASS) return MIN_CLASS;
  return 2 ** Math.ceil(Math.log2(bytes));
}

function giveBack(buffer: WasmBuffer): void {
  const list = pool.get(buffer.capacity);
  if (list === undefined) pool.set(buffer.capacity, [buffer]);
  else list.push(buffer);
}

/**
 * A buffer of at least `minBytes` for `owner` (reused from the pool when possible). Throws
 * RangeError when wasm memory cannot grow. If `owner` is garbage-collected before
 * `releaseBuffer`, the buffer returns to the pool by itself.
 */
export function acquireBuffer(minBytes: number, owner: object): WasmBuffer {
  if (!Number.isInteger(minBytes) || minBytes < 0 || minBytes > 0x7fff0000) {
    throw new RangeError(`bad wasm buffer size ${minBytes}`);
  }
  const capacity = sizeClass(minBytes);
  const reused = pool.get(capacity)?.pop();
  const buffer = reused ?? allocate(capacity);
  orphans.register(owner, buffer, buffer);
  return buffer;
}

function allocate(capacity: number): WasmBuffer {
  const ptr = lzo.heap_alloc(capacity) >>> 0;
  if (ptr === 0) throw new RangeError(`wasm memory cannot grow by ${capacity} bytes`);
  return new WasmBuffer(ptr, capacity);
}

/** Returns a buffer from `acquireBuffer` to the pool; the caller must not use it again. */
export function releaseBuffer(buffer: WasmBuffer): void {
  orphans.unregister(buffer);
  giveBack(buffer);
}

function checkRange(buffer: WasmBuffer, offset: number, length: number): void {
  if (offset < 0 || length < 0 || offset + length > buffer.capacity) {
    throw new RangeError(`range ${offset}+${length} outside a ${buffer.capacity}-byte buffer`);
  }
}

/** Largest compressed size of `n` input bytes (what `compressBlock` needs in `dst`). */
export function compressBound(n: number): number {
  return lzo.lzo1x_bound(n) >>> 0;
}

/**
 * LZO1X-1 compresses `src.bytes[0..length)` into `dst` and returns the compressed length
 * (always ending with the end-of-stream code 11 00 00), written at `dstOffset`. `dst` must
 * have at least `compressBound(length)` bytes from there, else RangeError.
 */
export function compressBlock(
  src: WasmBuffer,
  length: number,
  dst: WasmBuffer,
  dstOffset = 0,
): number {
  checkRange(src, 0, length);
  if (dstOffset < 0 || dst.capacity - dstOffset < compressBound(length)) {
    throw new RangeError(`compress output buffer too small for ${length} bytes`);
  }
  const n = lzo.lzo1x_compress(src.ptr, length, dst.ptr + dstOffset, dst.capacity - dstOffset);
  if (n < 0) throw new RangeError(`lzo1x_compress failed (${n})`);
  return n;
}

/**
 * Decodes the LZO1X stream `src.bytes[0..length)` into `dst.bytes[0..dstLimit)` (default: the
 * whole buffer). Returns the decoded length, or a negative `LZO_STATUS` code for malformed
 * input (see `describeLzoStatus`); it never reads or writes outside the two ranges.
 */
export function decompressBlock(
  src: WasmBuffer,
  length: number,
  dst: WasmBuffer,
  dstLimit: number = dst.capacity,
): number {
  checkRange(src, 0, length);
  checkRange(dst, 0, dstLimit);
  return lzo.lzo1x_decompress(src.ptr, length, dst.ptr, dstLimit);
}

/** Adler-32 (zlib; fresh value 1) of `buffer.bytes[offset..offset+length)`, continuing `init`. */
export function adler32(buffer: WasmBuffer, offset: number, length: number, init = 1): number {
  checkRange(buffer, offset, length);
  return lzo.adler32(init, buffer.ptr + offset, length) >>> 0;
}

/** CRC-32 (zlib; fresh value 0) of `buffer.bytes[offset..offset+length)`, continuing `init`. */
export function crc32(buffer: WasmBuffer, offset: number, length: number, init = 0): number {
  checkRange(buffer, offset, length);
  return lzo.crc32(init, buffer.ptr + offset, length) >>> 0;
}

/** Scratch buffer for checksums of JS-side bytes (headers), allocated on first use. */
let scratch: WasmBuffer | undefined;
const SCRATCH_OWNER = {};

function checksumOf(
  bytes: Uint8Array,
  init: number,
  fn: (b: WasmBuffer, o: number, l: number, i: number) => number,
): number {
  scratch ??= acquireBuffer(MIN_CLASS, SCRATCH_OWNER);
  let sum = init;
  for (let off = 0; off < bytes.length; off += scratch.capacity) {
    const piece = bytes.subarray(off, off + scratch.capacity);
    scratch.bytes.set(piece);
    sum = fn(scratch, 0, piece.length, sum);
  }
  return sum;
}

/** Adler-32 of a JS byte array (copied through a wasm scratch buffer), continuing `init`. */
export function adler32Of(bytes: Uint8Array, init = 1): number {
  return checksumOf(bytes, init, adler32);
}

/** CRC-32 of a JS byte array (copied through a wasm scratch buffer), continuing `init`. */
export function crc32Of(bytes: Uint8Array, init = 0): number {
  return checksumOf(bytes, init, crc32);
}

/** The LZO stream of zero bytes: the end-of-stream code alone. */
const EMPTY_STREAM = [0x11, 0x00, 0x00];

/**
 * Calls the coder's functions once on a few bytes, so that they are compiled now. V8 compiles a
 * wasm function at its first call with its baseline compiler, and under the flags every start of
 * this program uses (`V8_FLAGS` in main.ts) it then compiles it again with its optimizing
 * compiler, on another thread; the optimized code runs ~3× faster on segment data. Called when
 * the encoder or the decoder module loads, the optimizing compile overlaps the rest of a WAL
 * call's start-up instead of the first blocks of its segment.
 */
export function warmUp(direction: "encode" | "decode"): void {
  scratch ??= acquireBuffer(MIN_CLASS, SCRATCH_OWNER);
  const at = scratch.ptr;
  if (direction === "encode") {
    lzo.lzo1x_compress(at, 64, at + 1024, scratch.capacity - 1024);
  } else {
    scratch.bytes.set(EMPTY_STREAM);
    lzo.lzo1x_decompress(at, EMPTY_STREAM.length, at + 1024, 64);
  }
  lzo.adler32(1, at, 64);
}
