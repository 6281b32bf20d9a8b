/**
 * The first failure of a backup-push is the one reported (issue #16 item 6): when a volume
 * upload fails during an online backup, the user sees the store's error, not a follow-on error
 * of the cleanup; the backup is still stopped on the server, without waiting for a WAL archive
 * that fails too.
 *
 * Real PostgreSQL 15 and a real file store that fails for real: its prefix is so deep that
 * `extended_version.txt` can still be written but a volume's file name exceeds PATH_MAX, so
 * the first volume upload fails with ENAMETOOLONG, after the backup has started.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { giveToPostgres, makeSharedTempDir, type Output, PgCluster } from "../support/postgres.ts";
import { REPO, runWalE, WAL_E_CMD } from "../support/wal_e.ts";
import { assertOneError, errorDetail, listTree } from "./backup_push_helpers.ts";

/** Longest path open(2) takes on Linux (PATH_MAX less the NUL). */
const MAX_PATH = 4095;
/** Path lengths under the prefix, for a backup name of 37 characters and the local store's
 * temporary names (`.<name>.wal-e-tmp.<12 hex>`). */
const VERSION_TEMP = "/basebackups_005/".length + 37 + "/.extended_version.txt".length +
  ".wal-e-tmp.".length + 12;
const VOLUME_TEMP = "/basebackups_005/".length + 37 + "/tar_partitions/.part_00000000.tar.lzo"
  .length +
  ".wal-e-tmp.".length + 12;

/** A directory under `base` whose path is `length` characters long. */
async function deepDir(base: string, length: number): Promise<string> {
  let path = base;
  while (path.length < length) {
    const room = length - path.length - 1; // characters after the next "/"
    path += "/" + "d".repeat(room > 200 ? 150 : room);
  }
  assert.equal(path.length, length);
  await Deno.mkdir(path, { recursive: true });
  return path;
}

/** backup-push as a user, killed (and the test failed) if it hangs. */
async function push(env: Record<string, string>): Promise<Output> {
  const [program, ...args] = WAL_E_CMD;
  const out = await new Deno.Command(program ?? "deno", {
    args: [...args, "backup-push", ...(env["DATA"] === undefined ? [] : [env["DATA"]])],
    env: { NO_COLOR: "1", PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin", ...env },
    cwd: REPO,
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(90_000),
  }).output();
  const res = {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
  };
  assert.ok(out.signal === null, `backup-push hung and was killed:\n${res.stderr}`);
  return res;
}

Deno.test({
  name: "a failed volume upload is the error reported, even when stopping the backup fails too",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const tmp = await makeSharedTempDir("wal-e-push-fail-");
    await giveToPostgres(tmp);
    // Slack of 8 characters either way around PATH_MAX.
    const prefix = await deepDir(join(tmp, "store"), MAX_PATH - VERSION_TEMP - 8);
    assert.ok(prefix.length + VOLUME_TEMP > MAX_PATH);
    const env = { WALE_FILE_PREFIX: `file://localhost${prefix}` };
    // Archiving fails as well (a store that fails usually fails for WAL too): a stop that
    // waited for the archive would never return.
    const c = await PgCluster.init(
      join(tmp, "pg"),
      "wal_level = replica\narchive_mode = on\narchive_command = 'false'\n" +
        "log_statement = 'all'\nlog_line_prefix = '%m [%p] %a: '\n",
    );
    const denoDir = Deno.env.get("DENO_DIR");
    const base = {
      ...env,
      ...c.pgEnv,
      DATA: c.dataDir,
      ...(denoDir === undefined ? {} : { DENO_DIR: Deno.realPathSync(denoDir) }),
    };
    const stopCalls = async (): Promise<number> =>
      (await c.log()).split("\n").filter((l) =>
        l.includes("wal-e backup-push: ") && /statement: .*FROM pg_backup_stop\(false\)/.test(l)
      ).length;
    try {
      await c.start();
      await c.psql("CREATE TABLE t AS SELECT g AS id FROM generate_series(1, 1000) g");
      // A backup role that may start a backup but not stop it: the stop fails after the
      // upload did.
      await c.psql(
        "CREATE ROLE backup_only_start LOGIN; " +
          "GRANT EXECUTE ON FUNCTION pg_backup_start(text, boolean) TO backup_only_start",
      );

      const both = await push({ ...base, PGUSER: "backup_only_start" });
      assertOneError(both, 1, /MSG: /);
      assert.doesNotMatch(both.stderr, /ERROR +MSG: could not stop hot backup/, both.stderr);
      assert.match(errorDetail(both), /File name too long/, both.stderr);
      assert.match(errorDetail(both), /tar_partitions\/\.?part_00000000/, both.stderr);
      assert.match(
        both.stderr,
        /WARNING +MSG: could not stop hot backup\n\s+DETAIL: .*permission denied for function pg_backup_stop/,
      );
      assert.equal(await stopCalls(), 1, "the stop was not attempted");

      // As a superuser the stop succeeds, promptly although archiving fails: only the
      // upload's error is shown.
      const upload = await push(base);
      assertOneError(upload, 1, /MSG: /);
      assert.match(errorDetail(upload), /File name too long/, upload.stderr);
      assert.doesNotMatch(upload.stderr, /could not stop hot backup|WARNING/, upload.stderr);
      assert.equal(await stopCalls(), 2, "the stop was not attempted");

      const list = await runWalE(["backup-list"], env);
      assert.equal(list.code, 0, list.stderr);
      assert.equal(list.stdout.trim().split("\r\n").length, 1, list.stdout);
      const files = await listTree(join(prefix, "basebackups_005"));
      assert.ok(files.some((f) => f.endsWith("/extended_version.txt")), files.join("\n"));
      assert.ok(!files.some((f) => f.includes("part_")), files.join("\n"));
    } finally {
      await c.stop();
      await Deno.remove(tmp, { recursive: true }).catch(() => {});
    }
  },
});
