/**
 * backup-push, start phase: where the backup begins and what it is called (WAL-E-COMPAT §3.4,
 * §5.1 step 2, §5.4).
 */
import { exists } from "../../fs_exists.ts";
import { join } from "node:path";
import { backupName } from "../../archive/keys.ts";
import { UserError } from "../../errors.ts";
import type { Logger } from "../../log.ts";
import { BackupSession } from "../../pg/backup_api.ts";
import { readControlData, readPgConfig, readSystemIdentifier } from "../../pg/control_data.ts";
import { walFileNameOffset } from "../../pg/wal_name.ts";

/** Where a backup starts and what it is named. */
export interface StartedBackup {
  name: string;
  /** Start position (online: the start call's LSN; offline: the checkpoint's REDO). */
  startLsn: bigint;
  timeline: number;
  segmentSize: number;
  /** Text for extended_version.txt. */
  version: string;
  /** The open session of an online backup; undefined offline. */
  session: BackupSession | undefined;
}

/** WAL-E's label: `freeze_start_` + UTC ISO 8601 with microseconds and `+00:00` (§3.4). */
export function backupLabel(now: Date): string {
  const iso = now.toISOString();
  return `freeze_start_${iso.slice(0, 23)}000+00:00`;
}

/** The name rule of §3.4 for a start position: `pg_walfile_name_offset` semantics. */
export function nameFor(lsn: bigint, timeline: number, segmentSize: number): string {
  const { fileName, offset } = walFileNameOffset(lsn, timeline, segmentSize);
  return backupName(fileName, offset);
}

/**
 * Starts a non-exclusive online backup on one connection. The session stays open (and the
 * backup running) until the caller stops it; on failure here it is closed.
 */
export async function startOnline(
  dataDir: string,
  env: Readonly<Record<string, string>>,
  log: Logger,
  options: { fast: boolean; now?: Date },
): Promise<StartedBackup> {
  const session = await BackupSession.open(env, log);
  try {
    await checkSameCluster(dataDir, session, env);
    const version = await session.version();
    const s = await withCheckpointLog(
      session.start(backupLabel(options.now ?? new Date()), options.fast),
      options.fast,
      log,
    );
    return {
      name: nameFor(s.lsn, s.timeline, s.segmentSize),
      startLsn: s.lsn,
      timeline: s.timeline,
      segmentSize: s.segmentSize,
      version,
      session,
    };
  } catch (err) {
    await session.close().catch(() => {});
    throw err;
  }
}

/**
 * Logs the wait for the checkpoint a backup starts with, and every 30 s while it lasts: a
 * spread checkpoint can take minutes, during which backup-push used to print nothing.
 */
async function withCheckpointLog<T>(start: Promise<T>, fast: boolean, log: Logger): Promise<T> {
  const t0 = performance.now();
  log.info({
    msg: fast ? "requesting an immediate checkpoint" : "waiting for a spread checkpoint",
    detail: fast ? undefined : "PostgreSQL spreads the checkpoint that starts a backup over " +
      "checkpoint_completion_target of checkpoint_timeout: this can take minutes.",
    hint: fast ? undefined : "--fast-checkpoint asks for an immediate checkpoint instead.",
  });
  const timer = setInterval(() => {
    log.info({
      msg: "still waiting for the checkpoint",
      detail: `${Math.round((performance.now() - t0) / 1000)} s so far.`,
      hint: fast ? undefined : "--fast-checkpoint asks for an immediate checkpoint instead.",
    });
  }, 30_000);
  try {
    return await start;
  } finally {
    clearInterval(timer);
  }
}

/**
 * Refuses to start when the server reached through PG* is not the cluster whose files would be
 * archived (several clusters on one host, WAL-E #326/#340): its label would describe another
 * cluster's WAL and the backup could never be restored. Compared by system identifier (the
 * data directory's `global/pg_control` against `pg_control_system()`), so paths seen
 * differently by the server (containers, bind mounts) do not matter. Skipped when either side
 * cannot be read.
 */
async function checkSameCluster(
  dataDir: string,
  session: BackupSession,
  env: Readonly<Record<string, string>>,
): Promise<void> {
  const local = await readSystemIdentifier(dataDir);
  const server = await session.systemIdentifier();
  if (local === undefined || server === undefined || local === server) return;
  const where = `${env["PGHOST"] || "the default host"}, port ${env["PGPORT"] || "5432"}`;
  throw new UserError("the server is not the cluster in the data directory", {
    detail: `"${dataDir}" has system identifier ${local}; the server at ${where} has ${server}.`,
    hint: "Point PGHOST/PGPORT at the server running this data directory.",
  });
}

/**
 * The start of an offline backup from `pg_config` and `pg_controldata` (§5.4).
 *
 * Deviation from WAL-E (§5.4, §14.2 item 3, §16): WAL-E took the first two hex digits of the
 * REDO location's low word as the "segment" and reused it as the offset, with a decimal
 * timeline. We name the backup exactly as an online backup starting at the checkpoint's REDO
 * location would be named: segment `REDO / wal_segment_size`, timeline in hex, decimal byte
 * offset in the segment; the sentinel's stop fields equal the start ones.
 */
export async function startOffline(
  dataDir: string,
  env: Readonly<Record<string, string>>,
): Promise<StartedBackup> {
  if (await exists(join(dataDir, "postmaster.pid"))) {
    throw new UserError("while_offline set, but pg looks to be running", {
      detail: "Found a postmaster.pid lockfile, and aborting",
      hint: "Shut down postgres.  If there is a stale lockfile, then remove it after being " +
        "very sure postgres is not running.",
    });
  }
  const { version, bindir } = await readPgConfig(env);
  const cp = await readControlData(bindir, dataDir, env);
  return {
    name: nameFor(cp.redoLsn, cp.timeline, cp.segmentSize),
    startLsn: cp.redoLsn,
    timeline: cp.timeline,
    segmentSize: cp.segmentSize,
    version,
    session: undefined,
  };
}
