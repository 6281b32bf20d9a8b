/**
 * WAL archiving end to end on Swift (tempauth) with a real PostgreSQL 15: archive_command =
 * our wal-push, restore_command = our wal-fetch, against a real Swift on 127.0.0.1
 * (test/support/swift.ts). Every archived segment decodes to pg_wal's bytes, the objects
 * carry WAL-E's names (`/pg/wal_005/...`), and a replica made with pg_basebackup -X none
 * recovers from the archive alone. Then interop: the archive the real WAL-E wrote, uploaded
 * under WAL-E's Swift names, reads back (wal-fetch, backup-list, backup-fetch) exactly as the
 * same objects do from the local store.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { walKey } from "../../src/archive/keys.ts";
import { openDecompressed } from "../../src/archive/pipeline.ts";
import { openStore } from "../../src/storage/open.ts";
import { makeSharedTempDir, PG_BIN, PgCluster, sh } from "../support/postgres.ts";
import {
  adminSession,
  newContainer,
  rawNames,
  stopSwift,
  swift,
  tempauthEnv,
} from "../support/swift.ts";
import { runWalE, writeWrapper } from "../support/wal_e.ts";
import { FIXTURE, loadWalEFixture } from "../support/wale_fixture.ts";

const CHECKSUM_SQL = "SELECT count(*) || ':' || md5(string_agg(aid || '=' || abalance, ',' " +
  "ORDER BY aid)) FROM pgbench_accounts";

async function readAll(s: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(s).arrayBuffer());
}

Deno.test({
  name:
    `Swift (tempauth): PostgreSQL 15 archives WAL with wal-push and a replica recovers with wal-fetch`,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const sw = await swift();
    const container = await newContainer(await adminSession(sw), "wal");
    const env = {
      ...tempauthEnv(sw),
      WALE_SWIFT_PREFIX: `swift://${container}/pg`,
    };
    const tmp = await makeSharedTempDir("wal-e-cloud-archive-");
    if (Deno.uid() === 0) await sh(["chown", "postgres:postgres", tmp], { asPostgres: false });
    const walE = await writeWrapper(tmp, { ...env, WALE_LOG_DESTINATION: "stderr" });
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
    const store = await openStore(env.WALE_SWIFT_PREFIX, { env });
    try {
      await primary.start();
      await sh([`${PG_BIN}/pg_basebackup`, "-D", replicaDir, "-X", "none", "-c", "fast"], {
        env: primary.pgEnv,
      });
      await sh([`${PG_BIN}/pgbench`, "-i", "-s", "2", "-q"], { env: primary.pgEnv });
      await sh([`${PG_BIN}/pgbench`, "-n", "-t", "300", "-c", "2"], { env: primary.pgEnv });
      for (let i = 0; i < 3; i++) {
        await primary.psql(
          "UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid % 7 = " + i,
        );
        await primary.psql("SELECT pg_switch_wal()");
      }
      const checksum = await primary.psql(CHECKSUM_SQL);
      const last = await primary.psql("SELECT pg_walfile_name(pg_switch_wal())");
      await primary.waitArchived(last);
      assert.equal(await primary.psql("SELECT failed_count FROM pg_stat_archiver"), "0");

      const walDir = join(primary.dataDir, "pg_wal");
      const done: string[] = [];
      for await (const e of Deno.readDir(join(walDir, "archive_status"))) {
        const m = /^([0-9A-F]{24})\.done$/.exec(e.name);
        if (m?.[1] !== undefined) done.push(m[1]);
      }
      assert.ok(done.length >= 4, `expected several archived segments, got ${done.length}`);
      for (const seg of done.sort()) {
        const original = await Deno.readFile(join(walDir, seg));
        const decoded = await readAll(
          await openDecompressed(store, walKey(seg), { encoding: {} }),
        );
        assert.deepEqual(decoded, original, `segment ${seg} differs`);
      }
      // WAL-E's physical names (COMPAT §3.3): a leading slash before the path prefix.
      const names = await rawNames(await adminSession(sw), container, "/pg/wal_005/");
      for (const seg of done) assert.ok(names.includes(`/pg/wal_005/${seg}.lzo`), seg);

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
      assert.match(await replica.log(), /restored log file "[0-9A-F]{24}" from archive/);
    } finally {
      await store.close();
      await replica?.stop();
      await primary.stop();
      await Deno.remove(tmp, { recursive: true }).catch(() => {});
    }
  },
});

/** Uploads the WAL-E fixture to a fresh container under WAL-E's Swift names (`/plain/...`). */
async function fixtureOnSwift(): Promise<Record<string, string>> {
  const sw = await swift();
  const admin = await adminSession(sw);
  const container = await newContainer(admin, "wale");
  const tsv = await Deno.readTextFile(join(FIXTURE, "objects.tsv"));
  // In objects.tsv order, so the sentinels' modification times keep WAL-E's order (LATEST).
  for (const line of tsv.trim().split("\n").slice(1)) {
    const [key, , , contentType] = line.split("\t");
    if (key === undefined) continue;
    const res = await fetch(`${admin.url}/${container}//${key}`, {
      method: "PUT",
      headers: { "X-Auth-Token": admin.token, "Content-Type": contentType ?? "" },
      body: await Deno.readFile(join(FIXTURE, "objects", key)),
    });
    await res.body?.cancel();
    assert.equal(res.status, 201, key);
    if (key.endsWith("_backup_stop_sentinel.json")) await new Promise((r) => setTimeout(r, 1100));
  }
  return {
    ...tempauthEnv(sw),
    WALE_SWIFT_PREFIX: `swift://${container}/plain`,
    WALE_LOG_DESTINATION: "stderr",
  };
}

