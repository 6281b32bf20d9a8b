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
import { azurite, newContainer, stopAzurite, wabsEnv } from "../support/azurite.ts";
import { makeSharedTempDir, sh } from "../support/postgres.ts";
import { adminClient, newBucket, rgw, s3Env, stopRgw } from "../support/rgw.ts";
import { runWalE } from "../support/wal_e.ts";
import { walRoundTrip } from "../support/wal_round_trip.ts";
import { FIXTURE, loadWalEFixture } from "../support/wale_fixture.ts";

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
      await walRoundTrip(await makeEnv());
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
