/**
 * The online backup protocol on ONE reserved server connection (WAL-E-COMPAT §5.2): the
 * non-exclusive API, `pg_backup_start/stop` on PostgreSQL 15+ and
 * `pg_start_backup(label, fast, false)`/`pg_stop_backup(false[, true])` on 9.6–14. WAL-E ran
 * every statement in its own psql process and so could only use the exclusive API, which
 * PostgreSQL 15 removed (wal-e #433).
 *
 * Connection settings follow libpq's environment (§5.3): PGHOST (a directory means a Unix
 * socket; default `/var/run/postgresql` when it exists, else localhost), PGPORT (5432),
 * PGUSER (the OS user), PGDATABASE (`postgres`, as WAL-E), PGPASSWORD, else a matching line of
 * PGPASSFILE or `~/.pgpass`. They are passed to `npm:postgres` explicitly (it would read
 * `process.env` itself, but commands receive their environment as a parameter). These are the
 * only variables read outside src/cli: the environment is handed to the PostgreSQL client as
 * an env map, as libpq takes it; they are declared in the configuration table
 * (src/cli/options.ts, scope "postgres") like every other.
 */
import postgres from "postgres";
import { UserError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { parseLsn } from "./wal_name.ts";

/** Where the backup started, as the server reported it. */
export interface BackupStart {
  lsn: bigint;
  /** Timeline of the checkpoint the start call made (`pg_control_checkpoint()`). */
  timeline: number;
  /** `wal_segment_size` in bytes. */
  segmentSize: number;
}

/** What the stop call returned. */
export interface BackupStop {
  lsn: bigint;
  /** Contents for the `backup_label` member. */
  labelFile: string;
  /** Contents for the `tablespace_map` member; empty when there are no tablespaces. */
  spcmapFile: string;
}

/** The fields of a backup label we cross-check the backup name against. */
export interface LabelStart {
  lsn: bigint;
  /** The WAL file named in `START WAL LOCATION: X/Y (file NAME)`. */
  fileName: string;
  timeline: number | undefined;
}

/** Connection settings resolved from a libpq-style environment. */
export interface ConnectionSettings {
  host: string;
  port: number;
  user: string;
  database: string;
  password: string | undefined;
  /** Unix socket path when `host` is a directory. */
  socketPath: string | undefined;
}

/** Resolves libpq's environment variables (and the password file) to connection settings. */
export async function connectionSettings(
  env: Readonly<Record<string, string>>,
): Promise<ConnectionSettings> {
  let host = env["PGHOST"] || "";
  if (host === "") {
    host = (await isDir("/var/run/postgresql")) ? "/var/run/postgresql" : "localhost";
  }
  const port = Number(env["PGPORT"] || "5432");
  const user = env["PGUSER"] || env["USER"] || env["LOGNAME"] || "postgres";
  const database = env["PGDATABASE"] || "postgres";
  const socketPath = host.startsWith("/") ? `${host}/.s.PGSQL.${port}` : undefined;
  let password: string | undefined = env["PGPASSWORD"] || undefined;
  if (password === undefined) {
    const file = env["PGPASSFILE"] || (env["HOME"] ? `${env["HOME"]}/.pgpass` : "");
    if (file !== "") {
      // libpq matches "localhost" for socket connections.
      const matchHost = socketPath === undefined ? host : "localhost";
      password = await passwordFromFile(file, [matchHost, String(port), database, user]);
    }
  }
  return { host, port, user, database, password, socketPath };
}

async function isDir(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isDirectory;
  } catch {
    return false;
  }
}

/**
 * The password of the first `host:port:database:user:password` line of a pgpass file that
 * matches `want` (`*` matches anything; `\:` and `\\` are escapes); undefined when none.
 */
