/**
 * wal-verify against archives a real PostgreSQL 15 wrote through our wal-push and backup-push:
 * clean on a good archive; a deleted segment after the backup is a gap and the restorable
 * window ends before it; a deleted segment inside the newest backup's start..stop exits 1.
 * Run on the local store and on a real Ceph RGW (S3). Then a PITR promotion to timeline 2
 * archiving into the same store: wal-verify follows 00000002.history onto timeline 2.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { walKey } from "../../src/archive/keys.ts";
import { parseTimelineHistory } from "../../src/pg/timeline_history.ts";
import { formatLsn, nextSegmentName } from "../../src/pg/wal_name.ts";
import { openStore } from "../../src/storage/open.ts";
import { giveToPostgres, makeSharedTempDir, PG_BIN, PgCluster, sh } from "../support/postgres.ts";
import { newBucket, rgw, s3Env } from "../support/rgw.ts";
import { runWalE, writeWrapper } from "../support/wal_e.ts";
import { settingsOf } from "../support/store_settings.ts";

const STORES: Record<string, (tmp: string) => Promise<Record<string, string>>> = {
  "local store": async (tmp) => {
    const archive = join(tmp, "archive");
    // wal-push runs as postgres, backup-push as the test user: neither may create the other's
    // folder first.
    await Deno.mkdir(join(archive, "pg", "wal_005"), { recursive: true });
    await giveToPostgres(archive);
    return { WALE_FILE_PREFIX: `file://localhost${archive}/pg` };
  },
  "S3 (Ceph RGW)": async () => {
    const r = await rgw();
    return s3Env(r, await newBucket(r, "verify"));
  },
};

/** wal-verify --json's document, the fields these tests read. */
interface VerifyJson {
  timelines: {
    timeline: number;
    parent_timeline: number | null;
    switch_lsn: string | null;
    history_file_present: boolean;
    last_segment: string | null;
    last_archived_at: string | null;
  }[];
  backups: {
    name: string;
    timeline_path: number[];
    wal_segment_backup_start: string;
    wal_segment_backup_stop: string;
    finished_at: string;
    consistent: boolean;
    missing_for_consistency: { first_segment: string }[];
    gaps: { first_segment: string; last_segment: string; segment_count: number }[];
    restorable_window: {
      from_segment: string;
      from_time: string;
      from_time_source: string;
      to_segment: string;
      to_time: string;
      to_time_source: string;
    } | null;
  }[];
  newest_backup: string | null;
  newest_backup_consistent: boolean | null;
  gaps: { first_segment: string; last_segment: string; segment_count: number }[];
}

/** ISO 8601 with a time zone (Z or an offset). */
const ISO_TZ = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/;

async function verifyJson(env: Record<string, string>): Promise<VerifyJson> {
  const r = await runWalE(["wal-verify", "--json"], env);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as VerifyJson;
}

/** Starts an archiving cluster, pushes a backup, then writes and archives `after` segments. */
async function archiveWithBackup(
  tmp: string,
  env: Record<string, string>,
  walE: string,
  after: number,
): Promise<{ primary: PgCluster; last: string }> {
  const primary = await PgCluster.init(
    join(tmp, "primary"),
    `wal_level = replica\narchive_mode = on\narchive_command = '${walE} wal-push %p'\n`,
  );
  await primary.start();
  await sh([`${PG_BIN}/pgbench`, "-i", "-s", "1", "-q"], { env: primary.pgEnv });
  const push = await runWalE(
    ["backup-push", "--fast-checkpoint", primary.dataDir],
    { ...env, ...primary.pgEnv },
  );
  assert.equal(push.code, 0, push.stderr);
  let last = "";
  for (let i = 0; i < after; i++) {
    await primary.psql(`UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid % 9 = ${i}`);
    last = await primary.psql("SELECT pg_walfile_name(pg_switch_wal())");
  }
  await primary.waitArchived(last);
  return { primary, last };
}

async function deleteSegments(env: Record<string, string>, segments: string[]): Promise<void> {
  const store = await openStore(
    env["WALE_FILE_PREFIX"] ?? env["WALE_S3_PREFIX"],
    settingsOf({
      env,
      awsAccessKeyId: env["AWS_ACCESS_KEY_ID"],
    }),
  );
  try {
    for (const s of segments) assert.ok(await store.exists(walKey(s)), `${s} was archived`);
    await store.deleteMany(segments.map(walKey));
  } finally {
    await store.close();
  }
}

