/**
 * Streams the data of an OpenPGP literal data packet (RFC 4880 §5.9) out of a decrypted packet
 * stream, following old- and new-format headers and partial body lengths. What `gpg -e -z 0`
 * and our own encryption produce; anything else (a compressed packet) is left to openpgp.
 */
import { CorruptArchiveError } from "../errors.ts";

const TAG_LITERAL = 11;
const MAX_CHUNK = 1 << 20;

/** Pull-based reader over a byte stream. */
class ByteReader {
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;
  #buf: Uint8Array = new Uint8Array(0);
  /** Every byte read so far is kept while `recording` (to hand the stream to a fallback). */
  recorded: Uint8Array[] | undefined = [];

  constructor(stream: ReadableStream<Uint8Array>) {
    this.#reader = stream.getReader();
  }

  async #more(): Promise<boolean> {
    for (;;) {
      const { done, value } = await this.#reader.read();
      if (done) return false;
      if (value.length === 0) continue;
      this.recorded?.push(value);
      this.#buf = this.#buf.length === 0 ? value : concat(this.#buf, value);
      return true;
    }
  }

  /** Up to `max` bytes (at least one), or undefined at the end of the stream. */
  async chunk(max: number): Promise<Uint8Array | undefined> {
    if (this.#buf.length === 0 && !(await this.#more())) return undefined;
    const out = this.#buf.subarray(0, Math.min(max, this.#buf.length));
    this.#buf = this.#buf.subarray(out.length);
    return out;
  }

  /** Exactly `n` bytes; a short stream is a truncation error. */
  async take(n: number): Promise<Uint8Array> {
    while (this.#buf.length < n) {
      if (!(await this.#more())) throw truncated();
    }
    const out = this.#buf.subarray(0, n);
    this.#buf = this.#buf.subarray(n);
    return out;
  }

  /** The rest of the stream, starting with what was recorded, for a fallback parser. */
  replay(): ReadableStream<Uint8Array> {
    const head = this.recorded ?? [];
    const reader = this.#reader;
    return new ReadableStream<Uint8Array>({
      pull: async (c) => {
        const next = head.shift();
        if (next !== undefined) return c.enqueue(next);
        const { done, value } = await reader.read();
        if (done) c.close();
        else c.enqueue(value);
      },
      cancel: (reason) => reader.cancel(reason),
    });
  }

  cancel(reason?: unknown): Promise<void> {
    return this.#reader.cancel(reason);
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

function truncated(): CorruptArchiveError {
  return new CorruptArchiveError("truncated OpenPGP literal data packet", {
    detail: "The decrypted data ends inside a packet.",
  });
}

function be(bytes: Uint8Array): number {
  return bytes.reduce((n, b) => n * 256 + b, 0);
}

/** A body length: `len` bytes follow; `partial` means another length header comes after. */
interface BodyLength {
  len: number;
  partial: boolean;
  /** Old-format indeterminate length: the body runs to the end of the stream. */
  toEnd: boolean;
}

async function newFormatLength(r: ByteReader): Promise<BodyLength> {
  const o = (await r.take(1))[0] ?? 0;
  if (o < 192) return { len: o, partial: false, toEnd: false };
  if (o < 224) {
    const o2 = (await r.take(1))[0] ?? 0;
    return { len: ((o - 192) << 8) + o2 + 192, partial: false, toEnd: false };
  }
  if (o === 255) return { len: be(await r.take(4)), partial: false, toEnd: false };
  return { len: 1 << (o & 0x1f), partial: true, toEnd: false };
}

/** The packet's body bytes, across partial lengths. */
async function* body(r: ByteReader, first: BodyLength): AsyncGenerator<Uint8Array> {
  let length = first;
  for (;;) {
    if (length.toEnd) {
      for (let c = await r.chunk(MAX_CHUNK); c !== undefined; c = await r.chunk(MAX_CHUNK)) yield c;
      return;
    }
    let remaining = length.len;
    while (remaining > 0) {
      const c = await r.chunk(Math.min(remaining, MAX_CHUNK));
      if (c === undefined) throw truncated();
      remaining -= c.length;
      yield c;
    }
    if (!length.partial) return;
    length = await newFormatLength(r);
  }
}

/**
 * Opens the literal data of `packets`. Returns `{ data }`, or `{ fallback }` (the untouched
 * stream) when the first packet is not literal data (e.g. compressed, which openpgp handles).
 */
export async function openLiteralData(
  packets: ReadableStream<Uint8Array>,
): Promise<{ data: ReadableStream<Uint8Array> } | { fallback: ReadableStream<Uint8Array> }> {
  const r = new ByteReader(packets);
  const b = (await r.take(1))[0] ?? 0;
  if ((b & 0x80) === 0) {
    throw new CorruptArchiveError("decrypted data is not an OpenPGP packet", {
      detail: `The first byte is 0x${b.toString(16)}.`,
    });
  }
  const isNew = (b & 0x40) !== 0;
  const tag = isNew ? b & 0x3f : (b >> 2) & 0x0f;
  if (tag !== TAG_LITERAL) return { fallback: r.replay() };
  r.recorded = undefined;
  let length: BodyLength;
  if (isNew) length = await newFormatLength(r);
  else {
    const lt = b & 3;
    length = lt === 3
      ? { len: 0, partial: false, toEnd: true }
      : { len: be(await r.take([1, 2, 4][lt] ?? 1)), partial: false, toEnd: false };
  }
  const chunks = body(r, length);
  // Literal header: format (1), file name length (1) + name, date (4).
  let head: Uint8Array = new Uint8Array(0);
  let skip = -1;
  while (skip < 0 || head.length < skip) {
    const { done, value } = await chunks.next();
    if (done) throw truncated();
    head = concat(head, value);
    if (skip < 0 && head.length >= 2) skip = 2 + (head[1] ?? 0) + 4;
  }
  let first: Uint8Array | undefined = head.subarray(skip);
  return {
    data: new ReadableStream<Uint8Array>({
      async pull(c) {
        if (first !== undefined && first.length > 0) {
          c.enqueue(first);
          first = undefined;
          return;
        }
        first = undefined;
        const { done, value } = await chunks.next();
        if (!done) return c.enqueue(value);
        // Read to the end even past the packet: the integrity check upstream runs only when
        // its stream is drained, and must fail this stream if the data was tampered with.
        while ((await r.chunk(MAX_CHUNK)) !== undefined) { /* nothing else is expected */ }
        c.close();
      },
      cancel: (reason) => r.cancel(reason),
    }, { highWaterMark: 0 }),
  };
}
