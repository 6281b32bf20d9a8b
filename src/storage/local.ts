/**
 * Local file system backend (`file://`, WAL-E-COMPAT §11.5). Object `X` under path prefix `P`
 * is the file `/P/X`. Unlike WAL-E, writes are atomic and durable: a temporary file in the same
 * directory, fsync, rename, fsync of the directory; readers never see a partial object.
 */
import { dirname, join } from "../paths.ts";
import { ConfigError, ObjectExistsError, ObjectNotFoundError, StoreError } from "../errors.ts";
import { fileSource } from "../archive/file_source.ts";
import { phase } from "../phases.ts";
import { lazy } from "../lazy.ts";
import { checkKey, checkKeyPrefix, checkPutKey } from "./keys.ts";
import type {
  GetOptions,
  ObjectInfo,
  PutBody,
  PutOptions,
  Store,
  StoreCapabilities,
} from "./store.ts";

/** Infix of temporary files; listings skip names containing it. */
const TEMP_MARK = ".wal-e-tmp.";
/** A temporary file's name: `.<object name><TEMP_MARK><12 hex digits>`. */
const TEMP_NAME = /^\.(.+)\.wal-e-tmp\.[0-9a-f]{12}$/;

/** Formats a time as Python's `datetime.utcfromtimestamp(t).isoformat()` (no zone). */
export function pythonIsoUtc(d: Date): string {
  const iso = d.toISOString();
  const ms = iso.slice(20, 23);
  return ms === "000" ? iso.slice(0, 19) : `${iso.slice(0, 19)}.${ms}000`;
}

/** Store rooted at an absolute directory. */
export class LocalStore implements Store {
  readonly capabilities: StoreCapabilities = {
    atomicPut: true,
    deleteBatchSize: 1000,
    conditionalPut: true,
  };
  readonly pathPrefix: string;
  readonly #root: string;

  /** `pathPrefix` as parsed from the URL (`""` or `a/b/`); the root is `/` + it. */
  constructor(pathPrefix: string) {
    this.pathPrefix = pathPrefix;
    this.#root = `/${pathPrefix}`;
  }

