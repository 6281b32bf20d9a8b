/**
 * lzop streams coded on the workers of a `CodecPool`: lzop compresses each 256 KiB block on
 * its own, so the input is cut into batches of blocks, compressed (or decoded) on every core,
 * and put back in order. The output is one ordinary lzop stream, byte for byte what
 * `createLzopWriter` writes for the same input and header fields; decoding applies every
 * check `createLzopReader` does, with the same error texts (CorruptArchiveError).
 *
 * A batch is up to `BATCH_BYTES` of plain data (4 blocks): one message to a worker and one
 * back per MiB, since each message costs a thread wake-up.
 *
 * Back-pressure: at most `inFlight` batches of one stream are at the workers; the stream
 * waits for the oldest before it takes more input, so memory stays bounded whatever the input
 * size. A failed block (corrupt data, a crashed worker) errors the stream.
 */
import type { BlockCodec, FillSource } from "./block_codec.ts";
import {
  BlockDecodeError,
  type CodecPool,
  type Compressed,
  type Decompressed,
} from "./codec_pool.ts";
import { LZOP_BLOCK_SIZE, serializeHeader } from "./lzop_format.ts";
import { lend } from "./recycle.ts";
import { LzopFramer, type RawLzopBlock } from "./lzop_reader.ts";
import type { LzopWriterOptions } from "./lzop_writer.ts";

const END_MARKER = 4;
/** Decoded batches a reader holds for a consumer that is busy. */
const READ_AHEAD = 2;
/**
 * Decoded-batch buffers a reader keeps for reuse once its consumer gave them back
 * (recycle.ts); more are allocated when none is free, so this bounds only what is kept.
 */
const SPARE_OUTPUTS = 16;
/** Plain bytes per worker request: whole lzop blocks. */
export const BATCH_BYTES = 4 * LZOP_BLOCK_SIZE;

/** Options of the parallel streams. */
export interface ParallelOptions {
  /** Batches of one stream at the workers at once. @default pool size + 2 */
  inFlight?: number;
}

function windowOf(pool: CodecPool, options: ParallelOptions): number {
  return Math.max(1, options.inFlight ?? pool.size + 2);
}

/** A promise that may reject before it is awaited, without an unhandled rejection. */
function quiet<T>(p: Promise<T>): Promise<T> {
  p.catch(() => {});
  return p;
}

function headerOf(options: LzopWriterOptions): Uint8Array {
  return serializeHeader({
    mode: options.mode ?? 0,
    mtimeSeconds: options.mtimeSeconds ?? Date.now() / 1000,
  });
}

/** Batch buffers handed back by the workers, for the next batches. */
class Spares {
  readonly #free: ArrayBuffer[] = [];

  take(): ArrayBuffer {
    return this.#free.pop() ?? new ArrayBuffer(BATCH_BYTES);
  }

  give(done: Compressed): void {
    if (done.buf !== undefined && done.buf.byteLength === BATCH_BYTES) this.#free.push(done.buf);
  }
}

class ParallelLzopWriter implements Transformer<Uint8Array, Uint8Array> {
  readonly #pool: CodecPool;
  readonly #header: Uint8Array;
  readonly #window: number;
  readonly #queue: Promise<Compressed>[] = [];
  readonly #spares = new Spares();
  #batch: Uint8Array | undefined;
  #fill = 0;

  constructor(pool: CodecPool, options: LzopWriterOptions & ParallelOptions) {
    this.#pool = pool;
    this.#window = windowOf(pool, options);
    this.#header = headerOf(options);
  }

