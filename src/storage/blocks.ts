/**
 * Uploads in bounded memory: a stream cut into blocks held in a fixed pool of buffers, and
 * the loop that sends those blocks a few at a time (S3 parts, Azure blocks, Swift segments).
 */
import { forEachPooled } from "../pool.ts";

/**
 * Cuts a byte stream into blocks of exactly the buffer's size (the last one shorter), copying
 * into caller-supplied buffers so uploads can reuse a fixed pool: no per-block garbage, so
 * memory stays at pool size × block size however large the object is. Byte streams (files,
 * sockets) are read with a BYOB reader straight into the buffer, with no copy and no garbage
 * chunk at all; other streams' chunks are copied, and never kept past the next read.
 */
export class BlockReader {
  readonly #byob: ReadableStreamBYOBReader | undefined;
  readonly #reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  readonly #pending: Uint8Array[] = [];
  #ended = false;
  /** Bytes handed out so far. */
  total = 0;

  constructor(body: ReadableStream<Uint8Array>) {
    try {
      this.#byob = body.getReader({ mode: "byob" });
    } catch {
      this.#reader = body.getReader();
    }
  }

  /** Cancels the source (unblocking a pending read). */
  cancel(reason?: unknown): Promise<void> {
    return (this.#byob ?? this.#reader)?.cancel(reason).catch(() => {}) ?? Promise.resolve();
  }

  /**
   * Fills `buf` as far as the stream allows. Returns the buffer now holding the bytes (a
   * BYOB read transfers the memory to a new ArrayBuffer: the argument is detached) and the
   * byte count, 0 at the end.
   */
  async fill(
    buf: Uint8Array,
    signal?: AbortSignal,
    from = 0,
  ): Promise<{ buf: Uint8Array; n: number }> {
    let filled = from;
    while (filled < buf.length) {
      const chunk = this.#pending.shift();
      if (chunk !== undefined) {
        const n = Math.min(chunk.length, buf.length - filled);
        buf.set(chunk.subarray(0, n), filled);
        filled += n;
        if (n < chunk.length) this.#pending.unshift(chunk.subarray(n));
        continue;
      }
      if (this.#ended) break;
      if (this.#byob !== undefined) {
        const size = buf.length;
        const r = await this.#byob.read(new Uint8Array(buf.buffer, filled, size - filled));
        buf = r.value === undefined
          ? new Uint8Array(size)
          : new Uint8Array(r.value.buffer, 0, size);
        signal?.throwIfAborted();
        if (r.done) this.#ended = true;
        else filled += r.value.length;
      } else {
        const r = await this.#reader!.read();
        signal?.throwIfAborted();
        if (r.done) this.#ended = true;
        else this.#pending.push(r.value);
      }
    }
    this.total += filled - from;
    return { buf, n: filled };
  }

  /**
   * Reads the first part: into a small buffer first, so small objects (most puts) never take
   * a whole part buffer, then on into a pool buffer. `single` is true when the stream holds
   * no more than one part (the object can go in one request).
   */
  async firstPart(
    pool: BufferPool,
    signal?: AbortSignal,
  ): Promise<{ buf: Uint8Array; n: number; single: boolean }> {
    const small = await this.fill(new Uint8Array(Math.min(FIRST_READ, pool.size)), signal);
    if (small.n < small.buf.length) return { ...small, single: true };
    const part = await pool.acquire();
    part.set(small.buf);
    const got = await this.fill(part, signal, small.n);
    return { ...got, single: got.n < got.buf.length || await this.atEnd(signal) };
  }

  /** True when no byte remains (reads ahead a little if needed). */
  async atEnd(signal?: AbortSignal): Promise<boolean> {
    while (this.#pending.length === 0 && !this.#ended) {
      if (this.#byob !== undefined) {
        const r = await this.#byob.read(new Uint8Array(65536));
        signal?.throwIfAborted();
        if (r.done) this.#ended = true;
        else if (r.value.length > 0) this.#pending.push(r.value);
      } else {
        const r = await this.#reader!.read();
        signal?.throwIfAborted();
        if (r.done) this.#ended = true;
        else if (r.value.length > 0) this.#pending.push(r.value);
      }
    }
    return this.#pending.length === 0;
  }
}

/** Size of the first read of an upload, before a whole part buffer is taken. */
const FIRST_READ = 1024 * 1024;

/**
 * How many upload buffers one store may hold across all its puts at once. Each put has its
 * own `BufferPool`; without a shared bound, `backup-push --pool-size 4` or a pooled wal-push
 * of 32 segments would multiply the pools. A put that already holds a buffer never waits for
 * the budget (it waits for its own buffers to come back from the requests in flight), and one
 * that holds none waits holding nothing: puts cannot deadlock each other.
 */
export class BufferBudget {
  #free: number;
  readonly #waiting: (() => void)[] = [];

  constructor(slots: number) {
    this.#free = slots;
  }

  /** Slots not taken. */
  get available(): number {
    return this.#free;
  }

  /** Takes a slot if one is free. */
  tryTake(): boolean {
    if (this.#free <= 0) return false;
    this.#free--;
    return true;
  }

  /** Takes a slot, waiting for one. */
  take(): Promise<void> {
    if (this.tryTake()) return Promise.resolve();
    return new Promise((resolve) => this.#waiting.push(resolve));
  }

  /** Returns `n` slots (to waiters first). */
  give(n: number): void {
    for (let i = 0; i < n; i++) {
      const w = this.#waiting.shift();
      if (w !== undefined) w();
      else this.#free++;
    }
  }
}

/**
 * A put's set of equally sized buffers, allocated lazily up to `max` (and, with a budget,
 * only while the store's budget allows), handed out and returned, waiting when none is free.
 * `close()` returns the budget's slots when the put is over, whatever became of the buffers
 * (a failed BYOB read detaches one for good).
 */
export class BufferPool {
  readonly #free: Uint8Array[] = [];
  readonly #waiting: ((b: Uint8Array) => void)[] = [];
  readonly #size: number;
  #created = 0;
  readonly #max: number;
  readonly #budget: BufferBudget | undefined;
  #closed = false;

  constructor(size: number, max: number, budget?: BufferBudget) {
    this.#size = size;
    this.#max = max;
    this.#budget = budget;
  }

  /** Bytes per buffer. */
  get size(): number {
    return this.#size;
  }

  /** A free buffer (allocated lazily, at most `max` in all). */
  async acquire(): Promise<Uint8Array> {
    const b = this.#free.pop();
    if (b !== undefined) return b;
    if (this.#created < this.#max && !this.#closed) {
      if (this.#budget === undefined || this.#budget.tryTake()) return this.#create();
      if (this.#created === 0) {
        await this.#budget.take();
        if (this.#closed) this.#budget.give(1);
        else return this.#create();
      }
    }
    return await new Promise((resolve) => this.#waiting.push(resolve));
  }

  #create(): Uint8Array {
    this.#created++;
    return new Uint8Array(this.#size);
  }

  /** Gives `b` back (to a waiter first). */
  release(b: Uint8Array): void {
    const w = this.#waiting.shift();
    if (w !== undefined) w(b);
    else this.#free.push(b);
  }

  /** The put is over: its buffers' budget slots go back to the store. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#budget?.give(this.#created);
    this.#free.length = 0;
  }
}

/**
 * Sends `first` (a full block from `pool`) and the rest of `blocks` as consecutive blocks
 * of the pool's size, the last one shorter. `send(index, block, signal)` is called in order,
 * so a caller may hash blocks as they come, and the promises it returns run concurrently:
 * a block's buffer goes back to the pool when its promise settles, so the pool's size bounds
 * both memory and requests in flight. The first failure aborts the others (through the
 * `signal` handed to `send`) and is thrown once all have settled.
 */
export async function sendBlocks(
  blocks: BlockReader,
  pool: BufferPool,
  first: Uint8Array,
  send: (index: number, block: Uint8Array, signal: AbortSignal) => Promise<void>,
  signal?: AbortSignal,
): Promise<void> {
  const ctl = new AbortController();
  const all = signal === undefined ? ctl.signal : AbortSignal.any([signal, ctl.signal]);
  async function* cut(): AsyncGenerator<{ index: number; buf: Uint8Array; n: number }> {
    let index = 0;
    for (let block = { buf: first, n: first.length }; block.n > 0; index++) {
      yield { index, ...block };
      if (block.n < pool.size) return;
      block = await blocks.fill(await pool.acquire(), all);
      if (block.n === 0) pool.release(block.buf);
    }
  }
  // The pool's buffers bound the blocks in flight (and memory); the pool helper adds none.
  await forEachPooled(cut(), async ({ index, buf, n }, s) => {
    try {
      await send(index, buf.subarray(0, n), s);
    } finally {
      pool.release(buf);
    }
  }, { limit: Infinity, signal, abort: ctl });
}
