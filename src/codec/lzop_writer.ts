/**
 * lzop compression as a Web Stream: the bytes `lzop -c` writes (WAL-E-COMPAT §4.1, §17.6) —
 * header, 256 KiB blocks (ulen, clen, Adler-32 of the input, LZO1X-1 data or the raw bytes
 * when compression does not shrink the block), end marker.
 *
 * Input is copied straight into a wasm buffer; the codec runs once per full block.
 */
import {
  acquireBuffer,
  adler32,
  compressBlock,
  compressBound,
  releaseBuffer,
  warmUp,
  type WasmBuffer,
} from "./lzo_wasm.ts";
import { LZOP_BLOCK_SIZE, serializeHeader } from "./lzop_format.ts";
import { phasesEnabled, phaseTime } from "../phases.ts";

/** Options of `createLzopWriter`. */
export interface LzopWriterOptions {
  /** File mode recorded in the header; lzop writes 0 for a pipe. @default 0 */
  mode?: number;
  /** Modification time recorded in the header, in seconds. @default the current time */
  mtimeSeconds?: number;
}

const BLOCK_HEADER = 12; // ulen, clen, Adler-32 of the uncompressed data
/** Size of the chunks `lzopFileChunks` hands out (a page multiple: aligned file writes). */
const STAGE_BYTES = 256 * 1024;
const END_MARKER = 4;

// The encoder's compilation starts when this module loads (see `warmUp`).
warmUp("encode");

/** Writes the 12-byte header of block `b` (lengths, checksum of the input) into `out` at `at`. */
function blockHeader(b: EncodedBlock, out: Uint8Array, at: number): void {
  const view = new DataView(out.buffer, out.byteOffset + at, BLOCK_HEADER);
  view.setUint32(0, b.n);
  view.setUint32(4, b.dataLength);
  view.setUint32(8, b.sum);
}

/** One compressed block: lengths, checksum of the input, and where its data lies. */
interface EncodedBlock {
  n: number;
  sum: number;
  dataLength: number;
  data: WasmBuffer;
}

class LzopWriter implements Transformer<Uint8Array, Uint8Array> {
  readonly #header: Uint8Array;
  #input: WasmBuffer | undefined;
  #output: WasmBuffer | undefined;
  #fill = 0;

