/**
 * A tablespace backup-push cannot read fails the backup, naming the link and its target
 * (issue #16 item 5), instead of archiving `pg_tblspc/<oid>` as a bare symlink and leaving the
 * tablespace's data out of a backup that then becomes LATEST. Real PostgreSQL 15; the push runs
 * as the cluster's owner, not root, so the permission bits really deny.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { giveToPostgres, makeSharedTempDir, PgCluster, sh } from "../support/postgres.ts";
import { runWalE } from "../support/wal_e.ts";
import { assertOneError, errorDetail, runWalEAsOwner } from "./backup_push_helpers.ts";

Deno.test({
  name: "backup-push fails, naming the tablespace or file, when a tablespace link cannot be " +
    "followed or a path of the cluster cannot be read",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const tmp = await makeSharedTempDir("wal-e-push-ts-");
    const tsParent = join(tmp, "tsparent");
    const tsDir = join(tsParent, "ts");
    await Deno.mkdir(tsDir, { recursive: true, mode: 0o700 });
    await giveToPostgres(tmp);
    const env = { WALE_FILE_PREFIX: `file://localhost${tmp}/store` };
    const c = await PgCluster.init(join(tmp, "pg"));
    const backups = async (): Promise<number> => {
      const list = await runWalE(["backup-list"], env);
      assert.equal(list.code, 0, list.stderr);
      return list.stdout.trim().split("\r\n").length - 1;
    };
    try {
      await c.start();
      const pgEnv = { ...env, ...c.pgEnv };
      await c.psql(`CREATE TABLESPACE ts1 LOCATION '${tsDir}'`);
      await c.psql(
        "CREATE TABLE in_ts TABLESPACE ts1 AS SELECT g AS id FROM generate_series(1, 1000) g",
      );
      const oid = await c.psql("SELECT oid FROM pg_tablespace WHERE spcname = 'ts1'");
      const link = `pg_tblspc/${oid}`;
      // Nothing of ts1 is dirty, so the backup's own checkpoint does not need the directory.
      await c.psql("CHECKPOINT");

      // 1. The link's target cannot be reached: its parent is unreadable (stat fails EACCES).
      await Deno.chmod(tsParent, 0o000);
      let r;
      try {
        r = await runWalEAsOwner(["backup-push", c.dataDir], pgEnv);
      } finally {
        await Deno.chmod(tsParent, 0o700);
      }
      assertOneError(r, 1, new RegExp(`MSG: could not read tablespace "${link}"`));
      assert.match(errorDetail(r), new RegExp(`"${tsDir}"`), r.stderr);
      assert.match(errorDetail(r), /[Pp]ermission denied/, r.stderr);

      // 2. The target is there but cannot be listed (readdir fails EACCES).
      await Deno.chmod(tsDir, 0o000);
      try {
        r = await runWalEAsOwner(["backup-push", c.dataDir], pgEnv);
      } finally {
        await Deno.chmod(tsDir, 0o700);
      }
      assertOneError(r, 1, new RegExp(`MSG: could not read tablespace "${link}"`));
      assert.match(errorDetail(r), new RegExp(`"${tsDir}"`), r.stderr);
      assert.match(errorDetail(r), /[Pp]ermission denied/, r.stderr);

      // 3. A dangling tablespace link.
      const gone = join(tmp, "gone");
      await sh(["ln", "-s", gone, join(c.dataDir, "pg_tblspc", "424242")]);
      try {
        r = await runWalEAsOwner(["backup-push", c.dataDir], pgEnv);
      } finally {
        await Deno.remove(join(c.dataDir, "pg_tblspc", "424242"));
      }
      assertOneError(r, 1, /MSG: could not read tablespace "pg_tblspc\/424242"/);
      assert.match(errorDetail(r), new RegExp(`"${gone}", which does not exist`), r.stderr);

      // 4. A file and a directory of the data directory itself that the owner cannot read
      // (root's leftovers): the push fails naming them, no stack trace.
      const junkFile = join(c.dataDir, "root_only_file");
      await Deno.writeTextFile(junkFile, "x", { mode: 0o600 });
      await Deno.chmod(junkFile, 0o600);
      try {
        r = await runWalEAsOwner(["backup-push", c.dataDir], pgEnv);
      } finally {
        await Deno.remove(junkFile);
      }
      assertOneError(r, 1, /MSG: could not read a file of the cluster/);
      assert.match(errorDetail(r), new RegExp(`"${junkFile}": Permission denied`), r.stderr);
      const junkDir = join(c.dataDir, "root_only_dir");
      await Deno.mkdir(junkDir, { mode: 0o700 });
      await Deno.chmod(junkDir, 0o700);
      try {
        r = await runWalEAsOwner(["backup-push", c.dataDir], pgEnv);
      } finally {
        await Deno.remove(junkDir);
      }
      assertOneError(r, 1, /MSG: could not read the data directory/);
      assert.match(errorDetail(r), new RegExp(`"${junkDir}": Permission denied`), r.stderr);

      assert.equal(await backups(), 0, "a failed push left a complete-looking backup");

      // With everything readable again the same push succeeds (the setup itself is sound).
      const ok = await runWalEAsOwner(["backup-push", c.dataDir], pgEnv);
      assert.equal(ok.code, 0, ok.stderr);
      assert.equal(await backups(), 1);
    } finally {
      await Deno.chmod(tsParent, 0o700).catch(() => {});
      await Deno.chmod(tsDir, 0o700).catch(() => {});
      await c.stop();
      await Deno.remove(tmp, { recursive: true }).catch(() => {});
    }
  },
});
