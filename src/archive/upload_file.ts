/**
 * wal-push's upload: a file compressed block by block, synchronously, straight to the store.
 * Its own module, importing the encoder statically, so that wal-push loads its code in one go
 * (each dynamic import is one more module-graph round trip at start-up) and never loads the
 * decoder; the stream pipeline loads only for an encrypted upload.
 */
import { lzopFileChunks } from "../codec/lzop_writer.ts";
import type { Store } from "../storage/store.ts";
import { fileSource } from "./file_source.ts";
import { lazy } from "../lazy.ts";
import type { Encoding, TransferStats, UploadOptions } from "./pipeline.ts";

/**
 * Compresses the open file `file` and stores it under `key`, like `uploadCompressed` on the
 * file's stream, but synchronously, block by block (one read, one codec call and the block's
 * bytes handed to the store per block, no stream stages): for WAL segments, where stream stages
 * cost more than the codec. The store gets a `ChunkedBody`, so nothing the size of the segment
 * is allocated. Encrypted uploads take the streaming path. Closes `file`.
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
  const counted = { plainBytes: 0 };
  let storedBytes = 0;
  const encoder = lzopFileChunks(file, counted, {
    ...(options.mode === undefined ? {} : { mode: options.mode }),
    ...(options.mtimeSeconds === undefined ? {} : { mtimeSeconds: options.mtimeSeconds }),
  });
  function* measured(): Generator<Uint8Array> {
    for (const chunk of encoder) {
      storedBytes += chunk.length;
      yield chunk;
    }
  }
  try {
    await store.put(key, { chunks: measured() }, {
      contentType: options.contentType ?? "application/octet-stream",
      signal: options.signal,
      ifAbsent: options.ifAbsent,
    });
  } finally {
    // Releases the codec's buffers if the store stopped early (a refused key, a failed write).
    encoder.return(undefined);
    file.close();
  }
  return { plainBytes: counted.plainBytes, storedBytes };
}
