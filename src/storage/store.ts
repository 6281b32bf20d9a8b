/**
 * The one storage interface every backend implements. Its doc comments are the contract that
 * `test/storage/store_contract.ts` checks against every backend.
 *
 * Keys are logical object names relative to the store's path prefix, `/`-separated, without
 * a leading slash (e.g. `wal_005/000000010000000000000002.lzo`). Each backend maps them to its
 * physical names (WAL-E-COMPAT §3.3: Swift and GCS add a leading `/`).
 *
 * Every method refuses a key that could name something outside the prefix (empty, a leading
 * `/`, an empty, `.` or `..` segment, a control character) with a non-retryable `StoreError`
 * before any request is sent (src/storage/keys.ts); listing prefixes likewise, where `""`
 * and a trailing `/` are allowed.
 */

/** One stored object as a listing reports it. */
export interface ObjectInfo {
  /** Logical key, relative to the store's prefix. */
  key: string;
  /** Size in bytes. */
  size: number;
  /** Modification time. */
  lastModified: Date;
  /**
   * Modification time as the backend's WAL-E library rendered it (backup-list prints this
   * verbatim, WAL-E-COMPAT §2.9): e.g. `2026-11-25T01:06:53.595526` for files,
   * `2014-04-30T23:02:38.000Z` for S3.
   */
  lastModifiedText: string;
}

/** Options of `Store.put`. */
export interface PutOptions {
  /** Exact length in bytes when known up front (lets backends use a single request). */
  size?: number | undefined;
  /** MIME type where the backend records one (WAL-E-COMPAT §3.8). */
  contentType?: string | undefined;
  /** Aborting makes the put fail and leaves no visible object. */
  signal?: AbortSignal | undefined;
  /**
   * Store only if the key holds no object, atomically: otherwise fail with
   * `ObjectExistsError` and change nothing. Only for backends whose capabilities say
   * `conditionalPut`; the others ignore it (callers check `exists` first there).
   */
  ifAbsent?: boolean | undefined;
}

/** Options of `Store.get`. */
export interface GetOptions {
  signal?: AbortSignal | undefined;
  /**
   * The caller is done with each chunk before it reads the next (it copies what it keeps), so
   * the store may hand out views of one reused buffer. A memory optimisation for decoders that
   * copy into the codec's memory anyway; backends may ignore it.
   */
  transientChunks?: boolean | undefined;
}

/** What a backend can do, as data (never `instanceof` a backend). */
export interface StoreCapabilities {
  /** Objects appear atomically on put (all backends we ship guarantee this). */
  atomicPut: boolean;
  /** Largest number of keys one `deleteMany` request takes; callers need not batch. */
  deleteBatchSize: number;
  /** `put` honours `ifAbsent` (no separate existence check, no window between the two). */
  conditionalPut: boolean;
}

/**
 * What `put` stores: a stream, bytes already whole in memory, or chunks produced synchronously
 * (`ChunkedBody`). The last two exist for wal-push, once per segment archived: the first touch
 * of the Web Streams classes costs a process ~2-3 ms (Deno loads them lazily). Tell them apart
 * with `instanceof Uint8Array` and `isChunked`, never by naming `ReadableStream`, which loads
 * those classes too.
 */
export type PutBody = ReadableStream<Uint8Array> | Uint8Array | ChunkedBody;

/**
 * Bytes handed over chunk by chunk as they are produced, synchronously; each chunk is valid
 * only until the next one is taken (the producer reuses its buffer), whatever the taker awaits
 * meanwhile (so a producer hands out its own buffer, never a view of memory another task may
 * move, such as the codec's: see `lzopFileChunks`). wal-push's compressed segment comes this
 * way, so no array the size of the object is ever filled: on some virtual machines the first
 * touch of a page costs ~10 µs, ~3 ms per MiB. The file store writes each chunk out as it
 * comes; the other backends copy them into their upload buffers.
 */
export interface ChunkedBody {
  readonly chunks: Iterable<Uint8Array>;
}

/**
 * True for a `ChunkedBody` (without naming `ReadableStream`; see `PutBody`). The file store
 * and `checkPutKey` write the same test inline, so wal-push does not load this module.
 */
export function isChunked(body: PutBody): body is ChunkedBody {
  return !(body instanceof Uint8Array) && "chunks" in body;
}

/** Object storage under one prefix. */
export interface Store {
  readonly capabilities: StoreCapabilities;

  /**
   * Stores `body` under `key`, replacing any existing object. All or nothing: when the put
   * fails or is aborted no partial object is visible, and a reader never sees a partial one.
   * Resolves only once the object is durably stored (and verified, where the backend can).
   */
  put(key: string, body: PutBody, options?: PutOptions): Promise<void>;

  /**
   * Opens `key` for streaming. Throws `ObjectNotFoundError` when it does not exist, before any
   * byte is produced, so a missing object never reaches a decoder or an output file. The
   * stream is the object's exact bytes or ends in an error, never early: a body cut by a
   * connection reset, a premature end or a stall is resumed (ranged, pinned to the version
   * first seen) within the retry budget, else the stream errors with a retryable `StoreError`.
   */
  get(key: string, options?: GetOptions): Promise<ReadableStream<Uint8Array>>;

  /**
   * Only for a store on the local file system: the object's file, opened for reading, with
   * `get`'s errors thrown. wal-fetch and wal-prefetch decode it with synchronous reads and no
   * stream stages: setting up Web Streams costs a process ~6 ms, once per segment restored.
   */
  openFile?(key: string): Deno.FsFile;

  /** Whether `key` exists. */
  exists(key: string): Promise<boolean>;

  /**
   * Every object whose key starts with `prefix` (recursively, no delimiter), with paging
   * hidden. Listing a prefix with nothing under it yields nothing; it is not an error. Order
   * is the backend's listing order (lexicographic on object stores).
   */
  list(prefix: string): AsyncIterable<ObjectInfo>;

  /** Deletes `keys`; missing keys are ignored, so re-running after an interruption is safe. */
  deleteMany(keys: readonly string[]): Promise<void>;

  /**
   * Removes what interrupted puts (a killed process) left under `prefix` (a listing prefix,
   * as for `list`) and that is older than `olderThan`; returns how many interrupted puts it
   * cleaned up. Never touches a complete object, nor anything started at or after
   * `olderThan` (another process's put may be in flight: pass a cutoff well before any put
   * that may still be running). Per backend: the local store's hidden temporary files; S3's
   * multipart uploads; Swift's Static Large Object segments not referenced by their key's
   * manifest; Azure: nothing (uncommitted blocks cannot be listed cheaply and the service
   * discards them after 7 days), always 0; the memory store leaves nothing, always 0.
   */
  sweepIncomplete(prefix: string, olderThan: Date): Promise<number>;

  /** Full URL of `key` for log lines, e.g. `file://localhost/srv/archive/wal_005/x.lzo`. */
  url(key: string): string;

  /** The path prefix as WAL-E logs it (`prefix=` in STRUCTURED lines), e.g. `pg/`. */
  readonly pathPrefix: string;

  /** Releases connections; the store is unusable afterwards. */
  close(): Promise<void>;
}
