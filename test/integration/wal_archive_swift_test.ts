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
import { adminSession, newContainer, rawNames, swift, tempauthEnv } from "../support/swift.ts";
import { walRoundTrip } from "../support/wal_round_trip.ts";
import { FIXTURE } from "../support/wale_fixture.ts";
import { fixtureReadsBackAsLocal } from "../support/fixture_interop.ts";

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
    // Swift's last_modified, verbatim: microseconds, no zone.
    await fixtureReadsBackAsLocal(
      "swift",
      await fixtureOnSwift(),
      /\t\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\t/,
    );
  },
});
