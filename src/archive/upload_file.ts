/**
 * wal-push's upload: a whole file compressed at once. Its own module, importing the encoder
 * statically, so that wal-push loads its code in one go (each dynamic import is one more
 * module-graph round trip at start-up) and never loads the decoder; the stream pipeline loads
 * only for an encrypted upload.
 */
import { lzopEncodeFileSync } from "../codec/lzop_writer.ts";
import { phase } from "../phases.ts";
import type { Store } from "../storage/store.ts";
import { fileSource } from "./file_source.ts";
import { lazy } from "../lazy.ts";
import type { Encoding, TransferStats, UploadOptions } from "./pipeline.ts";

/**
 * Compresses the open file `file` and stores it under `key`, like `uploadCompressed` on the
 * file's stream, but encoding it whole and synchronously first (one read per block, one codec
 * call per block, no stream stages): for WAL segments, where stream stages cost more than the
 * codec. Encrypted uploads take the streaming path. Closes `file`.
 */
export async function uploadCompressedFile(
  store: Store,
  key: string,
  file: Deno.FsFile,
  options: UploadOptions & { encoding: Encoding },
): Promise<TransferStats> {
  if (options.encoding.pgp !== undefined) {
    return await (await lazy.pipeline()).uploadCompressed(store, key, fileSource(file), options);
  }
  let encoded;
  try {
    encoded = lzopEncodeFileSync(file, file.statSync().size, {
      ...(options.mode === undefined ? {} : { mode: options.mode }),
      ...(options.mtimeSeconds === undefined ? {} : { mtimeSeconds: options.mtimeSeconds }),
    });
  } finally {
    file.close();
  }
  phase("compress");
  // Bytes, not a stream: the Web Streams classes cost ~2-3 ms to load (Store.put's PutBody).
  await store.put(key, encoded.bytes, {
    size: encoded.bytes.length,
    contentType: options.contentType ?? "application/octet-stream",
    signal: options.signal,
    ifAbsent: options.ifAbsent,
  });
  return { plainBytes: encoded.plainBytes, storedBytes: encoded.bytes.length };
}