export async function passwordFromFile(
  file: string,
  want: readonly string[],
): Promise<string | undefined> {
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch {
    return undefined;
  }
  for (const line of text.split("\n")) {
    if (line.startsWith("#") || line.trim() === "") continue;
    const fields: string[] = [];
    let cur = "";
    for (let i = 0; i < line.length; i++) {
      const c = line[i];
      if (c === "\\" && i + 1 < line.length) cur += line[++i];
      else if (c === ":" && fields.length < 4) {
        fields.push(cur);
        cur = "";
      } else cur += c;
    }
    fields.push(cur.replace(/\r$/, ""));
    if (fields.length !== 5) continue;
    if (want.every((w, i) => fields[i] === "*" || fields[i] === w)) return fields[4];
  }
  return undefined;
}

/** Parses `START WAL LOCATION` and `START TIMELINE` out of a backup label. */
export function parseBackupLabel(text: string): LabelStart | undefined {
  const m = /^START WAL LOCATION: ([0-9A-Fa-f]+\/[0-9A-Fa-f]+) \(file ([0-9A-F]{24})\)$/m.exec(
    text,
  );
  if (m === null) return undefined;
  const t = /^START TIMELINE: (\d+)$/m.exec(text);
  return {
    lsn: parseLsn(m[1] ?? ""),
    fileName: m[2] ?? "",
    timeline: t === null ? undefined : Number(t[1]),
  };
}

type Sql = ReturnType<typeof postgres>;

/**
 * A postgres.js client for one connection to the cluster `s` names, as every command of ours
 * opens it: no prepared statements or type fetching (one short session), no idle timeout.
 */
export function openClient(
  s: ConnectionSettings,
  o: { application: string; connectTimeout: number; onNotice: (message: string) => void },
): Sql {
  return postgres({
    host: s.host,
    port: s.port,
    ...(s.socketPath === undefined ? {} : { path: s.socketPath }),
    user: s.user,
    database: s.database,
    ...(s.password === undefined ? {} : { password: s.password }),
    max: 1,
    idle_timeout: 0,
    connect_timeout: o.connectTimeout,
    prepare: false,
    fetch_types: false,
    connection: { application_name: o.application },
    onnotice: (n) => o.onNotice(String(n["message"] ?? "")),
  });
}
type Reserved = Awaited<ReturnType<Sql["reserve"]>>;

/** One server session holding a non-exclusive backup open between `start` and `stop`. */
export class BackupSession {
  readonly #sql: Sql;
  readonly #conn: Reserved;
  /** `server_version_num`, e.g. 150004. */
  readonly versionNum: number;

  private constructor(sql: Sql, conn: Reserved, versionNum: number) {
    this.#sql = sql;
    this.#conn = conn;
    this.versionNum = versionNum;
  }

  /** Connects (one connection, statement_timeout 0) and reads the server version. */
  static async open(
    env: Readonly<Record<string, string>>,
    log: Logger,
  ): Promise<BackupSession> {
    const s = await connectionSettings(env);
    const sql = openClient(s, {
      application: "wal-e backup-push",
      connectTimeout: 30,
      onNotice: (message) => log.debug({ msg: "server notice", detail: message }),
    });
    try {
      // postgres.js 3.4 never opens a connection for a reserve() that comes first: connect
      // with a query, then reserve that (only) connection.
      await sql.unsafe("SELECT 1");
      const conn = await sql.reserve();
      await conn.unsafe("SET statement_timeout = 0");
      const rows = await conn.unsafe("SELECT current_setting('server_version_num') AS v");
      const versionNum = Number(rows[0]?.["v"]);
      if (!(versionNum >= 90600)) {
        conn.release();
        throw new UserError("PostgreSQL 9.6 or later is required for backup-push", {
          detail: `The server reports server_version_num ${versionNum}.`,
        });
      }
      return new BackupSession(sql, conn, versionNum);
    } catch (err) {
      await sql.end({ timeout: 1 }).catch(() => {});
      if (err instanceof UserError) throw err;
      throw new UserError("could not connect to PostgreSQL", {
        detail: `${s.socketPath ?? `${s.host}:${s.port}`} as "${s.user}": ${
          err instanceof Error ? err.message : String(err)
        }`,
        hint: "Set PGHOST, PGPORT, PGUSER (and PGPASSWORD or ~/.pgpass) for the cluster.",
        cause: err,
      });
    }
  }

