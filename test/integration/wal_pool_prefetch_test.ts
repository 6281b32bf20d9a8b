/**
 * Pooled wal-push and WAL prefetch against a real PostgreSQL 15: a primary switching WAL in a
 * tight loop archives every segment exactly once with no archiver failure; a replica recovers
 * ≥ 30 segments through wal-fetch with prefetch serving segments, and recovers the same data
 * while its prefetch processes are killed mid-download.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { makeSharedTempDir, PG_BIN, PgCluster, sh } from "../support/postgres.ts";
import { writeWrapper } from "../support/wal_e.ts";

const CHECKSUM_SQL = "SELECT count(*) || ':' || sum(x) FROM t";

/** PIDs of the running `wal-prefetch` processes whose base directory is `pgWal`. */
async function prefetchersOf(pgWal: string): Promise<number[]> {
  const pids: number[] = [];
  for await (const e of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    let argv: string[];
    try {
      argv = (await Deno.readTextFile(`/proc/${e.name}/cmdline`)).split("\0");
    } catch {
      continue; // exited meanwhile
    }
    const at = argv.indexOf("wal-prefetch");
    if (at >= 0 && argv[at + 1] === pgWal) pids.push(Number(e.name));
  }
  return pids;
}

async function recover(
  baseCopy: string,
  dir: string,
  walE: string,
  expected: string,
  killPrefetch: boolean,
): Promise<string> {
  await sh(["cp", "-a", baseCopy, dir], { asPostgres: false });
  const replica = await PgCluster.adopt(dir);
  await replica.writeBaseConf(`restore_command = '${walE} wal-fetch "%f" "%p"'\n`);
  await Deno.writeTextFile(join(dir, "recovery.signal"), "");
  await sh(["chown", "-R", "postgres:postgres", dir], { asPostgres: false, check: false });
  let killing = killPrefetch;
  // Only this replica's prefetchers, found by their argv (`wal-prefetch <its pg_wal> ...`) and
  // stopped by PID: never a pattern kill that could reach other processes on the machine.
  const pgWal = `${await Deno.realPath(dir)}/pg_wal`;
  let kills = 0;
  const killer = (async () => {
    while (killing) {
      for (const pid of await prefetchersOf(pgWal)) {
        try {
          Deno.kill(pid, "SIGKILL");
          kills++;
        } catch { /* it finished on its own meanwhile */ }
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  try {
    await replica.start();
    await replica.waitFor("SELECT pg_is_in_recovery()", "f", 180_000);
    killing = false;
    await killer;
    if (killPrefetch) assert.ok(kills > 0, "no prefetcher was ever killed");
    assert.equal(await replica.psql(CHECKSUM_SQL), expected);
    return await replica.log();
  } finally {
    killing = false;
    await replica.stop();
  }
}

Deno.test({
  name:
    "pooled wal-push archives each segment once; recovery with prefetch survives killed prefetchers",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const tmp = await makeSharedTempDir("wal-e-pool-");
    const archive = join(tmp, "archive");
    await Deno.mkdir(archive);
    if (Deno.uid() === 0) await sh(["chown", "postgres:postgres", archive], { asPostgres: false });
    const walE = await writeWrapper(tmp, { WALE_FILE_PREFIX: `file://localhost${archive}` });
    const primary = await PgCluster.init(
      join(tmp, "primary"),
      `wal_level = replica\narchive_mode = on\narchive_command = '${walE} wal-push %p'\n` +
        "wal_keep_size = '2GB'\nmin_wal_size = '2GB'\n",
    );
    const base = join(tmp, "base");
    try {
      await primary.start();
      await Deno.mkdir(base, { mode: 0o700 });
      if (Deno.uid() === 0) await sh(["chown", "postgres:postgres", base], { asPostgres: false });
      await sh([`${PG_BIN}/pg_basebackup`, "-D", base, "-X", "none", "-c", "fast"], {
        env: primary.pgEnv,
      });
      await primary.psql("CREATE TABLE t (x int)");
      await primary.psql(
        "DO $$ BEGIN FOR i IN 1..36 LOOP INSERT INTO t SELECT g FROM generate_series(1, i * 100) g; " +
          "PERFORM pg_switch_wal(); END LOOP; END $$",
      );
      const expected = await primary.psql(CHECKSUM_SQL);
      const last = await primary.psql("SELECT pg_walfile_name(pg_switch_wal())");
      await primary.waitArchived(last, 180_000);
      assert.equal(await primary.psql("SELECT failed_count FROM pg_stat_archiver"), "0");
      const done = (await primary.psql(
        "SELECT string_agg(left(name, 24), ',' ORDER BY name) FROM pg_ls_archive_statusdir() " +
          "WHERE name ~ '^[0-9A-F]{24}[.]done$'",
      )).split(",");
      assert.ok(done.length >= 30, `only ${done.length} segments archived`);
      const log = await primary.log();
      for (const seg of done) {
        await Deno.stat(join(archive, "wal_005", `${seg}.lzo`));
        const times = log.split(`MSG: completed archiving to a file`).filter((part) =>
          part.includes(` seg=${seg} state=complete`)
        ).length;
        assert.equal(times, 1, `segment ${seg} archived ${times} times`);
      }
      await primary.stop();

      const plainLog = await recover(base, join(tmp, "r1"), walE, expected, false);
      assert.match(plainLog, /MSG: promoted prefetched wal segment/);
      await recover(base, join(tmp, "r2"), walE, expected, true);
    } finally {
      await primary.stop();
      await Deno.remove(tmp, { recursive: true }).catch(() => {});
    }
  },
});