for (const [storeName, makeEnv] of Object.entries(STORES)) {
  Deno.test({
    name: `${storeName}: wal-verify is clean on a good archive, shows a deleted segment as a ` +
      "gap ending the window, and exits 1 when the newest backup misses a segment before its stop",
    sanitizeResources: false,
    sanitizeOps: false,
    async fn() {
      const tmp = await makeSharedTempDir("wal-e-verify-");
      await giveToPostgres(tmp);
      const env = await makeEnv(tmp);
      const walE = await writeWrapper(tmp, env);
      let primary: PgCluster | undefined;
      try {
        const made = await archiveWithBackup(tmp, env, walE, 5);
        primary = made.primary;

        const clean = await runWalE(["wal-verify"], env);
        assert.equal(clean.code, 0, clean.stderr);
        assert.doesNotMatch(clean.stdout, /^(GAP|ERROR|WARNING)/m, clean.stdout);
        assert.match(clean.stdout, /^OK newest backup base_[0-9A-F]{24}_\d{8}: every segment/m);
        assert.match(
          clean.stdout,
          /^BACKUP base_\S+: needs [0-9A-F]{24}\.\.[0-9A-F]{24}: all archived$/m,
        );
        const good = await verifyJson(env);
        const b = good.backups[0];
        assert.equal(good.backups.length, 1);
        assert.ok(b !== undefined && b.consistent && good.newest_backup_consistent === true);
        assert.deepEqual(good.gaps, []);
        assert.equal(b.restorable_window?.from_segment, b.wal_segment_backup_stop);
        assert.equal(b.restorable_window?.to_segment, made.last);
        assert.equal(b.restorable_window?.from_time_source, "sentinel_last_modified");
        assert.equal(b.restorable_window?.to_time_source, "segment_last_modified");
        for (
          const t of [b.finished_at, b.restorable_window?.from_time, b.restorable_window?.to_time]
        ) {
          assert.match(t ?? "", ISO_TZ);
        }
        assert.deepEqual(b.timeline_path, [1]);

        // A segment after the backup's stop (and before the newest) goes missing.
        const lost = nextSegmentName(nextSegmentName(b.wal_segment_backup_stop));
        const before = nextSegmentName(b.wal_segment_backup_stop);
        assert.ok(lost < made.last, `${lost} is before the newest segment ${made.last}`);
        await deleteSegments(env, [lost]);
        const gap = await runWalE(["wal-verify"], env);
        assert.equal(gap.code, 0, gap.stderr);
        assert.match(gap.stdout, new RegExp(`^GAP ${lost}\\.\\.${lost}: 1 segment missing$`, "m"));
        assert.match(
          gap.stdout,
          new RegExp(
            `^WINDOW ${b.name}: restorable from ${b.wal_segment_backup_stop} .* to ` +
              `${before} .*ends at the gap at ${lost}$`,
            "m",
          ),
        );
        const withGap = await verifyJson(env);
        assert.deepEqual(withGap.gaps, [{
          first_segment: lost,
          last_segment: lost,
          segment_count: 1,
        }]);
        assert.equal(withGap.backups[0]?.restorable_window?.to_segment, before);
        assert.equal(withGap.newest_backup_consistent, true);

        // A segment the newest backup needs to reach consistency goes missing: exit 1.
        await deleteSegments(env, [b.wal_segment_backup_stop]);
        const broken = await runWalE(["wal-verify"], env);
        assert.equal(broken.code, 1, broken.stdout + broken.stderr);
        assert.match(
          broken.stdout,
          new RegExp(
            `^ERROR ${b.name}: needs .*cannot reach consistency, missing ` +
              `${b.wal_segment_backup_stop}`,
            "m",
          ),
        );
        assert.match(broken.stdout, new RegExp(`^WINDOW ${b.name}: none`, "m"));
        assert.match(broken.stderr, /MSG: the newest backup cannot reach consistency\n/);
        assert.match(broken.stderr, /HINT: /);
        assert.doesNotMatch(broken.stderr, /\n\s+at /, "no stack trace");
        const brokenJson = await runWalE(["wal-verify", "--json"], env);
        assert.equal(brokenJson.code, 1);
        const doc = JSON.parse(brokenJson.stdout) as VerifyJson;
        assert.equal(doc.newest_backup_consistent, false);
        assert.equal(doc.backups[0]?.restorable_window, null);
        assert.equal(
          doc.backups[0]?.missing_for_consistency[0]?.first_segment,
          b.wal_segment_backup_stop,
        );
      } finally {
        await primary?.stop();
        await Deno.remove(tmp, { recursive: true }).catch(() => {});
      }
    },
  });
}

