/**
 * Which WAL each backup can replay, from what the archive holds: for every complete backup, the
 * segments from its start to its stop (needed to reach consistency) and the continuous run after
 * it, following timeline switches the way recovery does (recovery_target_timeline = 'latest':
 * the newest timeline whose ancestry contains the backup; segment N is read from the newest
 * timeline on that path that had begun by N, WAL-E-COMPAT §3.2 names). Pure: the caller lists
 * the store and reads sentinels and history files.
 */
import type { TimelineHistoryEntry } from "../pg/timeline_history.ts";
import {
  DEFAULT_SEGMENT_SIZE,
  parseSegmentName,
  segmentIndex,
  segmentIndexOfLsn,
  segmentNameAt,
} from "../pg/wal_name.ts";

/** One archived segment. */
export interface ArchivedSegment {
  name: string;
  timeline: number;
  /** Contiguous position (pg/wal_name.ts segmentIndex). */
  index: bigint;
  /** When the store last modified the object: when it was archived. */
  lastModified: Date;
}

/** What the WAL folder holds. */
export interface WalInventory {
  /** Segments by timeline, then by index. */
  segments: Map<number, Map<bigint, ArchivedSegment>>;
  /** Parsed history files, by the timeline each describes. */
  histories: Map<number, TimelineHistoryEntry[]>;
}

/** What a backup needs, from its name and sentinel. */
export interface BackupWal {
  name: string;
  /** 24-hex start segment (from the backup name). */
  startSegment: string;
  /** The name's 8-character offset token (decimal in practice, WAL-E-COMPAT §3.4). */
  startOffset: string;
  /** 24-hex stop segment (sentinel's wal_segment_backup_stop). */
  stopSegment: string;
  /** Sentinel's modification time: the backup finished (its stop had returned) by then. */
  finishedAt: Date;
}

/** A run of consecutive missing segments. */
export interface SegmentRange {
  first: string;
  last: string;
  count: number;
}

/** The restorable window of a consistent backup. */
export interface RestoreWindow {
  /** The backup's stop segment: recovery is consistent once it is replayed. */
  fromSegment: string;
  /** Sentinel modification time. */
  fromTime: Date;
  /** The last segment of the continuous run from the backup's start. */
  toSegment: string;
  /** That segment object's modification time (when it was archived). */
  toTime: Date;
}

/** The verdict on one backup. */
export interface BackupVerdict {
  backup: BackupWal;
  timeline: number;
  /** Timelines recovery passes through from the backup's start, in order. */
  timelinePath: number[];
  /** Every segment from start to stop is archived. */
  consistent: boolean;
  /** Segments between start and stop that are not archived. */
  missingForConsistency: SegmentRange[];
  /** Missing runs between the backup's start and the newest segment on its path. */
  gaps: SegmentRange[];
  /** The newest archived segment on the backup's path. */
  newest: ArchivedSegment | undefined;
  window: RestoreWindow | undefined;
}

/** One timeline found in the archive. */
export interface TimelineSummary {
  timeline: number;
  /** From its history file (undefined for timeline 1 or when the file is missing). */
  parent: number | undefined;
  switchLsn: bigint | undefined;
  /** A timeline above 1 needs its history file to be followed. */
  historyPresent: boolean;
  segmentCount: number;
  first: ArchivedSegment | undefined;
  last: ArchivedSegment | undefined;
}

/** Everything wal-verify reports. */
export interface ChainReport {
  timelines: TimelineSummary[];
  /** Oldest first (by sentinel time). */
  backups: BackupVerdict[];
  /** The backup LATEST names (newest sentinel), if any. */
  newestBackup: BackupVerdict | undefined;
  /** Missing runs after some backup's start (or after the first segment when none). */
  gaps: SegmentRange[];
}

/** One timeline on a recovery path: its segments are read for indexes [begin, end). */
interface PathStep {
  timeline: number;
  beginIndex: bigint;
  /** Undefined for the path's last timeline. */
  endIndex: bigint | undefined;
  /** Where the next timeline branched off (exclusive end of this one's valid WAL). */
  endLsn: bigint | undefined;
}