  #path(key: string): string {
    checkKey(key);
    return this.#root + key;
  }

  url(key: string): string {
    return `file://localhost${this.#root}${key}`;
  }

  async put(key: string, body: PutBody, options: PutOptions = {}): Promise<void> {
    await checkPutKey(key, body);
    const path = this.#path(key);
    const dir = dirname(path);
    const { file, temp } = this.#createTemp(dir, `.${path.slice(dir.length + 1)}${TEMP_MARK}`);
    let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
    let ok = false;
    let written = 0;
    // File-system failures (disk full, permission, a path too long) become store errors naming
    // the file; a failure of the body stream itself is the caller's and passes unchanged.
    const fs = <T>(op: () => T): T => {
      try {
        return op();
      } catch (err) {
        throw storeIoError(err, temp);
      }
    };
    // Page-cache writes do not block for long; the async form costs ~3× for a segment.
    const writeAll = (value: Uint8Array): void => {
      let off = 0;
      while (off < value.length) off += fs(() => file.writeSync(value.subarray(off)));
      written += value.length;
    };
    try {
      // Bytes are written as they are: no stream machinery on wal-push's path (see PutBody).
      if (body instanceof Uint8Array) writeAll(body);
      // A ChunkedBody, tested inline: `isChunked` would load store.ts on every wal-push.
      else if ("chunks" in body) { for (const chunk of body.chunks) writeAll(chunk); }
      else {
        reader = body.getReader();
        for (;;) {
          options.signal?.throwIfAborted();
          const { done, value } = await reader.read();
          if (done) break;
          writeAll(value);
        }
      }
      options.signal?.throwIfAborted();
      phase("write");
      // A WAL-sized object is fsynced in place (an async op costs an event-loop round trip,
      // milliseconds, once per segment); a base backup partition in the background, so the
      // other partitions keep compressing meanwhile.
      if (written <= SYNC_INLINE_BYTES) fs(() => file.syncSync());
      else await file.sync().catch((err) => Promise.reject(storeIoError(err, temp)));
      file.close();
      phase("fsync");
      if (options.ifAbsent === true) publishIfAbsent(temp, path, this.url(key));
      else fs(() => Deno.renameSync(temp, path));
      ok = true;
      fs(() => syncDir(dir));
      phase("rename-dirsync");
    } catch (err) {
      await reader?.cancel(err).catch(() => {});
      throw err;
    } finally {
      if (!ok) {
        try {
          file.close();
        } catch { /* already closed */ }
        try {
          Deno.removeSync(temp);
        } catch { /* never created, or gone */ }
      }
    }
  }

  /** Creates parents (fsyncing each new directory's parent) and the temporary file. */
  #createTemp(dir: string, stem: string): { file: Deno.FsFile; temp: string } {
    for (let attempt = 0;; attempt++) {
      const temp = join(dir, stem + tempSuffix());
      ensureDir(dir);
      try {
        return { file: Deno.openSync(temp, { write: true, createNew: true }), temp };
      } catch (err) {
        // A concurrent deleteMany may prune an emptied directory between mkdir and open, and a
        // dead process's leftover may hold the name: try again.
        const again = err instanceof Deno.errors.NotFound ||
          err instanceof Deno.errors.AlreadyExists;
        if (!again || attempt >= 3) throw storeIoError(err, temp);
      }
    }
  }

  get(key: string, options: GetOptions = {}): Promise<ReadableStream<Uint8Array>> {
    try {
      const file = this.openFile(key);
      // Large synchronous reads: FsFile.readable's 64 KiB async reads cost ~5× for a segment.
      return Promise.resolve(fileSource(file, undefined, options.transientChunks === true));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  openFile(key: string): Deno.FsFile {
    const path = this.#path(key);
    try {
      return Deno.openSync(path, { read: true });
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw storeIoError(err, path);
      this.#checkRoot();
      throw new ObjectNotFoundError(this.url(key));
    }
  }

  /**
   * A missing object is "not in the archive" only when the prefix directory itself is there:
   * a missing root is an unmounted or mistyped archive, which wal-fetch must not report to
   * PostgreSQL as the end of the archive.
   */
  #checkRoot(): void {
    const root = this.#root.replace(/(.)\/$/, "$1");
    let isDir = false;
    try {
      isDir = Deno.statSync(root).isDirectory;
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound || err instanceof Deno.errors.NotADirectory)) {
        throw storeIoError(err, root);
      }
    }
    if (!isDir) {
      throw new ConfigError("the storage prefix directory does not exist", {
        detail: `"${root}" (from the file:// prefix) is missing or not a directory.`,
        hint: "Is the archive's file system mounted? Otherwise fix WALE_FILE_PREFIX, or create " +
          "the directory owned by the user that runs wal-e.",
      });
    }
  }

  exists(key: string): Promise<boolean> {
    try {
      return Promise.resolve(Deno.statSync(this.#path(key)).isFile);
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) return Promise.resolve(false);
      return Promise.reject(storeIoError(err, this.#root + key));
    }
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    checkKeyPrefix(prefix);
    const cut = prefix.lastIndexOf("/");
    const base = cut < 0 ? "" : prefix.slice(0, cut + 1);
    const found: ObjectInfo[] = [];
    // Microsecond times (WAL-E's text) need FFI; loaded only here, never on the WAL path.
    const { preciseMtime, pythonIsoUtcPrecise } = await lazy.fileMtime();
    await this.#walk(base, prefix, found, (path, ms) => {
      const t = preciseMtime(path);
      if (t === undefined) return { date: ms, text: pythonIsoUtc(ms) };
      return {
        date: new Date(t.seconds * 1000 + Math.floor(t.nanoseconds / 1e6)),
        text: pythonIsoUtcPrecise(t),
      };
    });
    found.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    yield* found;
  }

  /** Calls `visit` for every regular file in the directories that may hold `prefix`'s keys. */
  async #files(
    dirKey: string,
    prefix: string,
    visit: (dirKey: string, name: string) => Promise<void>,
  ): Promise<void> {
    let entries: Deno.DirEntry[];
    try {
      entries = await Array.fromAsync(Deno.readDir(this.#root + dirKey));
    } catch (err) {
      if (err instanceof Deno.errors.NotFound || err instanceof Deno.errors.NotADirectory) return;
      throw storeIoError(err, this.#root + dirKey);
    }
    for (const entry of entries) {
      const key = dirKey + entry.name;
      if (entry.isDirectory) {
        if (prefix.startsWith(key + "/") || (key + "/").startsWith(prefix)) {
          await this.#files(key + "/", prefix, visit);
        }
      } else if (entry.isFile) {
        await visit(dirKey, entry.name);
      }
    }
  }

  async #walk(
    base: string,
    prefix: string,
    out: ObjectInfo[],
    timeOf: (path: string, ms: Date) => { date: Date; text: string },
  ): Promise<void> {
    await this.#files(base, prefix, async (dirKey, name) => {
      const key = dirKey + name;
      if (key.startsWith(prefix) && !name.includes(TEMP_MARK)) {
        try {
          const st = await Deno.stat(this.#root + key);
          const mtime = timeOf(this.#root + key, st.mtime ?? new Date(0));
          out.push({ key, size: st.size, lastModified: mtime.date, lastModifiedText: mtime.text });
        } catch (err) {
          if (!(err instanceof Deno.errors.NotFound)) throw storeIoError(err, this.#root + key);
        }
      }
    });
  }

  /**
   * Removes the temporary files of interrupted puts (`.<name><TEMP_MARK><hex>`) whose object
   * key starts with `prefix` and that were last written before `olderThan` (a put in flight
   * writes its file continuously), then prunes the directories that leaves empty.
   */
  async sweepIncomplete(prefix: string, olderThan: Date): Promise<number> {
    checkKeyPrefix(prefix);
    const cut = prefix.lastIndexOf("/");
    const doomed: string[] = [];
    await this.#files(cut < 0 ? "" : prefix.slice(0, cut + 1), prefix, async (dirKey, name) => {
      const m = TEMP_NAME.exec(name);
      if (m === null || !(dirKey + (m[1] ?? "")).startsWith(prefix)) return;
      const path = this.#root + dirKey + name;
      try {
        const st = await Deno.lstat(path);
        if (st.isFile && st.mtime !== null && st.mtime.getTime() < olderThan.getTime()) {
          doomed.push(path);
        }
      } catch (err) {
        if (!(err instanceof Deno.errors.NotFound)) throw storeIoError(err, path);
      }
    });
    let removed = 0;
    const dirs = new Set<string>();
    for (const path of doomed) {
      try {
        await Deno.remove(path);
        removed++;
      } catch (err) {
        if (!(err instanceof Deno.errors.NotFound)) throw storeIoError(err, path);
      }
      dirs.add(dirname(path));
    }
    for (const dir of dirs) await this.#pruneEmpty(dir);
    return removed;
  }

  async deleteMany(keys: readonly string[]): Promise<void> {
    for (const key of keys) checkKey(key);
    const dirs = new Set<string>();
    for (const key of keys) {
      const path = this.#path(key);
      try {
        await Deno.remove(path);
      } catch (err) {
        if (!(err instanceof Deno.errors.NotFound)) throw storeIoError(err, path);
      }
      dirs.add(dirname(path));
    }
    for (const dir of dirs) await this.#pruneEmpty(dir);
  }

  /** Removes `dir` and its parents while empty, never the root itself (as WAL-E prunes). */
  async #pruneEmpty(dir: string): Promise<void> {
    const root = this.#root.replace(/\/$/, "");
    while (dir.startsWith(root + "/") && dir !== root) {
      try {
        await Deno.remove(dir); // fails unless empty
      } catch {
        return;
      }
      dir = dirname(dir);
    }
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

/**
 * 12 hex digits for a temporary name: this process's id and a counter started from the clock,
 * not the random generator, whose first use costs a process ~0.7 ms (once per segment pushed).
 * Unique among live processes; a dead one's leftover with the same name is refused by
 * `createNew`, and the next number is taken.
 */
function tempSuffix(): string {
  tempCounter = (tempCounter + 1) % 0x1000000;
  return ((Deno.pid % 0x1000000) * 0x1000000 + tempCounter).toString(16).padStart(12, "0");
}
let tempCounter = Date.now() % 0x1000000;

/**
 * fsync a directory so a rename or a new entry in it survives a crash. Synchronous, like the
 * other metadata calls here: each is short, and an async op costs an event-loop round trip.
 */
function syncDir(dir: string): void {
  const fd = Deno.openSync(dir, { read: true });
  try {
    fd.syncSync();
  } finally {
    fd.close();
  }
}

/**
 * Publishes the complete temporary file `temp` as `path` unless `path` exists: a hard link
 * fails on an existing name where a rename would replace it, so "store if absent" needs no
 * separate check (whose "no" costs a failing stat, ~1 ms the first time in a process, once per
 * segment pushed) and leaves no window between check and publish. The temporary name is then
 * removed. A file system without hard links falls back to check-then-rename.
 */
function publishIfAbsent(temp: string, path: string, url: string): void {
  try {
    Deno.linkSync(temp, path);
  } catch (err) {
    if (err instanceof Deno.errors.AlreadyExists) throw new ObjectExistsError(url);
    let present = false;
    try {
      present = Deno.statSync(path).isFile;
    } catch { /* absent: rename below */ }
    if (present) throw new ObjectExistsError(url);
    try {
      Deno.renameSync(temp, path);
    } catch (renameErr) {
      throw storeIoError(renameErr, temp);
    }
    return;
  }
  try {
    Deno.removeSync(temp);
  } catch (err) {
    throw storeIoError(err, temp);
  }
}

/** Objects up to this size are fsynced without leaving the JS thread (see `put`). */
const SYNC_INLINE_BYTES = 64 * 1024 * 1024;

/** mkdir -p that fsyncs the parent of every directory it creates. */
function ensureDir(dir: string): void {
  const missing: string[] = [];
  for (let d = dir;; d = dirname(d)) {
    try {
      if (Deno.statSync(d).isDirectory) break;
      throw notADirectory(d);
    } catch (err) {
      if (err instanceof Deno.errors.NotADirectory) throw notADirectory(d);
      if (!(err instanceof Deno.errors.NotFound)) throw storeIoError(err, d);
      missing.push(d);
      if (d === "/") break;
    }
  }
  for (const d of missing.reverse()) {
    try {
      Deno.mkdirSync(d);
    } catch (err) {
      if (!(err instanceof Deno.errors.AlreadyExists)) throw storeIoError(err, d);
    }
    syncDir(dirname(d));
  }
}

function notADirectory(path: string): ConfigError {
  return new ConfigError("a path in the storage prefix is not a directory", {
    detail: `"${path}" or one of its parents exists and is not a directory.`,
    hint: "Fix WALE_FILE_PREFIX: it must name a directory (or a path that can become one).",
  });
}

function storeIoError(err: unknown, path: string): StoreError | ConfigError {
  if (err instanceof StoreError || err instanceof ConfigError) return err;
  if (err instanceof Deno.errors.NotADirectory) return notADirectory(path);
  const reason = err instanceof Error ? err.message : String(err);
  const denied = err instanceof Deno.errors.PermissionDenied;
  return new StoreError(denied ? "permission denied in the storage prefix" : "storage I/O failed", {
    detail: `${reason} (path "${path}").`,
    hint: denied ? "Check that this user may read and write the prefix directory." : undefined,
    cause: err,
    retryable: false,
  });
}
