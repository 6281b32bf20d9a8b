/**
 * The restore drill's checks on the promoted scratch cluster, over its private socket: it is
 * out of recovery, every database that allows connections answers a catalog query, and, when
 * the `amcheck` extension is installed on this host, every btree index passes
 * `bt_index_check` (the extension is created in the scratch copy only).
 */
import { describe, UserError } from "../../errors.ts";
import type { Logger } from "../../log.ts";
import { type ConnectionSettings, openClient } from "../../pg/backup_api.ts";

/** What the checks found. */
export interface SanityReport {
  /** `pg_last_xact_replay_timestamp()` in ISO 8601 UTC; null when no transaction was replayed. */
  lastReplayed: string | null;
  /** `pg_current_wal_lsn()` after promotion. */
  walLsn: string;
  /** Databases checked, with their `pg_class` row counts. */
  databases: { name: string; relations: number }[];
  /** Btree indexes verified, or undefined when amcheck is not installed on this host. */
  indexesChecked: number | undefined;
}

type Sql = ReturnType<typeof openClient>;

/** Where the scratch server listens. */
export interface Socket {
  dir: string;
  port: number;
}

const ISO_UTC = `'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'`;

/**
 * Runs the checks. The restored cluster's roles are unknown beforehand: the first of PGUSER,
 * `postgres` and the OS user that exists is used to find the bootstrap superuser, which runs
 * the checks. Throws a UserError naming what failed.
 */
export async function runSanityChecks(
  socket: Socket,
  env: Readonly<Record<string, string>>,
  log: Logger,
  signal?: AbortSignal,
): Promise<SanityReport> {
  const first = await connectAny(socket, env);
  let superuser: string;
  let state: { lastReplayed: string | null; walLsn: string; inRecovery: boolean };
  let dbs: string[];
  let amcheck: boolean;
  try {
    const su = await first.sql.unsafe("SELECT rolname FROM pg_roles WHERE oid = 10");
    superuser = String(su[0]?.["rolname"] ?? first.user);
    const rows = await first.sql.unsafe(
      `SELECT pg_is_in_recovery() AS r, pg_current_wal_lsn()::text AS lsn, ` +
        `to_char(pg_last_xact_replay_timestamp() AT TIME ZONE 'UTC', ${ISO_UTC}) AS t`,
    );
    const replayed: unknown = rows[0]?.["t"];
    state = {
      inRecovery: rows[0]?.["r"] === true,
      walLsn: String(rows[0]?.["lsn"] ?? ""),
      lastReplayed: replayed === null || replayed === undefined ? null : String(replayed),
    };
    const d = await first.sql.unsafe(
      "SELECT datname FROM pg_database WHERE datallowconn ORDER BY datname",
    );
    dbs = d.map((r) => String(r["datname"]));
    const a = await first.sql.unsafe(
      "SELECT count(*)::int AS n FROM pg_available_extensions WHERE name = 'amcheck'",
    );
    amcheck = Number(a[0]?.["n"]) > 0;
  } finally {
    await first.sql.end({ timeout: 5 });
  }
  if (state.inRecovery) {
    throw new UserError("restore drill failed: the restored cluster is still in recovery", {
      detail: "pg_is_in_recovery() is true after the server reported it was ready.",
    });
  }
  const databases: SanityReport["databases"] = [];
  let indexes = 0;
  const broken: string[] = [];
  for (const db of dbs) {
    const sql = client(socket, superuser, db);
    try {
      const n = await sql.unsafe("SELECT count(*)::int AS n FROM pg_class");
      databases.push({ name: db, relations: Number(n[0]?.["n"]) });
      if (amcheck) indexes += await checkIndexes(sql, db, broken, log, signal);
    } catch (err) {
      if (err instanceof UserError) throw err;
      throw new UserError("restore drill failed: a restored database does not answer", {
        detail: `Database "${db}": ${describe(err)}`,
        hint: "A real restore of this backup would have the same problem.",
        cause: err,
      });
    } finally {
      await sql.end({ timeout: 5 });
    }
  }
  if (broken.length > 0) {
    throw new UserError("restore drill failed: amcheck found corrupt indexes", {
      detail: broken.slice(0, 20).join("\n") +
        (broken.length > 20 ? `\n… and ${broken.length - 20} more` : ""),
      hint: "REINDEX them on the primary and take a new base backup; find out why they broke.",
    });
  }
  if (!amcheck) {
    log.info({
      msg: "amcheck is not installed here: indexes were not verified",
      hint: "Install the PostgreSQL contrib package (Debian: postgresql-contrib) to verify them.",
    });
  }
  return {
    lastReplayed: state.lastReplayed,
    walLsn: state.walLsn,
    databases,
    indexesChecked: amcheck ? indexes : undefined,
  };
}