  start(controller: TransformStreamDefaultController<Uint8Array>): void {
    controller.enqueue(this.#header);
  }

  async transform(
    chunk: Uint8Array,
    controller: TransformStreamDefaultController<Uint8Array>,
  ): Promise<void> {
    let off = 0;
    while (off < chunk.length) {
      const batch = this.#batch ??= new Uint8Array(this.#spares.take());
      const n = Math.min(BATCH_BYTES - this.#fill, chunk.length - off);
      batch.set(chunk.subarray(off, off + n), this.#fill);
      this.#fill += n;
      off += n;
      if (this.#fill === BATCH_BYTES) {
        this.#submit();
        while (this.#queue.length >= this.#window) await this.#emitOldest(controller);
      }
    }
  }

  async flush(controller: TransformStreamDefaultController<Uint8Array>): Promise<void> {
    if (this.#fill > 0) this.#submit();
    while (this.#queue.length > 0) await this.#emitOldest(controller);
    controller.enqueue(new Uint8Array(END_MARKER));
  }

  #submit(): void {
    const batch = this.#batch as Uint8Array;
    this.#queue.push(quiet(this.#pool.compress(batch.buffer as ArrayBuffer, this.#fill)));
    this.#batch = undefined;
    this.#fill = 0;
  }

  async #emitOldest(controller: TransformStreamDefaultController<Uint8Array>): Promise<void> {
    const done = await (this.#queue.shift() as Promise<Compressed>);
    controller.enqueue(done.block);
    this.#spares.give(done);
  }
}

/**
 * A stream that lzop-compresses its input on `pool`'s workers: the same bytes as
 * `createLzopWriter(options)` (header, 256 KiB blocks, end marker). Output chunks are fresh
 * arrays the consumer may keep.
 */
export function createParallelLzopWriter(
  pool: CodecPool,
  options: LzopWriterOptions & ParallelOptions = {},
): TransformStream<Uint8Array, Uint8Array> {
  return new TransformStream(new ParallelLzopWriter(pool, options));
}

/**
 * The lzop stream of `source`, compressed on `pool`'s workers: the source fills each batch
 * buffer directly (a tar stream reads file data straight into it), the buffer travels to a
 * worker and back, and is filled again. Byte for byte what `createLzopWriter(options)` writes
 * for the same bytes.
 */
export function encodeParallel(
  pool: CodecPool,
  source: FillSource,
  options: LzopWriterOptions & ParallelOptions = {},
): ReadableStream<Uint8Array> {
  const window = windowOf(pool, options);
  const queue: Promise<Compressed>[] = [];
  const spares = new Spares();
  let ended = false;
  const header = headerOf(options);
  return new ReadableStream<Uint8Array>({
    start(c) {
      c.enqueue(header);
    },
    async pull(c) {
      try {
        while (!ended && queue.length < window) {
          const buf = spares.take();
          const n = await source.fill(new Uint8Array(buf));
          if (n > 0) queue.push(quiet(pool.compress(buf, n)));
          if (n < BATCH_BYTES) ended = true;
        }
        const oldest = queue.shift();
        if (oldest === undefined) {
          c.enqueue(new Uint8Array(END_MARKER));
          c.close();
          return;
        }
        const done = await oldest;
        c.enqueue(done.block);
        spares.give(done);
      } catch (err) {
        source.cancel();
        throw err;
      }
    },
    cancel() {
      source.cancel();
    },
  }, { highWaterMark: 0 });
}

interface QueuedBatch {
  result: Promise<Decompressed>;
  blocks: RawLzopBlock[];
}

class ParallelLzopReader implements Transformer<Uint8Array, Uint8Array> {
  readonly #pool: CodecPool;
  readonly #window: number;
  readonly #queue: QueuedBatch[] = [];
  readonly #framer: LzopFramer;
  /** Blocks of the batch being collected, their data back to back in #buf. */
  #batch: RawLzopBlock[] = [];
  #batchPlain = 0;
  #buf: ArrayBuffer | undefined;
  #fill = 0;
  readonly #spare: ArrayBuffer[] = [];
  /** Output buffers given back by the consumer (recycle.ts), for the next batches. */
  readonly #spareOut: ArrayBuffer[] = [];
  /** Takes a given-back output chunk into #spareOut. */
  readonly #takeBack = (chunk: Uint8Array): void => {
    const buf = chunk.buffer as ArrayBuffer;
    if (buf.byteLength === BATCH_BYTES && this.#spareOut.length < SPARE_OUTPUTS) {
      this.#spareOut.push(buf);
    }
  };

  constructor(pool: CodecPool, options: ParallelOptions) {
    this.#pool = pool;
    this.#window = windowOf(pool, options);
    this.#framer = new LzopFramer({
      // The framer copies each block's data straight into the batch buffer.
      target: (clen) => {
        if (this.#buf !== undefined && this.#fill + clen > this.#buf.byteLength) this.#submit();
        this.#buf ??= clen <= BATCH_BYTES
          ? this.#spare.pop() ?? new ArrayBuffer(BATCH_BYTES)
          : new ArrayBuffer(clen);
        const view = new Uint8Array(this.#buf, this.#fill, clen);
        this.#fill += clen;
        return view;
      },
      block: (block) => {
        this.#batch.push(block);
        this.#batchPlain += block.ulen;
        if (this.#batchPlain >= BATCH_BYTES) this.#submit();
      },
    });
  }

  async transform(
    chunk: Uint8Array,
    controller: TransformStreamDefaultController<Uint8Array>,
  ): Promise<void> {
    try {
      this.#framer.write(chunk);
    } catch (err) {
      // An earlier block's failure comes first, as the sequential reader would report it.
      this.#submit();
      await this.#emitAll(controller);
      throw err;
    }
    while (this.#queue.length > this.#window) await this.#emitOldest(controller);
  }

  async flush(controller: TransformStreamDefaultController<Uint8Array>): Promise<void> {
    this.#submit();
    await this.#emitAll(controller);
    this.#framer.end();
  }

  cancel(): void {
    this.#framer.abandon();
  }

  #submit(): void {
    const blocks = this.#batch;
    const buf = this.#buf;
    if (blocks.length === 0 || buf === undefined) return;
    this.#batch = [];
    this.#batchPlain = 0;
    this.#buf = undefined;
    this.#fill = 0;
    const frames = blocks.map((b) => ({ clen: b.clen, ulen: b.ulen, sums: b.sums }));
    const plain = blocks.reduce((n, b) => n + b.ulen, 0);
    const into = plain <= BATCH_BYTES ? this.#spareOut.pop() : undefined;
    this.#queue.push({ result: quiet(this.#pool.decompress(buf, frames, into)), blocks });
  }

  async #emitAll(controller: TransformStreamDefaultController<Uint8Array>): Promise<void> {
    while (this.#queue.length > 0) await this.#emitOldest(controller);
  }

  async #emitOldest(controller: TransformStreamDefaultController<Uint8Array>): Promise<void> {
    const q = this.#queue.shift() as QueuedBatch;
    let done: Decompressed;
    try {
      done = await q.result;
    } catch (err) {
      this.#framer.abandon();
      const failed = err instanceof BlockDecodeError ? q.blocks[err.block] : undefined;
      if (err instanceof BlockDecodeError && failed !== undefined) {
        throw failed.error(err.message, err.detail);
      }
      throw err;
    }
    // A recycled buffer is written again only after the consumer gave this chunk back.
    if (done.plain.buffer.byteLength === BATCH_BYTES) lend(done.plain, this.#takeBack);
    controller.enqueue(done.plain);
    if (done.buf !== undefined && done.buf.byteLength === BATCH_BYTES) this.#spare.push(done.buf);
  }
}

/**
 * A stream that decodes lzop input on `pool`'s workers: what `createLzopReader` accepts and
 * rejects, with the same CorruptArchiveError texts; output chunks are arrays of up to
 * `BATCH_BYTES`, each new or a buffer its consumer gave back (recycle.ts): one the consumer
 * never gives back is its own to keep.
 */
export function createParallelLzopReader(
  pool: CodecPool,
  options: ParallelOptions = {},
): TransformStream<Uint8Array, Uint8Array> {
  // Decoded chunks queue up while the consumer is busy (a restore awaits each file write),
  // so framing and the workers go on meanwhile: a few batches, bounded.
  return new TransformStream(new ParallelLzopReader(pool, options), undefined, {
    highWaterMark: READ_AHEAD,
  });
}

/** The pipeline's BlockCodec over `pool`: every stream codes its blocks on the workers. */
export function parallelCodec(pool: CodecPool, options: ParallelOptions = {}): BlockCodec {
  return {
    createWriter: (o) => createParallelLzopWriter(pool, { ...o, ...options }),
    createReader: () => createParallelLzopReader(pool, options),
    encode: (source, o) => encodeParallel(pool, source, { ...o, ...options }),
  };
}
