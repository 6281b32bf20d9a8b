/**
 * Reading a tar stream member by member with `npm:tar-stream`, fed from a Web stream here, at
 * the edge: the one reader under backup-fetch's extraction (tar_extract.ts) and
 * backup-verify's checks, so both judge a damaged or incomplete tar alike.
 *
 * Completeness: a tar stream must end with its end-of-archive marker (at least two zero blocks
 * after the last member; Python's tarfile and tar-stream both write it), so a stream cut at a
 * member boundary is refused like one cut inside a member (CorruptArchiveError).
 */
import { drained } from "./drained.ts";
import { extract as tarExtract } from "tar-stream";
import { CorruptArchiveError } from "../errors.ts";

/** Zero bytes that must follow the last member: two 512-byte blocks. */
const END_OF_ARCHIVE = 1024;

/** Minimal view of a tar header as tar-stream decodes it. */
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

/** One tar-stream entry: its header, data and the byte offset of its header. */
interface Entry extends AsyncIterable<Uint8Array> {
  header: TarHeader;
  offset: number;
}

/** Where the stream was when something went wrong, for messages. */
interface Position {
  /** The member being extracted, if any. */
  current: string | undefined;
  /** The last member fully extracted. */
  last: string | undefined;
  /** Byte offset just after the last member's data (its padding included). */
  lastEnd: number;
  /** Bytes of tar stream read. */
  fed: number;
}

/**
 * Reads one tar stream, calling `onMember` for each member with its data (which it must
 * consume or leave; the rest is skipped). Rejects (after cancelling `tar`) with what `onMember`
 * threw, on a damaged or incomplete tar (CorruptArchiveError saying where), or with the error
 * `tar` itself failed with (left as it is, so the caller can tell a cut download).
 */
export async function readTar(
  tar: ReadableStream<Uint8Array>,
  onMember: (header: TarHeader, data: AsyncIterable<Uint8Array>) => Promise<void>,
  signal?: AbortSignal,
): Promise<void> {
  const ex = tarExtract();
  const pos: Position = { current: undefined, last: undefined, lastEnd: 0, fed: 0 };
  let lastNonZero = -1;
  let inputError: { err: unknown } | undefined;
  let tarError: unknown;
  ex.on("error", (err: unknown) => (tarError ??= err));
  const reader = tar.getReader();
  const feeding = (async () => {
    for (;;) {
      let r: ReadableStreamReadResult<Uint8Array>;
      try {
        signal?.throwIfAborted();
        r = await reader.read();
      } catch (err) {
        inputError = { err };
        ex.destroy(err instanceof Error ? err : new Error(String(err)));
        return;
      }
      if (r.done) break;
      if (ex.destroyed) break;
      const nz = lastNonZeroIndex(r.value);
      if (nz >= 0) lastNonZero = pos.fed + nz;
      pos.fed += r.value.length;
      if (!ex.write(r.value)) {
        try {
          await drained(ex, "tar extractor");
        } catch {
          break; // the extractor failed: its error is reported by the loop below
        }
      }
    }
    if (ex.destroyed) await reader.cancel().catch(() => {});
    else ex.end(undefined); // the .d.ts wants an argument (TOOLCHAIN.md)
  })();
  try {
    const entries = ex as AsyncIterable<Entry>;
    for await (const entry of tarSide(entries)) {
      const h = entry.header;
      pos.current = h.name;
      await onMember(h, tarSide(entry));
      const size = h.type === "directory" ? 0 : h.size ?? 0;
      pos.lastEnd = entry.offset + 512 + Math.ceil(size / 512) * 512;
      pos.last = h.name;
      pos.current = undefined;
    }
  } catch (err) {
    ex.destroy();
    await feeding;
    if (inputError !== undefined) throw inputError.err;
    if (err instanceof TarSideError) throw damaged(tarError ?? err.cause, pos);
    throw err;
  }
  await feeding;
  if (inputError !== undefined) throw inputError.err;
  // tar-stream skips zero blocks; anything else after the last member would have been
  // a member (or an error), except a lone extended header, caught by the zero check.
  if (pos.fed - pos.lastEnd < END_OF_ARCHIVE || lastNonZero >= pos.lastEnd) {
    throw damaged(undefined, pos);
  }
}

/** An error raised by the tar reader (not by our file writes); `cause` is what it threw. */
class TarSideError extends Error {
  constructor(cause: unknown) {
    super("tar stream failed", { cause });
  }
}

/** `src` with every error it raises wrapped in TarSideError. */
async function* tarSide<T>(src: AsyncIterable<T>): AsyncGenerator<T> {
  const it = src[Symbol.asyncIterator]();
  let ended = false;
  try {
    for (;;) {
      let r: IteratorResult<T>;
      try {
        r = await it.next();
      } catch (err) {
        ended = true;
        throw new TarSideError(err);
      }
      if (r.done === true) {
        ended = true;
        return;
      }
      yield r.value;
    }
  } finally {
    // Left early (our own write failed): release the source, as for-await would.
    if (!ended) await it.return?.();
  }
}

/** Index of the last non-zero byte of `b`, or -1. */
function lastNonZeroIndex(b: Uint8Array): number {
  for (let i = b.length - 1; i >= 0; i--) if (b[i] !== 0) return i;
  return -1;
}

/** The CorruptArchiveError for a tar stream that is damaged (`cause`) or ends early. */
function damaged(cause: unknown, pos: Position): CorruptArchiveError {
  const after = pos.last === undefined ? "before its first member" : `after member "${pos.last}"`;
  const text = cause instanceof Error ? cause.message : cause === undefined ? "" : String(cause);
  const hint = "The backup is damaged or was cut short; restore another backup (backup-list).";
  if (cause === undefined) {
    return new CorruptArchiveError("tar stream has no end-of-archive marker", {
      detail: `The tar stream ends at byte ${pos.fed}, ${after}, without the two zero blocks ` +
        "that end a complete archive: the rest of it is missing.",
      hint,
    });
  }
  if (/unexpected end of data/i.test(text)) {
    return new CorruptArchiveError("tar stream ends inside a member", {
      detail: pos.current === undefined
        ? `The tar stream ends at byte ${pos.fed} inside a header, ${after}.`
        : `The tar stream ends at byte ${pos.fed} inside member "${pos.current}".`,
      hint,
      cause,
    });
  }
  if (/header/i.test(text)) {
    return new CorruptArchiveError("invalid tar header", {
      detail: pos.last === undefined
        ? `The stream does not start with a tar header (${text}).`
        : `The block at byte ${pos.lastEnd}, ${after}, is not a valid tar header (${text}).`,
      hint,
      cause,
    });
  }
  return new CorruptArchiveError("damaged tar stream", {
    detail: pos.current === undefined
      ? `Reading the tar stream ${after} failed: ${text}.`
      : `Reading member "${pos.current}" failed: ${text}.`,
    hint,
    cause,
  });
}