Deno.test({
  name: "local store: after a PITR promotion to timeline 2, wal-verify follows 00000002.history",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const tmp = await makeSharedTempDir("wal-e-verify-tli-");
    await giveToPostgres(tmp);
    const env = await STORES["local store"]!(tmp);
    const walE = await writeWrapper(tmp, env);
    let primary: PgCluster | undefined;
    let restored: PgCluster | undefined;
    try {
      const made = await archiveWithBackup(tmp, env, walE, 2);
      primary = made.primary;
      await new Promise((r) => setTimeout(r, 1100));
      const target = await primary.psql("SELECT clock_timestamp()");
      await new Promise((r) => setTimeout(r, 1100));
      // Timeline 1 goes on past the target: those segments are not on the restored path.
      let last1 = "";
      for (let i = 0; i < 3; i++) {
        await primary.psql("UPDATE pgbench_accounts SET abalance = abalance - 1 WHERE aid < 500");
        last1 = await primary.psql("SELECT pg_walfile_name(pg_switch_wal())");
      }
      await primary.waitArchived(last1);
      await primary.stop();

      const data = join(tmp, "restored");
      const fetch = await runWalE(["backup-fetch", data, "LATEST"], env);
      assert.equal(fetch.code, 0, fetch.stderr);
      restored = await PgCluster.adopt(data);
      await restored.writeBaseConf(
        `restore_command = '${walE} wal-fetch "%f" "%p"'\n` +
          `recovery_target_time = '${target}'\nrecovery_target_action = 'promote'\n` +
          `wal_level = replica\narchive_mode = on\narchive_command = '${walE} wal-push %p'\n`,
      );
      await Deno.writeTextFile(join(data, "recovery.signal"), "");
      await giveToPostgres(data);
      await restored.start();
      await restored.waitFor("SELECT pg_is_in_recovery()", "f", 120_000);
      assert.equal(await restored.psql("SELECT timeline_id FROM pg_control_checkpoint()"), "2");
      let last2 = "";
      for (let i = 0; i < 2; i++) {
        await restored.psql("UPDATE pgbench_accounts SET abalance = abalance + 3 WHERE aid < 900");
        last2 = await restored.psql("SELECT pg_walfile_name(pg_switch_wal())");
      }
      await restored.waitArchived(last2);
      assert.match(last2, /^00000002/);
      const history = parseTimelineHistory(
        await Deno.readTextFile(join(data, "pg_wal", "00000002.history")),
        "pg_wal/00000002.history",
      );
      const switchLsn = history[0]?.switchLsn;
      assert.ok(switchLsn !== undefined);

      const r = await runWalE(["wal-verify"], env);
      assert.equal(r.code, 0, r.stderr);
      assert.match(
        r.stdout,
        new RegExp(
          `^TIMELINE 2: branched from timeline 1 at ${formatLsn(switchLsn)} ` +
            "\\(00000002\\.history\\)",
          "m",
        ),
      );
      assert.doesNotMatch(r.stdout, /^(GAP|ERROR|WARNING)/m, r.stdout);
      assert.match(r.stdout, new RegExp(`to ${last2} .*timelines 1 -> 2;`, "m"));
      const doc = await verifyJson(env);
      const t2 = doc.timelines.find((t) => t.timeline === 2);
      assert.equal(t2?.parent_timeline, 1);
      assert.equal(t2?.switch_lsn, formatLsn(switchLsn));
      assert.equal(t2?.history_file_present, true);
      // Timeline 1 holds segments past the switch (the old primary went on), off the path.
      const t1 = doc.timelines.find((t) => t.timeline === 1);
      assert.equal(t1?.last_segment, last1);
      const b = doc.backups[0];
      assert.deepEqual(b?.timeline_path, [1, 2]);
      assert.equal(b?.consistent, true);
      assert.deepEqual(doc.gaps, []);
      assert.equal(b?.restorable_window?.to_segment, last2);

      // Without timeline 2's first segment, the chain breaks where timeline 2 begins: the copy
      // timeline 1 holds of that segment does not continue it.
      const first2 = `00000002${
        (await restored.psql(`SELECT pg_walfile_name('${formatLsn(switchLsn)}'::pg_lsn + 1)`))
          .slice(8)
      }`;
      await deleteSegments(env, [first2]);
      const cut = await verifyJson(env);
      assert.equal(cut.gaps[0]?.first_segment, first2);
      assert.equal(cut.backups[0]?.restorable_window?.to_segment.slice(0, 8), "00000001");
    } finally {
      await restored?.stop();
      await primary?.stop();
      await Deno.remove(tmp, { recursive: true }).catch(() => {});
    }
  },
});