Deno.test({
  name: "interop: WAL-E's archive on Swift reads back as from the local store",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const tmp = await makeSharedTempDir("wal-e-swift-interop-");
    try {
      const sw = await fixtureOnSwift();
      const local = { WALE_FILE_PREFIX: await loadWalEFixture(join(tmp, "local")) };
      const seg = "000000010000000000000003";
      for (const [label, env] of [["swift", sw], ["local", local]] as const) {
        const out = await runWalE(["wal-fetch", "-p0", seg, join(tmp, `${label}.wal`)], env);
        assert.equal(out.code, 0, out.stderr);
      }
      const a = await Deno.readFile(join(tmp, "swift.wal"));
      assert.equal(a.length, 16 << 20);
      assert.deepEqual(a, await Deno.readFile(join(tmp, "local.wal")));
      const missing = await runWalE([
        "wal-fetch",
        "-p0",
        "0000000100000000000000FF",
        join(tmp, "x"),
      ], sw);
      assert.equal(missing.code, 1, missing.stderr);

      const list = await runWalE(["backup-list"], sw);
      assert.equal(list.code, 0, list.stderr);
      const names = list.stdout.split("\r\n").slice(1).filter((l) => l !== "").map((l) =>
        l.split("\t")[0]
      );
      assert.deepEqual(names, [
        "base_000000010000000000000009_00000040",
        "base_000000010000000000000030_00000030",
      ]);
      // Swift's last_modified, verbatim: microseconds, no zone.
      assert.match(list.stdout, /\t\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\t/);
      const latest = await runWalE(["backup-list", "LATEST"], sw);
      assert.match(latest.stdout, /base_000000010000000000000009_00000040/);

      for (const [label, env] of [["swift", sw], ["local", local]] as const) {
        const out = await runWalE(
          ["backup-fetch", "--blind-restore", join(tmp, `${label}-data`), "LATEST"],
          env,
        );
        assert.equal(out.code, 0, out.stderr);
      }
      const diff = await sh(
        ["diff", "-r", "--no-dereference", join(tmp, "swift-data"), join(tmp, "local-data")],
        { asPostgres: false, check: false },
      );
      assert.equal(diff.code, 0, diff.stdout + diff.stderr);
    } finally {
      await Deno.remove(tmp, { recursive: true }).catch(() => {});
    }
  },
});

Deno.test("teardown: stop the server", async () => {
  await stopSwift();
});
