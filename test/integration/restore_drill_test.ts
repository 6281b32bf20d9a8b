/**
 * The restore drill (`runRestoreDrill`, backup-verify --restore) against a real PostgreSQL 15
 * archiving into a file store with our wal-push: on a good archive it recovers to the end of
 * the archive or to a target time, prints "restorable to …", writes nothing into the store
 * and leaves no scratch directory or server behind; a segment missing after the backup only
 * shortens the restorable time; a corrupt segment object or the backup's first segment deleted
 * fails with the reason and the server's own words, and still cleans up. The drill
 * runs as the `postgres` user through test/support/restore_drill_entry.ts (PostgreSQL
 * refuses root); the root refusal itself is checked in-process.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { runRestoreDrill } from "../../src/commands/backup_verify/restore_drill.ts";
import { UserError } from "../../src/errors.ts";
import { Logger } from "../../src/log.ts";
import { MemoryStore } from "../../src/storage/memory.ts";
import {
  AS_ROOT,
  giveToPostgres,
  makeSharedTempDir,
  type Output,
  PgCluster,
  sh,
} from "../support/postgres.ts";
import { REPO, WAL_E_CMD, writeWrapper } from "../support/wal_e.ts";

const ENTRY = `${REPO}/test/support/restore_drill_entry.ts`;

/** Runs the drill as postgres with `env`; TMPDIR is where its scratch directory goes. */
function drill(args: string[], env: Record<string, string>): Promise<Output> {
  const denoDir = Deno.env.get("DENO_DIR");
  const [deno, ...rest] = WAL_E_CMD;
  const runArgs = rest.slice(0, rest.length - 1); // run --allow-all --quiet --config deno.json
  return sh([deno ?? "deno", ...runArgs, ENTRY, ...args], {
    env: {
      NO_COLOR: "1",
      PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
      ...(denoDir === undefined ? {} : { DENO_DIR: Deno.realPathSync(denoDir) }),
      ...env,
    },
    check: false,
  });
}

/** Every file under `dir` with its size and modification time, sorted. */
async function listing(dir: string): Promise<string[]> {
  const out: string[] = [];
  async function walk(d: string): Promise<void> {
    for await (const e of Deno.readDir(d)) {
      const p = join(d, e.name);
      if (e.isDirectory) await walk(p);
      else {
        const st = await Deno.stat(p);
        out.push(`${p.slice(dir.length)} ${st.size} ${st.mtime?.getTime()}`);
      }
    }
  }
  await walk(dir);
  return out.sort();
}

/** PIDs of processes whose command line names `path` (a drill server left running). */
async function processesNaming(path: string): Promise<number[]> {
  const pids: number[] = [];
  for await (const e of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    const cmd = await Deno.readTextFile(`/proc/${e.name}/cmdline`).catch(() => "");
    if (cmd.includes(path)) pids.push(Number(e.name));
  }
  return pids;
}

async function assertCleanedUp(scratchParent: string): Promise<void> {
  assert.deepEqual(await Array.fromAsync(Deno.readDir(scratchParent)), [], "scratch left");
  assert.deepEqual(await processesNaming(scratchParent), [], "drill processes left");
}

