/**
 * backup-fetch from a real Ceph RGW through the fault proxy: the GET of a partition of the real
 * WAL-E archive (the fixture) is cut in the middle of its body, while small files are being
 * extracted. With `WALE_RETRIES=1` the store itself does not retry, so these tests prove the
 * partition-level retry alone: one cut (reset or truncation) is survived with a tree identical
 * to a restore from the local store; a partition cut on every attempt fails with one clear
 * error naming it (exit 1, no stack trace) and leaves nothing behind.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { FaultProxy, type FaultRule } from "../support/fault_proxy.ts";
import { sh } from "../support/postgres.ts";
import { newBucket, putWalEFixture, rgw, s3Env } from "../support/rgw.ts";
import { runWalE } from "../support/wal_e.ts";
import { loadWalEFixture } from "../support/wale_fixture.ts";

const BACKUP = "base_000000010000000000000009_00000040";
const PART = /^GET \/[^ ]*\/tar_partitions\/part_00000000\.tar\.lzo/;
/** Compressed bytes let through before the cut: well inside the 6.5 MB partition. */
const CUT_AT = 1_500_000;
const PARTITION_ATTEMPTS = 3;

interface Setup {
  env: Record<string, string>;
  proxy: FaultProxy;
  tmp: string;
  local: string;
}

let setup: Promise<Setup> | undefined;

/** One bucket with the fixture's backup, a proxy in front of RGW, and the local restore. */
function prepare(): Promise<Setup> {
  setup ??= (async () => {
    const r = await rgw();
    const bucket = await newBucket(r, "fetch");
    await putWalEFixture(r, bucket, (key) => key.includes(BACKUP));
    const proxy = await FaultProxy.start(Number(new URL(r.endpoint).port));
    const env = {
      ...s3Env(r, bucket, "plain"),
      WALE_S3_ENDPOINT: `http+path://127.0.0.1:${proxy.port}`,
      WALE_LOG_DESTINATION: "stderr",
      WALE_RETRIES: "1", // the store does not retry: only the partition-level retry is left
    };
    const tmp = await Deno.makeTempDir({ prefix: "wal-e-fetch-fault-" });
    // Shared by the tests of this file: removed when it unloads, as RGW is stopped then (the
    // proxy lives in this process and goes with it).
    globalThis.addEventListener("unload", () => Deno.removeSync(tmp, { recursive: true }));
    const local = join(tmp, "local-data");
    const store = await loadWalEFixture(join(tmp, "local"));
    const out = await runWalE(["backup-fetch", "--blind-restore", local, BACKUP], {
      WALE_FILE_PREFIX: store,
    });
    assert.equal(out.code, 0, out.stderr);
    return { env, proxy, tmp, local };
  })();
  return setup;
}

async function fetchWith(s: Setup, rules: FaultRule[], target: string) {
  s.proxy.setRules(rules);
  s.proxy.events.length = 0;
  return await runWalE(["backup-fetch", "--blind-restore", target, BACKUP], s.env);
}

for (const action of ["reset", "truncate"] as const) {
  Deno.test({
    name: `backup-fetch retries a partition whose download is cut (${action}) mid-body`,
    sanitizeResources: false,
    sanitizeOps: false,
    async fn() {
      const s = await prepare();
      const target = join(s.tmp, `${action}-data`);
      const out = await fetchWith(s, [{ request: PART, afterBytes: CUT_AT, action }], target);
      assert.equal(s.proxy.events.length, 1, "the fault was not injected");
      assert.equal(out.code, 0, out.stderr);
      assert.match(out.stderr, /retrying a base backup partition/);
      assert.doesNotMatch(out.stderr, /ERROR|CRITICAL| {4}at /, out.stderr);
      const diff = await sh(["diff", "-r", "--no-dereference", target, s.local], {
        asPostgres: false,
        check: false,
      });
      assert.equal(diff.code, 0, diff.stdout + diff.stderr);
    },
  });
}

Deno.test({
  name: "backup-fetch of a partition cut on every attempt fails naming it and removes the tree",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const s = await prepare();
    const target = join(s.tmp, "always-cut-data");
    const out = await fetchWith(
      s,
      [{ request: PART, afterBytes: CUT_AT, action: "reset", times: Infinity }],
      target,
    );
    assert.equal(s.proxy.events.length, PARTITION_ATTEMPTS, out.stderr);
    assert.equal(out.code, 1, out.stderr);
    assert.doesNotMatch(out.stderr, /This is a bug|CRITICAL| {4}at /, out.stderr);
    const errors = out.stderr.split("\n").filter((l) => / ERROR /.test(l));
    assert.equal(errors.length, 1, out.stderr);
    assert.match(out.stderr, /MSG: could not restore a base backup partition/);
    assert.match(
      out.stderr,
      /DETAIL: Partition "tar_partitions\/part_00000000\.tar\.lzo" of \S+ failed \(after 3 attempts\)/,
    );
    assert.match(out.stderr, /HINT: .*removed again/);
    assert.equal(await Deno.lstat(target).catch(() => undefined), undefined);
  },
});
