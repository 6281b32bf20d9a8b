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
import { makeSharedTempDir, sh } from "../support/postgres.ts";
import {
  adminSession,
  newContainer,
  rawNames,
  stopSwift,
  swift,
  tempauthEnv,
} from "../support/swift.ts";
import { runWalE } from "../support/wal_e.ts";
import { walRoundTrip } from "../support/wal_round_trip.ts";
import { FIXTURE, loadWalEFixture } from "../support/wale_fixture.ts";

Deno.test({
  name:
    `Swift (tempauth): PostgreSQL 15 archives WAL with wal-push and a replica recovers with wal-fetch`,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const sw = await swift();
    const container = await newContainer(await adminSession(sw), "wal");
    await walRoundTrip(
      { ...tempauthEnv(sw), WALE_SWIFT_PREFIX: `swift://${container}/pg` },
      async (done) => {
        // WAL-E's physical names (COMPAT §3.3): a leading slash before the path prefix.
        const names = await rawNames(await adminSession(sw), container, "/pg/wal_005/");
        for (const seg of done) assert.ok(names.includes(`/pg/wal_005/${seg}.lzo`), seg);
      },
    );
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