/** The path to `target` from its history; undefined when the history file is missing. */
function timelinePath(target: number, inv: WalInventory, size: number): PathStep[] | undefined {
  const history = inv.histories.get(target);
  if (history === undefined) {
    return target === 1
      ? [{ timeline: 1, beginIndex: 0n, endIndex: undefined, endLsn: undefined }]
      : undefined;
  }
  const steps: PathStep[] = [];
  let begin = 0n;
  for (const e of history) {
    const end = segmentIndexOfLsn(e.switchLsn, size);
    steps.push({
      timeline: e.parentTimeline,
      beginIndex: begin,
      endIndex: end,
      endLsn: e.switchLsn,
    });
    begin = end;
  }
  steps.push({ timeline: target, beginIndex: begin, endIndex: undefined, endLsn: undefined });
  return steps;
}

/** The step of `path` segment `index` is read from: the newest one begun by then. */
function stepAt(path: readonly PathStep[], index: bigint): PathStep | undefined {
  let found: PathStep | undefined;
  for (const s of path) if (s.beginIndex <= index) found = s;
  return found;
}

/** Whether the path passes through `timeline` at `lsn`. */
function pathContains(path: readonly PathStep[], timeline: number, lsn: bigint, size: number) {
  return path.some((s) =>
    s.timeline === timeline && s.beginIndex <= segmentIndexOfLsn(lsn, size) &&
    (s.endLsn === undefined || lsn < s.endLsn)
  );
}

/** Every timeline the archive mentions. */
function knownTimelines(inv: WalInventory): number[] {
  return [...new Set([...inv.segments.keys(), ...inv.histories.keys()])].sort((a, b) => a - b);
}

/**
 * The path recovery of a backup at (`timeline`, `lsn`) follows: to the newest timeline whose
 * ancestry contains that point; only the backup's own timeline when no history says more.
 */
function pathFor(timeline: number, lsn: bigint, inv: WalInventory, size: number): PathStep[] {
  let best: PathStep[] | undefined;
  for (const t of knownTimelines(inv)) {
    const p = timelinePath(t, inv, size);
    if (p !== undefined && t >= timeline && pathContains(p, timeline, lsn, size)) best = p;
  }
  return best ??
    [{ timeline, beginIndex: 0n, endIndex: undefined, endLsn: undefined }];
}

/** Segments on `path` at or after `from`, by index. */
function onPath(path: readonly PathStep[], inv: WalInventory, from: bigint): ArchivedSegment[] {
  const out: ArchivedSegment[] = [];
  for (const s of path) {
    for (const seg of inv.segments.get(s.timeline)?.values() ?? []) {
      if (
        seg.index >= from && seg.index >= s.beginIndex &&
        (s.endIndex === undefined || seg.index < s.endIndex)
      ) out.push(seg);
    }
  }
  return out.sort((a, b) => (a.index < b.index ? -1 : a.index > b.index ? 1 : 0));
}

function range(path: readonly PathStep[], first: bigint, last: bigint, size: number) {
  const name = (i: bigint): string => segmentNameAt(stepAt(path, i)?.timeline ?? 0, i, size);
  return { first: name(first), last: name(last), count: Number(last - first + 1n) };
}

/** Walks a path from `from`: missing runs, the last continuous segment, the newest one. */
function walk(path: readonly PathStep[], inv: WalInventory, from: bigint) {
  const present = onPath(path, inv, from);
  const gaps: { first: bigint; last: bigint }[] = [];
  let expected = from;
  let lastContinuous: ArchivedSegment | undefined;
  for (const seg of present) {
    if (seg.index > expected) gaps.push({ first: expected, last: seg.index - 1n });
    else if (gaps.length === 0) lastContinuous = seg;
    expected = seg.index + 1n;
  }
  return { gaps, lastContinuous, newest: present.at(-1), next: expected };
}

/** Parses the decimal offset token of a backup name; 0 when it is not decimal. */
function startLsnOf(b: BackupWal, index: bigint, size: number): bigint {
  const offset = /^\d{8}$/.test(b.startOffset) ? BigInt(b.startOffset) : 0n;
  return index * BigInt(size) + (offset < BigInt(size) ? offset : 0n);
}

