/**
 * backup-fetch (WAL-E-COMPAT §6): restore a base backup into a directory. Deviations: the
 * sentinel's spec is read on every backend (WAL-E never read it on file://, §6.1 step 3), so
 * tablespace symlinks are verified there too; every volume's tar must be complete (end-of-archive
 * marker); and a failed restore removes what it wrote, while `backup_label` and `tablespace_map`
 * are only put in place once every volume is restored, so a broken restore never looks usable.
 */
import { exists } from "../fs_exists.ts";
import { basename, join, resolve } from "node:path";
import { listBackups, readSentinel, selectBackups } from "../archive/backups.ts";
import { backupDirKey, PARTITION_RE, partitionsPrefix } from "../archive/keys.ts";
import { forEachPooled } from "../pool.ts";
import { Extractor } from "../archive/tar_extract.ts";
import { describe, isOsError, UserError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { Progress } from "../progress.ts";
import type { CommandDeps } from "./context.ts";
import type { BlockCodec } from "../codec/block_codec.ts";
import { CodecPool } from "../codec/codec_pool.ts";
import { parallelCodec } from "../codec/lzop_parallel.ts";
import {
  createSpecPaths,
  planRestore,
  rewriteTablespaceMap,
  verifyTablespaceLinks,
} from "./backup_fetch/restore_spec.ts";
import { partitionError, PartitionFailure, restorePartition } from "./backup_fetch/partition.ts";

/** Input of backup-fetch. */
export interface BackupFetchInput {
  clusterDirectory: string;
  backupName: string;
  poolSize: number;
  blindRestore: boolean;
  restoreSpec: string | undefined;
}

/** Runs backup-fetch; resolves to the exit status. */
export async function backupFetch(input: BackupFetchInput, deps: CommandDeps): Promise<number> {
  const log = deps.log.child("wal_e.operator.backup");
  const clusterDir = resolve(input.clusterDirectory);
  if (await exists(join(clusterDir, "postmaster.pid"))) {
    throw new UserError("attempting to overwrite a live data directory", {
      detail: "Found a postmaster.pid lockfile, and aborting",
      hint: "Shut down postgres.  If there is a stale lockfile, then remove it after being " +
        "very sure postgres is not running.",
    });
  }
  const selected = selectBackups(await listBackups(deps.store), input.backupName)[0];
  if (selected === undefined) {
    throw new UserError("no backups found for fetching", {
      detail: `No backup matching the query ${input.backupName} was able to be located.`,
    });
  }
  const sentinel = await readSentinel(deps.store, selected.name);
  const plan = await planRestore(clusterDir, sentinel.spec ?? {}, input.restoreSpec);
  // Paths this run creates before extracting (target, spec directories and links), so a
  // failure can put the file system back as it was.
  const made: string[] = [];
  let extractor: Extractor | undefined;
  let mapRewritten = false;
  const progress = new Progress({
    label: "backup-fetch",
    subject: "base backup restore",
    done: "restored",
    // Sum of the listed file sizes (WAL-E wrote it too); absent from a malformed sentinel.
    total: sentinel.expanded_size_bytes > 0 ? sentinel.expanded_size_bytes : undefined,
    log,
    output: deps.progress,
  });
  let volumeCount = 0;
  try {
    if (input.restoreSpec !== undefined) await createSpecPaths(plan, made);
    else if (!(await exists(plan.base))) {
      await Deno.mkdir(plan.base, { mode: 0o700 });
      made.push(plan.base);
    }
    if (!input.blindRestore) await verifyTablespaceLinks(plan);

    const keys = await volumeKeys(deps, selected.name, log);
    volumeCount = keys.length;
    extractor = await Extractor.create(plan.base, {
      onData: (n) => progress.add(n),
      trustedLinks: plan.tablespaces.map((oid) => `pg_tblspc/${oid}`),
      log,
      // Only a restore with every volume in place may look like one: these appear last.
      deferred: ["tablespace_map", "backup_label"],
    });
    const pool = new CodecPool();
    try {
      await extractVolumes(deps, selected.name, keys, extractor, {
        poolSize: input.poolSize,
        codec: parallelCodec(pool),
      });
    } finally {
      pool.close();
    }
    await extractor.finish();
    const map = extractor.pendingPath("tablespace_map");
    if (map !== undefined) mapRewritten = await rewriteTablespaceMap(plan.base, map);
    await Deno.chmod(plan.base, 0o700);
    await extractor.commit();
    progress.finish(); // the time includes making every file durable (finish)
  } catch (err) {
    progress.stop();
    const cleanup = await undo(extractor, made, plan.base, log);
    if (err instanceof PartitionFailure) throw partitionError(selected.name, err, cleanup);
    if (isOsError(err)) {
      throw new UserError("could not write the restored base backup", {
        detail: describe(err),
        hint: `Check the target directory (permissions, free space). ${cleanup}`,
        cause: err,
      });
    }
    throw err;
  }
  if (mapRewritten) {
    log.info({
      msg: "rewrote tablespace_map to the restored tablespace locations",
      detail: `The file "${join(plan.base, "tablespace_map")}" now matches pg_tblspc.`,
    });
  }
  await warnInPlaceTablespaces(plan.base, plan.tablespaces, log);
  progress.summary(volumeCount);
  return 0;
}

/**
 * Extracts every volume, `poolSize` at a time, their lzop blocks decoded on the workers of
 * `codec`. The first volume that fails for good stops the others (no new ones start, running
 * ones are aborted) and is the error reported.
 */
async function extractVolumes(
  deps: CommandDeps,
  backup: string,
  keys: string[],
  extractor: Extractor,
  { poolSize, codec }: { poolSize: number; codec: BlockCodec },
): Promise<void> {
  const worker = deps.log.child("wal_e.worker.download");
  const stop = new AbortController();
  let failure: PartitionFailure | undefined;
  const dir = backupDirKey(backup);
  try {
    await forEachPooled(keys, async (key) => {
      worker.info({
        msg: "beginning partition download",
        detail: `The partition being downloaded is ${basename(key)}.`,
        hint: `The absolute S3 key is ${deps.store.url(key)}.`,
      });
      try {
        await restorePartition({
          store: deps.store,
          encoding: deps.encoding,
          extractor,
          key,
          label: key.startsWith(dir) ? key.slice(dir.length) : key,
          log: worker,
          signal: stop.signal,
          codec,
        });
      } catch (err) {
        if (failure === undefined && err instanceof PartitionFailure) {
          failure = err;
          stop.abort(err);
        }
        throw err;
      }
    }, { limit: poolSize, abort: stop });
  } catch (err) {
    throw failure ?? err;
  }
}

/**
 * Removes what a failed restore created (newest first; never what was there before) and
 * says, for the error's HINT, what became of the target.
 */
async function undo(
  extractor: Extractor | undefined,
  made: string[],
  base: string,
  log: Logger,
): Promise<string> {
  const result = extractor === undefined
    ? { left: [], overwritten: 0 }
    : await extractor.rollback().catch((err: unknown) => ({
      left: [`(${describe(err)})`],
      overwritten: 0,
    }));
  const left = [...result.left];
  for (const path of [...made].reverse()) {
    try {
      await Deno.remove(path);
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) left.push(path);
    }
  }
  if (left.length > 0) {
    log.warning({
      msg: "could not remove everything the failed restore wrote",
      detail: `Left behind: ${left.slice(0, 10).join(", ")}${
        left.length > 10 ? ` and ${left.length - 10} more` : ""
      }.`,
      hint: "Remove them before restoring again; backup_label was not put in place.",
    });
  }
  const where = made.includes(base) ? `"${base}" was removed again` : `"${base}" is as it was`;
  if (left.length === 0 && result.overwritten === 0) {
    return `Nothing this restore wrote was kept: ${where}.`;
  }
  const parts = ["What is left does not look restorable: no backup_label was put in place."];
  if (result.overwritten > 0) {
    parts.push(
      `${result.overwritten} file(s) that were in "${base}" before were overwritten; ` +
        "restore into an empty directory.",
    );
  }
  return parts.join(" ");
}

