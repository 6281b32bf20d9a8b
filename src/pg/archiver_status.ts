/**
 * How a running cluster archives: archive_mode, archive_command (and PostgreSQL 15's
 * archive_library, which replaces it when set) and pg_stat_archiver's counters, read over one
 * short connection made from libpq's environment as backup-push connects (backup_api.ts).
 */
import { connectionSettings, openClient } from "./backup_api.ts";

/** The archiver's settings and counters. */
export interface ArchiverStatus {
  /** Where we connected, for messages: a socket path or `host:port`, and the user. */
  server: string;
  serverVersion: string;
  inRecovery: boolean;
  archiveMode: string;
  archiveCommand: string;
  /** Empty when unset or before PostgreSQL 15. */
  archiveLibrary: string;
  archivedCount: number;
  failedCount: number;
  lastArchivedWal: string | null;
  /** ISO 8601 with the server's UTC offset, or null. */
  lastArchivedTime: string | null;
  lastFailedWal: string | null;
  lastFailedTime: string | null;
  /** The last failure is newer than the last success (or nothing ever succeeded). */
  failingNow: boolean;
}

/** Thrown when no connection could be made; carries where we tried. */
export class ConnectFailed extends Error {
  readonly server: string;
  constructor(server: string, cause: unknown) {
    super(cause instanceof Error ? cause.message : String(cause), { cause });
    this.server = server;
  }
}

const QUERY = `SELECT version() AS version, pg_is_in_recovery() AS in_recovery,
  current_setting('archive_mode') AS archive_mode,
  current_setting('archive_command') AS archive_command,
  coalesce(current_setting('archive_library', true), '') AS archive_library,
  archived_count::int8::text AS archived_count, failed_count::int8::text AS failed_count,
  last_archived_wal, to_json(last_archived_time) #>> '{}' AS last_archived_time,
  last_failed_wal, to_json(last_failed_time) #>> '{}' AS last_failed_time,
  (failed_count > 0 AND (last_archived_time IS NULL OR last_failed_time > last_archived_time))
    AS failing_now
  FROM pg_stat_archiver`;

/** Connects, reads the status and disconnects. */
export async function readArchiverStatus(
  env: Readonly<Record<string, string>>,
): Promise<ArchiverStatus> {
  const s = await connectionSettings(env);
  const server = `${s.socketPath ?? `${s.host}:${s.port}`} as "${s.user}"`;
  const sql = openClient(s, { application: "wal-e check", connectTimeout: 10, onNotice: () => {} });
  try {
    let rows;
    try {
      rows = await sql.unsafe(QUERY);
    } catch (err) {
      throw new ConnectFailed(server, err);
    }
    const r: Record<string, unknown> = rows[0] ?? {};
    const text = (
      k: string,
    ): string | null => (r[k] === null || r[k] === undefined ? null : String(r[k]));
    return {
      server,
      serverVersion: text("version") ?? "",
      inRecovery: r["in_recovery"] === true,
      archiveMode: text("archive_mode") ?? "",
      archiveCommand: text("archive_command") ?? "",
      archiveLibrary: text("archive_library") ?? "",
      archivedCount: Number(text("archived_count") ?? 0),
      failedCount: Number(text("failed_count") ?? 0),
      lastArchivedWal: text("last_archived_wal"),
      lastArchivedTime: text("last_archived_time"),
      lastFailedWal: text("last_failed_wal"),
      lastFailedTime: text("last_failed_time"),
      failingNow: r["failing_now"] === true,
    };
  } finally {
    await sql.end({ timeout: 1 }).catch(() => {});
  }
}
