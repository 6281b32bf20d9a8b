/**
 * delete (WAL-E-COMPAT §10): `before`, `retain`, `old-versions`, `everything`. A dry run unless
 * `--confirm` (and no `--dry-run`); every qualifying key is logged with WAL-E's wording.
 *
 * Deviations, each doing what the operator meant where WAL-E had a bug (§10, §14.2, §16):
 * - Complete backups are ordered by when their sentinel was written (what LATEST uses), not by
 *   the segment in their name: WAL-E's `--while-offline` names carry a wrong segment (§5.4), and
 *   WAL-E's `retain 1` then deleted the newest backup.
 * - The WAL horizon is the *lowest possible* start segment of the oldest kept backup: for a name
 *   that may be a WAL-E offline name (offset field equal to the segment field) it is the start of
 *   that log id, so WAL a kept backup may need is never deleted.
 * - `before` accepts a 24-hex WAL segment name, as WAL-E's help promised; `old-versions` works.
 * - Sentinels are deleted first, so an interrupted delete never leaves a backup that looks
 *   complete but lacks volumes. `retain` below 1 is rejected by the CLI.
 * - A backup's manifest (`<name>/manifest.json.lzo`, ours) goes with its backup; WAL-E's own
 *   delete would keep it with a "skipping non-qualifying key" warning.
 */