function verdict(b: BackupWal, inv: WalInventory, size: number): BackupVerdict | undefined {
  const start = parseSegmentName(b.startSegment);
  const stop = parseSegmentName(b.stopSegment);
  if (start === undefined || stop === undefined) return undefined;
  const startIndex = segmentIndex(start, size);
  const stopIndex = segmentIndex(stop, size);
  const path = pathFor(start.timeline, startLsnOf(b, startIndex, size), inv, size);
  const fromBackup = path.slice(Math.max(0, path.findIndex((s) => s.timeline === start.timeline)));
  const w = walk(path, inv, startIndex);
  const missing: SegmentRange[] = [];
  for (const g of w.gaps) {
    if (g.first > stopIndex) continue;
    missing.push(range(path, g.first, g.last < stopIndex ? g.last : stopIndex, size));
  }
  // Not archived (yet) after the newest segment, up to the stop.
  if (w.next <= stopIndex) missing.push(range(path, w.next, stopIndex, size));
  const consistent = missing.length === 0;
  const last = w.lastContinuous;
  return {
    backup: b,
    timeline: start.timeline,
    timelinePath: fromBackup.map((s) => s.timeline),
    consistent,
    missingForConsistency: missing,
    gaps: w.gaps.map((g) => range(path, g.first, g.last, size)),
    newest: w.newest,
    window: consistent && last !== undefined
      ? {
        fromSegment: segmentNameAt(stepAt(path, stopIndex)?.timeline ?? 0, stopIndex, size),
        fromTime: b.finishedAt,
        toSegment: last.name,
        toTime: last.lastModified,
      }
      : undefined,
  };
}

function summaries(inv: WalInventory): TimelineSummary[] {
  return knownTimelines(inv).map((t) => {
    const segs = [...(inv.segments.get(t)?.values() ?? [])]
      .sort((a, b) => (a.index < b.index ? -1 : a.index > b.index ? 1 : 0));
    const parentEntry = inv.histories.get(t)?.at(-1);
    return {
      timeline: t,
      parent: parentEntry?.parentTimeline,
      switchLsn: parentEntry?.switchLsn,
      historyPresent: t === 1 || inv.histories.has(t),
      segmentCount: segs.length,
      first: segs[0],
      last: segs.at(-1),
    };
  });
}

/** Analyses the archive for `backups` (any order). */
export function analyseWalChain(
  inv: WalInventory,
  backups: readonly BackupWal[],
  segmentSize = DEFAULT_SEGMENT_SIZE,
): ChainReport {
  // Oldest first; equal times keep listing order, so the last one listed is LATEST (as backups.ts).
  const ordered = [...backups].sort((a, b) => a.finishedAt.getTime() - b.finishedAt.getTime());
  const verdicts = ordered.map((b) => verdict(b, inv, segmentSize))
    .filter((v): v is BackupVerdict => v !== undefined);
  const gaps = new Map<string, SegmentRange>();
  for (const v of verdicts) for (const g of v.gaps) gaps.set(`${g.first}-${g.last}`, g);
  if (verdicts.length === 0) {
    // No backup to anchor on: check the newest timeline's path from its first segment.
    const newestTimeline = knownTimelines(inv).at(-1);
    const path = newestTimeline === undefined
      ? undefined
      : timelinePath(newestTimeline, inv, segmentSize);
    const first = path === undefined ? undefined : onPath(path, inv, 0n)[0];
    if (path !== undefined && first !== undefined) {
      for (const g of walk(path, inv, first.index).gaps) {
        const r = range(path, g.first, g.last, segmentSize);
        gaps.set(`${r.first}-${r.last}`, r);
      }
    }
  }
  return {
    timelines: summaries(inv),
    backups: verdicts,
    newestBackup: verdicts.at(-1),
    gaps: [...gaps.values()].sort((a, b) =>
      a.first.slice(8) < b.first.slice(8) ? -1 : a.first.slice(8) > b.first.slice(8) ? 1 : 0
    ),
  };
}
