/**
 * Proves WAL archiving end to end with a real PostgreSQL 15 on the local store (the shared
 * round trip of test/support/wal_round_trip.ts), that the real lzop reads what we wrote, and
 * that wal-fetch of a missing segment is PostgreSQL's "end of archive".
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { makeSharedTempDir, sh } from "../support/postgres.ts";
import { walRoundTrip } from "../support/wal_round_trip.ts";

Deno.test({
  name: "archived WAL from a real PostgreSQL 15 decodes to pg_wal's bytes and recovers a replica",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const tmp = await makeSharedTempDir("wal-e-archive-");
    const archive = join(tmp, "archive");
    await Deno.mkdir(archive);
    if (Deno.uid() === 0) await sh(["chown", "postgres:postgres", archive], { asPostgres: false });
    try {
      await walRoundTrip({ WALE_FILE_PREFIX: `file://localhost${archive}/pg` }, async (done) => {
        // The real lzop reads what we wrote.
        const lz = await sh(["lzop", "-t", `${archive}/pg/wal_005/${done[0]}.lzo`], {
          asPostgres: false,
        });
        assert.equal(lz.code, 0);
      });
    } finally {
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
    // The archive exists (a missing archive directory is a configuration error, exit 126).
    await Deno.mkdir(join(tmp, "archive"));
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
