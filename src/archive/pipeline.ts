/**
 * The byte pipeline, written once: source → lzop → (gpg) → store on the way up, and
 * store → (gpg) → lzop → sink on the way down (WAL-E-COMPAT §4, §9). Commands ask to "upload
 * this source to this key" or "open this key decoded"; they never assemble stages.
 */
import { NotSupportedError } from "../errors.ts";
import { createLzopReader } from "../codec/lzop_reader.ts";
import { createLzopWriter } from "../codec/lzop_writer.ts";
import type { Store } from "../storage/store.ts";
import { ByteCounter } from "./byte_counter.ts";

/** How objects are encoded beyond lzop. */
export interface Encoding {
  /** GPG key id; encryption is not supported yet, so a set key fails loudly. */
  gpgKeyId?: string | undefined;
}

/** Options of one upload. */
export interface UploadOptions {
  /** lzop header mode (the source file's st_mode, 0 for pipes, as lzop records it). */
  mode?: number;
  /** lzop header mtime in seconds (the source file's mtime; now for pipes). */
  mtimeSeconds?: number;
  contentType?: string;
  signal?: AbortSignal;
}

/** Sizes seen by one transfer. */
export interface TransferStats {
  /** Uncompressed bytes. */
  plainBytes: number;
  /** Bytes stored. */
  storedBytes: number;
}

function requirePlain(encoding: Encoding): void {
  if (encoding.gpgKeyId !== undefined) {
    throw new NotSupportedError("GPG encryption is not supported yet", {
      detail: `A GPG key id ("${encoding.gpgKeyId}") is configured.`,
      hint: "Unset WALE_GPG_KEY_ID / --gpg-key-id, or use a build with encryption support.",
    });
  }
}

/** Compresses `source` and stores it under `key`; all or nothing (Store.put contract). */
export async function uploadCompressed(
  store: Store,
  key: string,
  source: ReadableStream<Uint8Array>,
  options: UploadOptions & { encoding: Encoding },
): Promise<TransferStats> {
  requirePlain(options.encoding);
  const plain = new ByteCounter();
  const stored = new ByteCounter();
  const writerOptions: { mode?: number; mtimeSeconds?: number } = {};
  if (options.mode !== undefined) writerOptions.mode = options.mode;
  if (options.mtimeSeconds !== undefined) writerOptions.mtimeSeconds = options.mtimeSeconds;
  const body = source.pipeThrough(plain).pipeThrough(createLzopWriter(writerOptions)).pipeThrough(
    stored,
  );
  await store.put(key, body, {
    contentType: options.contentType ?? "application/octet-stream",
    signal: options.signal,
  });
  return { plainBytes: plain.count, storedBytes: stored.count };
}

/**
 * Opens `key` decoded. Throws `ObjectNotFoundError` before any decoding starts when the key is
 * missing (so no decoder complains about an error page, WAL-E #229); decoding errors surface
 * as `CorruptArchiveError` from the returned stream.
 */
export async function openDecompressed(
  store: Store,
  key: string,
  options: { encoding: Encoding; signal?: AbortSignal },
): Promise<ReadableStream<Uint8Array>> {
  requirePlain(options.encoding);
  const raw = await store.get(key, { signal: options.signal });
  return raw.pipeThrough(createLzopReader());
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
