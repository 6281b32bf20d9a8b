/**
 * backup-push with a real PostgreSQL 15: --while-offline (refusal on a live directory, a
 * correct name from pg_controldata, a restorable backup) and an interrupted push that leaves
 * no sentinel behind.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { giveToPostgres, makeSharedTempDir, PG_BIN, PgCluster, sh } from "../support/postgres.ts";
import { REPO, runWalE, WAL_E_CMD, writeWrapper } from "../support/wal_e.ts";

async function setup(prefix: string): Promise<{ tmp: string; env: Record<string, string> }> {
  const tmp = await makeSharedTempDir(prefix);
  await giveToPostgres(tmp);
  return { tmp, env: { WALE_FILE_PREFIX: `file://localhost${tmp}/archive` } };
}

Deno.test({
  name: "backup-push --while-offline names the backup from REDO and restores a startable cluster",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const { tmp, env } = await setup("wal-e-offline-");
    const walE = await writeWrapper(tmp, env);
    const src = await PgCluster.init(
      join(tmp, "src"),
      `wal_level = replica\narchive_mode = on\narchive_command = '${walE} wal-push %p'\n`,
    );
    let restored: PgCluster | undefined;
    try {
      await src.start();
      await src.psql("CREATE TABLE t AS SELECT g AS id FROM generate_series(1, 1000) g");
      const refused = await runWalE(["backup-push", "--while-offline", src.dataDir], env);
      assert.equal(refused.code, 1);
      assert.match(refused.stderr, /MSG: while_offline set, but pg looks to be running/);
      await src.stop();

      const cd = await sh([`${PG_BIN}/pg_controldata`, src.dataDir], { env: { LC_ALL: "C" } });
      const redo = /REDO location:\s+([0-9A-F]+)\/([0-9A-F]+)/.exec(cd.stdout);
      assert.ok(redo !== null);
      const lsn = (BigInt(`0x${redo[1]}`) << 32n) | BigInt(`0x${redo[2]}`);
      const seg = (lsn - 1n) / 16777216n;
      const name = "base_00000001" + (seg / 256n).toString(16).toUpperCase().padStart(8, "0") +
        (seg % 256n).toString(16).toUpperCase().padStart(8, "0") + "_" +
        String(lsn % 16777216n).padStart(8, "0");

      const push = await runWalE(["backup-push", "--while-offline", src.dataDir], env);
      assert.equal(push.code, 0, push.stderr);
      const list = await runWalE(["backup-list", "--detail"], env);
      const row = list.stdout.trim().split("\r\n")[1]?.split("\t") ?? [];
      assert.equal(row[0], name);
      // Offline: stop = start (§5.4).
      assert.equal(row[5], name.slice(5, 29));
      assert.equal(row[6], name.slice(30));
      const version = await Deno.readTextFile(
        join(tmp, "archive", "basebackups_005", name, "extended_version.txt"),
      );
      assert.match(version, /^PostgreSQL 15\./);
      // The checkpoint's WAL (pg_wal is not in a base backup) reaches the archive once the
      // cluster runs again and switches segments.
      await src.start();
      const last = await src.psql("SELECT pg_walfile_name(pg_switch_wal())");
      await src.waitArchived(last, 60_000);
      await src.stop();

      const data = join(tmp, "restored");
      const fetch = await runWalE(["backup-fetch", data, "LATEST"], env);
      assert.equal(fetch.code, 0, fetch.stderr);
      restored = await PgCluster.adopt(data);
      await restored.writeBaseConf(
        `restore_command = '${walE} wal-fetch -p0 "%f" "%p"'\n` +
          "recovery_target = 'immediate'\nrecovery_target_action = 'promote'\n",
      );
      await Deno.writeTextFile(join(data, "recovery.signal"), "");
      await giveToPostgres(data);
      await restored.start();
      await restored.waitFor("SELECT pg_is_in_recovery()", "f", 60_000);
      assert.equal(await restored.psql("SELECT count(*) FROM t"), "1000");
    } finally {
      await restored?.stop();
      await src.stop();
      await Deno.remove(tmp, { recursive: true }).catch(() => {});
    }
  },
});

Deno.test({
  name: "an interrupted backup-push leaves no sentinel and the next push succeeds",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const { tmp, env } = await setup("wal-e-interrupt-");
    const c = await PgCluster.init(join(tmp, "pg"), "checkpoint_completion_target = 0\n");
    try {
      await c.start();
      await sh([`${PG_BIN}/pgbench`, "-i", "-s", "2", "-q"], { env: c.pgEnv });
      const [program, ...args] = WAL_E_CMD;
      const child = new Deno.Command(program ?? "deno", {
        args: [
          ...args,
          "backup-push",
          "--cluster-read-rate-limit",
          "3000000",
          c.dataDir,
        ],
        env: { ...env, ...c.pgEnv, NO_COLOR: "1" },
        cwd: REPO,
        stdout: "null",
        stderr: "piped",
      }).spawn();
      // Kill it while a volume is being written: its temporary file exists and has bytes.
      const dir = join(tmp, "archive", "basebackups_005");
      const inFlight = ["-name", ".part_*.tar.lzo.wal-e-tmp.*", "-size", "+0c"];
      const volumeInFlight = async (): Promise<boolean> => {
        const r = await sh(["find", dir, ...inFlight], { check: false, asPostgres: false });
        return r.stdout.trim() !== "";
      };
      const deadline = Date.now() + 30_000;
      let seen = false;
      while (!seen && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 50));
        seen = await volumeInFlight();
      }
      assert.ok(seen, "backup-push never started writing a volume");
      child.kill("SIGKILL");
      const status = await child.status;
      await child.stderr.cancel();
      assert.equal(status.success, false);
      // It died mid-volume: the partial volume is still there, hidden.
      assert.ok(await volumeInFlight(), "the push had finished its volume before the kill");

      const sentinels = await sh(["find", dir, "-name", "*_backup_stop_sentinel.json"], {
        asPostgres: false,
      });
      assert.equal(sentinels.stdout.trim(), "");
      const before = await runWalE(["backup-list"], env);
      assert.equal(before.stdout.trim().split("\r\n").length, 1, before.stdout);

      const again = await runWalE(["backup-push", c.dataDir], { ...env, ...c.pgEnv });
      assert.equal(again.code, 0, again.stderr);
      const after = await runWalE(["backup-list"], env);
      assert.equal(after.stdout.trim().split("\r\n").length, 2, after.stdout);
    } finally {
      await c.stop();
      await Deno.remove(tmp, { recursive: true }).catch(() => {});
    }
  },
});

Deno.test({
  name:
    "backup-push removes what uploads killed over a day ago left in the store, and nothing younger",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const { tmp, env } = await setup("wal-e-leftovers-");
    const src = await PgCluster.init(join(tmp, "src"));
    try {
      const archive = join(tmp, "archive");
      // A killed push's hidden partition file and a killed wal-push's temporary file, two days
      // old, and a temporary file of an upload in flight right now.
      const leftover = (dir: string, name: string) =>
        join(archive, dir, `.${name}.wal-e-tmp.0123456789ab`);
      const old = leftover(
        "basebackups_005/base_X_00000028/tar_partitions",
        "part_00000000.tar.lzo",
      );
      const oldWal = leftover("wal_005", "000000010000000000000003.lzo");
      const fresh = leftover(
        "basebackups_005/base_Y_00000028/tar_partitions",
        "part_00000001.tar.lzo",
      );
      const twoDaysAgo = new Date(Date.now() - 2 * 24 * 3600_000);
      for (
        const [path, mtime] of [[old, twoDaysAgo], [oldWal, twoDaysAgo], [
          fresh,
          new Date(),
        ]] as const
      ) {
        await Deno.mkdir(join(path, ".."), { recursive: true });
        await Deno.writeFile(path, new Uint8Array(100));
        await Deno.utime(path, mtime, mtime);
      }
      await giveToPostgres(archive);
      const push = await runWalE(["backup-push", "--while-offline", src.dataDir], env);
      assert.equal(push.code, 0, push.stderr);
      assert.match(push.stderr, /MSG: removed leftovers of interrupted uploads\n/);
      const exists = (p: string) => Deno.stat(p).then(() => true, () => false);
      assert.equal(await exists(old), false);
      assert.equal(await exists(oldWal), false);
      assert.equal(await exists(fresh), true);
      const list = await runWalE(["backup-list"], env);
      assert.equal(list.stdout.trim().split("\r\n").length, 2, list.stdout);
    } finally {
      await Deno.remove(tmp, { recursive: true });
    }
  },
});

Deno.test({
  name: "backup-push logs its waits, and gives up naming the segment when WAL archiving is stuck",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const { tmp, env } = await setup("wal-e-archive-wait-");
    // An archiver that fails every time: PostgreSQL's own wait in pg_backup_stop would never end.
    const src = await PgCluster.init(
      join(tmp, "src"),
      "wal_level = replica\narchive_mode = on\narchive_command = 'false'\n",
    );
    try {
      await src.start();
      const t0 = performance.now();
      const push = await runWalE(["backup-push", src.dataDir], {
        ...env,
        ...src.pgEnv,
        WALE_ARCHIVE_TIMEOUT: "3",
      });
      const seconds = (performance.now() - t0) / 1000;
      assert.equal(push.code, 1, push.stderr);
      assert.ok(seconds < 30, `took ${seconds} s`);
      assert.match(push.stderr, /MSG: waiting for a spread checkpoint\n/);
      assert.match(push.stderr, /HINT: --fast-checkpoint asks for an immediate checkpoint/);
      assert.match(push.stderr, /MSG: waiting for WAL archiving\n/);
      const failed = /ERROR +MSG: WAL segment ([0-9A-F]{24}) was not archived\n/.exec(push.stderr);
      assert.ok(failed !== null, push.stderr);
      // The segment named is one PostgreSQL really failed to archive.
      const ready = await Array.fromAsync(Deno.readDir(join(src.dataDir, "pg_wal/archive_status")));
      assert.ok(ready.some((e) => e.name === `${failed[1]}.ready`), JSON.stringify(ready));
      assert.match(push.stderr, /WALE_ARCHIVE_TIMEOUT/);
      assert.doesNotMatch(push.stderr, /bug in wal-e|\n\s+at /);
      const list = await runWalE(["backup-list"], env);
      assert.equal(list.stdout.trim().split("\r\n").length, 1, list.stdout);
    } finally {
      await src.stop().catch(() => {});
      await Deno.remove(tmp, { recursive: true });
    }
  },
});
