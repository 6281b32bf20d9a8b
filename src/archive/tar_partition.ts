/**
 * Base backup volumes: planning partitions from the walk (WAL-E-COMPAT §5.6) and one
 * partition's tar stream (§4.2; written by tar_blocks.ts).
 *
 * Header names: the data directory itself is written as `/` (what Python's tarfile wrote for
 * WAL-E, §4.2/§17.7; our extractor and WAL-E's take `/`, `""`, `.` and `./` as the target
 * itself); directories end in `/`; names longer than ustar allows get PAX `path`/`linkpath`
 * records (tar-stream does this on its own).
 */
import { fillSourceStream } from "../codec/block_codec.ts";
import { PartitionTarSource, unreadable } from "./tar_blocks.ts";
import type { Logger } from "../log.ts";
import type { WalkEntry } from "../pg/cluster_walk.ts";
import type { RateLimiter } from "./rate_limit.ts";

/** WAL-E's partition byte budget (1.5 GiB). */
export const PARTITION_MAX_BYTES = 1_610_612_736;
/** WAL-E's member count limit per partition. */
export const PARTITION_MAX_MEMBERS = 6_144;

/** One tar member, with the attributes recorded when its partition was formed. */
export interface TarMember {
  /** Name relative to the data directory (`""` for the directory itself). */
  name: string;
  type: "file" | "directory" | "symlink";
  /** Source file for `file` members without `data`. */
  path?: string;
  /** In-memory contents (backup_label, tablespace_map). */
  data?: Uint8Array;
  /** Bytes to emit (listing-time size; 0 for directories and links). */
  size: number;
  mode: number;
  mtime: Date;
  uid: number;
  gid: number;
  uname: string;
  gname: string;
  linkname?: string;
}

/** A planned volume. */
export interface Partition {
  index: number;
  members: TarMember[];
  /** Sum of member sizes (file data only, as WAL-E counts it). */
  bytes: number;
}

/** Limits of the planner; WAL-E's constants by default. */
export interface PlanOptions {
  maxBytes?: number;
  maxMembers?: number;
  log?: Logger;
  /** Number of the first partition. */
  firstIndex?: number;
}

/** uid/gid → names from /etc/passwd and /etc/group, read once. */
export class OwnerNames {
  #users: Map<number, string> | undefined;
  #groups: Map<number, string> | undefined;

  /** User name of `uid`, `""` when unknown. */
  async user(uid: number): Promise<string> {
    this.#users ??= await readIdFile("/etc/passwd");
    return this.#users.get(uid) ?? "";
  }

  /** Group name of `gid`, `""` when unknown. */
  async group(gid: number): Promise<string> {
    this.#groups ??= await readIdFile("/etc/group");
    return this.#groups.get(gid) ?? "";
  }
}

async function readIdFile(path: string): Promise<Map<number, string>> {
  const out = new Map<number, string>();
  const text = await Deno.readTextFile(path).catch(() => "");
  for (const line of text.split("\n")) {
    const f = line.split(":");
    const id = Number(f[2]);
    if (f[0] && Number.isInteger(id) && !out.has(id)) out.set(id, f[0]);
  }
  return out;
}

/**
 * `lstat`s one walk entry into a member; undefined when it vanished or is not a regular file,
 * directory or symlink (sockets and FIFOs have no place in a data directory).
 */
export async function memberOf(
  entry: WalkEntry,
  owners: OwnerNames,
): Promise<TarMember | undefined> {
  let st: Deno.FileInfo;
  try {
    st = await Deno.lstat(entry.path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return undefined;
    throw unreadable(entry.path, "lstat", err);
  }
  const type = st.isSymlink ? "symlink" : st.isDirectory ? "directory" : st.isFile ? "file" : null;
  if (type === null) return undefined;
  const uid = st.uid ?? 0;
  const gid = st.gid ?? 0;
  const member: TarMember = {
    name: entry.name,
    type,
    path: entry.path,
    size: type === "file" ? st.size : 0,
    mode: (st.mode ?? 0o600) & 0o7777,
    mtime: st.mtime ?? new Date(),
    uid,
    gid,
    uname: await owners.user(uid),
    gname: await owners.group(gid),
  };
  if (type === "symlink") {
    try {
      member.linkname = await Deno.readLink(entry.path);
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) return undefined;
      throw unreadable(entry.path, "read the link", err);
    }
  }
  return member;
}

