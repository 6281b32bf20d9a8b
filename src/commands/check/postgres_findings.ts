/**
 * check's PostgreSQL part: does the cluster archive through us, and is archiving working.
 * A connection that cannot be made is a finding, never a crash.
 */
import {
  type ArchiverStatus,
  ConnectFailed,
  readArchiverStatus,
} from "../../pg/archiver_status.ts";
import { errorText, type Finding } from "./finding.ts";

function pg(status: Finding["status"], text: string): Finding {
  return { status, area: "postgres", text };
}

/** Findings about the cluster libpq's environment points at. */
export async function postgresFindings(env: Readonly<Record<string, string>>): Promise<Finding[]> {
  let s: ArchiverStatus;
  try {
    s = await readArchiverStatus(env);
  } catch (err) {
    const where = err instanceof ConnectFailed ? `${err.server}: ` : "";
    return [
      pg(
        "FAIL",
        `connect: ${where}${errorText(err)} (set PGHOST, PGPORT, PGUSER and PGPASSWORD or ` +
          "~/.pgpass as for backup-push, or pass --no-postgres to check only the store)",
      ),
    ];
  }
  return [pg("OK", `connect: ${s.server}: ${s.serverVersion}`), ...judge(s)];
}

/** The verdicts on one status reading. */
export function judge(s: ArchiverStatus): Finding[] {
  const out: Finding[] = [];
  if (s.archiveMode === "off") {
    out.push(pg("FAIL", "archive_mode: off (set archive_mode = on and restart PostgreSQL)"));
  } else if (s.inRecovery && s.archiveMode !== "always") {
    out.push(
      pg("WARN", `archive_mode: ${s.archiveMode}, but a standby archives only with "always"`),
    );
  } else {
    out.push(pg("OK", `archive_mode: ${s.archiveMode}`));
  }
  if (s.archiveLibrary !== "") {
    out.push(
      pg("FAIL", `archive_library: "${s.archiveLibrary}" is set, so archive_command is not used`),
    );
  }
  const cmd = s.archiveCommand;
  if (!cmd.includes("wal-push")) {
    out.push(pg("FAIL", `archive_command: "${cmd}" does not run wal-e wal-push`));
  } else if (!cmd.includes("%p")) {
    out.push(
      pg("FAIL", `archive_command: "${cmd}" does not pass the file's path (%p) to wal-push`),
    );
  } else {
    out.push(pg("OK", `archive_command: "${cmd}"`));
  }
  const counts = `${s.archivedCount} archived, ${s.failedCount} failed`;
  if (s.failingNow) {
    out.push(pg(
      "FAIL",
      `archiver: the last attempt failed (${s.lastFailedWal} at ${s.lastFailedTime}` +
        (s.lastArchivedTime === null
          ? ", nothing archived since the statistics reset"
          : `, last success ${s.lastArchivedWal} at ${s.lastArchivedTime}`) +
        `; ${counts}): see the PostgreSQL log for wal-push's error`,
    ));
  } else if (s.archivedCount === 0) {
    out.push(
      pg("WARN", `archiver: nothing archived yet (${counts}); SELECT pg_switch_wal() to test`),
    );
  } else {
    const earlier = s.failedCount > 0
      ? `; the last failure (${s.lastFailedTime}) was before it`
      : "";
    out.push(
      pg(
        "OK",
        `archiver: last archived ${s.lastArchivedWal} at ${s.lastArchivedTime} (${counts})${earlier}`,
      ),
    );
  }
  return out;
}
