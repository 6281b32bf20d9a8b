/**
 * Progress of backup-push and backup-fetch with a real PostgreSQL 15 (issue #17): on a
 * terminal (a pseudo-terminal from util-linux `script`) a status line rewritten in place with
 * bytes, total, share, rate and ETA, records kept off it, and a summary; without a terminal
 * INFO records at `WALE_PROGRESS_INTERVAL` and the same summary; under --terse neither.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { giveToPostgres, makeSharedTempDir, PG_BIN, PgCluster, sh } from "../support/postgres.ts";
import { REPO, runWalE, WAL_E_CMD, writeWrapper } from "../support/wal_e.ts";
import type { Output } from "../support/postgres.ts";

/** Runs the tool with stdout and stderr on a pseudo-terminal; returns what it showed. */
async function runOnTerminal(args: string[], env: Record<string, string>): Promise<Output> {
  const quote = (a: string): string => `'${a.replaceAll("'", "'\\''")}'`;
  const denoDir = Deno.env.get("DENO_DIR");
  const out = await new Deno.Command("script", {
    args: ["-qfec", [...WAL_E_CMD, ...args].map(quote).join(" "), "/dev/null"],
    env: {
      NO_COLOR: "1",
      PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
      ...(denoDir === undefined ? {} : { DENO_DIR: Deno.realPathSync(denoDir) }),
      ...env,
    },
    clearEnv: true,
    cwd: REPO,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** Terminal output with its erase-line sequence made visible as `<EL>`. */
function visible(text: string): string {
  return text.replaceAll("\x1b[K", "<EL>");
}

/** The `key=value` of the last STRUCTURED line following `msg`. */
function structured(text: string, msg: string, key: string): number {
  const at = text.lastIndexOf(`MSG: ${msg}`);
  assert.ok(at >= 0, `no "${msg}" record in:\n${text}`);
  const m = new RegExp(`STRUCTURED:[^\\n]* ${key}=([0-9.]+)`).exec(text.slice(at));
  assert.ok(m !== null, `no ${key}= after "${msg}"`);
  return Number(m[1]);
}

/** Number of `part_*.tar.lzo` volumes of the only backup under `archive`. */
async function volumesIn(archive: string): Promise<{ count: number; expanded: number }> {
  const base = join(archive, "basebackups_005");
  let count = 0;
  let expanded = -1;
  for await (const e of Deno.readDir(base)) {
    if (e.isDirectory) {
      for await (const v of Deno.readDir(join(base, e.name, "tar_partitions"))) {
        if (/^part_\d+\.tar\.lzo$/.test(v.name)) count++;
      }
    } else if (e.name.endsWith("_backup_stop_sentinel.json")) {
      expanded = JSON.parse(await Deno.readTextFile(join(base, e.name))).expanded_size_bytes;
    }
  }
  return { count, expanded };
}

Deno.test({
  name: "backup-push and backup-fetch show a live progress line and a summary on a terminal, " +
    "interval records and a summary in a log, and nothing under --terse",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const tmp = await makeSharedTempDir("wal-e-progress-");
    const archive = join(tmp, "archive");
    // The store's directory belongs to postgres before anything writes there: the pushes here
    // run as root, and a root-owned root would stop archive_command creating wal_005.
    await Deno.mkdir(archive);
    await giveToPostgres(tmp);
    const env = { WALE_FILE_PREFIX: `file://localhost${archive}` };
    const walE = await writeWrapper(tmp, env);
    const pg = await PgCluster.init(
      join(tmp, "pg"),
      `wal_level = replica\narchive_mode = on\narchive_command = '${walE} wal-push %p'\n` +
        "checkpoint_completion_target = 0\n",
    );
    try {
      await pg.start();
      await sh([`${PG_BIN}/pgbench`, "-i", "-s", "2", "-q"], { env: pg.pgEnv });
      const pushEnv = { ...env, ...pg.pgEnv };
      // ~50 MB of cluster read at 25 MB/s: two seconds of progress to show.
      const slow = ["--cluster-read-rate-limit", "25000000"];

      // On a terminal: the line, rewritten in place, and records never glued to it.
      const tty = await runOnTerminal(
        ["backup-push", "--fast-checkpoint", ...slow, pg.dataDir],
        pushEnv,
      );
      const shown = visible(tty.stdout);
      assert.equal(tty.code, 0, shown);
      const lines = [
        ...shown.matchAll(
          /\r<EL>backup-push {2}([0-9.]+ [KMG]?i?B) \/ ([0-9.]+ [KMG]?i?B) {2}(\d+)% {2}[0-9.]+ [KMG]?i?B\/s {2}ETA \d+:\d\d/g,
        ),
      ];
      assert.ok(lines.length >= 3, `fewer than 3 progress lines:\n${JSON.stringify(shown)}`);
      assert.equal(lines.at(-1)?.[3], "100", "the last line shows everything read");
      for (const m of shown.matchAll(/wal_e\.[a-z.]+ +(INFO|WARNING)/g)) {
        const before = shown.slice(Math.max(0, m.index - 4), m.index);
        const clean = m.index === 0 || before.endsWith("\n") || before.endsWith("<EL>");
        assert.ok(clean, `glued: ${JSON.stringify(shown.slice(m.index - 80, m.index + 20))}`);
      }
      assert.match(
        shown,
        /MSG: base backup upload finished\r?\n +DETAIL: Read [0-9.]+ [KMG]iB of file data into 2 volumes in [0-9.]+ s \([0-9.]+ [KMG]iB\/s\)\./,
      );
      const { count, expanded } = await volumesIn(archive);
      assert.equal(count, 2, "one data volume, one with backup_label");
      // Every byte listed was read once and counted once.
      assert.equal(structured(shown, "base backup upload finished", "bytes"), expanded);

      // backup-fetch on a terminal: its line against the sentinel's total, and its summary.
      const restoreDir = join(tmp, "restored");
      const fetched = await runOnTerminal(["backup-fetch", restoreDir, "LATEST"], env);
      assert.equal(fetched.code, 0, fetched.stdout);
      assert.match(
        visible(fetched.stdout),
        /\r<EL>backup-fetch {2}[0-9.]+ [KMG]iB \/ [0-9.]+ [KMG]iB {2}100%/,
      );
      assert.match(
        fetched.stdout,
        /MSG: base backup restore finished\r?\n +DETAIL: Restored [0-9.]+ [KMG]iB of file data from 2 volumes in /,
      );
      // What was restored is what was read, plus the backup_label written after the stop.
      const restored = structured(fetched.stdout, "base backup restore finished", "bytes");
      const label = (await Deno.stat(join(restoreDir, "backup_label"))).size;
      assert.equal(restored, expanded + label);

      // --terse on a terminal: no line, no progress or summary record.
      const terse = await runOnTerminal(
        ["--terse", "backup-fetch", join(tmp, "restored-terse"), "LATEST"],
        env,
      );
      assert.equal(terse.code, 0, terse.stdout);
      assert.doesNotMatch(visible(terse.stdout), /backup-fetch {2}|finished|<EL>/);

      // Without a terminal: INFO records at the configured interval, plain text, a summary.
      const logged = await runWalE(
        ["backup-push", "--fast-checkpoint", ...slow, pg.dataDir],
        { ...pushEnv, WALE_PROGRESS_INTERVAL: "0.3" },
      );
      assert.equal(logged.code, 0, logged.stderr);
      const records = [
        ...logged.stderr.matchAll(
          /INFO +MSG: base backup upload progress\n +DETAIL: [0-9.]+ [KMG]?i?B(?: of [0-9.]+ [KMG]iB \(\d+%\))? read in \d+:\d\d, [0-9.]+ [KMG]?i?B\/s/g,
        ),
      ];
      assert.ok(records.length >= 3, `fewer than 3 progress records:\n${logged.stderr}`);
      assert.match(logged.stderr, /MSG: base backup upload finished\n/);
      assert.doesNotMatch(visible(logged.stderr), /<EL>|\r/);
    } finally {
      await pg.stop();
      await Deno.remove(tmp, { recursive: true }).catch(() => {});
    }
  },
});
