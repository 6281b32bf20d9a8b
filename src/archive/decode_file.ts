/**
 * Decoding an object into a file atomically: a temporary file in the destination's directory
 * (or `tempDir`), renamed into place only after a complete, verified decode; nothing is left
 * on failure. Used by wal-fetch and wal-prefetch, which load it (and with it the decoder,
 * imported statically here) only when they download.
 */
import { basename, dirname, join } from "../paths.ts";
import { phase } from "../phases.ts";
import type { Store } from "../storage/store.ts";
import { LzopDecoder } from "../codec/lzop_reader.ts";
import { looksLikePgp } from "../codec/lzop_format.ts";
import { lazy } from "../lazy.ts";
import type { Encoding } from "./pipeline.ts";

/** Decodes object `key` of `store` into `destination` (see the module comment). */
export async function decodeToFile(
  store: Store,
  key: string,
  destination: string,
  encoding: Encoding,
  options: { tempDir?: string } = {},
): Promise<void> {
  const rand = crypto.getRandomValues(new Uint32Array(1))[0]?.toString(16) ?? "0";
  const temp = join(
    options.tempDir ?? dirname(destination),
    `.wal-e-fetch.${basename(destination)}.${rand}`,
  );
  let file: Deno.FsFile | undefined;
  try {
    // Blocks are written as they are decoded: no stream stages, no whole-segment buffer.
    const emit = (block: Uint8Array): void => {
      file ??= Deno.openSync(temp, { write: true, createNew: true, mode: 0o600 });
      for (let off = 0; off < block.length;) off += file.writeSync(block.subarray(off));
    };
    if (!decodeLocalFile(store, key, emit)) await decodeObject(store, key, { encoding }, emit);
    file ??= Deno.openSync(temp, { write: true, createNew: true, mode: 0o600 });
    file.close();
    file = undefined;
    Deno.renameSync(temp, destination);
    phase("close-rename");
  } catch (err) {
    if (file !== undefined) {
      try {
        file.close();
      } catch { /* already closed */ }
    }
    try {
      Deno.removeSync(temp);
    } catch { /* never created */ }
    throw err;
  }
}

/** One read of a local object: an lzop block's worth, in a buffer reused for every read. */
const LOCAL_READ = 256 * 1024;

/**
 * For a store on the local file system (`Store.openFile`): decodes `key` into `emit` with
 * synchronous reads, no Web Streams at all (their set-up costs a process ~6 ms, and a 1 MiB
 * read buffer ~3 ms of first-touch page faults on our VMs). Returns false, having emitted
 * nothing, for another store or an encrypted object: those take `decodeObject`.
 */
function decodeLocalFile(store: Store, key: string, emit: (block: Uint8Array) => void): boolean {
  if (store.openFile === undefined) return false;
  const file = store.openFile(key);
  try {
    const buf = new Uint8Array(LOCAL_READ);
    const decoder = new LzopDecoder(emit);
    let first = true;
    try {
      for (;;) {
        const n = file.readSync(buf);
        if (n === null) break;
        if (first && n > 0) {
          if (looksLikePgp(buf[0] as number)) return false;
          first = false;
        }
        decoder.write(buf.subarray(0, n));
      }
      decoder.end();
    } catch (err) {
      decoder.abandon();
      throw err;
    }
    phase("download-decode-write");
    return true;
  } finally {
    file.close();
  }
}

/**
 * Decodes `key` block by block into `emit`, without stream stages between the download and
 * the consumer (wal-fetch writes each block as it comes). A block is a view valid only during
 * the call. Same errors as `openDecompressed`, thrown from here; a consumer's exception stops
 * the download.
 */
async function decodeObject(
  store: Store,
  key: string,
  options: { encoding: Encoding; signal?: AbortSignal },
  emit: (block: Uint8Array) => void,
): Promise<void> {
  // The decoder copies each chunk into the codec's memory at once: the store may reuse one
  // buffer for them.
  const { openLzop } = await lazy.pipeline();
  const lzop = await openLzop(store, key, { ...options, transientChunks: true });
  const decoder = new LzopDecoder(emit);
  const reader = lzop.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      decoder.write(value);
    }
    decoder.end();
    phase("download-decode-write");
  } catch (err) {
    decoder.abandon();
    await reader.cancel(err).catch(() => {});
    throw err;
  }
}