  /**
   * The server's system identifier (`pg_control_system()`, PostgreSQL 9.6+); undefined when
   * the role may not call it.
   */
  async systemIdentifier(): Promise<bigint | undefined> {
    try {
      const rows = await this.#conn.unsafe(
        "SELECT system_identifier::text AS id FROM pg_control_system()",
      );
      const id = String(rows[0]?.["id"] ?? "");
      return /^\d+$/.test(id) ? BigInt(id) : undefined;
    } catch {
      return undefined;
    }
  }

  /** `SELECT version()`, for extended_version.txt. */
  async version(): Promise<string> {
    const rows = await this.#conn.unsafe("SELECT version() AS v");
    return String(rows[0]?.["v"] ?? "");
  }

  /** Starts a non-exclusive backup; `fast` asks for an immediate checkpoint. */
  async start(label: string, fast: boolean): Promise<BackupStart> {
    const call = this.versionNum >= 150000
      ? "pg_backup_start($1, $2)"
      : "pg_start_backup($1, $2, false)";
    const rows = await this.#conn.unsafe(`SELECT ${call}::text AS lsn`, [label, fast]);
    const meta = await this.#conn.unsafe(
      "SELECT (SELECT timeline_id FROM pg_control_checkpoint()) AS tli, " +
        "(SELECT setting::bigint * CASE unit WHEN '8kB' THEN 8192 WHEN 'kB' THEN 1024 " +
        "WHEN 'MB' THEN 1048576 ELSE 1 END FROM pg_settings WHERE name = 'wal_segment_size') " +
        "AS segsize",
    );
    return {
      lsn: parseLsn(String(rows[0]?.["lsn"])),
      timeline: Number(meta[0]?.["tli"]),
      segmentSize: Number(meta[0]?.["segsize"]),
    };
  }

  /**
   * Stops the backup. `waitForArchive` (default true) waits until the WAL the backup needs is
   * archived, where the server supports the choice (10+); a backup that already failed does
   * not need its WAL and must not hang on an archive that may be failing too.
   */
  async stop(waitForArchive = true): Promise<BackupStop> {
    const wait = waitForArchive ? "true" : "false";
    const call = this.versionNum >= 150000
      ? `pg_backup_stop(${wait})`
      : this.versionNum >= 100000
      ? `pg_stop_backup(false, ${wait})`
      : "pg_stop_backup(false)";
    const rows = await this.#conn.unsafe(
      `SELECT lsn::text AS lsn, labelfile, spcmapfile FROM ${call}`,
    );
    const r = rows[0];
    return {
      lsn: parseLsn(String(r?.["lsn"])),
      labelFile: String(r?.["labelfile"] ?? ""),
      spcmapFile: String(r?.["spcmapfile"] ?? ""),
    };
  }

  /**
   * Whether the server archives the WAL a backup taken here needs, i.e. whether
   * `pg_backup_stop(true)` would wait: archive_mode `always`, or `on` outside recovery.
   */
  async archivingActive(): Promise<boolean> {
    const rows = await this.#conn.unsafe(
      "SELECT current_setting('archive_mode') AS mode, pg_is_in_recovery() AS standby",
    );
    const mode = String(rows[0]?.["mode"]);
    return mode === "always" || (mode === "on" && rows[0]?.["standby"] !== true);
  }

  /** Releases the connection; a backup still open is aborted by the server. */
  async close(): Promise<void> {
    this.#conn.release();
    await this.#sql.end({ timeout: 5 });
  }
}
