/**
 * The WAL round trip every backend must pass, written once: a real PostgreSQL 15 archives
 * through archive_command = our wal-push into the store named by `env`; every segment it
 * marked done is stored and decodes to pg_wal's bytes; a replica made with
 * pg_basebackup -X none recovers through restore_command = our wal-fetch to the same data.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { walKey } from "../../src/archive/keys.ts";
import { openDecompressed } from "../../src/archive/pipeline.ts";
import { openStore } from "../../src/storage/open.ts";
import { makeSharedTempDir, PG_BIN, PgCluster, sh } from "./postgres.ts";
import { assertBytes, readAll } from "./streams.ts";
import { writeWrapper } from "./wal_e.ts";
import { settingsOf } from "./store_settings.ts";

/** Row count and md5 of pgbench_accounts: equal data on primary and replica. */
export const CHECKSUM_SQL = "SELECT count(*) || ':' || md5(string_agg(aid || '=' || abalance, " +
  "',' ORDER BY aid)) FROM pgbench_accounts";

/** The prefix URL in `env`, in WAL-E's precedence among the variables (COMPAT §2.2). */
function prefixOf(env: Record<string, string>): string | undefined {
  return ["WALE_FILE_PREFIX", "WALE_GS_PREFIX", "WALE_S3_PREFIX", "WALE_SWIFT_PREFIX"]
    .map((k) => env[k]).find((v) => v !== undefined) ?? env["WALE_WABS_PREFIX"];
}

/**
 * Runs the round trip against the store `env` configures. `onArchived` gets the archived
 * segment names (sorted) for backend-specific checks of the stored objects.
 */
export async function walRoundTrip(
  env: Record<string, string>,
  onArchived?: (segments: string[]) => Promise<void>,
): Promise<void> {
  const tmp = await makeSharedTempDir("wal-e-round-trip-");
  if (Deno.uid() === 0) await sh(["chown", "postgres:postgres", tmp], { asPostgres: false });
  const walE = await writeWrapper(tmp, { ...env, WALE_LOG_DESTINATION: "stderr" });
  const primary = await PgCluster.init(
    join(tmp, "primary"),
    `wal_level = replica\narchive_mode = on\narchive_command = '${walE} wal-push %p'\n` +
      "wal_keep_size = '2GB'\nmin_wal_size = '2GB'\n",
  );
  const replicaDir = join(tmp, "replica");
  let replica: PgCluster | undefined;
  const store = await openStore(
    prefixOf(env),
    settingsOf({
      env,
      awsAccessKeyId: env["AWS_ACCESS_KEY_ID"],
      wabsAccountName: env["WABS_ACCOUNT_NAME"],
    }),
  );
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
    for (let i = 0; i < 4; i++) {
      await primary.psql(
        `UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid % 7 = ${i}`,
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
    done.sort();
    assert.ok(done.length >= 5, `expected several archived segments, got ${done.length}`);
    for (const seg of done) {
      const decoded = await readAll(await openDecompressed(store, walKey(seg), { encoding: {} }));
      assertBytes(decoded, await Deno.readFile(join(walDir, seg)), `segment ${seg}`);
    }
    await onArchived?.(done);

    await primary.stop();
    replica = await PgCluster.adopt(replicaDir);
    await replica.writeBaseConf(
      `restore_command = '${walE} wal-fetch "%f" "%p"'\nrecovery_target_action = 'promote'\n`,
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
}
