/**
 * Test harness: real PostgreSQL 15 clusters under a temp directory, on free 127.0.0.1 ports,
 * run as the `postgres` OS user when the tests run as root (initdb refuses root), stopped by
 * `pg_ctl` (which signals the postmaster's PID).
 */
import { join } from "node:path";

export const PG_BIN = "/usr/lib/postgresql/15/bin";

/** Whether we must drop to the postgres user to run server binaries. */
export const AS_ROOT = Deno.uid() === 0;

/** A free TCP port on 127.0.0.1. */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** Result of a finished command. */
export interface Output {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command (as postgres when root); `check` throws on non-zero exit. */
export async function sh(
  cmd: string[],
  opts: { env?: Record<string, string>; check?: boolean; cwd?: string; asPostgres?: boolean } = {},
): Promise<Output> {
  const drop = AS_ROOT && (opts.asPostgres ?? true);
  const argv = drop ? ["runuser", "-u", "postgres", "--", ...cmd] : cmd;
  const [program, ...args] = argv;
  if (program === undefined) throw new TypeError("empty command");
  const out = await new Deno.Command(program, {
    args,
    env: opts.env ?? {},
    cwd: opts.cwd ?? "/",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const res = {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
  };
  if ((opts.check ?? true) && res.code !== 0) {
    throw new Error(`${cmd.join(" ")} exited ${res.code}\n${res.stdout}\n${res.stderr}`);
  }
  return res;
}

/** Makes `path` owned by the postgres user (when root) so the server can use it. */
export async function giveToPostgres(path: string): Promise<void> {
  if (AS_ROOT) await sh(["chown", "-R", "postgres:postgres", path], { asPostgres: false });
}

/** A temp directory every user can traverse (the server runs as another user). */
export async function makeSharedTempDir(prefix: string): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix });
  await Deno.chmod(dir, 0o755);
  return dir;
}

/** One PostgreSQL cluster. */
export class PgCluster {
  readonly dataDir: string;
  readonly port: number;
  readonly socketDir: string;

  private constructor(dataDir: string, port: number, socketDir: string) {
    this.dataDir = dataDir;
    this.port = port;
    this.socketDir = socketDir;
  }

  /** Server log, in the postgres-owned directory beside the data directory. */
  get logFile(): string {
    return `${this.socketDir}/server.log`;
  }

  /**
   * initdb a new cluster at `dataDir` (its parent must exist and be traversable); `initdbArgs`
   * are added to initdb's (e.g. `-k` for data checksums).
   */
  static async init(
    dataDir: string,
    extraConf = "",
    initdbArgs: readonly string[] = [],
  ): Promise<PgCluster> {
    await Deno.mkdir(dataDir, { mode: 0o700 });
    await giveToPostgres(dataDir);
    await sh([
      `${PG_BIN}/initdb`,
      "-D",
      dataDir,
      "-U",
      "postgres",
      "--auth=trust",
      "-E",
      "UTF8",
      "--locale=C.UTF-8",
      "--no-sync",
      ...initdbArgs,
    ]);
    const c = await PgCluster.adopt(dataDir);
    await c.writeBaseConf(extraConf);
    return c;
  }

  /** A cluster object for an existing data directory (e.g. a restored one), on a new port. */
  static async adopt(dataDir: string): Promise<PgCluster> {
    const socketDir = `${dataDir}.sock`;
    await Deno.mkdir(socketDir, { recursive: true });
    await giveToPostgres(socketDir);
    return new PgCluster(dataDir, freePort(), socketDir);
  }

  /** Writes postgresql.conf for loopback-only operation plus `extra`. */
  async writeBaseConf(extra = ""): Promise<void> {
    const conf = [
      `port = ${this.port}`,
      "listen_addresses = '127.0.0.1'",
      `unix_socket_directories = '${this.socketDir}'`,
      "fsync = off",
      "shared_buffers = 32MB",
      "max_wal_size = 1GB",
      "log_min_messages = warning",
      extra,
    ].join("\n") + "\n";
    await Deno.writeTextFile(join(this.dataDir, "postgresql.conf"), conf);
    await Deno.writeTextFile(
      join(this.dataDir, "pg_hba.conf"),
      "local all all trust\nhost all all 127.0.0.1/32 trust\nlocal replication all trust\n" +
        "host replication all 127.0.0.1/32 trust\n",
    );
    await giveToPostgres(this.dataDir);
  }

  /** Starts the server and waits until it accepts connections. */
  async start(): Promise<void> {
    await sh([
      `${PG_BIN}/pg_ctl`,
      "-D",
      this.dataDir,
      "-l",
      this.logFile,
      "-w",
      "-t",
      "120",
      "start",
    ], { check: false }).then(async (r) => {
      if (r.code !== 0) {
        const log = await Deno.readTextFile(this.logFile).catch(() => "");
        throw new Error(`pg_ctl start failed: ${r.stdout}${r.stderr}\n${log}`);
      }
    });
  }

  /** Stops the server (fast shutdown); no error when it is not running. */
  async stop(): Promise<void> {
    await sh([`${PG_BIN}/pg_ctl`, "-D", this.dataDir, "-m", "fast", "-w", "stop"], {
      check: false,
    });
  }

  /** libpq environment that reaches this server over TCP on loopback. */
  get pgEnv(): Record<string, string> {
    return {
      PGHOST: "127.0.0.1",
      PGPORT: String(this.port),
      PGUSER: "postgres",
      PGDATABASE: "postgres",
    };
  }

  /** Runs SQL with psql and returns its unaligned, tuples-only output, trimmed. */
  async psql(sql: string): Promise<string> {
    const r = await sh([`${PG_BIN}/psql`, "-X", "-At", "-v", "ON_ERROR_STOP=1", "-c", sql], {
      env: this.pgEnv,
    });
    return r.stdout.trim();
  }

  /** Polls `sql` until it returns `expected` or `timeoutMs` passes. */
  async waitFor(sql: string, expected: string, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = "";
    while (Date.now() < deadline) {
      try {
        last = await this.psql(sql);
        if (last === expected) return;
      } catch (err) {
        last = String(err);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    const log = await Deno.readTextFile(this.logFile).catch(() => "");
    throw new Error(`timed out waiting for ${sql} = ${expected}; last: ${last}\n${log}`);
  }

  /**
   * Waits until `segment` is archived and no `.ready` status file is left. Pooled wal-push
   * marks segments `.done` itself (WAL-E-COMPAT §7.2), so pg_stat_archiver's
   * last_archived_wal need not ever name `segment`: the status directory is the truth.
   */
  async waitArchived(segment: string, timeoutMs = 120_000): Promise<void> {
    await this.waitFor(
      "SELECT count(*) FILTER (WHERE name LIKE '%.ready') || ':' || " +
        `count(*) FILTER (WHERE name = '${segment}.done') FROM pg_ls_archive_statusdir()`,
      "0:1",
      timeoutMs,
    );
  }

  /** The server log so far. */
  log(): Promise<string> {
    return Deno.readTextFile(this.logFile).catch(() => "");
  }
}
