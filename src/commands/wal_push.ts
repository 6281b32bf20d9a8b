/**
 * wal-push (WAL-E-COMPAT §7): archive the WAL file PostgreSQL names in `archive_command`, and
 * with `--pool-size N` > 1 up to N−1 other segments that already have `.ready` status files,
 * in parallel. A pooled segment's `.ready` becomes `.done` only after its upload succeeded.
 *
 * Deviations from WAL-E (§7.2, §16), each in the operator's favour: a missing
 * `archive_status/` means "no extra work" instead of a crash; a pooled segment whose file
 * vanished keeps its `.ready` (PostgreSQL removes orphans itself) instead of being marked done
 * without having been stored; a `.ready` that PostgreSQL renamed meanwhile is not an error.
 *
 * An object already archived under the segment's key is never silently replaced (WAL-E
 * overwrote it): identical content is success without an upload (PostgreSQL re-archives a
 * segment after a crash between our upload and its `.done`); different content, or content we
 * cannot read back (encrypted without a secret key here), is refused with an error unless
 * `WALE_WAL_OVERWRITE` is set, as PostgreSQL's documentation asks of an archive_command. A
 * stored copy that no longer decodes is replaced, with a warning: the local file is better.
 */
import { basename, dirname, join } from "../paths.ts";
import { uploadCompressedFile } from "../archive/upload_file.ts";
import { walKey } from "../archive/keys.ts";
import { ConfigError, CorruptArchiveError, ObjectExistsError, UserError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { SEGMENT_RE } from "../pg/wal_name.ts";
import type { CommandDeps } from "./context.ts";
import { forEachPooled } from "../pool.ts";
import { openWalFile, statWalFileToPush } from "./wal_files.ts";
import { lazy } from "../lazy.ts";
import { phase } from "../phases.ts";

/** Input of wal-push. */
export interface WalPushInput {
  /** Path of the WAL file (`%p`, relative to the data directory or absolute). */
  segmentPath: string;
  /** Uploads in flight, the explicit file included (default 32). */
  poolSize: number;
  /** Replace an archived copy with different content (`WALE_WAL_OVERWRITE`), with a warning. */
  overwrite?: boolean;
}

/** Runs wal-push; resolves to the exit status. */
export async function walPush(input: WalPushInput, deps: CommandDeps): Promise<number> {
  phase("push-modules");
  const log = deps.log.child("wal_e.worker.upload");
  const explicit = input.segmentPath;
  const explicitInfo = statWalFileToPush(explicit);
  const overwrite = input.overwrite === true;
  const pooled = input.poolSize > 1
    ? readySegments(dirname(explicit), basename(explicit), input.poolSize - 1)
    : [];
  phase("ready-scan");
  const jobs = [
    () => pushFile(explicit, explicitInfo, overwrite, deps, log),
    ...pooled.map((name) => () => pushPooled(dirname(explicit), name, overwrite, deps, log)),
  ];
  await forEachPooled(jobs, (job) => job(), { limit: input.poolSize });
  return 0;
}

/** Names of up to `limit` segments with `.ready` files, sorted, excluding `explicit`. */
export function readySegments(
  walDir: string,
  explicit: string,
  limit: number,
): string[] {
  const names: string[] = [];
  try {
    // Synchronous: one directory listing, cheaper than an event-loop round trip per entry.
    for (const e of Deno.readDirSync(join(walDir, "archive_status"))) {
      const m = /^([0-9A-F]{24})\.ready$/.exec(e.name);
      if (m?.[1] !== undefined && m[1] !== explicit) names.push(m[1]);
    }
  } catch (err) {
    if (err instanceof Deno.errors.NotFound || err instanceof Deno.errors.NotADirectory) return [];
    throw err;
  }
  return names.sort().slice(0, limit);
}

async function pushPooled(
  walDir: string,
  name: string,
  overwrite: boolean,
  deps: CommandDeps,
  log: Logger,
) {
  const path = join(walDir, name);
  const fields = {
    action: "push-wal",
    key: deps.store.url(walKey(name)),
    prefix: deps.store.pathPrefix,
    seg: name,
  };
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(path);
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
    log.info({
      msg: "skip parallel archiving of a file",
      detail: `The file "${path}" no longer exists.`,
      structured: { ...fields, state: "skip" },
    });
    return;
  }
  if (!SEGMENT_RE.test(name)) return;
  await pushFile(path, info, overwrite, deps, log);
  await markDone(walDir, name);
}

