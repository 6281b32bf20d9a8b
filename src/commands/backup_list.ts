/**
 * backup-list (WAL-E-COMPAT §2.9): a header and one row per complete backup, tab-separated with
 * CRLF line ends (Python's excel-tab dialect), in storage listing order; `--json` prints the same
 * fields as a JSON array. Deviation: `--detail` reads sentinels on every backend, including
 * `file://` where WAL-E printed empty columns (§14.2 item 4).
 */
import { listBackups, readSentinel, selectBackups } from "../archive/backups.ts";
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
  const detail = input.detail || (input.query !== undefined && input.query !== "LATEST");
  const rows: Row[] = [];
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
    if (input.json) rows.push(row);
    else deps.stdout(COLUMNS.map((c) => field(row[c])).join("\t") + "\r\n");
  }
  if (input.json) deps.stdout(JSON.stringify(rows, null, 2) + "\n");
  return 0;
}
