/**
 * check, run the way an operator would before switching archiving on: as the postgres user,
 * through the same wrapper archive_command uses. It passes on a good local store, fails on a
 * store directory postgres cannot write (root could write anywhere), says when PostgreSQL is
 * unreachable, and reports archive_command / pg_stat_archiver against a real PostgreSQL 15 —
 * including an archiver whose last attempt failed.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  AS_ROOT,
  freePort,
  giveToPostgres,
  makeSharedTempDir,
  PgCluster,
  sh,
} from "../support/postgres.ts";
import { writeWrapper } from "../support/wal_e.ts";

/** Runs `wal-e check ARGS` as postgres through a wrapper exporting `env`. */
async function checkAsPostgres(
  tmp: string,
  name: string,
  env: Record<string, string>,
  args: string[],
) {
  await Deno.mkdir(join(tmp, name));
  const walE = await writeWrapper(join(tmp, name), env);
  return await sh([walE, "check", ...args], { asPostgres: true, check: false });
}

/** Files left under `dir` (recursively). */
async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  try {
    for await (const e of Deno.readDir(dir)) {
      if (e.isDirectory) out.push(...await filesUnder(join(dir, e.name)));
      else out.push(join(dir, e.name));
    }
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  return out;
}

Deno.test({
  name: "check: passes on a good local store, fails on one postgres cannot write, and says " +
    "when PostgreSQL is unreachable",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const tmp = await makeSharedTempDir("wal-e-check-");
    try {
      const good = join(tmp, "good");
      await Deno.mkdir(good);
      await giveToPostgres(good);
      const ok = await checkAsPostgres(tmp, "w1", {
        WALE_FILE_PREFIX: `file://localhost${good}/pg`,
      }, [
        "--no-postgres",
      ]);
      assert.equal(ok.code, 0, ok.stdout + ok.stderr);
      assert.equal(
        ok.stdout.replace(/^(OK store: write): .*$/m, "$1"),
        "OK store: write\nOK store: read back\nOK store: list\nOK store: delete\n",
      );
      assert.match(
        ok.stdout,
        new RegExp(`^OK store: write: file://localhost${good}/pg/wal-e-check/probe-`, "m"),
      );
      assert.deepEqual(await filesUnder(good), [], "the probe object is deleted");

      // Owned by root (or read-only for a non-root test user): postgres cannot write there.
      const locked = join(tmp, "locked");
      await Deno.mkdir(locked, { mode: 0o755 });
      if (!AS_ROOT) await Deno.chmod(locked, 0o555);
      const denied = await checkAsPostgres(tmp, "w2", {
        WALE_FILE_PREFIX: `file://localhost${locked}/pg`,
      }, [
        "--no-postgres",
      ]);
      assert.equal(denied.code, 1, denied.stdout + denied.stderr);
      assert.match(
        denied.stdout,
        /^FAIL store: write: permission denied in the storage prefix: .*Permission denied/m,
      );
      assert.doesNotMatch(denied.stdout, /^OK store: write/m);
      assert.match(
        denied.stderr,
        /ERROR +MSG: check found 1 problem\n\s+DETAIL: store: write\.\n\s+HINT: /,
      );
      assert.doesNotMatch(denied.stderr, /\n\s+at /, "no stack trace");
      assert.deepEqual(await filesUnder(locked), []);

      // PostgreSQL part with nothing listening: a finding, not a crash.
      const port = freePort();
      const noPg = await checkAsPostgres(tmp, "w3", {
        WALE_FILE_PREFIX: `file://localhost${good}/pg`,
        PGHOST: "127.0.0.1",
        PGPORT: String(port),
        PGUSER: "postgres",
      }, []);
      assert.equal(noPg.code, 1, noPg.stdout + noPg.stderr);
      assert.match(noPg.stdout, /^OK store: delete$/m);
      assert.match(
        noPg.stdout,
        new RegExp(
          `^FAIL postgres: connect: 127\\.0\\.0\\.1:${port} as "postgres": .*--no-postgres`,
          "m",
        ),
      );
      assert.doesNotMatch(noPg.stderr, /\n\s+at /, "no stack trace");
    } finally {
      await Deno.remove(tmp, { recursive: true }).catch(() => {});
    }
  },
});

