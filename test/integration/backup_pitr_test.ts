/**
 * Point-in-time recovery end to end with a real PostgreSQL 15: WAL archived by our wal-push,
 * an online backup-push taken while pgbench writes, more writes after it, then backup-fetch
 * LATEST into a fresh directory and recovery through our wal-fetch to a recorded time. The
 * data must match the checksum taken at that time and every btree index must pass amcheck.
 * Run against the local store and against every cloud backend (a real Ceph RGW, Azurite and
 * Swift with tempauth, each started on 127.0.0.1 by this file and stopped by PID).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { giveToPostgres, makeSharedTempDir, PG_BIN, PgCluster, sh } from "../support/postgres.ts";
import { azurite, newContainer, wabsEnv } from "../support/azurite.ts";
import { newBucket, rgw, s3Env } from "../support/rgw.ts";
import {
  adminSession,
  newContainer as newSwiftContainer,
  swift,
  tempauthEnv,
} from "../support/swift.ts";
import { runWalE, writeWrapper } from "../support/wal_e.ts";

const CHECKSUM_SQL = "SELECT count(*) || ':' || md5(string_agg(aid || '=' || abalance, ',' " +
  "ORDER BY aid)) || ':' || (SELECT count(*) FROM pgbench_history) FROM pgbench_accounts";

const AMCHECK_SQL = "SELECT count(bt_index_check(c.oid)) FROM pg_index i " +
  "JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am am ON am.oid = c.relam " +
  "WHERE am.amname = 'btree' AND c.relpersistence <> 't'";

/** Where the archive goes: each entry makes the environment naming a fresh store. */
const STORES: Record<string, (tmp: string) => Promise<Record<string, string>>> = {
  "local store": async (tmp) => {
    const archive = join(tmp, "archive");
    await Deno.mkdir(archive);
    await giveToPostgres(archive);
    return { WALE_FILE_PREFIX: `file://localhost${archive}/pg` };
  },
  "S3 (Ceph RGW)": async () => {
    const r = await rgw();
    return s3Env(r, await newBucket(r, "pitr"));
  },
  "WABS (Azurite)": async () => {
    const a = await azurite();
    return wabsEnv(a, await newContainer(a, "pitr"));
  },
  "Swift (tempauth)": async () => {
    const sw = await swift();
    const container = await newSwiftContainer(await adminSession(sw), "pitr");
    return { ...tempauthEnv(sw), WALE_SWIFT_PREFIX: `swift://${container}/pg` };
  },
};

for (const [storeName, makeEnv] of Object.entries(STORES)) {
  Deno.test({
    name:
      `${storeName}: backup-push under pgbench load, backup-fetch LATEST and PITR reproduce the data`,
    sanitizeResources: false,
    sanitizeOps: false,
    async fn() {
      const tmp = await makeSharedTempDir("wal-e-pitr-");
      await giveToPostgres(tmp);
      const env = await makeEnv(tmp);
      const walE = await writeWrapper(tmp, env);
      const primary = await PgCluster.init(
        join(tmp, "primary"),
        [
          "wal_level = replica",
          "archive_mode = on",
          `archive_command = '${walE} wal-push %p'`,
          // Keep the backup's start checkpoint quick under load (WAL-E spreads it, §5.2).
          "checkpoint_completion_target = 0",
        ].join("\n"),
      );
      let restored: PgCluster | undefined;
      try {
        await primary.start();
        await sh([`${PG_BIN}/pgbench`, "-i", "-s", "3", "-q"], { env: primary.pgEnv });
        const load = new Deno.Command("runuser", {
          args: ["-u", "postgres", "--", `${PG_BIN}/pgbench`, "-n", "-T", "12", "-c", "2"],
          env: primary.pgEnv,
          stdout: "null",
          stderr: "null",
        }).spawn();
        await new Promise((r) => setTimeout(r, 1000));
        const push = await runWalE(["backup-push", "--pool-size", "2", primary.dataDir], {
          ...env,
          ...primary.pgEnv,
        });
        assert.equal(push.code, 0, push.stderr);
        assert.match(push.stderr, /MSG: start upload postgres version metadata/);
        assert.match(push.stderr, /MSG: finish uploading a base backup volume/);
        assert.equal((await load.status).success, true);

        await primary.psql("UPDATE pgbench_accounts SET abalance = abalance + 7 WHERE aid % 5 = 0");
        const checksum = await primary.psql(CHECKSUM_SQL);
        await new Promise((r) => setTimeout(r, 1100));
        const target = await primary.psql("SELECT clock_timestamp()");
        await new Promise((r) => setTimeout(r, 1100));
        await primary.psql(
          "UPDATE pgbench_accounts SET abalance = abalance - 100 WHERE aid < 5000",
        );
        await primary.psql("DELETE FROM pgbench_history WHERE tid % 2 = 0");
        const last = await primary.psql("SELECT pg_walfile_name(pg_switch_wal())");
        await primary.waitArchived(last);

        const list = await runWalE(["backup-list"], env);
        assert.equal(list.code, 0, list.stderr);
        const rows = list.stdout.trim().split("\r\n");
        assert.equal(rows.length, 2, list.stdout);
        assert.match(rows[1] ?? "", /^base_[0-9A-F]{24}_\d{8}\t/);

        const data = join(tmp, "restored");
        const fetch = await runWalE(["backup-fetch", "--pool-size", "2", data, "LATEST"], env);
        assert.equal(fetch.code, 0, fetch.stderr);
        assert.match(await Deno.readTextFile(join(data, "backup_label")), /^START WAL LOCATION:/);
        restored = await PgCluster.adopt(data);
        await restored.writeBaseConf(
          `restore_command = '${walE} wal-fetch "%f" "%p"'\n` +
            `recovery_target_time = '${target}'\n` +
            "recovery_target_action = 'promote'\n",
        );
        await Deno.writeTextFile(join(data, "recovery.signal"), "");
        await giveToPostgres(data);
        await primary.stop();
        await restored.start();
        await restored.waitFor("SELECT pg_is_in_recovery()", "f", 60_000);
        assert.equal(await restored.psql(CHECKSUM_SQL), checksum);
        await restored.psql("CREATE EXTENSION amcheck");
        assert.ok(Number(await restored.psql(AMCHECK_SQL)) > 5);
      } finally {
        await restored?.stop();
        await primary.stop();
        await Deno.remove(tmp, { recursive: true }).catch(() => {});
      }
    },
  });
}
