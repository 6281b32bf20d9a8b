/**
 * The restore drill's throw-away cluster configuration: which PostgreSQL binaries to use, the
 * `restore_command` that runs this program's own wal-fetch, and a private `postgresql.conf`
 * (Unix socket in the scratch directory only, archiving off) written over the restored data
 * directory, which a base backup leaves without configuration files (README "Restoring").
 */
import { join } from "node:path";
import { UsageError, UserError } from "../../errors.ts";
import { parseControlData } from "../../pg/control_data.ts";

/** The server binaries the drill runs. */
export interface PgBinaries {
  dir: string;
  postgres: string;
  pgControldata: string;
}

/** Debian's layout: one directory of binaries per major version. */
export function defaultPgBin(major: string): string {
  return `/usr/lib/postgresql/${major}/bin`;
}

/**
 * The binaries in `dir`, each checked to be an executable file. `major`, when known, names
 * the package to install in the hint.
 */
export async function findBinaries(dir: string, major?: string): Promise<PgBinaries> {
  const bins = { dir, postgres: join(dir, "postgres"), pgControldata: join(dir, "pg_controldata") };
  const missing: string[] = [];
  for (const path of [bins.postgres, bins.pgControldata]) {
    const st = await Deno.stat(path).catch(() => undefined);
    if (st === undefined || !st.isFile || ((st.mode ?? 0o755) & 0o111) === 0) missing.push(path);
  }
  if (missing.length > 0) {
    throw new UserError("PostgreSQL server binaries not found for the restore drill", {
      detail: `Missing or not executable: ${missing.map((p) => `"${p}"`).join(", ")}.`,
      hint: `Install the PostgreSQL${major === undefined ? "" : ` ${major}`} server package, ` +
        "or pass --pg-bin naming the directory that holds postgres and pg_controldata.",
    });
  }
  return bins;
}

/**
 * The major version a data directory needs (`PG_VERSION`: "15", or "9.6" before 10). The
 * drill needs 12 or later: it starts recovery with `recovery.signal`.
 */
export async function dataDirMajor(dataDir: string): Promise<string> {
  const text = await Deno.readTextFile(join(dataDir, "PG_VERSION")).catch(() => undefined);
  const major = text?.trim();
  if (major === undefined || !/^\d+(\.\d+)?$/.test(major)) {
    throw new UserError("the restored base backup has no valid PG_VERSION", {
      detail: `The file "${join(dataDir, "PG_VERSION")}" is missing or unreadable.`,
    });
  }
  if (major.includes(".") || Number(major) < 12) {
    throw new UserError("the restore drill needs a backup of PostgreSQL 12 or later", {
      detail: `The backup is of PostgreSQL ${major}.`,
      hint: 'Restore older versions by hand with a recovery.conf (README "Restoring").',
    });
  }
  return major;
}