/**
 * A blind restore leaves tablespaces as directories under pg_tblspc; PostgreSQL 15+ refuses
 * to finish recovery with those unless `allow_in_place_tablespaces` is on.
 */
async function warnInPlaceTablespaces(base: string, oids: string[], log: Logger): Promise<void> {
  const inPlace: string[] = [];
  for (const oid of oids) {
    const st = await Deno.lstat(join(base, "pg_tblspc", oid)).catch(() => undefined);
    if (st?.isDirectory === true) inPlace.push(oid);
  }
  if (inPlace.length === 0) return;
  log.warning({
    msg: "tablespaces were restored inside the data directory",
    detail: `pg_tblspc holds directories, not symlinks, for: ${inPlace.join(", ")}.`,
    hint: "Set allow_in_place_tablespaces = on for recovery (PostgreSQL 15 and later).",
  });
}

/** Volume keys of a backup, by partition number; other objects are warned about and skipped. */
async function volumeKeys(deps: CommandDeps, name: string, log: Logger): Promise<string[]> {
  const prefix = partitionsPrefix(name);
  const found: { n: number; key: string }[] = [];
  for await (const obj of deps.store.list(prefix)) {
    const m = PARTITION_RE.exec(obj.key.slice(prefix.length));
    if (m === null) {
      log.warning({
        msg: "skipping an unexpected object among the base backup's volumes",
        detail: `The key "${deps.store.url(obj.key)}" is not a part_N.tar.lzo volume.`,
      });
      continue;
    }
    found.push({ n: Number(m[1]), key: obj.key });
  }
  if (found.length === 0) {
    throw new UserError("base backup has no volumes", {
      detail: `Nothing matches "${deps.store.url(prefix)}part_*.tar.lzo".`,
    });
  }
  return found.sort((a, b) => a.n - b.n).map((f) => f.key);
}
