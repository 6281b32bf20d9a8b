/**
 * The lzop container's constants and its file header (WAL-E-COMPAT §4.1): what `lzop -c`
 * writes, and parsing of every header lzop 1.04 can write (versions 0x0900 and later).
 */
import { CorruptArchiveError } from "../errors.ts";
import { adler32Of, crc32Of } from "./lzo_wasm.ts";

const MAGIC_BYTES = [0x89, 0x4c, 0x5a, 0x4f, 0x00, 0x0d, 0x0a, 0x1a, 0x0a];
/** The 9-byte signature that opens every lzop stream. */
export const LZOP_MAGIC: Uint8Array = new Uint8Array(MAGIC_BYTES);

/** Uncompressed bytes per block, as lzop writes them (all blocks but the last). */
export const LZOP_BLOCK_SIZE = 256 * 1024;

/** Largest block length lzop accepts at all ("file corrupted" above it). */
export const LZOP_MAX_BLOCK_SIZE = 64 * 1024 * 1024;
/** A block length that marks lzop's unsupported "split file" extension. */
export const LZOP_SPLIT_MARKER = 0xffffffff;

/**
 * Whether a stored object starting with `firstByte` is an OpenPGP message rather than an lzop
 * stream: a binary OpenPGP packet tag has its high bit set; lzop's magic starts with 0x89.
 */
export function looksLikePgp(firstByte: number): boolean {
  return (firstByte & 0x80) !== 0 && firstByte !== 0x89;
}

/** Version fields we write: lzop 1.04 built with LZO 2.10, readable by lzop >= 0.94. */
export const LZOP_VERSION = 0x1040;
export const LZOP_LIB_VERSION = 0x20a0;
export const LZOP_VERSION_NEEDED = 0x0940;
/** Oldest header layout we parse. */
export const LZOP_MIN_VERSION = 0x0900;

/** Compression methods; all three are LZO1X bitstreams. */
export const METHOD_LZO1X_1 = 1;
export const METHOD_LZO1X_1_15 = 2;
export const METHOD_LZO1X_999 = 3;
/** Level byte lzop records for its default level. */
export const LZOP_DEFAULT_LEVEL = 5;

/** Header flag bits. */
export const F_ADLER32_D = 0x1;
export const F_ADLER32_C = 0x2;
export const F_STDIN = 0x4;
export const F_STDOUT = 0x8;
export const F_H_EXTRA_FIELD = 0x40;
export const F_CRC32_D = 0x100;
export const F_CRC32_C = 0x200;
export const F_MULTIPART = 0x400;
export const F_H_FILTER = 0x800;
export const F_H_CRC32 = 0x1000;
/** Bits that are neither flags, nor the OS code (0xff000000), nor the charset (0x00f00000). */
export const F_RESERVED = 0x000fc000;
export const F_OS_UNIX = 0x03000000;
/** What `lzop -c` writes: Unix | F_STDIN | F_STDOUT | F_ADLER32_D. */
export const LZOP_DEFAULT_FLAGS = F_OS_UNIX | F_STDIN | F_STDOUT | F_ADLER32_D;

/** A parsed lzop file header. */
export interface LzopHeader {
  version: number;
  libVersion: number;
  /** 0 when the header predates the field (version < 0x0940). */
  versionNeeded: number;
  method: number;
  /** 0 when the header predates the field (version < 0x0940). */
  level: number;
  flags: number;
  filter: number;
  mode: number;
  /** Seconds since the epoch (low and high words combined). */
  mtime: number;
  name: string;
}

/** Fields `serializeHeader` needs (versions, method and flags are lzop -c's). */
export interface HeaderFields {
  mode: number;
  mtimeSeconds: number;
}

/** Magic plus the header `lzop -c` writes for these fields, with its Adler-32. */
export function serializeHeader(fields: HeaderFields): Uint8Array {
  const out = new Uint8Array(LZOP_MAGIC.length + 25 + 4);
  out.set(LZOP_MAGIC);
  const v = new DataView(out.buffer, LZOP_MAGIC.length);
  v.setUint16(0, LZOP_VERSION);
  v.setUint16(2, LZOP_LIB_VERSION);
  v.setUint16(4, LZOP_VERSION_NEEDED);
  v.setUint8(6, METHOD_LZO1X_1);
  v.setUint8(7, LZOP_DEFAULT_LEVEL);
  v.setUint32(8, LZOP_DEFAULT_FLAGS);
  v.setUint32(12, fields.mode >>> 0);
  const mtime = Math.max(0, Math.floor(fields.mtimeSeconds));
  v.setUint32(16, mtime % 2 ** 32);
  v.setUint32(20, Math.floor(mtime / 2 ** 32) >>> 0);
  v.setUint8(24, 0); // no file name: lzop -c reads stdin
  const body = out.subarray(LZOP_MAGIC.length, LZOP_MAGIC.length + 25);
  v.setUint32(25, adler32Of(body));
  return out;
}