/** Renames `archive_status/<name>.ready` to `.done`; already renamed by PostgreSQL is fine. */
async function markDone(walDir: string, name: string): Promise<void> {
  const status = join(walDir, "archive_status");
  try {
    await Deno.rename(join(status, `${name}.ready`), join(status, `${name}.done`));
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
}

/**
 * Uploads one WAL file; the lzop header records its mode and mtime as `lzop < file` does.
 * Where the store can put "if absent" (the file store), the upload itself finds an archived
 * copy; elsewhere an existence check comes first.
 */
async function pushFile(
  path: string,
  info: Deno.FileInfo,
  overwrite: boolean,
  deps: CommandDeps,
  log: Logger,
) {
  const name = basename(path);
  const key = walKey(name);
  const url = deps.store.url(key);
  const fields = { action: "push-wal", key: url, prefix: deps.store.pathPrefix, seg: name };
  const conditional = deps.store.capabilities.conditionalPut;
  if (!conditional && await deps.store.exists(key)) {
    if (!await replaceArchived(path, key, overwrite, deps, log, fields)) return;
  }
  phase("check");
  log.info({
    msg: "begin archiving a file",
    detail: `Uploading "${path}" to "${url}".`,
    structured: { ...fields, state: "begin" },
  });
  const started = performance.now();
  const upload = (ifAbsent: boolean) =>
    uploadCompressedFile(deps.store, key, openWalFile(path), {
      mode: info.mode ?? 0,
      mtimeSeconds: Math.floor((info.mtime?.getTime() ?? Date.now()) / 1000),
      encoding: deps.encoding,
      ifAbsent,
    });
  let stats;
  try {
    stats = await upload(conditional);
  } catch (err) {
    if (!(err instanceof ObjectExistsError)) throw err;
    if (!await replaceArchived(path, key, overwrite, deps, log, fields)) return;
    stats = await upload(false);
  }
  const seconds = Math.max((performance.now() - started) / 1000, 1e-6);
  const rate = Math.round(stats.plainBytes / 1024 / seconds);
  log.info({
    msg: "completed archiving to a file",
    detail: `Archiving to "${url}" complete at ${rate}KiB/s.`,
    structured: { ...fields, rate, state: "complete" },
  });
}

/**
 * `key` already holds an object: true when it is to be replaced (corrupt, or different with
 * `overwrite`, with a warning); false when it holds this very file (nothing to do); throws when
 * it differs and may not be replaced.
 */
async function replaceArchived(
  path: string,
  key: string,
  overwrite: boolean,
  deps: CommandDeps,
  log: Logger,
  fields: Record<string, string>,
): Promise<boolean> {
  const url = deps.store.url(key);
  const verdict = await compareArchived(path, key, deps);
  if (verdict === "identical") {
    log.info({
      msg: "WAL file already archived with identical content",
      detail: `"${url}" holds the same bytes as "${path}"; nothing to upload.`,
      structured: { ...fields, state: "complete" },
    });
    return false;
  }
  const why = verdict === "different"
    ? `"${url}" holds different content than "${path}".`
    : verdict === "corrupt"
    ? `"${url}" no longer decodes: it is replaced by the local file.`
    : `"${url}" cannot be read back to compare (${verdict.reason}).`;
  if (verdict !== "corrupt" && !overwrite) {
    throw new UserError("refusing to overwrite an archived WAL file", {
      detail: why,
      hint: "Two clusters may be archiving into one prefix (a restored copy with archiving " +
        "still on?). Check, then move the object away, or set WALE_WAL_OVERWRITE=1 to " +
        "replace it.",
    });
  }
  log.warning({ msg: "overwriting an archived WAL file", detail: why });
  return true;
}

type Verdict = "identical" | "different" | "corrupt" | { reason: string };

/** Compares the archived object `key`, decoded, with the local file at `path`, streaming. */
async function compareArchived(path: string, key: string, deps: CommandDeps): Promise<Verdict> {
  let archived: ReadableStream<Uint8Array>;
  try {
    const { openDecompressed } = await lazy.pipeline();
    archived = await openDecompressed(deps.store, key, { encoding: deps.encoding });
  } catch (err) {
    // No key to decrypt it here: we cannot tell, and say so.
    if (err instanceof ConfigError) return { reason: err.message };
    throw err;
  }
  const file = openWalFile(path);
  const local = new Uint8Array(1 << 20);
  let filled = 0;
  let pos = 0;
  try {
    for await (const chunk of archived) {
      let off = 0;
      while (off < chunk.length) {
        if (pos === filled) {
          filled = (await file.read(local)) ?? 0;
          pos = 0;
          if (filled === 0) return "different"; // the archived copy is longer
        }
        const n = Math.min(filled - pos, chunk.length - off);
        for (let i = 0; i < n; i++) if (local[pos + i] !== chunk[off + i]) return "different";
        pos += n;
        off += n;
      }
    }
    if (pos < filled || ((await file.read(local)) ?? 0) > 0) return "different";
    return "identical";
  } catch (err) {
    if (err instanceof CorruptArchiveError) return "corrupt";
    throw err;
  } finally {
    file.close();
    await archived.cancel().catch(() => {});
  }
}
