/**
 * One partition's tar stream written straight into the caller's buffers (`FillSource`): file
 * data is read from the file into the buffer the compressor gets next, with no intermediate
 * chunk, copy or allocation per byte. The bytes are those `partitionTar` (tar-stream) writes
 * for the same partition: ustar headers, a PAX `path`/`linkpath` record where ustar cannot
 * hold a name (tar-stream's layout), data padded to 512 bytes, two zero blocks at the end;
 * a file that shrank is padded with NUL bytes, one that grew is cut (WAL-E-COMPAT §5.7); a
 * file gone by the time it is opened is left out.
 */
import type { FillSource } from "../codec/block_codec.ts";
import { UserError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { osReason } from "../pg/cluster_walk.ts";
import type { FileTap, Partition, TarMember, TarOptions } from "./tar_partition.ts";

const BLOCK = 512;
const END_OF_ARCHIVE = 1024;
const encoder = new TextEncoder();

/** tar-stream's default modes for a mode of 0. */
const DIR_MODE = 0o755;
const FILE_MODE = 0o644;

/** `val` in octal, zero-padded to `n` digits and a space (all sevens when it overflows). */
function octal(val: number, n: number): string {
  const s = val.toString(8);
  if (s.length > n) return "7".repeat(n) + " ";
  return "0".repeat(n - s.length) + s + " ";
}

function put(buf: Uint8Array, text: string, at: number): void {
  const bytes = encoder.encode(text);
  buf.set(bytes.subarray(0, buf.length - at), at);
}

/** A header's fields: the member's attributes, its header name and its type flag's digit. */
type HeaderFields =
  & Pick<TarMember, "name" | "size" | "mode" | "mtime" | "uid" | "gid" | "uname" | "gname">
  & {
    linkname: string | undefined;
    type: number;
  };

/** One ustar header, or undefined when the names do not fit (PAX needed). */
function ustar(h: HeaderFields): Uint8Array | undefined {
  let name = h.name;
  let prefix = "";
  if (encoder.encode(name).length !== name.length) return undefined; // not ASCII
  while (name.length > 100) {
    const i = name.indexOf("/");
    if (i === -1) return undefined;
    prefix += prefix ? "/" + name.slice(0, i) : name.slice(0, i);
    name = name.slice(i + 1);
  }
  if (name.length > 100 || prefix.length > 155) return undefined;
  if (h.linkname !== undefined && encoder.encode(h.linkname).length > 100) return undefined;
  const b = new Uint8Array(BLOCK);
  put(b, name, 0);
  put(b, octal(h.mode & 0o7777, 6), 100);
  put(b, octal(h.uid, 6), 108);
  put(b, octal(h.gid, 6), 116);
  if (h.size.toString(8).length > 11) {
    // base-256 for sizes of 8 GiB and more
    b[124] = 0x80;
    let n = h.size;
    for (let i = 11; i > 0; i--) {
      b[124 + i] = n & 0xff;
      n = Math.floor(n / 0x100);
    }
  } else {
    put(b, octal(h.size, 11), 124);
  }
  put(b, octal((h.mtime.getTime() / 1000) | 0, 11), 136);
  b[156] = 0x30 + h.type;
  if (h.linkname) put(b, h.linkname, 157);
  b.set([0x75, 0x73, 0x74, 0x61, 0x72, 0x00, 0x30, 0x30], 257); // "ustar\0" "00"
  if (h.uname) put(b, h.uname, 265);
  if (h.gname) put(b, h.gname, 297);
  put(b, octal(0, 6), 329);
  put(b, octal(0, 6), 337);
  if (prefix) put(b, prefix, 345);
  let sum = 8 * 32;
  for (let i = 0; i < 148; i++) sum += b[i] as number;
  for (let i = 156; i < BLOCK; i++) sum += b[i] as number;
  put(b, octal(sum, 6), 148);
  return b;
}

/** A PAX record: its decimal length (counting itself) then ` key=value\n`. */
function paxRecord(text: string): string {
  const len = encoder.encode(text).length;
  let digits = Math.floor(Math.log10(len)) + 1;
  if (len + digits >= 10 ** digits) digits++;
  return `${len + digits}${text}`;
}

/** The header bytes of `m` (one ustar block, or PAX header + records + ustar block). */
export function memberHeader(m: TarMember, name: string): Uint8Array {
  const type = m.type === "directory" ? 5 : m.type === "symlink" ? 2 : 0;
  const fields: HeaderFields = {
    name,
    linkname: m.linkname,
    type,
    size: m.type === "file" ? m.size : 0,
    mode: m.mode || (m.type === "directory" ? DIR_MODE : FILE_MODE),
    mtime: m.mtime,
    uid: m.uid,
    gid: m.gid,
    uname: m.uname,
    gname: m.gname,
  };
  const plain = ustar(fields);
  if (plain !== undefined) return plain;
  let records = paxRecord(` path=${name}\n`);
  if (m.linkname) records += paxRecord(` linkpath=${m.linkname}\n`);
  const pax = encoder.encode(records);
  const padded = Math.ceil(pax.length / BLOCK) * BLOCK;
  const linkname = m.linkname ? "PaxHeader" : undefined;
  const paxHeader = ustar({
    ...fields,
    name: "PaxHeader",
    linkname,
    type: 72, // 0x30 + 72 = "x": a PAX extended header
    size: pax.length,
  });
  const real = ustar({ ...fields, name: "PaxHeader", linkname });
  const out = new Uint8Array(BLOCK + padded + BLOCK);
  out.set(paxHeader as Uint8Array);
  out.set(pax, BLOCK);
  out.set(real as Uint8Array, BLOCK + padded);
  return out;
}

/** Header name of a member: directories end in `/`, the data directory itself is `/`. */
export function tarHeaderName(m: TarMember): string {
  if (m.type !== "directory") return m.name;
  return m.name === "" ? "/" : `${m.name}/`;
}

/**
 * A file of the cluster that cannot be archived (permission denied, I/O error): a UserError
 * naming it, never a partial member or a silently shorter backup.
 */
export function unreadable(path: string, what: string, cause: unknown): UserError {
  return new UserError("could not read a file of the cluster", {
    detail: `Could not ${what} "${path}": ${osReason(cause)}.`,
    hint: "Run backup-push as the cluster's owner (usually postgres) and make sure it can " +
      "read the whole data directory and every tablespace.",
    cause,
  });
}

/** What is being written: bytes held in memory, or a member's file data. */
type Pending =
  | { kind: "bytes"; bytes: Uint8Array; at: number }
  | {
    kind: "file";
    file: Deno.FsFile;
    member: TarMember;
    left: number;
    eof: boolean;
    tap: FileTap | undefined;
  };

/** A partition's tar stream as a FillSource. */
export class PartitionTarSource implements FillSource {
  readonly #part: Partition;
  readonly #log: Logger | undefined;
  readonly #limiter: TarOptions["limiter"];
  readonly #onData: TarOptions["onData"];
  readonly #observer: TarOptions["observer"];
  #next = 0;
  #queue: Pending[] = [];
  #ended = false;
  #closed = false;

  constructor(part: Partition, options: TarOptions = {}) {
    this.#part = part;
    this.#log = options.log;
    this.#limiter = options.limiter;
    this.#onData = options.onData;
    this.#observer = options.observer;
  }

  async fill(into: Uint8Array): Promise<number> {
    let at = 0;
    try {
      while (at < into.length) {
        const p = this.#queue[0] ?? await this.#advance();
        if (p === undefined) break;
        if (p.kind === "bytes") {
          const n = Math.min(p.bytes.length - p.at, into.length - at);
          into.set(p.bytes.subarray(p.at, p.at + n), at);
          p.at += n;
          at += n;
          if (p.at === p.bytes.length) this.#queue.shift();
        } else {
          at += await this.#fileData(p, into.subarray(at));
          if (p.left === 0) {
            this.#queue.shift();
            p.file.close();
            p.tap?.end();
          }
        }
      }
    } catch (err) {
      this.cancel();
      throw err;
    }
    return at;
  }

  cancel(): void {
    this.#closed = true;
    for (const p of this.#queue) if (p.kind === "file") p.file.close();
    this.#queue = [];
  }

  /** Reads up to `into.length` of the member's remaining data; NUL-pads a shrunk file. */
  async #fileData(p: Pending & { kind: "file" }, into: Uint8Array): Promise<number> {
    const want = Math.min(p.left, into.length);
    let got = 0;
    await this.#limiter?.acquire(want);
    while (!p.eof && got < want) {
      let n: number | null;
      try {
        n = await p.file.read(into.subarray(got, want));
      } catch (err) {
        throw unreadable(p.member.path ?? p.member.name, "read", err);
      }
      if (n === null) {
        p.eof = true;
        this.#log?.debug({
          msg: "padding a file that shrank while being archived",
          detail: `The path "${
            p.member.path ?? p.member.name
          }" is shorter than the ${p.member.size} bytes listed.`,
        });
      } else got += n;
    }
    if (got < want) into.fill(0, got, want);
    // Seen before the buffer goes to the compressor (a worker takes it over).
    await p.tap?.data(into.subarray(0, want), p.member.size - p.left);
    this.#onData?.(want);
    p.left -= want;
    return want;
  }

  /** Queues the next member (header, data, padding) or the end; undefined when done. */
  async #advance(): Promise<Pending | undefined> {
    if (this.#closed) throw new Error("tar source used after cancel");
    while (this.#queue.length === 0) {
      const m = this.#part.members[this.#next++];
      if (m === undefined) {
        if (this.#ended) return undefined;
        this.#ended = true;
        this.#queue.push({ kind: "bytes", bytes: new Uint8Array(END_OF_ARCHIVE), at: 0 });
        break;
      }
      await this.#member(m);
    }
    return this.#queue[0];
  }

  async #member(m: TarMember): Promise<void> {
    let file: Deno.FsFile | undefined;
    if (m.type === "file" && m.data === undefined && m.path !== undefined) {
      try {
        file = await Deno.open(m.path, { read: true });
      } catch (err) {
        if (!(err instanceof Deno.errors.NotFound)) throw unreadable(m.path, "open", err);
        this.#log?.debug({
          msg: "skipping a file that vanished before it could be archived",
          detail: `The path "${m.path}" no longer exists.`,
        });
        return;
      }
    }
    this.#queue.push({ kind: "bytes", bytes: memberHeader(m, tarHeaderName(m)), at: 0 });
    if (m.type !== "file") return;
    const tap = this.#observer?.file(m, this.#part.index);
    if (m.data !== undefined) {
      await tap?.data(m.data, 0);
      this.#queue.push({ kind: "bytes", bytes: m.data, at: 0 });
    } else if (file !== undefined && m.size > 0) {
      // The tap ends with the member's last data (`fill`).
      this.#queue.push({ kind: "file", file, member: m, left: m.size, eof: false, tap });
      file = undefined;
    } else tap?.end();
    if (m.data !== undefined) tap?.end();
    file?.close();
    const size = m.data?.length ?? m.size;
    const pad = (BLOCK - (size % BLOCK)) % BLOCK;
    if (pad > 0) this.#queue.push({ kind: "bytes", bytes: new Uint8Array(pad), at: 0 });
  }
}
