/**
 * wal-prefetch (WAL-E-COMPAT §8.3–8.4): the detached process wal-fetch starts
 * (`startPrefetch` in prefetch_area.ts) to download the next segments into the prefetch area,
 * a few at a time; each is published there by rename only after a complete, verified decode.
 * Its own module, so that a wal-fetch served from the prefetch area loads none of it.
 */
import { join } from "../paths.ts";
import { walKey } from "../archive/keys.ts";
import { isNotFound } from "../errors.ts";
import { forEachPooled } from "../pool.ts";
import type { CommandDeps } from "./context.ts";
import { areas } from "./prefetch_area.ts";
import { checkWalFileName, localFileError } from "./wal_files.ts";

/** Input of wal-prefetch. */
export interface WalPrefetchInput {
  /** Directory holding `.wal-e/prefetch` (normally pg_wal). */
  baseDirectory: string;
  segmentNames: string[];
}

/** Downloads running at once inside one wal-prefetch process. */
const PREFETCH_CONCURRENCY = 4;

/** Runs wal-prefetch: downloads each segment into the prefetch area; resolves to the status. */
export async function walPrefetch(input: WalPrefetchInput, deps: CommandDeps): Promise<number> {
  const { decodeToFile } = await import("../archive/decode_file.ts");
  for (const seg of input.segmentNames) checkWalFileName(seg, "wal-prefetch");
  let base: string;
  try {
    base = await Deno.realPath(input.baseDirectory);
  } catch (err) {
    throw localFileError(err, input.baseDirectory, "the prefetch base directory is not usable");
  }
  const { done, running } = areas(base);
  const log = deps.log.child("wal_e.worker.prefetch");
  let failed = 0;
  const jobs = input.segmentNames.map((seg) => async () => {
    const dir = join(running, seg);
    const key = walKey(seg);
    const fields = {
      action: "wal-prefetch",
      key: deps.store.url(key),
      prefix: deps.store.pathPrefix,
      seg,
    };
    try {
      await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
      log.info({ msg: "begin wal prefetch", structured: { ...fields, state: "begin" } });
      await decodeToFile(deps.store, key, join(done, seg), deps.encoding, { tempDir: dir });
      log.info({ msg: "complete wal prefetch", structured: { ...fields, state: "complete" } });
    } catch (err) {
      failed++;
      log.warning({
        msg: isNotFound(err) ? `Failed to prefetch ${seg}` : "wal prefetch failed",
        detail: err instanceof Error ? err.message : String(err),
        structured: fields,
      });
    } finally {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  });
  await forEachPooled(jobs, (job) => job(), { limit: PREFETCH_CONCURRENCY });
  return failed === 0 ? 0 : 1;
}