import { type BackupInfo, listBackups } from "../archive/backups.ts";
import {
  BACKUP_NAME_RE,
  BASEBACKUPS_DIR,
  MANIFEST_FILE,
  SENTINEL_SUFFIX,
  WAL_DIR,
} from "../archive/keys.ts";
import { UserError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { SEGMENT_RE, segmentNumber } from "../pg/wal_name.ts";
import type { Store } from "../storage/store.ts";
import type { CommandDeps } from "./context.ts";

/** Input of delete. */
export type DeleteInput =
  & { confirm: boolean }
  & (
    | { action: "before"; before: string }
    | { action: "retain"; retain: number }
    | { action: "old-versions" }
    | { action: "everything" }
  );

/** One key to delete and how WAL-E describes it. */
interface Doomed {
  key: string;
  kind: string;
}

/** Runs delete; resolves to the exit status. */
export async function deleteCommand(input: DeleteInput, deps: CommandDeps): Promise<number> {
  deps.log.info({
    msg: input.confirm ? "deleting data in the store" : "performing dry run of data deletion",
  });
  const log = deps.log.child("wal_e.worker.base");
  let doomed: Doomed[];
  switch (input.action) {
    case "everything":
      doomed = await everything(deps.store, ["005"]);
      break;
    case "old-versions":
      doomed = await everything(deps.store, ["000", "001", "002", "003", "004"]);
      break;
    case "before":
      doomed = await before(deps.store, input.before, log);
      break;
    case "retain":
      doomed = await retain(deps.store, input.retain, log);
      break;
  }
  for (const d of doomed) {
    log.info({
      msg: `deleting ${d.kind}`,
      detail: `The key being deleted is ${deps.store.url(d.key)}.`,
      hint: input.confirm ? undefined : "This is only a dry run -- no actual data is being deleted",
    });
  }
  if (input.confirm) await deleteInOrder(deps.store, doomed.map((d) => d.key));
  return 0;
}

/** Deletes sentinels first, then everything else, in store-sized batches. */
async function deleteInOrder(store: Store, keys: string[]): Promise<void> {
  const first = keys.filter((k) => k.endsWith(SENTINEL_SUFFIX));
  const rest = keys.filter((k) => !k.endsWith(SENTINEL_SUFFIX));
  const size = store.capabilities.deleteBatchSize;
  for (const group of [first, rest]) {
    for (let i = 0; i < group.length; i += size) await store.deleteMany(group.slice(i, i + size));
  }
}

async function everything(store: Store, versions: string[]): Promise<Doomed[]> {
  const out: Doomed[] = [];
  for (const v of versions) {
    for await (const o of store.list(`basebackups_${v}/`)) {
      out.push({ key: o.key, kind: "part of a base backup" });
    }
    for await (const o of store.list(`wal_${v}/`)) {
      out.push({ key: o.key, kind: "part of wal logs" });
    }
  }
  return out;
}

/**
 * Lowest segment number a backup named `name` can start at. A WAL-E `--while-offline` name
 * repeats its (wrong) segment field as the offset (§5.4); for such names only the log id is
 * trusted.
 */
export function startHorizon(name: string): bigint {
  const m = BACKUP_NAME_RE.exec(name);
  if (m === null) throw new TypeError(`not a backup name: "${name}"`);
  const seg = m[1] ?? "";
  const n = segmentNumber(seg) ?? 0n;
  return m[2] === seg.slice(16) ? n & ~0xffff_ffffn : n;
}

async function before(store: Store, target: string, log: Logger): Promise<Doomed[]> {
  const backups = await listBackups(store);
  if (SEGMENT_RE.test(target)) {
    const h = segmentNumber(target) ?? 0n;
    const older = backups.filter((b) => (segmentNumber(b.walSegmentBackupStart) ?? 0n) < h);
    return await sweep(store, h, older, log);
  }
  const m = BACKUP_NAME_RE.exec(target);
  if (m === null) {
    throw new UserError("invalid argument to delete before", {
      detail: `"${target}" is neither a base backup name nor a WAL segment name.`,
      hint: "Pass a name from backup-list (base_...) or a 24-hex WAL segment name.",
    });
  }
  const named = backups.find((b) => b.name === m[0]);
  const older = named === undefined
    ? backups.filter((b) => (segmentNumber(b.walSegmentBackupStart) ?? 0n) < startHorizon(m[0]))
    : backups.filter((b) => isOlder(b, named));
  return await sweep(store, startHorizon(m[0]), older, log);
}

async function retain(store: Store, n: number, log: Logger): Promise<Doomed[]> {
  const newestFirst = (await listBackups(store)).sort((a, b) => (isOlder(a, b) ? 1 : -1));
  const kept = newestFirst.slice(0, n);
  const dropped = newestFirst.slice(n);
  const total = newestFirst.length;
  const lastKept = kept.at(-1);
  const hint = lastKept === undefined
    ? undefined
    : `Deleting keys older than ${
      store.url(`${BASEBACKUPS_DIR}${lastKept.name}${SENTINEL_SUFFIX}`)
    }.`;
  if (dropped.length > 0) {
    log.info({
      msg: `Deleting ${dropped.length} oldest base backups.`,
      detail: `Found ${total} total base backups.`,
      hint,
    });
  } else if (total === 0) {
    log.info({ msg: "Not deleting any data.", detail: "No existing base backups." });
  } else {
    log.info({
      msg: total === 1 ? "Retaining existing base backup." : `Retaining all ${total} base backups.`,
      hint,
    });
  }
  if (kept.length === 0) return [];
  const horizon = kept.reduce((h, b) => {
    const s = startHorizon(b.name);
    return s < h ? s : h;
  }, startHorizon(kept[0]?.name ?? ""));
  return await sweep(store, horizon, dropped, log);
}

/** True when `a` completed before `b` (sentinel time, then name). */
function isOlder(a: BackupInfo, b: BackupInfo): boolean {
  const d = a.lastModified.getTime() - b.lastModified.getTime();
  return d < 0 || (d === 0 && a.name < b.name);
}

/**
 * WAL-E's two sweeps (§10.3) with horizon `h`: backup objects of the `dropped` complete backups
 * and of incomplete backups older than `h`, then WAL segments and backup history files older
 * than `h`. History files are always kept; other names draw a warning and are kept.
 */
async function sweep(
  store: Store,
  h: bigint,
  dropped: BackupInfo[],
  log: Logger,
): Promise<Doomed[]> {
  const droppedNames = new Set(dropped.map((b) => b.name));
  const complete = new Set((await listBackups(store)).map((b) => b.name));
  const out: Doomed[] = [];
  const skip = (key: string) =>
    log.warning({
      msg: "skipping non-qualifying key in 'delete before'",
      detail: `The key "${store.url(key)}" is not one delete manages.`,
    });
  for await (const o of store.list(BASEBACKUPS_DIR)) {
    const parts = o.key.slice(BASEBACKUPS_DIR.length).split("/");
    const m = BACKUP_NAME_RE.exec(parts[0] ?? "");
    const name = m?.[0];
    let kind: string | undefined;
    if (parts.length === 1 && name !== undefined && parts[0] === name + SENTINEL_SUFFIX) {
      kind = "a base backup sentinel file";
    } else if (parts.length === 2 && name === parts[0] && parts[1] === "extended_version.txt") {
      kind = "a extended version metadata file";
    } else if (parts.length === 2 && name === parts[0] && parts[1] === MANIFEST_FILE) {
      kind = "a backup manifest";
    } else if (parts.length === 3 && name === parts[0] && parts[1] === "tar_partitions") {
      kind = "a base backup volume";
    }
    if (kind === undefined || name === undefined) {
      skip(o.key);
      continue;
    }
    // An incomplete backup (no sentinel) goes only when its own name is older than h.
    const doomed = complete.has(name)
      ? droppedNames.has(name)
      : (segmentNumber(name.slice(5)) ?? 0n) < h;
    if (doomed) out.push({ key: o.key, kind });
  }
  for await (const o of store.list(WAL_DIR)) {
    const base = o.key.slice(WAL_DIR.length);
    if (base.includes("/")) {
      skip(o.key);
      continue;
    }
    const seg = segmentNumber(base);
    if (/^[0-9A-F]{8}\.history/.test(base)) continue;
    if (seg !== undefined && /^[0-9A-F]{24}\.lzo/.test(base)) {
      if (seg < h) out.push({ key: o.key, kind: "a wal file" });
    } else if (seg !== undefined && /^[0-9A-F]{24}\.[0-9A-F]{8}.backup.lzo/.test(base)) {
      if (seg < h) out.push({ key: o.key, kind: "a backup history file" });
    } else {
      skip(o.key);
    }
  }
  return out;
}
