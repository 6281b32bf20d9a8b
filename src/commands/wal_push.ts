/**
 * wal-push (WAL-E-COMPAT §7): archive the WAL file PostgreSQL names in `archive_command`, and
 * with `--pool-size N` > 1 up to N−1 other segments that already have `.ready` status files,
 * in parallel. A pooled segment's `.ready` becomes `.done` only after its upload succeeded.
 *
 * Deviations from WAL-E (§7.2, §16), each in the operator's favour: a missing
 * `archive_status/` means "no extra work" instead of a crash; a pooled segment whose file
 * vanished keeps its `.ready` (PostgreSQL removes orphans itself) instead of being marked done
 * without having been stored; a `.ready` that PostgreSQL renamed meanwhile is not an error.
 */
import { basename, dirname, join } from "node:path";
import { uploadCompressed } from "../archive/pipeline.ts";
import { fileSource } from "../archive/file_source.ts";
import { walKey } from "../archive/keys.ts";
import { UserError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { SEGMENT_RE } from "../pg/wal_name.ts";
import type { CommandDeps } from "./context.ts";
import { runPool } from "../archive/pool.ts";

/** Input of wal-push. */
export interface WalPushInput {
  /** Path of the WAL file (`%p`, relative to the data directory or absolute). */
  segmentPath: string;
  /** Uploads in flight, the explicit file included (default 32). */
  poolSize: number;
}

/** Runs wal-push; resolves to the exit status. */
export async function walPush(input: WalPushInput, deps: CommandDeps): Promise<number> {
  const log = deps.log.child("wal_e.worker.upload");
  const explicit = input.segmentPath;
  let explicitInfo: Deno.FileInfo;
  try {
    explicitInfo = await Deno.stat(explicit);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) {
      throw new UserError("could not find file for wal-push", {
        detail: `The file "${explicit}" does not exist.`,
        hint: "Check that the path is valid and that the file has not been removed.",
      });
    }
    throw err;
  }
  const pooled = input.poolSize > 1
    ? await readySegments(dirname(explicit), basename(explicit), input.poolSize - 1)
    : [];
  const jobs = [
    () => pushFile(explicit, explicitInfo, deps, log),
    ...pooled.map((name) => () => pushPooled(dirname(explicit), name, deps, log)),
  ];
  await runPool(jobs, input.poolSize);
  return 0;
}

/** Names of up to `limit` segments with `.ready` files, sorted, excluding `explicit`. */
export async function readySegments(
  walDir: string,
  explicit: string,
  limit: number,
): Promise<string[]> {
  const names: string[] = [];
  try {
    for await (const e of Deno.readDir(join(walDir, "archive_status"))) {
      const m = /^([0-9A-F]{24})\.ready$/.exec(e.name);
      if (m?.[1] !== undefined && m[1] !== explicit) names.push(m[1]);
    }
  } catch (err) {
    if (err instanceof Deno.errors.NotFound || err instanceof Deno.errors.NotADirectory) return [];
    throw err;
  }
  return names.sort().slice(0, limit);
}

async function pushPooled(walDir: string, name: string, deps: CommandDeps, log: Logger) {
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
  await pushFile(path, info, deps, log);
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

/** Uploads one WAL file; the lzop header records its mode and mtime as `lzop < file` does. */
async function pushFile(path: string, info: Deno.FileInfo, deps: CommandDeps, log: Logger) {
  const name = basename(path);
  const key = walKey(name);
  const url = deps.store.url(key);
  const fields = { action: "push-wal", key: url, prefix: deps.store.pathPrefix, seg: name };
  log.info({
    msg: "begin archiving a file",
    detail: `Uploading "${path}" to "${url}".`,
    structured: { ...fields, state: "begin" },
  });
  const started = performance.now();
  const file = await Deno.open(path, { read: true });
  const stats = await uploadCompressed(deps.store, key, fileSource(file), {
    mode: info.mode ?? 0,
    mtimeSeconds: Math.floor((info.mtime?.getTime() ?? Date.now()) / 1000),
    encoding: deps.encoding,
  });
  const seconds = Math.max((performance.now() - started) / 1000, 1e-6);
  const rate = Math.round(stats.plainBytes / 1024 / seconds);
  log.info({
    msg: "completed archiving to a file",
    detail: `Archiving to "${url}" complete at ${rate}KiB/s.`,
    structured: { ...fields, rate, state: "complete" },
  });
}