Deno.test({
  name: "restore drill: restorable to the end of the archive and to a target time; " +
    "a corrupt or missing segment fails with the server's reason; nothing is left behind",
  sanitizeResources: false,
  sanitizeOps: false,
  ignore: !AS_ROOT,
  async fn(t) {
    const tmp = await makeSharedTempDir("wal-e-drill-");
    await giveToPostgres(tmp);
    const archive = join(tmp, "archive");
    const scratchParent = join(tmp, "scratch");
    await Deno.mkdir(archive);
    await Deno.mkdir(scratchParent);
    await giveToPostgres(tmp);
    const env = { WALE_FILE_PREFIX: `file://localhost${archive}/pg` };
    const walE = await writeWrapper(tmp, env);
    const primary = await PgCluster.init(
      join(tmp, "primary"),
      `wal_level = replica\narchive_mode = on\narchive_command = '${walE} wal-push %p'\n`,
    );
    try {
      await primary.start();
      await primary.psql("CREATE DATABASE app");
      await primary.psql(
        "CREATE TABLE t (id int PRIMARY KEY, v text); " +
          "INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 20000) g",
      );
      const push = await sh([walE, "backup-push", "--fast-checkpoint", primary.dataDir], {
        env: primary.pgEnv,
        check: false,
      });
      assert.equal(push.code, 0, push.stderr);
      await primary.psql("INSERT INTO t VALUES (-1, 'before the target')");
      await new Promise((r) => setTimeout(r, 1100));
      const target = await primary.psql(
        `SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US"+00"')`,
      );
      await new Promise((r) => setTimeout(r, 1100));
      await primary.psql("INSERT INTO t VALUES (-2, 'after the target')");
      const last = await primary.psql("SELECT pg_walfile_name(pg_switch_wal())");
      await primary.waitArchived(last);
      await primary.stop();
      const drillEnv = { ...env, TMPDIR: scratchParent };
      const before = await listing(archive);

      await t.step("good archive: restorable to the end of the archive", async () => {
        const r = await drill(["LATEST"], drillEnv);
        assert.equal(r.code, 0, r.stderr);
        const m =
          /^restorable to (\S+) \(the last transaction replayed; end of the archive\) from base_\w+: fetch [\d.]+ s, recovery [\d.]+ s, checks [\d.]+ s; 3 database\(s\) answered, (\d+) btree index\(es\) passed amcheck\n$/
            .exec(r.stdout);
        assert.ok(m !== null, r.stdout);
        // The last commit ("after the target") is later than the target.
        assert.ok((m[1] ?? "") > target.replace(" ", "T").replace("+00", "Z"), r.stdout);
        assert.ok(Number(m[2]) > 3, r.stdout);
        assert.match(r.stderr, /MSG: the restored cluster reached a consistent state/);
        assert.match(
          r.stderr,
          /MSG: stopped the drill's server\n\s+DETAIL: PID \d+: fast shutdown/,
        );
        await assertCleanedUp(scratchParent);
        assert.deepEqual(await listing(archive), before, "the drill wrote into the store");
      });

      await t.step(
        "through the CLI: backup-verify LATEST --restore checks the backup, then drills",
        async () => {
          const r = await sh([walE, "backup-verify", "LATEST", "--restore"], {
            env: { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin", TMPDIR: scratchParent },
            check: false,
          });
          assert.equal(r.code, 0, r.stderr);
          assert.match(r.stdout, /^OK /m);
          assert.doesNotMatch(r.stdout, /^FAIL /m);
          assert.match(r.stdout, /^restorable to \S+ .* from base_\w+: fetch /m);
          await assertCleanedUp(scratchParent);
          assert.deepEqual(await listing(archive), before, "the drill wrote into the store");
        },
      );

      await t.step("--target-time: restorable to the target", async () => {
        const r = await drill(["LATEST", "--target-time", target], drillEnv);
        assert.equal(r.code, 0, r.stderr);
        const iso = target.replace(" ", "T").replace("+00", "+00:00");
        assert.match(
          r.stdout,
          new RegExp(
            `^restorable to ${iso.replaceAll(".", "\\.").replaceAll("+", "\\+")} ` +
              "\\(the recovery target; recovery stopped before commit of transaction \\d+, " +
              "time [^)]+\\) from base_",
          ),
        );
        await assertCleanedUp(scratchParent);
        assert.deepEqual(await listing(archive), before, "the drill wrote into the store");
      });

      await t.step("--pg-bin without a server: a clear error before fetching", async () => {
        const r = await drill(["LATEST", "--pg-bin", join(tmp, "nowhere")], drillEnv);
        assert.equal(r.code, 1, r.stderr);
        assert.match(r.stderr, /MSG: PostgreSQL server binaries not found for the restore drill/);
        assert.match(r.stderr, /HINT: .*pass --pg-bin naming the directory/);
        await assertCleanedUp(scratchParent);
      });

      await t.step(
        "a corrupt segment object: wal-fetch's failure (exit 126) stops recovery",
        async () => {
          const object = join(archive, "pg", "wal_005", `${last}.lzo`);
          const good = await Deno.readFile(object);
          await Deno.writeTextFile(object, "not an lzop stream");
          try {
            const r = await drill(["LATEST"], drillEnv);
            assert.equal(r.code, 1, r.stderr);
            assert.equal(r.stdout, "");
            assert.match(
              r.stderr,
              new RegExp(
                `MSG: restore drill failed: wal-fetch failed during recovery \\(fetching ${last}\\)`,
              ),
            );
            assert.match(r.stderr, /wal_e\.main ERROR MSG: not an lzop stream/);
            assert.match(
              r.stderr,
              new RegExp(`FATAL: {2}could not restore file "${last}" from archive`),
            );
            await assertCleanedUp(scratchParent);
          } finally {
            await Deno.writeFile(object, good);
          }
        },
      );

      await t.step(
        "a segment missing after the backup: restorable only up to the gap",
        async () => {
          const object = join(archive, "pg", "wal_005", `${last}.lzo`);
          const kept = join(tmp, "kept.lzo");
          await Deno.rename(object, kept);
          try {
            const r = await drill(["LATEST"], drillEnv);
            assert.equal(r.code, 0, r.stderr);
            // The gap ends recovery as in a real restore: before both inserts after the backup.
            const m =
              /^restorable to (?:WAL position \S+ \(no transaction committed after the backup|(\S+) \(the last transaction replayed); end of the archive\) from base_/
                .exec(r.stdout);
            assert.ok(m !== null, r.stdout);
            if (m[1] !== undefined) assert.ok(m[1] < target.replace(" ", "T"), r.stdout);
            await assertCleanedUp(scratchParent);
          } finally {
            await Deno.rename(kept, object);
          }
        },
      );

      await t.step("broken archive: the backup's first segment missing", async () => {
        const name = /^base_([0-9A-F]{24})_/.exec(
          (await Array.fromAsync(Deno.readDir(join(archive, "pg", "basebackups_005"))))
            .map((e) => e.name).find((n) => n.startsWith("base_")) ?? "",
        );
        assert.ok(name !== null);
        await Deno.remove(join(archive, "pg", "wal_005", `${name[1]}.lzo`));
        const r = await drill(["LATEST"], drillEnv);
        assert.equal(r.code, 1, r.stderr);
        assert.equal(r.stdout, "");
        assert.match(
          r.stderr,
          /MSG: restore drill failed: the WAL where the backup starts is not in the archive/,
        );
        assert.match(r.stderr, /FATAL: {2}could not locate required checkpoint record/);
        assert.match(r.stderr, new RegExp(`HINT: Segment ${name[1]}, where base_`));
        await assertCleanedUp(scratchParent);
      });
    } finally {
      await primary.stop();
      await Deno.remove(tmp, { recursive: true }).catch(() => {});
    }
  },
});

Deno.test({
  name: "restore drill: refuses to run as root, before touching the store",
  ignore: !AS_ROOT,
  async fn() {
    const logs: string[] = [];
    const deps = {
      store: new MemoryStore(),
      log: new Logger("test", { sink: (line: string) => logs.push(line) }),
      encoding: {},
      stdout: () => {},
      env: {},
      selfCommand: WAL_E_CMD,
    };
    await assert.rejects(
      runRestoreDrill({ backupName: "LATEST" }, deps),
      (err: unknown) =>
        err instanceof UserError && err.message === "the restore drill cannot run as root" &&
        /sudo -u postgres/.test(err.hint ?? ""),
    );
  },
});

Deno.test({
  name: "restore drill: a tablespace is restored inside the scratch copy, never at its origin",
  sanitizeResources: false,
  sanitizeOps: false,
  ignore: !AS_ROOT,
  async fn() {
    const tmp = await makeSharedTempDir("wal-e-drill-ts-");
    const archive = join(tmp, "archive");
    const scratchParent = join(tmp, "scratch");
    const tsDir = join(tmp, "ts_src");
    for (const d of [archive, scratchParent, tsDir]) await Deno.mkdir(d, { mode: 0o700 });
    await giveToPostgres(tmp);
    const env = { WALE_FILE_PREFIX: `file://localhost${archive}/pg` };
    const walE = await writeWrapper(tmp, env);
    const primary = await PgCluster.init(
      join(tmp, "primary"),
      `wal_level = replica\narchive_mode = on\narchive_command = '${walE} wal-push %p'\n`,
    );
    try {
      await primary.start();
      await primary.psql(`CREATE TABLESPACE ts1 LOCATION '${tsDir}'`);
      await primary.psql(
        "CREATE TABLE in_ts (id int PRIMARY KEY) TABLESPACE ts1; " +
          "INSERT INTO in_ts SELECT generate_series(1, 5000)",
      );
      const push = await sh([walE, "backup-push", "--fast-checkpoint", primary.dataDir], {
        env: primary.pgEnv,
        check: false,
      });
      assert.equal(push.code, 0, push.stderr);
      await primary.psql("INSERT INTO in_ts VALUES (0)");
      const last = await primary.psql("SELECT pg_walfile_name(pg_switch_wal())");
      await primary.waitArchived(last);
      await primary.stop();
      const origin = await listing(tsDir);
      const r = await drill(["LATEST"], { ...env, TMPDIR: scratchParent });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^restorable to \S+ \(the last transaction replayed; end of the/);
      assert.deepEqual(await listing(tsDir), origin, "the drill wrote into the tablespace");
      await assertCleanedUp(scratchParent);
    } finally {
      await primary.stop();
      await Deno.remove(tmp, { recursive: true }).catch(() => {});
    }
  },
});