/**
 * Forms partitions lazily from `entries` (each is `lstat`ed only when its partition is being
 * formed, while earlier ones upload). Cut rule (§5.6): before adding a member, close the current
 * partition if its bytes plus the member's size reach `maxBytes` or it already has `maxMembers`
 * members. Vanished paths are skipped with a DEBUG record.
 *
 * Deviation (§16): a single file larger than the byte budget is not an error; it gets a
 * partition of its own (tar sizes beyond 8 GiB use the base-256 encoding, which WAL-E's Python
 * reader accepts).
 */
export async function* planPartitions(
  entries: Iterable<WalkEntry>,
  options: PlanOptions = {},
): AsyncGenerator<Partition> {
  const maxBytes = options.maxBytes ?? PARTITION_MAX_BYTES;
  const maxMembers = options.maxMembers ?? PARTITION_MAX_MEMBERS;
  const owners = new OwnerNames();
  let current: Partition = { index: options.firstIndex ?? 0, members: [], bytes: 0 };
  for (const entry of entries) {
    const member = await memberOf(entry, owners);
    if (member === undefined) {
      options.log?.debug({
        msg: "skipping a file that vanished before it could be archived",
        detail: `The path "${entry.path}" no longer exists.`,
      });
      continue;
    }
    if (
      current.members.length > 0 &&
      (current.bytes + member.size >= maxBytes || current.members.length >= maxMembers)
    ) {
      yield current;
      current = { index: current.index + 1, members: [], bytes: 0 };
    }
    current.members.push(member);
    current.bytes += member.size;
  }
  if (current.members.length > 0) yield current;
}

/** A member holding `text` (e.g. `backup_label`), mode 0600, owned by the process's user. */
export function textMember(
  name: string,
  text: string,
  owner: { uid: number; gid: number },
): TarMember {
  const data = new TextEncoder().encode(text);
  return {
    name,
    type: "file",
    data,
    size: data.length,
    mode: 0o600,
    mtime: new Date(),
    uid: owner.uid,
    gid: owner.gid,
    uname: "",
    gname: "",
  };
}

/** Options of `partitionTar`. */
export interface TarOptions {
  /** Paces the reads of file data (shared across partitions). */
  limiter?: RateLimiter | undefined;
  log?: Logger | undefined;
  /** Read chunk size in bytes. @default 1 MiB */
  chunkSize?: number;
  /** Told the size of each piece of file data read from disk into the tar (progress). */
  onData?: ((bytes: number) => void) | undefined;
  /** Sees every regular file's bytes as they go into the tar (backup manifest, page checks). */
  observer?: MemberObserver | undefined;
}

/**
 * Watches the data of the file members of a partition as it is written, without a second
 * read: `file` is called when a member's data starts (not for a file that vanished before it
 * was opened), then `data` for each chunk in order (exactly the bytes stored, NUL padding
 * included; chunks end anywhere, not on page boundaries) with its offset in the member, then
 * `end` once all of it was handed to the tar.
 */
export interface MemberObserver {
  file(member: TarMember, partition: number): FileTap;
}

/** One file member's data, as `MemberObserver` sees it. */
export interface FileTap {
  /**
   * The chunk is the compressor's buffer: read it (or copy it) before the returned promise
   * settles, never keep it. The promise is awaited before the next read.
   */
  data(chunk: Uint8Array, offset: number): void | Promise<void>;
  end(): void;
}

/**
 * One partition as a tar stream of fresh chunks (`PartitionTarSource`, tar_blocks.ts, as a
 * stream). File data is exactly the listed size: padded with NUL bytes when the file shrank,
 * cut when it grew (§5.7); a file gone by the time it is opened is left out with a DEBUG
 * record. Cancelling the stream stops reading and closes the open file.
 */
export function partitionTar(
  part: Partition,
  options: TarOptions = {},
): ReadableStream<Uint8Array> {
  return fillSourceStream(new PartitionTarSource(part, options), options.chunkSize ?? 1 << 20);
}
