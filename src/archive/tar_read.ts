/**
 * Reading a tar stream member by member: the one reader under backup-fetch's extraction
 * (tar_extract.ts) and backup-verify's checks, so both judge a damaged or incomplete tar alike.
 *
 * Formats: ustar (POSIX `ustar\0` with its name prefix, and GNU `ustar  `), PAX extended
 * headers (`path`, `linkpath`, `size`; global headers are skipped), GNU long names (`L`, `K`),
 * numeric fields in octal or GNU base-256: what our writer (tar_blocks.ts) and Python's
 * tarfile (real WAL-E) write. Every header's checksum is verified.
 *
 * Members' data are handed out as views of the input chunks, never copied; a chunk is given
 * back to its producer (recycle.ts) once the reader has read past it and the member's consumer
 * asked for the next piece or returned, so the decoder can reuse its buffer. A consumer must
 * therefore not keep a chunk of `data` past its next read of `data` (or its return).
 *
 * Completeness: a tar stream must end with its end-of-archive marker (at least two zero blocks
 * after the last member; Python's tarfile and our writer both write it), so a stream cut at a
 * member boundary is refused like one cut inside a member (CorruptArchiveError). Zero blocks
 * between members are skipped; after the last member only zero bytes may follow.
 */
import { CorruptArchiveError } from "../errors.ts";
import { giveBack } from "../codec/recycle.ts";

const BLOCK = 512;
/** Zero bytes that must follow the last member: two 512-byte blocks. */
const END_OF_ARCHIVE = 1024;
/** Largest extended header (PAX records, GNU long name) accepted: names, not data. */
const MAX_EXTENDED = 1024 * 1024;

/** A member's header, its extended headers applied. */
export interface TarHeader {
  name: string;
  type: string | null;
  mode: number | null;
  mtime: Date | null;
  uid: number | null;
  gid: number | null;
  uname: string | null;
  gname: string | null;
  linkname: string | null;
  size: number | null;
}

/** Where the stream was when something went wrong, for messages. */
interface Position {
  /** The member being extracted, if any. */
  current: string | undefined;
  /** The last member fully extracted. */
  last: string | undefined;
  /** Byte offset just after the last member's data (its padding included). */
  lastEnd: number;
}

/** What is wrong with the tar bytes themselves. */
type Fault =
  | { kind: "end-in-header" }
  | { kind: "end-in-data" }
  | { kind: "no-end" }
  | { kind: "header"; at: number; why: string }
  | { kind: "other"; why: string };

/** A fault of the tar stream (not of the input, not of the member's consumer). */
class TarFault extends Error {
  readonly fault: Fault;
  constructor(fault: Fault) {
    super("damaged tar stream");
    this.fault = fault;
  }
}

/** The input stream failed (or the signal aborted): rethrown as it is. */
class InputFailure extends Error {
  readonly err: unknown;
  constructor(err: unknown) {
    super("tar input failed");
    this.err = err;
  }
}

/** The input as chunks read on demand; data handed out as views of them. */
class Source {
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;
  readonly #signal: AbortSignal | undefined;
  #chunk: Uint8Array = new Uint8Array(0);
  #off = 0;
  #done = false;
  /** Bytes read from the input so far. */
  fed = 0;

  constructor(reader: ReadableStreamDefaultReader<Uint8Array>, signal: AbortSignal | undefined) {
    this.#reader = reader;
    this.#signal = signal;
  }