/**
 * Creates amcheck in `db` (scratch copy only) and runs `bt_index_check` on each valid btree
 * index; failures are appended to `broken`. Returns how many indexes were checked.
 */
async function checkIndexes(
  sql: Sql,
  db: string,
  broken: string[],
  log: Logger,
  signal: AbortSignal | undefined,
): Promise<number> {
  try {
    await sql.unsafe("CREATE EXTENSION IF NOT EXISTS amcheck");
  } catch (err) {
    log.warning({
      msg: "could not create amcheck: indexes not verified in this database",
      detail: `Database "${db}": ${describe(err)}`,
    });
    return 0;
  }
  const rows = await sql.unsafe(
    "SELECT c.oid::text AS oid, c.oid::regclass::text AS name FROM pg_index i " +
      "JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am am ON am.oid = c.relam " +
      "WHERE am.amname = 'btree' AND c.relpersistence <> 't' AND i.indisvalid AND i.indisready " +
      "ORDER BY c.oid",
  );
  let checked = 0;
  for (const r of rows) {
    const oid = String(r["oid"]);
    if (!/^\d+$/.test(oid)) continue;
    if (signal?.aborted === true) {
      throw new UserError("restore drill interrupted", {
        detail: `While checking the indexes of database "${db}".`,
      });
    }
    try {
      await sql.unsafe(`SELECT bt_index_check(${oid}::oid::regclass)`);
      checked++;
    } catch (err) {
      broken.push(`${db}: index ${String(r["name"])}: ${describe(err)}`);
    }
  }
  return checked;
}

function client(socket: Socket, user: string, database: string): Sql {
  const settings: ConnectionSettings = {
    host: socket.dir,
    port: socket.port,
    user,
    database,
    password: undefined,
    socketPath: `${socket.dir}/.s.PGSQL.${socket.port}`,
  };
  return openClient(settings, {
    application: "wal-e restore drill",
    connectTimeout: 10,
    onNotice: () => {},
  });
}

/** Tries the candidate roles on `postgres` and `template1`; the first connection that works. */
async function connectAny(
  socket: Socket,
  env: Readonly<Record<string, string>>,
): Promise<{ sql: Sql; user: string }> {
  const users = [...new Set([env["PGUSER"], "postgres", env["USER"], env["LOGNAME"]])]
    .filter((u): u is string => u !== undefined && u !== "");
  const errors: string[] = [];
  // Right after promotion the server may still refuse for a moment: a few rounds.
  for (let round = 0; round < 5; round++) {
    for (const user of users) {
      for (const db of ["postgres", "template1"]) {
        const sql = client(socket, user, db);
        try {
          await sql.unsafe("SELECT 1");
          return { sql, user };
        } catch (err) {
          errors.push(`${user}@${db}: ${describe(err)}`);
          await sql.end({ timeout: 1 }).catch(() => {});
        }
      }
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
  throw new UserError("restore drill failed: cannot connect to the restored cluster", {
    detail: errors.slice(-users.length * 2).join("\n"),
    hint: "Set PGUSER to a role of the backed-up cluster (its bootstrap superuser).",
  });
}
