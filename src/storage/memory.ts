/**
 * In-memory backend: fast tests of the commands and a readable reference of the Store
 * contract. Not reachable from a prefix URL.
 */
import { ObjectExistsError, ObjectNotFoundError } from "../errors.ts";
import { checkKey, checkKeyPrefix, checkPutKey, nothingToSweep } from "./keys.ts";
import type {
  GetOptions,
  ObjectInfo,
  PutBody,
  PutOptions,
  Store,
  StoreCapabilities,
} from "./store.ts";
import { isChunked } from "./store.ts";

interface Entry {
  bytes: Uint8Array;
  lastModified: Date;
}

/** A Store that keeps objects in a Map. */
export class MemoryStore implements Store {
  readonly capabilities: StoreCapabilities = {
    atomicPut: true,
    deleteBatchSize: 1000,
    conditionalPut: true,
  };
  readonly pathPrefix: string;
  readonly #objects = new Map<string, Entry>();

  constructor(pathPrefix = "") {
    this.pathPrefix = pathPrefix;
  }

  url(key: string): string {
    return `memory://store/${this.pathPrefix}${key}`;
  }

  async put(key: string, body: PutBody, options: PutOptions = {}): Promise<void> {
    await checkPutKey(key, body);
    const chunks: Uint8Array[] = [];
    let size = 0;
    const take = (chunk: Uint8Array) => {
      options.signal?.throwIfAborted();
      chunks.push(chunk.slice());
      size += chunk.length;
    };
    // Each chunk of a chunked body is copied before the next is taken (they share a buffer).
    if (body instanceof Uint8Array) take(body);
    else if (isChunked(body)) { for (const chunk of body.chunks) take(chunk); }
    else for await (const chunk of body) take(chunk);
    options.signal?.throwIfAborted();
    const bytes = new Uint8Array(size);
    let off = 0;
    for (const c of chunks) {
      bytes.set(c, off);
      off += c.length;
    }
    if (options.ifAbsent === true && this.#objects.has(key)) {
      throw new ObjectExistsError(this.url(key));
    }
    this.#objects.set(key, { bytes, lastModified: new Date() });
  }

  get(key: string, _options: GetOptions = {}): Promise<ReadableStream<Uint8Array>> {
    try {
      checkKey(key);
    } catch (err) {
      return Promise.reject(err);
    }
    const entry = this.#objects.get(key);
    if (entry === undefined) return Promise.reject(new ObjectNotFoundError(this.url(key)));
    const bytes = entry.bytes;
    return Promise.resolve(
      new ReadableStream<Uint8Array>({
        start(controller) {
          if (bytes.length > 0) controller.enqueue(bytes.slice());
          controller.close();
        },
      }),
    );
  }

  exists(key: string): Promise<boolean> {
    try {
      checkKey(key);
    } catch (err) {
      return Promise.reject(err);
    }
    return Promise.resolve(this.#objects.has(key));
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    checkKeyPrefix(prefix);
    const keys = [...this.#objects.keys()].filter((k) => k.startsWith(prefix)).sort();
    for (const key of keys) {
      const e = this.#objects.get(key);
      if (e === undefined) continue;
      yield {
        key,
        size: e.bytes.length,
        lastModified: e.lastModified,
        lastModifiedText: e.lastModified.toISOString(),
      };
    }
  }

  deleteMany(keys: readonly string[]): Promise<void> {
    try {
      for (const k of keys) checkKey(k);
    } catch (err) {
      return Promise.reject(err);
    }
    for (const k of keys) this.#objects.delete(k);
    return Promise.resolve();
  }

  /** A put here is one `Map.set`: an interrupted one leaves nothing. */
  sweepIncomplete(prefix: string, _olderThan: Date): Promise<number> {
    return nothingToSweep(prefix);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