  /** Stream offset of the next unread byte. */
  get offset(): number {
    return this.fed - (this.#chunk.length - this.#off);
  }

  /** Makes bytes available; false at the end of the input. Gives back the spent chunk. */
  async #more(): Promise<boolean> {
    while (this.#off >= this.#chunk.length) {
      if (this.#done) return false;
      // Every view of the spent chunk was consumed: the caller asked for more.
      giveBack(this.#chunk);
      this.#chunk = new Uint8Array(0);
      this.#off = 0;
      let r: ReadableStreamReadResult<Uint8Array>;
      try {
        this.#signal?.throwIfAborted();
        r = await this.#reader.read();
      } catch (err) {
        this.#done = true;
        throw new InputFailure(err);
      }
      if (r.done) {
        this.#done = true;
        return false;
      }
      this.#chunk = r.value;
      this.fed += r.value.length;
    }
    return true;
  }

  /** Up to `max` (> 0) bytes as a view of the input; undefined at its end. */
  async take(max: number): Promise<Uint8Array | undefined> {
    if (!(await this.#more())) return undefined;
    const n = Math.min(max, this.#chunk.length - this.#off);
    const view = this.#chunk.subarray(this.#off, this.#off + n);
    this.#off += n;
    return view;
  }

  /** Copies up to `into.length` bytes into `into`; returns how many (fewer at the end). */
  async read(into: Uint8Array): Promise<number> {
    let got = 0;
    while (got < into.length) {
      const v = await this.take(into.length - got);
      if (v === undefined) break;
      into.set(v, got);
      got += v.length;
    }
    return got;
  }

  /** Skips `n` bytes; returns how many were there. */
  async skip(n: number): Promise<number> {
    let left = n;
    while (left > 0) {
      if (!(await this.#more())) break;
      const k = Math.min(left, this.#chunk.length - this.#off);
      this.#off += k;
      left -= k;
    }
    return n - left;
  }

  /** Releases the input: read to its end (the last chunk given back), or cancelled. */
  async close(cancel: boolean): Promise<void> {
    if (!cancel && this.#off >= this.#chunk.length) giveBack(this.#chunk);
    this.#chunk = new Uint8Array(0);
    this.#off = 0;
    if (cancel && !this.#done) await this.#reader.cancel().catch(() => {});
    this.#done = true;
    this.#reader.releaseLock();
  }
}

function isZero(b: Uint8Array, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (b[i] !== 0) return false;
  return true;
}

/** Extended-header values waiting for the member they apply to. */
interface Pending {
  path?: string;
  linkpath?: string;
  size?: number;
}

/**
 * Reads one tar stream, calling `onMember` for each member with its data (which it must
 * consume or leave; the rest is skipped; see the module doc on keeping chunks). Rejects (after
 * cancelling `tar`) with what `onMember` threw, on a damaged or incomplete tar
 * (CorruptArchiveError saying where), or with the error `tar` itself failed with (left as it
 * is, so the caller can tell a cut download).
 */
export async function readTar(
  tar: ReadableStream<Uint8Array>,
  onMember: (header: TarHeader, data: AsyncIterable<Uint8Array>) => Promise<void>,
  signal?: AbortSignal,
): Promise<void> {
  const src = new Source(tar.getReader(), signal);
  const pos: Position = { current: undefined, last: undefined, lastEnd: 0 };
  try {
    await readMembers(src, pos, onMember);
  } catch (err) {
    await src.close(true);
    if (err instanceof InputFailure) throw err.err;
    if (err instanceof TarFault) throw damaged(err.fault, pos, src.fed);
    throw err;
  }
  await src.close(false);
}

async function readMembers(
  src: Source,
  pos: Position,
  onMember: (header: TarHeader, data: AsyncIterable<Uint8Array>) => Promise<void>,
): Promise<void> {
  const block = new Uint8Array(BLOCK);
  let pending: Pending = {};
  /** Whether a non-zero block (an extended header) was read since the last member ended. */
  let dirty = false;
  for (;;) {
    const at = src.offset;
    const got = await src.read(block);
    if (got === 0 || isZero(block, 0, got)) {
      if (got < BLOCK) {
        // The end: after the last member, at least two zero blocks and nothing else.
        if (dirty || src.fed - pos.lastEnd < END_OF_ARCHIVE) throw new TarFault({ kind: "no-end" });
        return;
      }
      continue; // a zero block: the end-of-archive marker begins, or padding between members
    }
    if (got < BLOCK) throw new TarFault({ kind: "end-in-header" });
    const h = parseHeader(block, at);
    dirty = true;
    const size = h.type === "directory" ? 0 : h.size ?? 0;
    const padded = Math.ceil(size / BLOCK) * BLOCK;
    if (isExtended(h.type)) {
      if (size > MAX_EXTENDED) {
        throw new TarFault({ kind: "header", at, why: `an extended header of ${size} bytes` });
      }
      const body = new Uint8Array(padded);
      if (await src.read(body) < padded) throw new TarFault({ kind: "end-in-header" });
      applyExtended(pending, h.type, body.subarray(0, size));
      continue;
    }
    if (pending.path !== undefined) h.name = pending.path;
    if (pending.linkpath !== undefined) h.linkname = pending.linkpath;
    const dataSize = h.type === "directory" ? 0 : pending.size ?? size;
    if (pending.size !== undefined && h.type !== "directory") h.size = pending.size;
    pending = {};
    const member = { left: dataSize };
    pos.current = h.name;
    await onMember(h, memberData(src, member));
    const rest = member.left + (Math.ceil(dataSize / BLOCK) * BLOCK - dataSize);
    if (await src.skip(rest) < rest) throw new TarFault({ kind: "end-in-data" });
    pos.lastEnd = src.offset;
    pos.last = h.name;
    pos.current = undefined;
    dirty = false;
  }
}

/** A member's data: views of the input, `member.left` counting down. */
async function* memberData(src: Source, member: { left: number }): AsyncGenerator<Uint8Array> {
  while (member.left > 0) {
    const view = await src.take(member.left);
    if (view === undefined) throw new TarFault({ kind: "end-in-data" });
    member.left -= view.length;
    yield view;
  }
}

function isExtended(type: string | null): boolean {
  return type === "pax-header" || type === "pax-global-header" ||
    type === "gnu-long-path" || type === "gnu-long-link-path";
}

const utf8 = new TextDecoder();

/** Records the values of an extended header for the next member. */
function applyExtended(p: Pending, type: string | null, body: Uint8Array): void {
  if (type === "gnu-long-path") p.path = cString(body, 0, body.length);
  else if (type === "gnu-long-link-path") p.linkpath = cString(body, 0, body.length);
  else if (type === "pax-header") {
    for (const [key, value] of paxRecords(body)) {
      if (key === "path") p.path = value;
      else if (key === "linkpath") p.linkpath = value;
      else if (key === "size") {
        if (!/^\d+$/.test(value) || !Number.isSafeInteger(Number(value))) {
          throw new TarFault({ kind: "other", why: `a PAX size of "${value}"` });
        }
        p.size = Number(value);
      }
    }
  }
  // A global header's values would apply to every later member: none we use is written so.
}

/** The `length key=value\n` records of a PAX header. */
function paxRecords(body: Uint8Array): [string, string][] {
  const out: [string, string][] = [];
  let i = 0;
  while (i < body.length) {
    if (body[i] === 0) break; // padding some writers leave
    let j = i;
    let len = 0;
    while (j < body.length && body[j] !== 0x20) {
      const d = (body[j] as number) - 0x30;
      if (d < 0 || d > 9 || j - i > 8) throw badPax(i);
      len = len * 10 + d;
      j++;
    }
    if (j === i || j >= body.length || len <= j - i + 1 || i + len > body.length) throw badPax(i);
    if (body[i + len - 1] !== 0x0a) throw badPax(i);
    const record = body.subarray(j + 1, i + len - 1);
    const eq = record.indexOf(0x3d);
    if (eq <= 0) throw badPax(i);
    out.push([utf8.decode(record.subarray(0, eq)), utf8.decode(record.subarray(eq + 1))]);
    i += len;
  }
  return out;
}

function badPax(at: number): TarFault {
  return new TarFault({
    kind: "other",
    why: `a malformed PAX record at offset ${at} of its header`,
  });
}

const TYPES: Record<number, string> = {
  0: "file",
  0x30: "file",
  0x31: "link",
  0x32: "symlink",
  0x33: "character-device",
  0x34: "block-device",
  0x35: "directory",
  0x36: "fifo",
  0x37: "contiguous-file",
  0x78: "pax-header",
  0x67: "pax-global-header",
  0x4c: "gnu-long-path",
  0x4b: "gnu-long-link-path",
};

/** Decodes one header block at stream offset `at`; a TarFault when it is not a valid one. */
function parseHeader(b: Uint8Array, at: number): TarHeader {
  const bad = (why: string) => new TarFault({ kind: "header", at, why });
  const stored = octal(b, 148, 156);
  if (stored === undefined) throw bad("its checksum field is not a number");
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const v = i >= 148 && i < 156 ? 0x20 : b[i] as number;
    unsigned += v;
    signed += v >= 0x80 ? v - 0x100 : v;
  }
  if (stored !== unsigned && stored !== signed) {
    throw bad(`checksum mismatch: the header says ${stored}, its bytes sum to ${unsigned}`);
  }
  const posix = b[257] === 0x75 && cString(b, 257, 263) === "ustar" && b[262] === 0;
  const gnu = cString(b, 257, 265) === "ustar  ";
  if (!posix && !gnu) throw bad("not a ustar or GNU tar header");
  const num = (from: number, to: number, what: string): number => {
    const n = numeric(b, from, to);
    if (n === undefined) throw bad(`its ${what} field is not a number`);
    return n;
  };
  let name = cString(b, 0, 100);
  if (posix && b[345] !== 0) name = `${cString(b, 345, 500)}/${name}`;
  let type = TYPES[b[156] as number] ?? `type ${String.fromCharCode(b[156] as number)}`;
  // Old writers marked directories by a trailing slash alone.
  if (type === "file" && name.endsWith("/")) type = "directory";
  return {
    name,
    type,
    mode: num(100, 108, "mode"),
    uid: num(108, 116, "uid"),
    gid: num(116, 124, "gid"),
    size: num(124, 136, "size"),
    mtime: new Date(num(136, 148, "mtime") * 1000),
    linkname: cString(b, 157, 257),
    uname: cString(b, 265, 297),
    gname: cString(b, 297, 329),
  };
}

/** The text of a NUL-terminated field. */
function cString(b: Uint8Array, from: number, to: number): string {
  let end = from;
  while (end < to && b[end] !== 0) end++;
  return utf8.decode(b.subarray(from, end));
}

/** A numeric field: octal (spaces and NULs around it), or GNU base-256 (high bit set). */
function numeric(b: Uint8Array, from: number, to: number): number | undefined {
  if (((b[from] as number) & 0x80) !== 0) {
    if (b[from] === 0xff) return undefined; // negative
    let n = (b[from] as number) & 0x7f;
    for (let i = from + 1; i < to; i++) n = n * 256 + (b[i] as number);
    return Number.isSafeInteger(n) ? n : undefined;
  }
  return octal(b, from, to);
}

function octal(b: Uint8Array, from: number, to: number): number | undefined {
  let i = from;
  while (i < to && (b[i] === 0x20 || b[i] === 0)) i++;
  let n = 0;
  let digits = 0;
  for (; i < to; i++) {
    const c = b[i] as number;
    if (c === 0x20 || c === 0) break;
    if (c < 0x30 || c > 0x37) return undefined;
    n = n * 8 + (c - 0x30);
    digits++;
  }
  for (; i < to; i++) if (b[i] !== 0x20 && b[i] !== 0) return undefined;
  return digits === 0 ? 0 : n;
}

/** The CorruptArchiveError for a tar stream that is damaged (`fault`) or ends early. */
function damaged(fault: Fault, pos: Position, fed: number): CorruptArchiveError {
  const after = pos.last === undefined ? "before its first member" : `after member "${pos.last}"`;
  const hint = "The backup is damaged or was cut short; restore another backup (backup-list).";
  switch (fault.kind) {
    case "end-in-header":
    case "end-in-data":
      return new CorruptArchiveError("tar stream ends inside a member", {
        detail: pos.current === undefined
          ? `The tar stream ends at byte ${fed} inside a header, ${after}.`
          : `The tar stream ends at byte ${fed} inside member "${pos.current}".`,
        hint,
      });
    case "header":
      return new CorruptArchiveError("invalid tar header", {
        detail: pos.last === undefined && fault.at === 0
          ? `The stream does not start with a tar header (${fault.why}).`
          : `The block at byte ${fault.at}, ${after}, is not a valid tar header (${fault.why}).`,
        hint,
      });
    case "no-end":
      return new CorruptArchiveError("tar stream has no end-of-archive marker", {
        detail: `The tar stream ends at byte ${fed}, ${after}, without the two zero blocks ` +
          "that end a complete archive: the rest of it is missing.",
        hint,
      });
    case "other":
      return new CorruptArchiveError("damaged tar stream", {
        detail: pos.current === undefined
          ? `The tar stream ${after} holds ${fault.why}.`
          : `Member "${pos.current}" has ${fault.why}.`,
        hint,
      });
  }
}
