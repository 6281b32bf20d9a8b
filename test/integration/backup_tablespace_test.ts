/**
 * A cluster with a user tablespace, pushed online, restored three ways (WAL-E-COMPAT §6.1):
 * with pre-made pg_tblspc symlinks, with --blind-restore (tablespace under pg_tblspc), and with
 * --restore-spec FILE (directories and links created, tablespace_map rewritten, wal-e #354).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { giveToPostgres, makeSharedTempDir, PgCluster, sh } from "../support/postgres.ts";
import { runWalE, writeWrapper } from "../support/wal_e.ts";

const COUNT_SQL = "SELECT count(*) || ':' || sum(id) FROM in_ts";

Deno.test({
  name: "a tablespace backup restores with symlinks, --blind-restore and --restore-spec",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const tmp = await makeSharedTempDir("wal-e-ts-");
    await giveToPostgres(tmp);
    const archive = join(tmp, "archive");
    await Deno.mkdir(archive);
    await giveToPostgres(archive);
    const env = { WALE_FILE_PREFIX: `file://localhost${archive}/pg` };
    const walE = await writeWrapper(tmp, env);
    const tsDir = join(tmp, "ts_src");
    await Deno.mkdir(tsDir, { mode: 0o700 });
    await giveToPostgres(tsDir);
    const primary = await PgCluster.init(
      join(tmp, "primary"),
      `wal_level = replica\narchive_mode = on\narchive_command = '${walE} wal-push %p'\n`,
    );
    const started: PgCluster[] = [];
    try {
      await primary.start();
      await primary.psql(`CREATE TABLESPACE ts1 LOCATION '${tsDir}'`);
      await primary.psql(
        "CREATE TABLE in_ts (id int PRIMARY KEY, v text) TABLESPACE ts1; " +
          "INSERT INTO in_ts SELECT g, md5(g::text) FROM generate_series(1, 5000) g",
      );
      const oid = await primary.psql("SELECT oid FROM pg_tablespace WHERE spcname = 'ts1'");
      const expected = await primary.psql(COUNT_SQL);
      const push = await runWalE(["backup-push", primary.dataDir], { ...env, ...primary.pgEnv });
      assert.equal(push.code, 0, push.stderr);
      await primary.stop();

      const restore = async (
        label: string,
        prepare: (data: string, ts: string) => Promise<string[]>,
        conf = "",
      ): Promise<{ data: string; ts: string; cluster: PgCluster }> => {
        const data = join(tmp, `data_${label}`);
        const ts = join(tmp, `ts_${label}`);
        const extra = await prepare(data, ts);
        const r = await runWalE(["backup-fetch", data, "LATEST", ...extra], env);
        assert.equal(r.code, 0, `${label}: ${r.stderr}`);
        const cluster = await PgCluster.adopt(data);
        await cluster.writeBaseConf(
          `restore_command = '${walE} wal-fetch -p0 "%f" "%p"'\n` +
            "recovery_target_action = 'promote'\n" + conf,
        );
        await Deno.writeTextFile(join(data, "recovery.signal"), "");
        await giveToPostgres(data);
        await sh(["test", "-e", ts], { check: false }).then(async (t) => {
          if (t.code === 0) await giveToPostgres(ts);
        });
        started.push(cluster);
        await cluster.start();
        await cluster.waitFor("SELECT pg_is_in_recovery()", "f", 60_000);
        assert.equal(await cluster.psql(COUNT_SQL), expected, label);
        await cluster.stop();
        return { data, ts, cluster };
      };

      // 1. Pre-made symlink to a new location; tablespace_map follows the link.
      const a = await restore("symlink", async (data, ts) => {
        await Deno.mkdir(join(data, "pg_tblspc"), { recursive: true, mode: 0o700 });
        await Deno.mkdir(ts, { mode: 0o700 });
        await Deno.symlink(ts, join(data, "pg_tblspc", oid));
        return [];
      });
      assert.equal(await Deno.readLink(join(a.data, "pg_tblspc", oid)), a.ts);

      // Without links and without --blind-restore: WAL-E's error, exit 1.
      const refused = await runWalE(["backup-fetch", join(tmp, "data_none"), "LATEST"], env);
      assert.equal(refused.code, 1, refused.stderr);
      assert.match(refused.stderr, /MSG: Symlinks for some tablespaces not found or created\./);

      // 2. Blind: the tablespace lands under pg_tblspc as a real directory, which PostgreSQL
      // 15 recovery accepts only with allow_in_place_tablespaces.
      const b = await restore(
        "blind",
        () => Promise.resolve(["--blind-restore"]),
        "allow_in_place_tablespaces = on\n",
      );
      const st = await Deno.lstat(join(b.data, "pg_tblspc", oid));
      assert.ok(st.isDirectory && !st.isSymlink);

      // 3. Restore spec: directories and links created, map rewritten.
      const c = await restore("spec", async (_data, ts) => {
        const spec = join(tmp, "spec.json");
        await Deno.writeTextFile(
          spec,
          JSON.stringify({
            tablespaces: [oid],
            [oid]: { loc: `${ts}/`, link: `pg_tblspc/${oid}` },
          }),
        );
        return ["--restore-spec", spec];
      });
      assert.equal(await Deno.readLink(join(c.data, "pg_tblspc", oid)), c.ts);
      assert.ok([...Deno.readDirSync(c.ts)].length > 0);
    } finally {
      for (const c of started) await c.stop();
      await primary.stop();
      await Deno.remove(tmp, { recursive: true }).catch(() => {});
    }
  },
});
