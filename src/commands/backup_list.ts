/**
 * backup-list (WAL-E-COMPAT §2.9): a header and one row per complete backup, tab-separated with
 * CRLF line ends (Python's excel-tab dialect), in storage listing order; `--json` prints the same
 * fields as a JSON array. Deviation: `--detail` reads sentinels on every backend, including
 * `file://` where WAL-E printed empty columns (§14.2 item 4).
 *
 * `--json` (ours) always carries the details, plus what a script wants without parsing WAL-E's
 * columns: times in ISO 8601 UTC (`Z`), start and stop LSN, the PostgreSQL version
 * (extended_version.txt) and the compressed size (the partitions as stored). `start_time` is
 * when the store recorded extended_version.txt, written right after the backup started, and
 * `stop_time` when it recorded the sentinel, written last.
 */
import { type BackupInfo, listBackups, readSentinel, selectBackups } from "../archive/backups.ts";
import { BASEBACKUPS_DIR, extendedVersionKey, partitionsPrefix } from "../archive/keys.ts";
import { readPlain } from "../archive/pipeline.ts";
import { isNotFound } from "../errors.ts";
import { formatLsn, parseSegmentName, segmentIndex } from "../pg/wal_name.ts";
import type { Store } from "../storage/store.ts";
import type { CommandDeps } from "./context.ts";

/** Input of backup-list. */
export interface BackupListInput {
  query: string | undefined;
  detail: boolean;
  json: boolean;
}

const COLUMNS = [
  "name",
  "last_modified",
  "expanded_size_bytes",
  "wal_segment_backup_start",
  "wal_segment_offset_backup_start",
  "wal_segment_backup_stop",
  "wal_segment_offset_backup_stop",
] as const;

type Row = Record<typeof COLUMNS[number], string | number | null>;

/** One excel-tab field: quoted only when it holds a tab, quote or line break. */
function field(v: string | number | null): string {
  const s = v === null ? "" : String(v);
  return /[\t"\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

/** Runs backup-list; resolves to the exit status. */
export async function backupList(input: BackupListInput, deps: CommandDeps): Promise<number> {
  if (!input.json) deps.stdout(COLUMNS.join("\t") + "\r\n");
  const selected = selectBackups(await listBackups(deps.store), input.query);
  // WAL-E fills the detail columns for a query by name even without --detail (fixture output).
  const detail = input.json || input.detail ||
    (input.query !== undefined && input.query !== "LATEST");
  const objects = input.json ? await objectsByBackup(deps.store) : undefined;
  const rows: Record<string, string | number | null>[] = [];
  for (const b of selected) {
    const s = detail ? await readSentinel(deps.store, b.name) : undefined;
    const row: Row = {
      name: b.name,
      last_modified: b.lastModifiedText,
      expanded_size_bytes: s?.expanded_size_bytes ?? null,
      wal_segment_backup_start: b.walSegmentBackupStart,
      wal_segment_offset_backup_start: b.walSegmentOffsetBackupStart,
      wal_segment_backup_stop: s?.wal_segment_backup_stop ?? null,
      wal_segment_offset_backup_stop: s?.wal_segment_offset_backup_stop ?? null,
    };
    if (objects === undefined) {
      deps.stdout(COLUMNS.map((c) => field(row[c])).join("\t") + "\r\n");
      continue;
    }
    const o = objects.get(b.name);
    rows.push({
      ...row,
      last_modified: b.lastModified.toISOString(),
      start_lsn: lsnOf(b.walSegmentBackupStart, b.walSegmentOffsetBackupStart),
      stop_lsn: lsnOf(row.wal_segment_backup_stop, row.wal_segment_offset_backup_stop),
      start_time: o?.versionWritten?.toISOString() ?? null,
      stop_time: b.lastModified.toISOString(),
      compressed_size_bytes: o?.compressedBytes ?? null,
      pg_version: await pgVersion(deps.store, b),
    });
  }
  if (input.json) deps.stdout(JSON.stringify(rows, null, 2) + "\n");
  return 0;
}

/** The LSN a WAL-E segment name and decimal byte offset denote (16 MiB segments). */
function lsnOf(segment: string | number | null, offset: string | number | null): string | null {
  const s = typeof segment === "string" ? parseSegmentName(segment) : undefined;
  if (s === undefined || offset === null || !/^\d+$/.test(String(offset))) return null;
  return formatLsn(segmentIndex(s) * BigInt(1 << 24) + BigInt(String(offset)));
}

/** Per backup, from one listing: stored partition bytes and when extended_version.txt was written. */
async function objectsByBackup(
  store: Store,
): Promise<Map<string, { compressedBytes: number; versionWritten: Date | undefined }>> {
  const out = new Map<string, { compressedBytes: number; versionWritten: Date | undefined }>();
  for await (const obj of store.list(BASEBACKUPS_DIR)) {
    const name = obj.key.slice(BASEBACKUPS_DIR.length).split("/")[0] ?? "";
    const entry = out.get(name) ?? { compressedBytes: 0, versionWritten: undefined };
    if (obj.key.startsWith(partitionsPrefix(name))) entry.compressedBytes += obj.size;
    else if (obj.key === extendedVersionKey(name)) entry.versionWritten = obj.lastModified;
    out.set(name, entry);
  }
  return out;
}

/** The first line of extended_version.txt (`PostgreSQL 15.x …`), or null without one. */
async function pgVersion(store: Store, b: BackupInfo): Promise<string | null> {
  try {
    const text = new TextDecoder().decode(await readPlain(store, extendedVersionKey(b.name)));
    return text.split("\n")[0]?.trim() || null;
  } catch (err) {
    if (isNotFound(err)) return null;
    throw err;
  }
}