  constructor(options: LzopWriterOptions) {
    this.#header = serializeHeader({
      mode: options.mode ?? 0,
      mtimeSeconds: options.mtimeSeconds ?? Date.now() / 1000,
    });
  }

  start(controller: TransformStreamDefaultController<Uint8Array>): void {
    controller.enqueue(this.#header);
  }

  transform(chunk: Uint8Array, controller: TransformStreamDefaultController<Uint8Array>): void {
    try {
      let off = 0;
      while (off < chunk.length) {
        const input = this.#buffers();
        const n = Math.min(LZOP_BLOCK_SIZE - this.#fill, chunk.length - off);
        input.bytes.set(chunk.subarray(off, off + n), this.#fill);
        this.#fill += n;
        off += n;
        if (this.#fill === LZOP_BLOCK_SIZE) controller.enqueue(this.#block(0));
      }
    } catch (err) {
      this.#release();
      throw err;
    }
  }

  flush(controller: TransformStreamDefaultController<Uint8Array>): void {
    try {
      // The end marker rides with the last block: one chunk fewer.
      controller.enqueue(this.#fill > 0 ? this.#block(END_MARKER) : new Uint8Array(END_MARKER));
    } finally {
      this.#release();
    }
  }

  cancel(): void {
    this.#release();
  }

  /** The input buffer, acquiring both buffers on first use. */
  #buffers(): WasmBuffer {
    if (this.#input === undefined) {
      this.#output ??= acquireBuffer(compressBound(LZOP_BLOCK_SIZE), this);
      this.#input = acquireBuffer(LZOP_BLOCK_SIZE, this);
    }
    return this.#input;
  }

  /** Encodes the buffered input as one block (plus `tail` zero bytes) in a fresh array. */
  #block(tail: number): Uint8Array {
    const b = this.#compress();
    const out = new Uint8Array(BLOCK_HEADER + b.dataLength + tail);
    this.#put(b, out, 0);
    return out;
  }

  /** Compresses the buffered input (stored raw when compression does not shrink it). */
  #compress(): EncodedBlock {
    const input = this.#buffers();
    const output = this.#output as WasmBuffer;
    const n = this.#fill;
    const sum = adler32(input, 0, n);
    const clen = compressBlock(input, n, output);
    const stored = clen >= n;
    this.#fill = 0;
    return { n, sum, dataLength: stored ? n : clen, data: stored ? input : output };
  }

  /** Writes block `b` (length fields, checksum, data) into `out` at `at`; returns its size. */
  #put(b: EncodedBlock, out: Uint8Array, at: number): number {
    blockHeader(b, out, at);
    out.set(b.data.bytes.subarray(0, b.dataLength), at + BLOCK_HEADER);
    return BLOCK_HEADER + b.dataLength;
  }

  /**
   * The lzop stream of an open file, chunk by chunk: each block is read straight into the
   * codec's input buffer and compressed, and the stream is handed out in chunks of exactly
   * `STAGE_BYTES` (the last one shorter) from one reused buffer, each valid until the next is
   * taken. Nothing the size of the file or of its compressed form is allocated (see
   * `ChunkedBody` in `src/storage/store.ts`), and the file store writes page-aligned 256 KiB
   * pieces: a 12-byte header and a block's data as two writes cost ~5× the write and ~2× the
   * fsync of the same bytes in 256 KiB writes on our VMs. Counts the bytes read in `counted`.
   */
  *chunksOfFile(file: Deno.FsFile, counted: { plainBytes: number }): Generator<Uint8Array> {
    const stage = new Uint8Array(STAGE_BYTES);
    let staged = 0;
    // Copies `length` bytes of `view()` into the stage, handing out every full stage on the way.
    // The view is taken again after each hand-out: a consumer that awaits lets other encoders
    // grow the codec memory, which detaches views of it taken before.
    function* put(view: () => Uint8Array, length: number): Generator<Uint8Array> {
      for (let off = 0; off < length;) {
        const k = Math.min(STAGE_BYTES - staged, length - off);
        stage.set(view().subarray(off, off + k), staged);
        staged += k;
        off += k;
        if (staged === STAGE_BYTES) {
          yield stage;
          staged = 0;
        }
      }
    }
    const head = new Uint8Array(BLOCK_HEADER);
    const timed = phasesEnabled();
    const compressed = (): EncodedBlock => {
      const t0 = timed ? performance.now() : 0;
      const b = this.#compress();
      if (timed) phaseTime("compress", performance.now() - t0);
      blockHeader(b, head, 0);
      return b;
    };
    function* block(b: EncodedBlock): Generator<Uint8Array> {
      yield* put(() => head, BLOCK_HEADER);
      yield* put(() => b.data.bytes, b.dataLength);
    }
    try {
      const header = this.#header;
      yield* put(() => header, header.length);
      for (;;) {
        const input = this.#buffers();
        const t0 = timed ? performance.now() : 0;
        const n = file.readSync(input.bytes.subarray(this.#fill, LZOP_BLOCK_SIZE));
        if (timed) phaseTime("read", performance.now() - t0);
        if (n === null) break;
        this.#fill += n;
        counted.plainBytes += n;
        if (this.#fill === LZOP_BLOCK_SIZE) yield* block(compressed());
      }
      if (this.#fill > 0) yield* block(compressed());
      // The end marker: a zero uncompressed length.
      const end = new Uint8Array(END_MARKER);
      yield* put(() => end, END_MARKER);
      if (staged > 0) yield stage.subarray(0, staged);
    } finally {
      this.#release();
    }
  }

  #release(): void {
    if (this.#input !== undefined) releaseBuffer(this.#input);
    if (this.#output !== undefined) releaseBuffer(this.#output);
    this.#input = undefined;
    this.#output = undefined;
  }
}

/**
 * A stream that lzop-compresses its input exactly as `lzop -c` does by default (method 1,
 * level 5, flags 0x0300000D, 256 KiB blocks). Output chunks are fresh arrays the consumer may
 * keep. An empty input yields the header and the end marker.
 */
export function createLzopWriter(
  options: LzopWriterOptions = {},
): TransformStream<Uint8Array, Uint8Array> {
  return new TransformStream(new LzopWriter(options));
}

/** The lzop stream for `data` as one array (built on `createLzopWriter`; for small inputs). */
export async function lzopCompress(
  data: Uint8Array,
  options: LzopWriterOptions = {},
): Promise<Uint8Array> {
  const compressed = ReadableStream.from([data]).pipeThrough(createLzopWriter(options));
  return new Uint8Array(await new Response(compressed).arrayBuffer());
}

/**
 * The lzop stream of an open file as synchronous chunks, byte for byte what
 * `createLzopWriter` emits for its content: one read straight into the codec's buffer and one
 * codec call per block, no stream stages (for a WAL segment, stream stages cost more than the
 * codec). Each chunk is valid only until the next is taken; `counted.plainBytes` ends as the
 * number of bytes read. The codec's buffers are released when the iteration ends, however.
 */
export function lzopFileChunks(
  file: Deno.FsFile,
  counted: { plainBytes: number },
  options: LzopWriterOptions = {},
): Generator<Uint8Array> {
  return new LzopWriter(options).chunksOfFile(file, counted);
}
