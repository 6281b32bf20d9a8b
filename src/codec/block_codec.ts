/** The shape of an lzop coder that runs elsewhere than in this isolate's codec. */

/**
 * lzop coding done elsewhere than in this isolate's codec (backup-push and backup-fetch code
 * blocks on worker threads: `parallelCodec` in lzop_parallel.ts). Each stream it makes
 * behaves as `createLzopWriter` / `createLzopReader`, byte for byte and error for error.
 */
export interface BlockCodec {
  createWriter(options: { mode?: number; mtimeSeconds?: number }): TransformStream<
    Uint8Array,
    Uint8Array
  >;
  createReader(): TransformStream<Uint8Array, Uint8Array>;
  /** The lzop stream of everything `source` yields (as `createWriter` would write it). */
  encode(
    source: FillSource,
    options: { mode?: number; mtimeSeconds?: number },
  ): ReadableStream<Uint8Array>;
}

/**
 * A byte source that writes into the caller's buffers, so a producer (a tar stream reading
 * files) fills the very buffer the compressor takes next, with no intermediate chunk.
 */
export interface FillSource {
  /**
   * Writes the next bytes into `into` from its start; returns how many: fewer than
   * `into.length` only when the source ended (0 once it is exhausted).
   */
  fill(into: Uint8Array): Promise<number>;
  /** Stops early (a failure elsewhere) and releases what the source holds (open files). */
  cancel(): void;
}

/** `source` as a stream of fresh `chunkSize` chunks (for the in-isolate codec). */
export function fillSourceStream(
  source: FillSource,
  chunkSize = 256 * 1024,
): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    async pull(c) {
      const chunk = new Uint8Array(chunkSize);
      const n = await source.fill(chunk);
      if (n > 0) c.enqueue(n === chunkSize ? chunk : chunk.subarray(0, n));
      if (n < chunkSize) c.close();
    },
    cancel() {
      source.cancel();
    },
  }, { highWaterMark: 0 });
}
