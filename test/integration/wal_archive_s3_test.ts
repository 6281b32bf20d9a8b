/**
 * WAL archiving end to end on the cloud backends with a real PostgreSQL 15, once against a
 * real Ceph RGW (S3) and once against Azurite (WABS): archive_command = our wal-push,
 * restore_command = our wal-fetch; every archived segment decodes to pg_wal's bytes and a
 * replica made with pg_basebackup -X none recovers from the archive alone. Then interop: the
 * archive the real WAL-E wrote, uploaded to RGW under WAL-E's key names, reads back (wal-fetch,
 * backup-list, backup-fetch) exactly as the same objects do from the local store.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { PutObjectCommand } from "@aws-sdk/client-s3";
import { walKey } from "../../src/archive/keys.ts";
import { openDecompressed } from "../../src/archive/pipeline.ts";
import { openStore } from "../../src/storage/open.ts";
import { azurite, newContainer, stopAzurite, wabsEnv } from "../support/azurite.ts";
import { makeSharedTempDir, PG_BIN, PgCluster, sh } from "../support/postgres.ts";
import { adminClient, newBucket, rgw, s3Env, stopRgw } from "../support/rgw.ts";
import { runWalE, writeWrapper } from "../support/wal_e.ts";
import { FIXTURE, loadWalEFixture } from "../support/wale_fixture.ts";

const CHECKSUM_SQL = "SELECT count(*) || ':' || md5(string_agg(aid || '=' || abalance, ',' " +
  "ORDER BY aid)) FROM pgbench_accounts";

async function readAll(s: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(s).arrayBuffer());
}

const BACKENDS: Record<string, () => Promise<Record<string, string>>> = {
  "S3 (Ceph RGW)": async () => {
    const r = await rgw();
    return s3Env(r, await newBucket(r, "wal"));
  },
  "WABS (Azurite)": async () => {
    const a = await azurite();
    return wabsEnv(a, await newContainer(a, "wal"));
  },
};

for (const [name, makeEnv] of Object.entries(BACKENDS)) {
  Deno.test({
    name: `${name}: PostgreSQL 15 archives WAL with wal-push and a replica recovers with wal-fetch`,
    sanitizeResources: false,
    sanitizeOps: false,
    async fn() {
      const env = await makeEnv();
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
      const prefixUrl = env["WALE_S3_PREFIX"] ?? env["WALE_WABS_PREFIX"];
      const store = await openStore(prefixUrl, {
        env,
        awsAccessKeyId: env["AWS_ACCESS_KEY_ID"],
        wabsAccountName: env["WABS_ACCOUNT_NAME"],
      });
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
}

/** Uploads the WAL-E fixture's objects to a fresh RGW bucket under WAL-E's key names. */
async function fixtureOnRgw(): Promise<Record<string, string>> {
  const r = await rgw();
  const bucket = await newBucket(r, "wale");
  const c = adminClient(r);
  try {
    const tsv = await Deno.readTextFile(join(FIXTURE, "objects.tsv"));
    // In objects.tsv order, so the sentinels' modification times keep WAL-E's order (LATEST).
    for (const line of tsv.trim().split("\n").slice(1)) {
      const [key, , , contentType] = line.split("\t");
      if (key === undefined) continue;
      await c.send(
        new PutObjectCommand({
          Bucket: bucket,
          Key: key,
          Body: await Deno.readFile(join(FIXTURE, "objects", key)),
          ContentType: contentType,
        }),
      );
      if (key.endsWith("_backup_stop_sentinel.json")) await new Promise((r) => setTimeout(r, 1100));
    }
  } finally {
    c.destroy();
  }
  return { ...s3Env(r, bucket, "plain"), WALE_LOG_DESTINATION: "stderr" };
}

Deno.test({
  name: "interop: WAL-E's archive on RGW reads back as from the local store",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const tmp = await makeSharedTempDir("wal-e-interop-");
    try {
      const s3 = await fixtureOnRgw();
      const local = { WALE_FILE_PREFIX: await loadWalEFixture(join(tmp, "local")) };
      const seg = "000000010000000000000003";
      for (const [label, env] of [["s3", s3], ["local", local]] as const) {
        const out = await runWalE(["wal-fetch", "-p0", seg, join(tmp, `${label}.wal`)], env);
        assert.equal(out.code, 0, out.stderr);
      }
      const a = await Deno.readFile(join(tmp, "s3.wal"));
      assert.equal(a.length, 16 << 20);
      assert.deepEqual(a, await Deno.readFile(join(tmp, "local.wal")));

      const list = await runWalE(["backup-list"], s3);
      assert.equal(list.code, 0, list.stderr);
      const names = list.stdout.split("\r\n").slice(1).filter((l) => l !== "").map((l) =>
        l.split("\t")[0]
      );
      assert.deepEqual(names, [
        "base_000000010000000000000009_00000040",
        "base_000000010000000000000030_00000030",
      ]);
      assert.match(list.stdout, /\t\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\t/);
      const latest = await runWalE(["backup-list", "LATEST"], s3);
      assert.match(latest.stdout, /base_000000010000000000000009_00000040/);

      // backup-fetch LATEST from both stores gives identical trees.
      for (const [label, env] of [["s3", s3], ["local", local]] as const) {
        const out = await runWalE(
          ["backup-fetch", "--blind-restore", join(tmp, `${label}-data`), "LATEST"],
          env,
        );
        assert.equal(out.code, 0, out.stderr);
      }
      const diff = await sh([
        "diff",
        "-r",
        "--no-dereference",
        join(tmp, "s3-data"),
        join(tmp, "local-data"),
      ], {
        asPostgres: false,
        check: false,
      });
      assert.equal(diff.code, 0, diff.stdout + diff.stderr);
    } finally {
      await Deno.remove(tmp, { recursive: true }).catch(() => {});
    }
  },
});

Deno.test("teardown: stop the servers", async () => {
  await stopRgw();
  await stopAzurite();
});
