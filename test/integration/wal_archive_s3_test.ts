/**
 * WAL archiving end to end on the cloud backends with a real PostgreSQL 15, once against a
 * real Ceph RGW (S3) and once against Azurite (WABS): archive_command = our wal-push,
 * restore_command = our wal-fetch; every archived segment decodes to pg_wal's bytes and a
 * replica made with pg_basebackup -X none recovers from the archive alone. Then interop: the
 * archive the real WAL-E wrote, uploaded to RGW under WAL-E's key names, reads back (wal-fetch,
 * backup-list, backup-fetch) exactly as the same objects do from the local store.
 */
import { azurite, newContainer, wabsEnv } from "../support/azurite.ts";
import { newBucket, putWalEFixture, rgw, s3Env } from "../support/rgw.ts";
import { walRoundTrip } from "../support/wal_round_trip.ts";
import { fixtureReadsBackAsLocal } from "../support/fixture_interop.ts";

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
  await putWalEFixture(r, bucket);
  return { ...s3Env(r, bucket, "plain"), WALE_LOG_DESTINATION: "stderr" };
}

Deno.test({
  name: "interop: WAL-E's archive on RGW reads back as from the local store",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await fixtureReadsBackAsLocal(
      "s3",
      await fixtureOnRgw(),
      /\t\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\t/,
    );
  },
});