Deno.test({
  name: "check: reports archive_mode, archive_command and pg_stat_archiver of a real cluster, " +
    "and fails when the last archive attempt failed",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const tmp = await makeSharedTempDir("wal-e-check-pg-");
    await giveToPostgres(tmp);
    const archive = join(tmp, "archive");
    await Deno.mkdir(archive);
    await giveToPostgres(archive);
    const env = { WALE_FILE_PREFIX: `file://localhost${archive}/pg` };
    const walE = await writeWrapper(tmp, env);
    const cluster = await PgCluster.init(
      join(tmp, "pg"),
      `wal_level = replica\narchive_mode = on\narchive_command = '${walE} wal-push %p'\n`,
    );
    try {
      await cluster.start();
      await cluster.psql("CREATE TABLE t AS SELECT generate_series(1, 1000) AS x");
      const seg = await cluster.psql("SELECT pg_walfile_name(pg_switch_wal())");
      await cluster.waitArchived(seg);
      const good = await checkAsPostgres(tmp, "w1", { ...env, ...cluster.pgEnv }, []);
      assert.equal(good.code, 0, good.stdout + good.stderr);
      assert.match(
        good.stdout,
        /^OK postgres: connect: 127\.0\.0\.1:\d+ as "postgres": PostgreSQL 15/m,
      );
      assert.match(good.stdout, /^OK postgres: archive_mode: on$/m);
      assert.match(
        good.stdout,
        new RegExp(`^OK postgres: archive_command: "${walE} wal-push %p"$`, "m"),
      );
      assert.match(
        good.stdout,
        /^OK postgres: archiver: last archived [0-9A-F]{24} at \S+ \(\d+ archived, 0 failed\)$/m,
      );

      // Archiving into a directory postgres cannot write: the command still names wal-push, but
      // the archiver's last attempt fails.
      const locked = join(tmp, "locked");
      await Deno.mkdir(locked, { mode: 0o755 });
      if (!AS_ROOT) await Deno.chmod(locked, 0o555);
      await Deno.mkdir(join(tmp, "bad"));
      const bad = await writeWrapper(join(tmp, "bad"), {
        WALE_FILE_PREFIX: `file://localhost${locked}/pg`,
      });
      await cluster.psql(`ALTER SYSTEM SET archive_command = '${bad} wal-push %p'`);
      await cluster.psql("SELECT pg_reload_conf()");
      await cluster.psql("INSERT INTO t SELECT generate_series(1, 1000)");
      await cluster.psql("SELECT pg_switch_wal()");
      await cluster.waitFor(
        "SELECT failed_count > 0 AND last_failed_time > coalesce(last_archived_time, '-infinity') " +
          "FROM pg_stat_archiver",
        "t",
        60_000,
      );
      const failing = await checkAsPostgres(tmp, "w2", { ...env, ...cluster.pgEnv }, []);
      assert.equal(failing.code, 1, failing.stdout + failing.stderr);
      assert.match(failing.stdout, /^OK store: delete$/m);
      assert.match(
        failing.stdout,
        new RegExp(`^OK postgres: archive_command: "${bad} wal-push %p"$`, "m"),
      );
      assert.match(
        failing.stdout,
        /^FAIL postgres: archiver: the last attempt failed \([0-9A-F]{24} at \S+, last success [0-9A-F]{24} at \S+; \d+ archived, [1-9]\d* failed\)/m,
      );
      assert.match(failing.stderr, /MSG: check found 1 problem\n\s+DETAIL: postgres: archiver\./);

      // An archive_command that is not ours.
      await cluster.psql("ALTER SYSTEM SET archive_command = '/bin/true %p'");
      await cluster.psql("SELECT pg_reload_conf()");
      await cluster.waitFor("SHOW archive_command", "/bin/true %p");
      const foreign = await checkAsPostgres(tmp, "w3", { ...env, ...cluster.pgEnv }, []);
      assert.equal(foreign.code, 1);
      assert.match(
        foreign.stdout,
        /^FAIL postgres: archive_command: "\/bin\/true %p" does not run wal-e wal-push$/m,
      );
    } finally {
      await cluster.stop();
      await Deno.remove(tmp, { recursive: true }).catch(() => {});
    }
  },
});
