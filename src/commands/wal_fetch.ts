/**
 * wal-fetch (WAL-E-COMPAT §8.1): restore one WAL file for `restore_command`. The decoded
 * bytes go to a temporary file beside the destination, renamed onto it only after the whole
 * object decoded with every checksum verified, so PostgreSQL never reads a partial segment.
 *
 * Exit status: 0 restored; 1 not in the archive (PostgreSQL's "end of archive"); any other
 * failure RESTORE_ABORT (126), which makes PostgreSQL stop recovery rather than promote with
 * WAL missing (a deliberate deviation, see `src/cli/exit_codes.ts`).
 */
import { walKey } from "../archive/keys.ts";
import { phase } from "../phases.ts";
import { EXIT, isNotFound } from "../errors.ts";
import type { CommandDeps } from "./context.ts";
import { servePrefetched, startPrefetch } from "./prefetch_area.ts";
import { checkFetchDestination, checkWalFileName, destinationError } from "./wal_files.ts";

/** Input of wal-fetch. */
export interface WalFetchInput {
  /** WAL file name (`%f`). */
  segmentName: string;
  /** Where to write it (`%p`). */
  destination: string;
  /** Segments to download ahead in the background (0 disables). */
  prefetch: number;
}

/** Runs wal-fetch; resolves to the exit status. */
export async function walFetch(input: WalFetchInput, deps: CommandDeps): Promise<number> {
  // Before any store call: a bad name must not become a key, a bad destination not a download.
  checkWalFileName(input.segmentName, "wal-fetch", input.destination);
  checkFetchDestination(input.destination);
  if (input.prefetch > 0) {
    const served = await servePrefetched(input, deps);
    // Started before our own download so the next segments arrive while this one does.
    phase(served ? "serve-prefetched" : "check-prefetched");
    startPrefetch(input.segmentName, input.destination, input.prefetch, deps);
    phase("prefetch-spawn");
    if (served) return EXIT.OK;
  }
  return await fetchToFile(input.segmentName, input.destination, deps);
}

/** Downloads and decodes one WAL object to `destination` atomically; 1 when it is missing. */
export async function fetchToFile(
  name: string,
  destination: string,
  deps: CommandDeps,
): Promise<number> {
  const log = deps.log.child("wal_e.operator.backup");
  const key = walKey(name);
  const url = deps.store.url(key);
  const fields = { action: "wal-fetch", key: url, prefix: deps.store.pathPrefix, seg: name };
  log.info({ msg: "begin wal restore", structured: { ...fields, state: "begin" } });
  try {
    // Loaded here, not at start-up: a call served from the prefetch area never decodes.
    const { decodeToFile } = await import("../archive/decode_file.ts");
    await decodeToFile(deps.store, key, destination, deps.encoding);
  } catch (err) {
    if (!isNotFound(err)) throw destinationError(err, destination);
    deps.log.child("wal_e.blobstore").info({
      msg: "could no longer locate object while performing wal restore",
      detail: `The absolute URI that could not be located is ${url}.`,
      hint: "This can be normal when Postgres is trying to detect what timelines are " +
        "available during restoration.",
    });
    return EXIT.USER;
  }
  deps.log.child("wal_e.blobstore").info({
    msg: "completed download and decompression",
    detail: `Downloaded and decompressed "${url}" to "${destination}"`,
  });
  log.info({ msg: "complete wal restore", structured: { ...fields, state: "complete" } });
  return EXIT.OK;
}
