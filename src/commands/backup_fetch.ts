/**
 * backup-fetch (WAL-E-COMPAT §6): restore a base backup into a directory. Deviation: the
 * sentinel's spec is read on every backend (WAL-E never read it on file://, §6.1 step 3), so
 * tablespace symlinks are verified there too.
 */
import { exists } from "../fs_exists.ts";
import { basename, join, resolve } from "node:path";
import { listBackups, readSentinel, selectBackups } from "../archive/backups.ts";
import { PARTITION_RE, partitionsPrefix } from "../archive/keys.ts";
import { openDecompressed } from "../archive/pipeline.ts";
import { runPool } from "../archive/pool.ts";
import { Extractor } from "../archive/tar_extract.ts";
import { UserError } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { CommandDeps } from "./context.ts";
import {
  createSpecPaths,
  planRestore,
  rewriteTablespaceMap,
  verifyTablespaceLinks,
} from "./backup_fetch/restore_spec.ts";

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
  if (input.restoreSpec !== undefined) await createSpecPaths(plan);
  else if (!(await exists(plan.base))) await Deno.mkdir(plan.base, { mode: 0o700 });
  if (!input.blindRestore) await verifyTablespaceLinks(plan);

  const keys = await volumeKeys(deps, selected.name, log);
  const extractor = await Extractor.create(plan.base, {
    trustedLinks: plan.tablespaces.map((oid) => `pg_tblspc/${oid}`),
    log,
  });
  const worker = deps.log.child("wal_e.worker.download");
  await runPool(
    keys.map((key) => async () => {
      worker.info({
        msg: "beginning partition download",
        detail: `The partition being downloaded is ${basename(key)}.`,
        hint: `The absolute S3 key is ${deps.store.url(key)}.`,
      });
      await extractor.extract(await openDecompressed(deps.store, key, { encoding: deps.encoding }));
    }),
    input.poolSize,
  );
  await extractor.finish();
  if (await rewriteTablespaceMap(plan.base)) {
    log.info({
      msg: "rewrote tablespace_map to the restored tablespace locations",
      detail: `The file "${join(plan.base, "tablespace_map")}" now matches pg_tblspc.`,
    });
  }
  await Deno.chmod(plan.base, 0o700);
  await warnInPlaceTablespaces(plan.base, plan.tablespaces, log);
  return 0;
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
