/**
 * Decoding an object into a file atomically: a temporary file in the destination's directory
 * (or `tempDir`), renamed into place only after a complete, verified decode; nothing is left
 * on failure. Used by wal-fetch and wal-prefetch.
 */
import { basename, dirname, join } from "../paths.ts";
import { phase } from "../phases.ts";
import type { Store } from "../storage/store.ts";
import { decodeObject, type Encoding } from "./pipeline.ts";

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
    await decodeObject(store, key, { encoding }, (block) => {
      file ??= Deno.openSync(temp, { write: true, createNew: true, mode: 0o600 });
      for (let off = 0; off < block.length;) off += file.writeSync(block.subarray(off));
    });
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
