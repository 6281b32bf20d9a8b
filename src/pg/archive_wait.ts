/**
 * Waiting, after `pg_backup_stop`, until the last WAL segment a backup needs is archived: the
 * wait PostgreSQL does inside `pg_backup_stop(true)`, done here instead so that it is logged
 * and bounded. PostgreSQL waits silently and forever: with a broken archive_command a
 * backup-push hung without a word until it was killed.
 *
 * Like PostgreSQL (XLogArchiveIsBusy), it reads the data directory's
 * `pg_wal/archive_status/`: the segment is archived once its `.done` file exists, or once
 * neither its `.ready` file nor the segment itself is left. It gives up when the archiver has
 * made no progress (no `.ready` file went away) for `stallSeconds`, naming the segment: a long
 * backlog that is being worked through is waited for, a stuck archiver is not.
 */
import { UserError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { join } from "../paths.ts";

/** Default seconds without archiving progress before giving up (pgBackRest waits 60 s too). */
export const DEFAULT_ARCHIVE_STALL_SECONDS = 60;

/** Options of `waitForArchive`. */
export interface ArchiveWaitOptions {
  stallSeconds: number;
  log: Logger;
  /** Poll interval in ms (default 200). */
  pollMs?: number;
}

/** Resolves once `segment` is archived; throws UserError naming it when archiving stalls. */
export async function waitForArchive(
  dataDir: string,
  segment: string,
  options: ArchiveWaitOptions,
): Promise<void> {
  const status = join(dataDir, "pg_wal", "archive_status");
  const started = performance.now();
  let lastProgress = started;
  let lastReady = readyCount(status);
  let lastLog = started;
  for (;;) {
    if (archived(dataDir, status, segment)) return;
    const now = performance.now();
    const ready = readyCount(status);
    if (ready < lastReady) lastProgress = now;
    lastReady = ready;
    if (now - lastProgress > options.stallSeconds * 1000) {
      throw new UserError(`WAL segment ${segment} was not archived`, {
        detail: `backup-push waited ${Math.round((now - started) / 1000)} s for ${segment}, the ` +
          `last segment this backup needs, and PostgreSQL archived nothing for ` +
          `${options.stallSeconds} s (${ready} segments wait in pg_wal/archive_status). The ` +
          "backup is not complete: no sentinel was written.",
        hint: "Check archive_command and the PostgreSQL log (pg_stat_archiver.last_failed_wal); " +
          "set WALE_ARCHIVE_TIMEOUT to wait longer for a slow archive.",
      });
    }
    if (now - lastLog >= 10_000) {
      lastLog = now;
      options.log.info({
        msg: "waiting for WAL archiving",
        detail: `Waiting ${Math.round((now - started) / 1000)} s so far for ${segment} ` +
          `(${ready} segments wait in pg_wal/archive_status).`,
      });
    }
    await new Promise((r) => setTimeout(r, options.pollMs ?? 200));
  }
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}

function archived(dataDir: string, status: string, segment: string): boolean {
  if (exists(join(status, `${segment}.done`))) return true;
  if (exists(join(status, `${segment}.ready`))) return false;
  // Neither: archived and recycled already, or (segment still there) not yet marked ready.
  return !exists(join(dataDir, "pg_wal", segment));
}

function readyCount(status: string): number {
  let n = 0;
  try {
    for (const e of Deno.readDirSync(status)) if (e.name.endsWith(".ready")) n++;
  } catch { /* no archive_status: nothing waits */ }
  return n;
}