/** Checks that `postgres --version` is of `major`, so the server can read the directory. */
export async function checkServerVersion(bins: PgBinaries, major: string): Promise<void> {
  const out = await new Deno.Command(bins.postgres, {
    args: ["--version"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout).trim();
  const m = /\(PostgreSQL\) (\d+)/.exec(text);
  if (!out.success || m === null || m[1] !== major) {
    throw new UserError("the PostgreSQL binaries do not match the backup's version", {
      detail: `The backup is of PostgreSQL ${major}; "${bins.postgres} --version" says "${
        text || new TextDecoder().decode(out.stderr).trim()
      }".`,
      hint: `Pass --pg-bin naming PostgreSQL ${major}'s binaries (e.g. ${defaultPgBin(major)}).`,
    });
  }
}

/**
 * Settings the drill copies from the restored `pg_control` (run through `pg_controldata` with
 * `LC_ALL=C`): replaying a prepared transaction needs as many slots as the primary had.
 */
export async function controlSettings(
  bins: PgBinaries,
  dataDir: string,
): Promise<{ maxPreparedTransactions: number }> {
  const out = await new Deno.Command(bins.pgControldata, {
    args: [dataDir],
    env: { LC_ALL: "C" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) {
    throw new UserError("pg_controldata cannot read the restored data directory", {
      detail: new TextDecoder().decode(out.stderr).trim(),
      hint: "The base backup's global/pg_control is damaged or of another version.",
    });
  }
  const fields = parseControlData(new TextDecoder().decode(out.stdout));
  const prepared = Number(fields.get("max_prepared_xacts setting") ?? "0");
  return { maxPreparedTransactions: Number.isSafeInteger(prepared) ? prepared : 0 };
}

/**
 * A recovery target time in a form PostgreSQL parses the same everywhere: an explicit time
 * zone is required (the drill's server runs in UTC, which need not be what the operator meant
 * by a local time). Returns ISO 8601 with `T`, the fraction kept to the microsecond.
 */
export function normalizeTargetTime(text: string): string {
  const m =
    /^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?)\s*(Z|UTC|[+-]\d{2}(?::?\d{2})?)$/i
      .exec(text.trim());
  if (m !== null) {
    const zone = (m[3] ?? "").toUpperCase();
    const offset = zone === "Z" || zone === "UTC"
      ? "Z"
      : `${zone.slice(0, 3)}:${zone.slice(3).replace(":", "") || "00"}`;
    const iso = `${m[1]}T${m[2]}${offset}`;
    if (!Number.isNaN(Date.parse(iso.replace(/(\.\d{3})\d+/, "$1")))) return iso;
  }
  throw new UsageError("--target-time is not a time with a time zone", {
    detail: `The value is "${text}".`,
    hint: "Write it as YYYY-MM-DD HH:MM:SS[.ffffff] followed by Z, UTC or an offset such " +
      'as +00 or +01:00, e.g. "2026-11-26 12:00:00+00".',
  });
}

/** A word safe in `sh` without quotes. */
const SHELL_SAFE = /^[A-Za-z0-9_/.,:=+@%-]+$/;

/**
 * `restore_command` running this program's wal-fetch: `selfCommand` quoted for `sh`, with
 * `%` doubled so PostgreSQL replaces only our `%f` and `%p`.
 */
export function restoreCommand(selfCommand: readonly string[]): string {
  const quoted = selfCommand.map((a) => SHELL_SAFE.test(a) ? a : `'${a.replaceAll("'", `'\\''`)}'`);
  return `${quoted.join(" ").replaceAll("%", "%%")} wal-fetch "%f" "%p"`;
}

/** A `postgresql.conf` string literal. */
export function confString(value: string): string {
  return `'${value.replaceAll("\\", "\\\\").replaceAll("'", "''")}'`;
}

/** What the drill's `postgresql.conf` depends on. */
export interface DrillConfig {
  socketDir: string;
  port: number;
  restoreCommand: string;
  /** Normalized (normalizeTargetTime); undefined replays to the end of the archive. */
  targetTime: string | undefined;
  major: number;
  maxPreparedTransactions: number;
}

/**
 * The drill's `postgresql.conf`. No TCP listener and a socket only its owner may use; no
 * archiving of any kind (a promoted drill copy must never write its new timeline into the
 * live store); no replication connections; recovery to the target (or the end of the
 * archive) then promotion. `hot_standby` is off: a hot standby refuses to replay WAL written
 * with larger max_connections/max_worker_processes/... than its own, and the drill has
 * nothing to read before promotion (progress comes from the server log instead).
 */
export function drillConf(c: DrillConfig): string {
  const lines = [
    "# Written by wal-e's restore drill: a private, throw-away cluster.",
    "listen_addresses = ''",
    `port = ${c.port}`,
    `unix_socket_directories = ${confString(c.socketDir)}`,
    "unix_socket_permissions = 0700",
    "archive_mode = off",
    "archive_command = ''",
    ...(c.major >= 15 ? ["archive_library = ''"] : []),
    `restore_command = ${confString(c.restoreCommand)}`,
    ...(c.targetTime === undefined ? [] : [`recovery_target_time = ${confString(c.targetTime)}`]),
    "recovery_target_action = 'promote'",
    "recovery_target_timeline = 'latest'",
    "primary_conninfo = ''",
    "primary_slot_name = ''",
    "hot_standby = off",
    // Drill data is discarded: nothing needs to reach the disk.
    "fsync = off",
    "synchronous_commit = off",
    "shared_buffers = 32MB",
    "max_connections = 10",
    `max_prepared_transactions = ${c.maxPreparedTransactions}`,
    "shared_preload_libraries = ''",
    "session_preload_libraries = ''",
    "local_preload_libraries = ''",
    "ssl = off",
    "logging_collector = off",
    "log_destination = 'stderr'",
    // The drill reads the log: English messages, no prefix.
    "log_line_prefix = ''",
    "lc_messages = 'C'",
    "timezone = 'UTC'",
    "log_timezone = 'UTC'",
    // A blind restore leaves tablespaces as directories under pg_tblspc (15+ refuses them).
    ...(c.major >= 15 ? ["allow_in_place_tablespaces = on"] : []),
  ];
  return lines.join("\n") + "\n";
}

/**
 * Prepares a restored data directory for the drill: writes `postgresql.conf`, `pg_hba.conf`
 * (trust on the private socket only) and an empty `pg_ident.conf`, moves the backup's
 * `postgresql.auto.conf` aside (its ALTER SYSTEM settings, archive_command or
 * primary_conninfo included, would override ours), drops a copied `standby.signal` (a standby
 * never promotes) and creates `recovery.signal`.
 */
export async function prepareDataDir(dataDir: string, conf: string): Promise<void> {
  const auto = join(dataDir, "postgresql.auto.conf");
  if (await Deno.stat(auto).then(() => true, () => false)) {
    await Deno.rename(auto, join(dataDir, "postgresql.auto.conf.from-backup"));
  }
  for (const name of ["standby.signal", "postmaster.pid", "postmaster.opts"]) {
    await Deno.remove(join(dataDir, name)).catch(() => {});
  }
  await Deno.writeTextFile(join(dataDir, "postgresql.conf"), conf, { mode: 0o600 });
  await Deno.writeTextFile(join(dataDir, "pg_hba.conf"), "local all all trust\n", { mode: 0o600 });
  await Deno.writeTextFile(join(dataDir, "pg_ident.conf"), "", { mode: 0o600 });
  await Deno.writeTextFile(join(dataDir, "recovery.signal"), "", { mode: 0o600 });
}
