/**
 * Reading the restore drill's server log (`lc_messages = 'C'`, empty `log_line_prefix`, our
 * wal-fetch's WAL-E records interleaved): recovery progress, the lines worth quoting when
 * recovery fails, and a plain-words reason for the failures an archive can cause.
 */

/** What the server log has said so far about recovery. */
export interface RecoveryProgress {
  /** Files `restore_command` delivered (segments and history files). */
  restoredFiles: number;
  lastRestored: string | undefined;
  /** LSN of `consistent recovery state reached at …`. */
  consistentAt: string | undefined;
  /** The text after `recovery stopping ` (`before commit of transaction 745, time …`). */
  stoppedAt: string | undefined;
  /** LSN of `redo done at …`. */
  redoDoneAt: string | undefined;
  /** Timeline chosen at promotion. */
  newTimeline: number | undefined;
  /** `database system is ready to accept connections`. */
  ready: boolean;
}

/** Lines kept for quoting. */
const TAIL_LINES = 400;

/** Feeds the log's text as it grows; keeps the progress and the last lines. */
export class RecoveryLog {
  readonly progress: RecoveryProgress = {
    restoredFiles: 0,
    lastRestored: undefined,
    consistentAt: undefined,
    stoppedAt: undefined,
    redoDoneAt: undefined,
    newTimeline: undefined,
    ready: false,
  };
  readonly #tail: string[] = [];
  #partial = "";

  /** Takes the next chunk of the log; returns the lines it completed. */
  feed(text: string): string[] {
    const parts = (this.#partial + text).split("\n");
    this.#partial = parts.pop() ?? "";
    for (const line of parts) this.#line(line);
    return parts;
  }

  /** The last lines seen (a final unterminated line included). */
  tail(n: number): string[] {
    const all = this.#partial === "" ? this.#tail : [...this.#tail, this.#partial];
    return all.slice(-n);
  }

  /**
   * The lines that explain a failure: server ERROR/FATAL/PANIC lines with their DETAIL, HINT
   * and CONTEXT, and our tools' ERROR/CRITICAL records (MSG, DETAIL, HINT); the last `max`.
   * When there are none, the last `max` lines.
   */
  relevantLines(max = 15): string[] {
    const out: string[] = [];
    let mode: "server" | "wale" | undefined;
    for (const line of this.tail(TAIL_LINES)) {
      if (/^(FATAL|PANIC|ERROR):/.test(line)) {
        out.push(line.trimEnd());
        mode = "server";
      } else if (mode === "server" && /^(DETAIL|HINT|CONTEXT):/.test(line)) {
        // The drill did create recovery.signal: PostgreSQL's generic advice would mislead.
        if (!/^HINT:\s+If you are restoring from a backup, touch/.test(line)) {
          out.push(line.trimEnd());
        }
      } else if (/^wal_e\.\S+\s+(ERROR|CRITICAL)\s+MSG:/.test(line)) {
        out.push(line.replace(/\s+/g, " ").trim());
        mode = "wale";
      } else if (mode === "wale" && /^\s+(DETAIL|HINT):/.test(line)) {
        out.push(`  ${line.trim()}`);
      } else if (mode === "wale" && /^\s/.test(line)) {
        // STRUCTURED and other continuation lines of the same record
      } else {
        mode = undefined;
      }
    }
    return out.length > 0 ? out.slice(-max) : this.tail(max);
  }

  #line(line: string): void {
    this.#tail.push(line);
    if (this.#tail.length > TAIL_LINES) this.#tail.shift();
    const p = this.progress;
    let m: RegExpExecArray | null;
    if ((m = /^LOG:\s+restored log file "([^"]+)" from archive/.exec(line)) !== null) {
      p.restoredFiles++;
      p.lastRestored = m[1];
    } else if ((m = /^LOG:\s+consistent recovery state reached at (\S+)/.exec(line)) !== null) {
      p.consistentAt = m[1];
    } else if ((m = /^LOG:\s+recovery stopping (.*)$/.exec(line)) !== null) {
      p.stoppedAt = m[1];
    } else if ((m = /^LOG:\s+redo done at (\S+)/.exec(line)) !== null) {
      p.redoDoneAt = m[1];
    } else if ((m = /^LOG:\s+selected new timeline ID: (\d+)/.exec(line)) !== null) {
      p.newTimeline = Number(m[1]);
    } else if (/^LOG:\s+database system is ready to accept connections/.test(line)) {
      p.ready = true;
    }
  }
}

/** Facts about the backup that make a failure's hint precise. */
export interface FailureContext {
  backupName: string;
  startSegment: string;
  stopSegment: string;
  targetTime: string | undefined;
}

/** A failure in plain words, for the error's MSG and HINT. */
export interface Diagnosis {
  reason: string;
  hint: string;
}

/** Why recovery failed, judged from the relevant log lines. */
export function diagnose(lines: readonly string[], c: FailureContext): Diagnosis {
  const text = lines.join("\n");
  const verify = "`wal-verify` lists the missing segments.";
  // PostgreSQL words our deliberate exit 126 as "command not executable": name the file only.
  const fetchFailed = /could not restore file "([^"]+)" from archive/.exec(text);
  if (fetchFailed !== null || /^wal_e\.\S+ (ERROR|CRITICAL) /m.test(text)) {
    return {
      reason: `wal-fetch failed during recovery${
        fetchFailed === null ? "" : ` (fetching ${fetchFailed[1]})`
      }`,
      hint: "The same restore_command would fail in a real restore: fix what its error says " +
        "(store access, credentials, a corrupt object) and run the drill again.",
    };
  }
  if (/requested recovery stop point is before consistent recovery point/.test(text)) {
    return {
      reason: "the target time is before the backup is consistent",
      hint: `${c.backupName} ends after ${c.targetTime ?? "the target"}: pick a backup that ` +
        "finished before the target time (backup-list --detail), or a later target time.",
    };
  }
  if (/could not locate required checkpoint record/.test(text)) {
    return {
      reason: "the WAL where the backup starts is not in the archive",
      hint: `Segment ${c.startSegment}, where ${c.backupName} starts, is missing or ` +
        `unreadable: this backup cannot be restored. ${verify}`,
    };
  }
  if (/WAL ends before (end of online backup|consistent recovery point)/.test(text)) {
    return {
      reason: "the archive ends before the backup is consistent",
      hint: `A segment from ${c.startSegment} to ${c.stopSegment} is missing or unreadable: ` +
        `${c.backupName} cannot be restored. ${verify}`,
    };
  }
  if (/recovery ended before configured recovery target was reached/.test(text)) {
    return {
      reason: "the archive ends before the target time",
      hint: `Archived WAL stops before ${c.targetTime ?? "the target"}: a segment is missing ` +
        `or archiving lags. ${verify} Run the drill without a target to see how far it reaches.`,
    };
  }
  if (/invalid value for parameter "recovery_target_time"/.test(text)) {
    return {
      reason: "PostgreSQL rejected the target time",
      hint: "Write --target-time as YYYY-MM-DD HH:MM:SS+00.",
    };
  }
  return {
    reason: "the restored cluster stopped before recovery finished",
    hint: "Read the server log lines above; a real restore of this backup would fail the same way.",
  };
}
