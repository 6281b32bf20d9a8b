/**
 * Safe streaming extraction of base backup volumes (WAL-E-COMPAT §6.2), from a Web stream
 * read by tar_read.ts.
 *
 * Safety: a member name that is absolute, contains `..`, or would be written through a symlink
 * found in the target (other than the tablespace links the caller trusts) is refused with a
 * CorruptArchiveError before anything is written for it. The root entry (`/`, `""`, `.`, `./`)
 * means the target directory itself (§4.2).
 *
 * One `Extractor` serves every volume of a restore so volumes can be extracted concurrently:
 * directories created implicitly by one volume get their own attributes when their entry
 * arrives in another; directory modes and times are applied at `finish()`, after all children
 * were written, and every written file and directory is fsynced then.
 *
 * Completeness: the tar must end with its end-of-archive marker (tar_read.ts, which reads the
 * stream for us).
 *
 * Undo: the extractor remembers every path it created (never the ones that existed before),
 * so a failed restore can `rollback()` to the target as it was; `deferred` root files
 * (`backup_label`) are written under a pending name and only `commit()` puts them in place.
 */
import { CorruptArchiveError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { forEachPooled } from "../pool.ts";
import { readTar, type TarHeader as Header } from "./tar_read.ts";

/** Options of an extraction. */
export interface ExtractOptions {
  /**
   * Member paths (relative, e.g. `pg_tblspc/16384`) that are allowed to be symlinks leading
   * outside the target: the tablespace links the restore created or verified.
   */
  trustedLinks?: Iterable<string>;
  /** Apply owners (by user/group name, falling back to the numeric ids). Default: when root. */
  chown?: boolean;
  log?: Logger;
  /**
   * Root-level file names (e.g. `backup_label`, `tablespace_map`) written under a pending name
   * until `commit()`, in the order `commit()` renames them.
   */
  deferred?: readonly string[];
  /**
   * Told the size of each piece of file data written (progress). When `extract` fails, the
   * bytes it counted are taken back (a negative call): a retried volume is counted once.
   */
  onData?: ((bytes: number) => void) | undefined;
}

/** Suffix of a deferred file until `commit()`. */
export const PENDING_SUFFIX = ".wal-e-pending";

/**
 * Writes some of `bytes` at the file's position. Small writes, and the metadata calls around
 * each member (lstat, open, chmod, utime, chown), are synchronous: an async file-system call
 * costs a round trip through the thread pool, which for a thousand small files was most of a
 * restore's time; large writes stay async so other volumes progress meanwhile.
 */
function writeSome(file: Deno.FsFile, bytes: Uint8Array): Promise<number> | number {
  return bytes.length < 256 * 1024 ? file.writeSync(bytes) : file.write(bytes);
}

/** Written bytes after which a file's data is flushed to disk in the background. */
const EARLY_FLUSH_BYTES = 64 * 1024 * 1024;

/** What `rollback()` could not undo. */
export interface RollbackResult {
  /** Paths this extractor created that are still there (removal failed). */
  left: string[];
  /** Paths that existed before and were overwritten (their old contents are gone). */
  overwritten: number;
}

interface DirAttrs {
  mode: number;
  mtime: Date;
  uid: number;
  gid: number;
  uname: string;
  gname: string;
}

/** Extracts tar streams into one target directory. */
export class Extractor {
  readonly #root: string;
  readonly #trusted: Set<string>;
  readonly #chown: boolean;
  readonly #log: Logger | undefined;
  /** Relative directories known to be real directories inside the target. */
  readonly #safeDirs = new Set<string>([""]);
  readonly #dirAttrs = new Map<string, DirAttrs>();
  readonly #written = new Set<string>();
  readonly #deferred: readonly string[];
  readonly #onData: ((bytes: number) => void) | undefined;
  /** Paths created by this extractor, in creation order (a parent before its children). */
  readonly #created: string[] = [];
  readonly #createdSet = new Set<string>();
  readonly #overwritten = new Set<string>();
  #ids: { users: Map<string, number>; groups: Map<string, number> } | undefined;
  /** Background flushes of written data (see #flushEarly). */
  readonly #flushing = new Set<Promise<void>>();

  /** `root` must be an existing directory; it is used through its real path. */
  private constructor(root: string, options: ExtractOptions) {
    this.#root = root;
    this.#trusted = new Set([...(options.trustedLinks ?? [])].map((l) => l.replace(/\/+$/, "")));
    this.#chown = options.chown ?? Deno.uid() === 0;
    this.#log = options.log;
    this.#deferred = options.deferred ?? [];
    this.#onData = options.onData;
  }

  /** An extractor into the existing directory `target`. */
  static async create(target: string, options: ExtractOptions = {}): Promise<Extractor> {
    return new Extractor(await Deno.realPath(target), options);
  }

  /**
   * Extracts one tar stream. Rejects (after cancelling `tar`) on the first bad member, on a
   * damaged or incomplete tar (CorruptArchiveError saying where), or with the error `tar`
   * itself failed with (left as it is, so the caller can tell a cut download). Extracting the
   * same stream again rewrites every member from scratch.
   */
  async extract(tar: ReadableStream<Uint8Array>, signal?: AbortSignal): Promise<void> {
    const onData = this.#onData;
    if (onData === undefined) return await readTar(tar, (h, data) => this.#member(h, data), signal);
    // A failed attempt takes back what it counted: a retried volume is counted once.
    let counted = 0;
    const count = (n: number): void => {
      counted += n;
      onData(n);
    };
    try {
      await readTar(tar, (h, data) => this.#member(h, counting(data, count)), signal);
    } catch (err) {
      onData(-counted);
      throw err;
    }
  }

  /** Applies directory attributes and fsyncs everything written. Call once, at the end. */
  async finish(): Promise<void> {
    await this.#settleFlushes();
    const dirs = [...this.#dirAttrs.entries()].sort((a, b) => b[0].length - a[0].length);
    for (const [rel, a] of dirs) {
      const abs = this.#abs(rel);
      await this.#owner(abs, a);
      await Deno.chmod(abs, a.mode);
      await Deno.utime(abs, a.mtime, a.mtime);
    }
    const files = [...this.#written];
    const parents = new Set<string>([this.#root, ...dirs.map(([rel]) => this.#abs(rel))]);
    for (const f of files) parents.add(f.slice(0, f.lastIndexOf("/")) || "/");
    await fsyncAll([...files, ...parents]);
  }

  /** The pending path of deferred root file `name`, when the archive held it. */
  pendingPath(name: string): string | undefined {
    const abs = this.#abs(name + PENDING_SUFFIX);
    return this.#written.has(abs) ? abs : undefined;
  }

  /**
   * Puts the deferred files in place (fsynced, renamed in the order given at creation, then
   * the target directory fsynced). Call after `finish()`, once everything else succeeded.
   */
  async commit(): Promise<void> {
    let renamed = false;
    for (const name of this.#deferred) {
      const pending = this.pendingPath(name);
      if (pending === undefined) continue;
      await fsyncAll([pending]);
      const abs = this.#abs(name);
      await Deno.rename(pending, abs);
      this.#written.delete(pending);
      this.#written.add(abs);
      renamed = true;
    }
    if (renamed) await fsyncAll([this.#root]);
  }

  /**
   * Removes what this extractor created, newest first; files that existed before are left
   * (overwritten ones are counted). Call only once no extraction is running.
   */
  async rollback(): Promise<RollbackResult> {
    await this.#settleFlushes();
    const left: string[] = [];
    for (const abs of [...this.#created].reverse()) {
      try {
        await Deno.remove(abs);
      } catch (err) {
        if (!(err instanceof Deno.errors.NotFound)) left.push(abs);
      }
    }
    this.#created.length = 0;
    this.#createdSet.clear();
    this.#written.clear();
    return { left: left.reverse(), overwritten: this.#overwritten.size };
  }

  /**
   * Starts writing `abs`'s data to disk in the background (fdatasync through a handle of its
   * own), so the disk works while extraction goes on instead of all at `finish()`, which still
   * fsyncs everything (cheap for what is already clean). At most two at a time; a flush that
   * fails is only a lost head start: `finish()` reports the real error.
   */
  #flushEarly(abs: string): void {
    if (this.#flushing.size >= 2) return;
    const p = (async () => {
      try {
        const f = await Deno.open(abs, { read: true });
        try {
          await f.syncData();
        } finally {
          f.close();
        }
      } catch {
        // finish() syncs again and reports
      }
    })();
    this.#flushing.add(p);
    p.finally(() => this.#flushing.delete(p));
  }

  async #settleFlushes(): Promise<void> {
    while (this.#flushing.size > 0) await Promise.all([...this.#flushing]);
  }

  /** Records that `abs` was created by this extractor. */
  #made(abs: string): void {
    if (this.#createdSet.has(abs)) return;
    this.#createdSet.add(abs);
    this.#created.push(abs);
  }

  /** Records that `abs` existed and is about to be replaced (unless this extractor made it). */
  #replacing(abs: string): void {
    if (!this.#createdSet.has(abs)) this.#overwritten.add(abs);
  }

  #abs(rel: string): string {
    return rel === "" ? this.#root : `${this.#root}/${rel}`;
  }

  async #member(h: Header, data: AsyncIterable<Uint8Array>): Promise<void> {
    const rel = normalizeName(h.name);
    const mode = (h.mode ?? 0o600) & 0o7777;
    const mtime = h.mtime ?? new Date();
    const attrs: DirAttrs = {
      mode,
      mtime,
      uid: h.uid ?? 0,
      gid: h.gid ?? 0,
      uname: h.uname ?? "",
      gname: h.gname ?? "",
    };
    switch (h.type) {
      case "directory":
        await this.#directory(rel, attrs);
        break;
      case "file":
      case "contiguous-file":
        await this.#file(rel, attrs, data, h.size ?? 0);
        return;
      case "symlink":
        await this.#symlink(rel, h.linkname ?? "");
        break;
      case "link":
        await this.#hardLink(rel, normalizeName(h.linkname ?? ""));
        break;
      default:
        this.#log?.warning({
          msg: "skipping an unsupported tar member",
          detail: `The member "${h.name}" has type "${h.type ?? "?"}".`,
        });
    }
    for await (const _ of data) { /* drain */ }
  }

  /** Makes sure relative directory `rel` exists as a real directory inside the target. */
  async #ensureDir(rel: string): Promise<void> {
    if (this.#safeDirs.has(rel)) return;
    const parent = rel.includes("/") ? rel.slice(0, rel.lastIndexOf("/")) : "";
    await this.#ensureDir(parent);
    const abs = this.#abs(rel);
    let st: Deno.FileInfo | undefined;
    try {
      st = Deno.lstatSync(abs);
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    }
    if (st === undefined) {
      try {
        Deno.mkdirSync(abs, { mode: 0o700 });
        this.#made(abs);
      } catch (err) {
        if (!(err instanceof Deno.errors.AlreadyExists)) throw err;
        return await this.#ensureDir(rel); // created concurrently: check what it is
      }
    } else if (st.isSymlink) {
      if (!this.#trusted.has(rel)) throw refuse(rel, "it would be written through a symlink");
    } else if (!st.isDirectory) {
      throw refuse(rel, "a parent path is not a directory");
    }
    this.#safeDirs.add(rel);
  }

  /** Creates the parent of `rel` and returns the absolute path of `rel` itself. */
  async #prepare(rel: string): Promise<string> {
    const parent = rel.includes("/") ? rel.slice(0, rel.lastIndexOf("/")) : "";
    await this.#ensureDir(parent);
    return this.#abs(rel);
  }

  async #directory(rel: string, attrs: DirAttrs): Promise<void> {
    if (rel !== "") await this.#ensureDir(rel);
    // A trusted tablespace link keeps the attributes of the directory it points at.
    if (!this.#trusted.has(rel)) this.#dirAttrs.set(rel, attrs);
  }

  async #file(
    rel: string,
    attrs: DirAttrs,
    data: AsyncIterable<Uint8Array>,
    size: number,
  ): Promise<void> {
    if (rel === "") throw refuse(rel, "the root entry is not a directory");
    const abs = await this.#prepare(this.#deferred.includes(rel) ? rel + PENDING_SUFFIX : rel);
    await removeIfLink(abs, () => this.#replacing(abs));
    let file: Deno.FsFile;
    try {
      file = Deno.openSync(abs, { write: true, createNew: true, mode: 0o600 });
      this.#made(abs);
    } catch (err) {
      if (!(err instanceof Deno.errors.AlreadyExists)) throw err;
      this.#replacing(abs);
      file = Deno.openSync(abs, { write: true, truncate: true });
    }
    let unflushed = 0;
    let written = 0;
    try {
      for await (const chunk of data) {
        let off = 0;
        while (off < chunk.length) off += await writeSome(file, chunk.subarray(off));
        unflushed += chunk.length;
        written += chunk.length;
        if (unflushed >= EARLY_FLUSH_BYTES) {
          this.#flushEarly(abs);
          unflushed = 0;
        }
      }
      // The reader hands out exactly `size` bytes; anything else (a buffer reused while still
      // in use) is a bug, and must fail the restore rather than leave a short file.
      if (written !== size) {
        throw new Error(`restored ${written} bytes of "${rel}", its header says ${size}`);
      }
    } catch (err) {
      file.close();
      // Only a file of ours goes; an operator's file stays (it was overwritten already).
      if (this.#createdSet.has(abs)) await Deno.remove(abs).catch(() => {});
      throw err;
    }
    file.close();
    if (unflushed >= EARLY_FLUSH_BYTES / 64) this.#flushEarly(abs);
    await this.#owner(abs, attrs);
    Deno.chmodSync(abs, attrs.mode);
    Deno.utimeSync(abs, attrs.mtime, attrs.mtime);
    this.#written.add(abs);
  }

  async #symlink(rel: string, target: string): Promise<void> {
    if (rel === "") throw refuse(rel, "the root entry is not a directory");
    const abs = await this.#prepare(rel);
    let st: Deno.FileInfo | undefined;
    try {
      st = await Deno.lstat(abs);
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    }
    if (st?.isDirectory === true) throw refuse(rel, "a directory would be replaced by a symlink");
    if (st !== undefined) {
      this.#replacing(abs);
      await Deno.remove(abs);
    }
    // Stored verbatim, never followed (§4.2); nothing is ever written through it later
    // unless the caller trusts it.
    await Deno.symlink(target, abs);
    if (st === undefined) this.#made(abs);
  }

  async #hardLink(rel: string, targetRel: string): Promise<void> {
    if (rel === "" || targetRel === "") throw refuse(rel, "a hard link to the root entry");
    const abs = await this.#prepare(rel);
    const target = await this.#prepare(targetRel);
    const st = await Deno.lstat(target);
    if (!st.isFile) throw refuse(rel, "a hard link to something other than a regular file");
    let existed = true;
    try {
      await Deno.remove(abs);
      this.#replacing(abs);
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
      existed = false;
    }
    await Deno.link(target, abs);
    if (!existed) this.#made(abs);
  }

  async #owner(abs: string, a: DirAttrs): Promise<void> {
    if (!this.#chown) return;
    this.#ids ??= await loadIds();
    const uid = this.#ids.users.get(a.uname) ?? a.uid;
    const gid = this.#ids.groups.get(a.gname) ?? a.gid;
    Deno.chownSync(abs, uid, gid);
  }
}

/** The target-relative path of a member name; throws for absolute or `..` names. */
export function normalizeName(name: string): string {
  if (name === "/" || name === "" || name === "." || name === "./") return "";
  let n = name;
  while (n.startsWith("./")) n = n.slice(2);
  n = n.replace(/\/+$/, "");
  if (n.startsWith("/")) throw refuse(name, "it is an absolute path");
  const parts = n.split("/").filter((p) => p !== "" && p !== ".");
  if (parts.includes("..")) throw refuse(name, 'it contains ".."');
  return parts.join("/");
}

function refuse(name: string, why: string): CorruptArchiveError {
  return new CorruptArchiveError("refusing to extract an unsafe tar member", {
    detail: `The member "${name}" was refused: ${why}.`,
    hint: "The backup may be corrupt or crafted; nothing was written for this member.",
  });
}

async function removeIfLink(abs: string, before: () => void): Promise<void> {
  try {
    if (Deno.lstatSync(abs).isSymlink) {
      before();
      await Deno.remove(abs);
    }
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
}

/** `data`, telling `count` the size of each chunk as it is consumed. */
async function* counting(
  data: AsyncIterable<Uint8Array>,
  count: (bytes: number) => void,
): AsyncGenerator<Uint8Array> {
  for await (const chunk of data) {
    yield chunk;
    count(chunk.length);
  }
}

async function loadIds(): Promise<{ users: Map<string, number>; groups: Map<string, number> }> {
  const read = async (path: string): Promise<Map<string, number>> => {
    const m = new Map<string, number>();
    for (const line of (await Deno.readTextFile(path).catch(() => "")).split("\n")) {
      const f = line.split(":");
      if (f[0] && /^\d+$/.test(f[2] ?? "")) m.set(f[0], Number(f[2]));
    }
    return m;
  };
  return { users: await read("/etc/passwd"), groups: await read("/etc/group") };
}

/** fsyncs `paths` (files and directories), a few at a time. */
async function fsyncAll(paths: string[]): Promise<void> {
  await forEachPooled(paths, async (p) => {
    let f: Deno.FsFile;
    try {
      f = await Deno.open(p, { read: true });
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) return;
      throw err;
    }
    try {
      await f.sync();
    } finally {
      f.close();
    }
  }, { limit: 8 });
}
