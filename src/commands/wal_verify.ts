/**
 * wal-verify (ours; WAL-E had none): from the store alone, whether each complete backup can
 * reach consistency and how far past it the archived WAL runs without a gap, following
 * timeline switches through the history files. Segments are only listed, never downloaded.
 * Exits 1 (a UserError) when the newest backup cannot reach consistency.
 */
import { listBackups, readSentinel } from "../archive/backups.ts";
import { sentinelKey } from "../archive/keys.ts";
import {
  analyseWalChain,
  type BackupVerdict,
  type BackupWal,
  type ChainReport,
  type SegmentRange,
  type TimelineSummary,
} from "../archive/wal_chain.ts";
import { readWalInventory } from "../archive/wal_inventory.ts";
import { CorruptArchiveError, UserError } from "../errors.ts";
import { historyFileName } from "../pg/timeline_history.ts";
import { DEFAULT_SEGMENT_SIZE, formatLsn, SEGMENT_RE } from "../pg/wal_name.ts";
import type { CommandDeps } from "./context.ts";

/** Input of wal-verify. */
export interface WalVerifyInput {
  json: boolean;
}

/** Runs wal-verify; resolves to the exit status. */
export async function walVerify(input: WalVerifyInput, deps: CommandDeps): Promise<number> {
  const inventory = await readWalInventory(deps.store, deps.encoding);
  const backups: BackupWal[] = [];
  for (const b of await listBackups(deps.store)) {
    const s = await readSentinel(deps.store, b.name);
    if (!SEGMENT_RE.test(s.wal_segment_backup_stop)) {
      throw new CorruptArchiveError("backup sentinel has a malformed stop segment", {
        detail: `"${deps.store.url(sentinelKey(b.name))}" names "${s.wal_segment_backup_stop}".`,
      });
    }
    backups.push({
      name: b.name,
      startSegment: b.walSegmentBackupStart,
      startOffset: b.walSegmentOffsetBackupStart,
      stopSegment: s.wal_segment_backup_stop,
      finishedAt: b.lastModified,
    });
  }
  const report = analyseWalChain(inventory, backups);
  deps.stdout(input.json ? JSON.stringify(toJson(report), null, 2) + "\n" : humanLines(report));
  const newest = report.newestBackup;
  if (newest !== undefined && !newest.consistent) {
    throw new UserError("the newest backup cannot reach consistency", {
      detail: `${newest.backup.name} needs ${newest.backup.startSegment}..` +
        `${newest.backup.stopSegment}; missing: ${
          newest.missingForConsistency.map(rangeText).join(", ")
        }.`,
      hint: "Restore an older backup, or take a new base backup (backup-push) now.",
    });
  }
  return 0;
}

function rangeText(r: SegmentRange): string {
  return r.count === 1 ? r.first : `${r.first}..${r.last} (${r.count} segments)`;
}

/** ISO 8601 in UTC with its `Z` zone designator. */
function iso(d: Date | undefined): string | null {
  return d === undefined ? null : d.toISOString();
}

function timelineLine(t: TimelineSummary): string {
  const segs = t.first === undefined || t.last === undefined
    ? "no segments"
    : `${t.segmentCount} segments ${t.first.name}..${t.last.name} (last archived ${
      iso(t.last.lastModified)
    })`;
  if (t.timeline > 1 && !t.historyPresent) {
    return `WARNING timeline ${t.timeline}: history file ${historyFileName(t.timeline)} is ` +
      `missing, so recovery cannot follow it from an earlier timeline; ${segs}\n`;
  }
  const from = t.parent === undefined || t.switchLsn === undefined
    ? ""
    : `branched from timeline ${t.parent} at ${formatLsn(t.switchLsn)} ` +
      `(${historyFileName(t.timeline)}); `;
  return `TIMELINE ${t.timeline}: ${from}${segs}\n`;
}

function backupLines(v: BackupVerdict): string {
  const b = v.backup;
  const needs = `needs ${b.startSegment}..${b.stopSegment}`;
  const lines = [
    v.consistent
      ? `BACKUP ${b.name}: ${needs}: all archived\n`
      : `ERROR ${b.name}: ${needs}: cannot reach consistency, missing ` +
        `${v.missingForConsistency.map(rangeText).join(", ")}\n`,
  ];
  const path = v.timelinePath.join(" -> ");
  if (v.window !== undefined) {
    const gap = v.gaps[0];
    const end = gap === undefined
      ? "the newest archived segment on its timeline path"
      : `the gap at ${gap.first}`;
    lines.push(
      `WINDOW ${b.name}: restorable from ${v.window.fromSegment} (backup finished by ` +
        `${iso(v.window.fromTime)}: sentinel written) to ${v.window.toSegment} (archived ` +
        `${iso(v.window.toTime)}: segment object modified), timelines ${path}; ends at ${end}\n`,
    );
  } else {
    lines.push(`WINDOW ${b.name}: none (cannot reach consistency)\n`);
  }
  return lines.join("");
}

/** One line per finding. */
function humanLines(r: ChainReport): string {
  const out: string[] = r.timelines.map(timelineLine);
  if (r.backups.length === 0) out.push("WARNING no complete backups in the store\n");
  out.push(...r.backups.map(backupLines));
  for (const g of r.gaps) {
    out.push(`GAP ${g.first}..${g.last}: ${g.count} segment${g.count === 1 ? "" : "s"} missing\n`);
  }
  const n = r.newestBackup;
  if (n !== undefined && n.consistent && n.gaps.length === 0) {
    out.push(
      `OK newest backup ${n.backup.name}: every segment from its start to ` +
        `${n.newest?.name ?? n.backup.stopSegment} is archived\n`,
    );
  }
  return out.join("");
}

function rangeJson(r: SegmentRange): Record<string, string | number> {
  return { first_segment: r.first, last_segment: r.last, segment_count: r.count };
}

/** The JSON document; field names are part of the interface (README). */
function toJson(r: ChainReport): Record<string, unknown> {
  return {
    segment_size_bytes: DEFAULT_SEGMENT_SIZE,
    timelines: r.timelines.map((t) => ({
      timeline: t.timeline,
      parent_timeline: t.parent ?? null,
      switch_lsn: t.switchLsn === undefined ? null : formatLsn(t.switchLsn),
      history_file_present: t.historyPresent,
      segment_count: t.segmentCount,
      first_segment: t.first?.name ?? null,
      last_segment: t.last?.name ?? null,
      last_archived_at: iso(t.last?.lastModified),
    })),
    backups: r.backups.map((v) => ({
      name: v.backup.name,
      timeline: v.timeline,
      timeline_path: v.timelinePath,
      wal_segment_backup_start: v.backup.startSegment,
      wal_segment_backup_stop: v.backup.stopSegment,
      finished_at: iso(v.backup.finishedAt),
      consistent: v.consistent,
      missing_for_consistency: v.missingForConsistency.map(rangeJson),
      gaps: v.gaps.map(rangeJson),
      newest_segment: v.newest?.name ?? null,
      restorable_window: v.window === undefined ? null : {
        from_segment: v.window.fromSegment,
        from_time: iso(v.window.fromTime),
        from_time_source: "sentinel_last_modified",
        to_segment: v.window.toSegment,
        to_time: iso(v.window.toTime),
        to_time_source: "segment_last_modified",
      },
    })),
    newest_backup: r.newestBackup?.backup.name ?? null,
    newest_backup_consistent: r.newestBackup?.consistent ?? null,
    gaps: r.gaps.map(rangeJson),
  };
}
