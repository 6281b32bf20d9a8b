/**
 * Proves WAL archiving end to end with a real PostgreSQL 15: archive_command = our wal-push to
 * the local store; every segment PostgreSQL reports archived is stored and decodes (with our
 * codec and with the real lzop) to the bytes in pg_wal; a second cluster made with
 * pg_basebackup -X none recovers through restore_command = our wal-fetch to the same data.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { walKey } from "../../src/archive/keys.ts";
import { openDecompressed } from "../../src/archive/pipeline.ts";
import { LocalStore } from "../../src/storage/local.ts";
import { makeSharedTempDir, PG_BIN, PgCluster, sh } from "../support/postgres.ts";
import { writeWrapper } from "../support/wal_e.ts";

const CHECKSUM_SQL = "SELECT count(*) || ':' || md5(string_agg(aid || '=' || abalance, ',' " +
  "ORDER BY aid)) FROM pgbench_accounts";

async function readAll(s: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(s).arrayBuffer());
}

Deno.test({
  name: "archived WAL from a real PostgreSQL 15 decodes to pg_wal's bytes and recovers a replica",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const tmp = await makeSharedTempDir("wal-e-archive-");
    const archive = join(tmp, "archive");
    await Deno.mkdir(archive);
    await sh(["true"]); // fail early if runuser is missing
    if (Deno.uid() === 0) await sh(["chown", "postgres:postgres", archive], { asPostgres: false });
    const prefix = `file://localhost${archive}/pg`;
    const walE = await writeWrapper(tmp, { WALE_FILE_PREFIX: prefix });
    const primary = await PgCluster.init(
      join(tmp, "primary"),
      [
        "wal_level = replica",
        "archive_mode = on",
        `archive_command = '${walE} wal-push %p'`,
        "wal_keep_size = '2GB'",
        "min_wal_size = '2GB'",
      ].join("\n"),
    );
    const replicaDir = join(tmp, "replica");
    let replica: PgCluster | undefined;
    try {
      await primary.start();
      await Deno.mkdir(replicaDir, { mode: 0o700 });
      if (Deno.uid() === 0) {
        await sh(["chown", "postgres:postgres", replicaDir], { asPostgres: false });
      }
      await sh([`${PG_BIN}/pg_basebackup`, "-D", replicaDir, "-X", "none", "-c", "fast"], {
        env: primary.pgEnv,
      });
      await sh([`${PG_BIN}/pgbench`, "-i", "-s", "2", "-q"], { env: primary.pgEnv });
      await sh([`${PG_BIN}/pgbench`, "-n", "-t", "300", "-c", "2"], { env: primary.pgEnv });
      let last = "";
      for (let i = 0; i < 4; i++) {
        await primary.psql(
          "UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid % 7 = " + i,
        );
        last = await primary.psql("SELECT pg_walfile_name(pg_switch_wal())");
      }
      const checksum = await primary.psql(CHECKSUM_SQL);
      last = await primary.psql("SELECT pg_walfile_name(pg_switch_wal())");
      await primary.waitArchived(last);
      assert.equal(await primary.psql("SELECT failed_count FROM pg_stat_archiver"), "0");

      // Every segment PostgreSQL marked done is stored and decodes to pg_wal's bytes.
      const store = new LocalStore(`${archive.slice(1)}/pg/`);
      const walDir = join(primary.dataDir, "pg_wal");
      const done: string[] = [];
      for await (const e of Deno.readDir(join(walDir, "archive_status"))) {
        const m = /^([0-9A-F]{24})\.done$/.exec(e.name);
        if (m?.[1] !== undefined) done.push(m[1]);
      }
      assert.ok(done.length >= 5, `expected several archived segments, got ${done.length}`);
      for (const seg of done.sort()) {
        const original = await Deno.readFile(join(walDir, seg));
        const decoded = await readAll(
          await openDecompressed(store, walKey(seg), { encoding: {} }),
        );
        assert.equal(decoded.length, original.length, seg);
        assert.deepEqual(decoded, original, `segment ${seg} differs`);
      }
      // The real lzop reads what we wrote.
      const firstSeg = done.sort()[0] ?? "";
      const lz = await sh(["lzop", "-t", `${archive}/pg/wal_005/${firstSeg}.lzo`], {
        asPostgres: false,
      });
      assert.equal(lz.code, 0);

      // Recover a second cluster from the archive alone.
      await primary.stop();
      replica = await PgCluster.adopt(replicaDir);
      await replica.writeBaseConf(
        `restore_command = '${walE} wal-fetch "%f" "%p"'\n` +
          "recovery_target_action = 'promote'\n",
      );
      await Deno.writeTextFile(join(replicaDir, "recovery.signal"), "");
      if (Deno.uid() === 0) {
        await sh(["chown", "-R", "postgres:postgres", replicaDir], { asPostgres: false });
      }
      await replica.start();
      await replica.waitFor("SELECT pg_is_in_recovery()", "f", 180_000);
      assert.equal(await replica.psql(CHECKSUM_SQL), checksum);
      const log = await replica.log();
      assert.match(log, /restored log file "[0-9A-F]{24}" from archive/);
    } finally {
      await replica?.stop();
      await primary.stop();
      await Deno.remove(tmp, { recursive: true }).catch(() => {});
    }
  },
});

Deno.test("wal-fetch of a missing segment exits 1 and leaves nothing at the destination", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "wal-e-missing-" });
  try {
    const { runWalE } = await import("../support/wal_e.ts");
    const dest = join(tmp, "pg_wal", "RECOVERYXLOG");
    await Deno.mkdir(join(tmp, "pg_wal"));
    const r = await runWalE(
      ["wal-fetch", "-p0", "0000000100000000000000FF", dest],
      { WALE_FILE_PREFIX: `file://localhost${tmp}/archive` },
    );
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /MSG: could no longer locate object while performing wal restore/);
    assert.deepEqual(await Array.fromAsync(Deno.readDir(join(tmp, "pg_wal"))), []);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});
