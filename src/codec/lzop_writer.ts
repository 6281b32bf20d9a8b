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
const END_MARKER = 4;

/** Where encoded chunks go: a stream's controller, or a plain collector (no stream stages). */
interface Sink {
  enqueue(chunk: Uint8Array): void;
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

  start(controller: Sink): void {
    controller.enqueue(this.#header);
  }

  transform(chunk: Uint8Array, controller: Sink): void {
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

  flush(controller: Sink): void {
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
    const input = this.#buffers();
    const output = this.#output as WasmBuffer;
    const n = this.#fill;
    const sum = adler32(input, 0, n);
    const clen = compressBlock(input, n, output);
    const stored = clen >= n;
    const dataLength = stored ? n : clen;
    const out = new Uint8Array(BLOCK_HEADER + dataLength + tail);
    const view = new DataView(out.buffer);
    view.setUint32(0, n);
    view.setUint32(4, dataLength);
    view.setUint32(8, sum);
    out.set((stored ? input : output).bytes.subarray(0, dataLength), BLOCK_HEADER);
    this.#fill = 0;
    return out;
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

/** A whole file's lzop stream, as the chunks `createLzopWriter` would emit. */
export interface EncodedFile {
  chunks: Uint8Array[];
  /** Bytes read from the file. */
  plainBytes: number;
  /** Total length of `chunks`. */
  encodedBytes: number;
}

/**
 * lzop-compresses an open file synchronously, exactly as `createLzopWriter` does, reading it
 * in block-sized pieces into one reused buffer and calling the codec once per block. For a
 * WAL segment (wal-push) stream stages cost more than the codec; this is the same encoder
 * driven directly. Memory: the compressed chunks plus one block.
 */
export function lzopEncodeFileSync(
  file: Deno.FsFile,
  options: LzopWriterOptions = {},
): EncodedFile {
  const chunks: Uint8Array[] = [];
  let encodedBytes = 0;
  const sink: Sink = {
    enqueue(chunk) {
      chunks.push(chunk);
      encodedBytes += chunk.length;
    },
  };
  const writer = new LzopWriter(options);
  const piece = new Uint8Array(LZOP_BLOCK_SIZE);
  let plainBytes = 0;
  const timed = phasesEnabled();
  try {
    writer.start(sink);
    for (;;) {
      const t0 = timed ? performance.now() : 0;
      const n = file.readSync(piece);
      if (timed) phaseTime("read", performance.now() - t0);
      if (n === null) break;
      plainBytes += n;
      writer.transform(piece.subarray(0, n), sink);
    }
    writer.flush(sink);
  } catch (err) {
    writer.cancel();
    throw err;
  }
  return { chunks, plainBytes, encodedBytes };
}
