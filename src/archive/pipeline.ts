/**
 * The byte pipeline, written once: source → lzop → (gpg) → store on the way up, and
 * store → (gpg) → lzop → sink on the way down (WAL-E-COMPAT §4, §9). Commands ask to "upload
 * this source to this key" or "open this key decoded"; they never assemble stages.
 */
import { ConfigError } from "../errors.ts";
import { type BlockCodec, type FillSource, fillSourceStream } from "../codec/block_codec.ts";
import type { PgpSettings } from "../codec/pgp.ts";
import type { Store } from "../storage/store.ts";
import { ByteCounter } from "./byte_counter.ts";
import { lazy } from "../lazy.ts";
import { looksLikePgp } from "../codec/lzop_format.ts";

/** How objects are encoded beyond lzop. */
export interface Encoding {
  /** Set when WALE_GPG_KEY_ID is: encrypt uploads, decrypt encrypted downloads. */
  pgp?: PgpSettings | undefined;
}

/** Options of one upload. */
export interface UploadOptions {
  /** lzop header mode (the source file's st_mode, 0 for pipes, as lzop records it). */
  mode?: number;
  /** lzop header mtime in seconds (the source file's mtime; now for pipes). */
  mtimeSeconds?: number;
  contentType?: string;
  signal?: AbortSignal;
  /** Store only if the key is absent (`PutOptions.ifAbsent`). */
  ifAbsent?: boolean;
  /** Where to compress. @default this isolate's codec */
  codec?: BlockCodec | undefined;
}

/** Sizes seen by one transfer. */
export interface TransferStats {
  /** Uncompressed bytes. */
  plainBytes: number;
  /** Bytes stored. */
  storedBytes: number;
}

/**
 * The lzop encoder and decoder load with their first use: wal-push never decodes and wal-fetch
 * never encodes, and each module is start-up time of a command run once per segment.
 */
function writerModule(): Promise<typeof import("../codec/lzop_writer.ts")> {
  return import("../codec/lzop_writer.ts");
}

function readerModule(): Promise<typeof import("../codec/lzop_reader.ts")> {
  return import("../codec/lzop_reader.ts");
}

/** OpenPGP is loaded only when an object is encrypted or encryption is configured (start-up). */
function pgpModule(): Promise<typeof import("../codec/pgp.ts")> {
  return lazy.pgp();
}

/** Compresses `source` and stores it under `key`; all or nothing (Store.put contract). */
export async function uploadCompressed(
  store: Store,
  key: string,
  source: ReadableStream<Uint8Array> | FillSource,
  options: UploadOptions & { encoding: Encoding },
): Promise<TransferStats> {
  const plain = new ByteCounter();
  let plainCount = 0;
  const stored = new ByteCounter();
  const writerOptions: { mode?: number; mtimeSeconds?: number } = {};
  if (options.mode !== undefined) writerOptions.mode = options.mode;
  if (options.mtimeSeconds !== undefined) writerOptions.mtimeSeconds = options.mtimeSeconds;
  let compressed: ReadableStream<Uint8Array>;
  if (source instanceof ReadableStream) {
    const writer = options.codec !== undefined
      ? options.codec.createWriter(writerOptions)
      : (await writerModule()).createLzopWriter(writerOptions);
    compressed = source.pipeThrough(plain).pipeThrough(writer);
  } else {
    const counted: FillSource = {
      fill: async (into) => {
        const n = await source.fill(into);
        plainCount += n;
        return n;
      },
      cancel: () => source.cancel(),
    };
    compressed = options.codec !== undefined
      ? options.codec.encode(counted, writerOptions)
      : fillSourceStream(counted).pipeThrough(
        (await writerModule()).createLzopWriter(writerOptions),
      );
  }
  const pgp = options.encoding.pgp;
  const body =
    (pgp === undefined ? compressed : await (await pgpModule()).encryptStream(compressed, pgp))
      .pipeThrough(stored);
  await store.put(key, body, {
    contentType: options.contentType ?? "application/octet-stream",
    signal: options.signal,
    ifAbsent: options.ifAbsent,
  });
  return { plainBytes: plain.count + plainCount, storedBytes: stored.count };
}

/**
 * Opens `key` decoded. Throws `ObjectNotFoundError` before any decoding starts when the key is
 * missing (so no decoder complains about an error page, WAL-E #229); decoding errors surface
 * as `CorruptArchiveError` from the returned stream.
 */
export async function openDecompressed(
  store: Store,
  key: string,
  options: { encoding: Encoding; signal?: AbortSignal; codec?: BlockCodec | undefined },
): Promise<ReadableStream<Uint8Array>> {
  const reader = options.codec !== undefined
    ? options.codec.createReader()
    : (await readerModule()).createLzopReader();
  // Both decoders copy each input chunk before they take the next: the store may reuse its
  // buffer (fewer unreferenced buffers for V8 to free late, a smaller resident size).
  return (await openLzop(store, key, { ...options, transientChunks: true })).pipeThrough(reader);
}

/**
 * The lzop bytes of `key`: as stored, or decrypted when the object is an OpenPGP message.
 * `transientChunks`: the caller copies each chunk before reading the next (see GetOptions).
 */
export async function openLzop(
  store: Store,
  key: string,
  options: { encoding: Encoding; signal?: AbortSignal; transientChunks?: boolean },
): Promise<ReadableStream<Uint8Array>> {
  const transient = options.transientChunks === true;
  const raw = await store.get(key, { signal: options.signal, transientChunks: transient });
  const first = await peekFirstByte(raw);
  if (first.first === undefined || !looksLikePgp(first.first)) return first.stream;
  // The decryptor keeps chunks across reads: give it copies of borrowed ones.
  const stream = transient
    ? first.stream.pipeThrough(
      new TransformStream({ transform: (c, ctl) => ctl.enqueue(c.slice()) }),
    )
    : first.stream;
  const pgp = options.encoding.pgp;
  if (pgp === undefined) {
    await stream.cancel();
    throw new ConfigError("object is encrypted but no GPG key is configured", {
      detail: `"${store.url(key)}" is an OpenPGP message.`,
      hint: "Set WALE_GPG_KEY_ID and WALE_GPG_SECRET_KEY_FILE (or have the key in gpg's keyring).",
    });
  }
  return await (await pgpModule()).decryptStream(stream, pgp, store.url(key));
}

/** Reads the first byte of `src` without consuming it: returns it and an equivalent stream. */
async function peekFirstByte(
  src: ReadableStream<Uint8Array>,
): Promise<{ first: number | undefined; stream: ReadableStream<Uint8Array> }> {
  const reader = src.getReader();
  let head: Uint8Array | undefined;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (value.length > 0) {
      head = value;
      break;
    }
  }
  const stream = new ReadableStream<Uint8Array>({
    start(c) {
      if (head !== undefined) c.enqueue(head);
      else c.close();
    },
    async pull(c) {
      const { done, value } = await reader.read();
      if (done) c.close();
      else c.enqueue(value);
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  }, { highWaterMark: 0 });
  return { first: head?.[0], stream };
}

/** Stores a small plain object (sentinel, extended_version.txt): never compressed. */
export async function uploadPlain(
  store: Store,
  key: string,
  bytes: Uint8Array,
  contentType: string,
): Promise<void> {
  await store.put(
    key,
    new ReadableStream({
      start(c) {
        c.enqueue(bytes);
        c.close();
      },
    }),
    { size: bytes.length, contentType },
  );
}

/** Reads a small plain object fully. */
export async function readPlain(store: Store, key: string): Promise<Uint8Array> {
  return new Uint8Array(await new Response(await store.get(key)).arrayBuffer());
}
