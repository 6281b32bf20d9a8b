/**
 * A pool of codec workers (`lzo_worker.ts`), one per process, used by backup-push and
 * backup-fetch to compress and decode lzop blocks on every core. Workers start lazily, one
 * more only when every running one is busy, up to `size` (the cores, by default): each is a
 * V8 isolate with its own WASM codec, so an idle pool costs nothing.
 *
 * A worker that crashes fails every request it held and every later one with a UserError
 * (never a hang); `close()` terminates the workers and fails whatever is still pending.
 *
 * The WAL commands never load this module (src/lazy.ts): a worker costs start-up time.
 */
import { UserError } from "../errors.ts";
import type { BlockFrame, CodecRequest, CodecResponse } from "./lzo_worker.ts";

/** The worker module; `scripts/compile` embeds it (src/lazy.ts WORKER_MODULES). */
const WORKER_URL = new URL("./lzo_worker.ts", import.meta.url).href;

/** Options of a pool. */
export interface CodecPoolOptions {
  /** Most workers. @default navigator.hardwareConcurrency */
  size?: number;
  /** Worker module (tests substitute one). */
  workerUrl?: string;
}

interface Pending {
  resolve: (res: CodecResponse) => void;
  reject: (err: unknown) => void;
}

interface Slot {
  worker: Worker;
  pending: Map<number, Pending>;
}

/** A successful compression: the framed block, and the input buffer back for reuse. */
export interface Compressed {
  block: Uint8Array;
  buf: ArrayBuffer | undefined;
}

/** Decoded blocks, and the input buffer back for reuse. */
export interface Decompressed {
  plain: Uint8Array;
  buf: ArrayBuffer | undefined;
}

/** Failure of one block's decoding, as the worker saw it (text for a CorruptArchiveError). */
export class BlockDecodeError extends Error {
  readonly detail: string;
  /** Index of the failed block in the request. */
  readonly block: number;
  constructor(message: string, detail: string, block: number) {
    super(message);
    this.detail = detail;
    this.block = block;
  }
}

/** The number of cores, at least 1. */
export function defaultPoolSize(): number {
  const n = globalThis.navigator?.hardwareConcurrency;
  return typeof n === "number" && n >= 1 ? Math.floor(n) : 1;
}

/** Compresses and decodes lzop blocks on worker threads. */
export class CodecPool {
  /** Most workers this pool starts. */
  readonly size: number;
  readonly #url: string;
  readonly #slots: Slot[] = [];
  #nextId = 1;
  #failure: Error | undefined;
  #closed = false;

  constructor(options: CodecPoolOptions = {}) {
    this.size = Math.max(1, Math.floor(options.size ?? defaultPoolSize()));
    this.#url = options.workerUrl ?? WORKER_URL;
  }

  /** Workers started so far. */
  get started(): number {
    return this.#slots.length;
  }

  /**
   * Compresses `buf[0..length)` as lzop blocks of 256 KiB, the last one shorter (the framing
   * `lzop -c` writes: lengths, Adler-32 of the input, LZO1X-1 data or the input itself when it
   * does not shrink), all in one array. `buf` is transferred: it is detached here and comes
   * back in the result.
   */
  async compress(buf: ArrayBuffer, length: number): Promise<Compressed> {
    const res = await this.#run({ op: "compress", id: 0, buf, length }, [buf]);
    if (!res.ok) throw new UserError("codec worker failed", { detail: res.detail });
    return { block: new Uint8Array(res.out), buf: res.buf };
  }

  /**
   * Decodes consecutive blocks whose data lie back to back from the start of `buf`
   * (transferred; it comes back in the result) into `into` (transferred too, written from its
   * start; it must hold the blocks' total plain size) or, without it, a fresh array allocated
   * here. Verifies each block's checksums; rejects with BlockDecodeError (naming the block) for
   * corrupt data or a checksum mismatch.
   */
  async decompress(
    buf: ArrayBuffer,
    blocks: BlockFrame[],
    into?: ArrayBuffer,
  ): Promise<Decompressed> {
    let total = 0;
    for (const b of blocks) total += b.ulen;
    // Allocated here, not in the worker: see DecompressRequest.out.
    const out = into !== undefined && into.byteLength >= total ? into : new ArrayBuffer(total);
    const res = await this.#run({ op: "decompress", id: 0, buf, blocks, out }, [buf, out]);
    if (!res.ok) throw new BlockDecodeError(res.message, res.detail, res.block);
    return { plain: new Uint8Array(res.out, 0, total), buf: res.buf };
  }

  /** Terminates every worker; pending and later requests fail. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const err = new UserError("the codec worker pool was closed", {
      detail: "A compression or decompression request was still pending.",
    });
    for (const slot of this.#slots) {
      slot.worker.terminate();
      this.#failPending(slot, err);
    }
    this.#slots.length = 0;
  }

  #run(req: CodecRequest, transfer: ArrayBuffer[]): Promise<CodecResponse> {
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    if (this.#closed) {
      return Promise.reject(new UserError("the codec worker pool was closed"));
    }
    const slot = this.#pick();
    const id = this.#nextId++;
    req.id = id;
    return new Promise<CodecResponse>((resolve, reject) => {
      slot.pending.set(id, { resolve, reject });
      slot.worker.postMessage(req, transfer);
    });
  }

  /** The least busy worker, starting a new one when all are busy and there is room. */
  #pick(): Slot {
    let best: Slot | undefined;
    for (const s of this.#slots) {
      if (best === undefined || s.pending.size < best.pending.size) best = s;
    }
    if (best !== undefined && (best.pending.size === 0 || this.#slots.length >= this.size)) {
      return best;
    }
    return this.#spawn();
  }

  #spawn(): Slot {
    const worker = new Worker(this.#url, { type: "module" });
    const slot: Slot = { worker, pending: new Map() };
    worker.onmessage = (e: MessageEvent<CodecResponse>): void => {
      const p = slot.pending.get(e.data.id);
      if (p === undefined) return;
      slot.pending.delete(e.data.id);
      p.resolve(e.data);
    };
    const crashed = (what: string): void => {
      const err = new UserError("a codec worker failed", {
        detail: `A compression worker thread stopped: ${what}.`,
        hint: "This is a bug or the machine ran out of memory; run the command again.",
      });
      this.#failure ??= err;
      worker.terminate();
      const i = this.#slots.indexOf(slot);
      if (i >= 0) this.#slots.splice(i, 1);
      // Every worker's requests fail: the pool is unusable, and a stream waiting on another
      // worker's block must not wait for one that will never come.
      this.#failPending(slot, err);
      for (const s of this.#slots) this.#failPending(s, err);
    };
    worker.onerror = (e: ErrorEvent): void => {
      e.preventDefault(); // handled: do not take the whole process down
      crashed(e.message || "uncaught error");
    };
    worker.onmessageerror = (): void => crashed("a message could not be decoded");
    this.#slots.push(slot);
    return slot;
  }

  #failPending(slot: Slot, err: Error): void {
    const pending = [...slot.pending.values()];
    slot.pending.clear();
    for (const p of pending) p.reject(err);
  }
}