/** Result of `parseHeader`: more bytes needed, or the header and its length. */
export type HeaderParse =
  | { done: false; need: number }
  | { done: true; header: LzopHeader; length: number };

function corrupt(message: string, detail: string): CorruptArchiveError {
  return new CorruptArchiveError(message, { detail });
}

function hex(n: number, width = 4): string {
  return `0x${n.toString(16).padStart(width, "0")}`;
}

/**
 * Parses the header that follows the magic from `b` (all bytes received so far after the
 * magic). Returns `{ done: false, need }` while fewer than `need` bytes are known to be
 * required, else the header and its length including the header checksum. Verifies the
 * checksum and throws CorruptArchiveError for any header lzop would refuse.
 */
export function parseHeader(b: Uint8Array): HeaderParse {
  if (b.length < 2) return { done: false, need: 2 };
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const version = v.getUint16(0);
  if (version < LZOP_MIN_VERSION) {
    throw corrupt("unsupported lzop header version", `Version ${hex(version)} is below 0x0900.`);
  }
  const modern = version >= 0x0940;
  // version, lib version, [version needed], method, [level], flags
  const fixed = 2 + 2 + (modern ? 2 : 0) + 1 + (modern ? 1 : 0) + 4;
  if (b.length < fixed) return { done: false, need: fixed };
  let at = 4;
  const libVersion = v.getUint16(2);
  let versionNeeded = 0;
  if (modern) {
    versionNeeded = v.getUint16(at);
    at += 2;
  }
  const method = v.getUint8(at++);
  const level = modern ? v.getUint8(at++) : 0;
  const flags = v.getUint32(at);
  at += 4;
  checkFixedFields(version, versionNeeded, method, flags);
  // [filter], mode, mtime low, [mtime high], name length
  const more = at + ((flags & F_H_FILTER) !== 0 ? 4 : 0) + 4 + 4 + (modern ? 4 : 0) + 1;
  if (b.length < more) return { done: false, need: more };
  let filter = 0;
  if ((flags & F_H_FILTER) !== 0) {
    filter = v.getUint32(at);
    at += 4;
    if (filter !== 0) {
      throw corrupt("unsupported lzop filter", `The header names filter ${filter}.`);
    }
  }
  const mode = v.getUint32(at);
  const mtimeLow = v.getUint32(at + 4);
  at += 8;
  let mtimeHigh = 0;
  if (modern) {
    mtimeHigh = v.getUint32(at);
    at += 4;
  }
  const nameLength = v.getUint8(at++);
  const total = at + nameLength + 4;
  if (b.length < total) return { done: false, need: total };
  const nameBytes = b.subarray(at, at + nameLength);
  const stored = v.getUint32(at + nameLength);
  const covered = b.subarray(0, at + nameLength);
  const actual = (flags & F_H_CRC32) !== 0 ? crc32Of(covered) : adler32Of(covered);
  if (actual !== stored) {
    throw corrupt(
      "lzop header checksum mismatch",
      `Header checksum is ${hex(stored, 8)}, computed ${hex(actual, 8)}.`,
    );
  }
  return {
    done: true,
    length: total,
    header: {
      version,
      libVersion,
      versionNeeded,
      method,
      level,
      flags,
      filter,
      mode,
      mtime: mtimeHigh * 2 ** 32 + mtimeLow,
      name: new TextDecoder("latin1").decode(nameBytes),
    },
  };
}

function checkFixedFields(version: number, needed: number, method: number, flags: number): void {
  if (version >= 0x0940 && (needed > LZOP_VERSION || needed < LZOP_MIN_VERSION)) {
    throw corrupt(
      "unsupported lzop version needed to extract",
      `The stream needs lzop ${hex(needed)}; this reader implements ${hex(LZOP_VERSION)}.`,
    );
  }
  if (method !== METHOD_LZO1X_1 && method !== METHOD_LZO1X_1_15 && method !== METHOD_LZO1X_999) {
    throw corrupt("unsupported lzop compression method", `Method byte is ${method}.`);
  }
  if ((flags & F_RESERVED) !== 0) {
    throw corrupt("unknown lzop header flags", `Flags are ${hex(flags >>> 0, 8)}.`);
  }
  if ((flags & F_MULTIPART) !== 0) {
    throw corrupt("unsupported multipart lzop stream", `Flags are ${hex(flags >>> 0, 8)}.`);
  }
}

/** Checksum words before each block's data, for header `flags` and a block that shrank or not. */
export function blockChecksumCount(flags: number, compressed: boolean): number {
  let n = 0;
  if ((flags & F_ADLER32_D) !== 0) n++;
  if ((flags & F_CRC32_D) !== 0) n++;
  if (compressed && (flags & F_ADLER32_C) !== 0) n++;
  if (compressed && (flags & F_CRC32_C) !== 0) n++;
  return n;
}
