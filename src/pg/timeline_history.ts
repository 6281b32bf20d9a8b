/**
 * Timeline history files (`TTTTTTTT.history`): PostgreSQL writes one when it starts a new
 * timeline (promotion, PITR). Each line names one ancestor and where the child branched off:
 * `parentTLI<TAB>switchpoint LSN<TAB>reason`, oldest ancestor first; `#` lines and blank lines
 * are comments. The file of timeline N lists N's whole ancestry, so one file is enough to
 * follow the chain from timeline 1 to N.
 */
import { CorruptArchiveError } from "../errors.ts";
import { parseLsn } from "./wal_name.ts";

/** One ancestor: WAL of `parentTimeline` is valid up to (not including) `switchLsn`. */
export interface TimelineHistoryEntry {
  parentTimeline: number;
  switchLsn: bigint;
  reason: string;
}

/** Timeline id of a history file name (`00000002.history`), or undefined. */
export function historyFileTimeline(name: string): number | undefined {
  const m = /^([0-9A-F]{8})\.history$/.exec(name);
  return m?.[1] === undefined ? undefined : Number.parseInt(m[1], 16);
}

/** Parses a history file; `source` names it in the error for a malformed line. */
export function parseTimelineHistory(text: string, source: string): TimelineHistoryEntry[] {
  const out: TimelineHistoryEntry[] = [];
  for (const [i, raw] of text.split("\n").entries()) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    // PostgreSQL reads these with sscanf("%u\t%X/%X"): any whitespace separates the fields.
    const m = /^(\d+)\s+([0-9A-Fa-f]{1,8}\/[0-9A-Fa-f]{1,8})(?:\s+(.*))?$/.exec(line);
    const parent = m === null ? NaN : Number(m[1]);
    const previous = out.at(-1);
    if (
      m === null || !(parent >= 1) || (previous !== undefined &&
        (parent <= previous.parentTimeline || parseLsn(m[2] ?? "") < previous.switchLsn))
    ) {
      throw new CorruptArchiveError("timeline history file is malformed", {
        detail: `Line ${i + 1} of "${source}" is "${line}"; expected ` +
          "parentTLI<TAB>switchpoint<TAB>reason with timelines and switch points increasing.",
      });
    }
    out.push({ parentTimeline: parent, switchLsn: parseLsn(m[2] ?? ""), reason: m[3] ?? "" });
  }
  return out;
}

/** The history file name of `timeline` (`00000002.history`). */
export function historyFileName(timeline: number): string {
  return `${timeline.toString(16).toUpperCase().padStart(8, "0")}.history`;
}
