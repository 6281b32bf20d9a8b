/**
 * delete on the cloud stores (a real Ceph RGW and Azurite), on the archive the real WAL-E
 * wrote: for every subcommand the dry run lists exactly what --confirm then deletes, a second
 * run deletes nothing, and the backups that must stay stay restorable.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { openStore } from "../../src/storage/open.ts";
import { azurite, newContainer, stopAzurite, wabsEnv } from "../support/azurite.ts";
import { newBucket, rgw, s3Env, stopRgw } from "../support/rgw.ts";
import { streamOf } from "../support/streams.ts";
import { runInProcess } from "../support/wal_e.ts";
import { FIXTURE } from "../support/wale_fixture.ts";
import { settingsOf } from "../support/store_settings.ts";

/** Uploads the fixture under WAL-E's names, in objects.tsv order (LATEST = the last sentinel). */
async function seed(env: Record<string, string>): Promise<void> {
  const url = env["WALE_S3_PREFIX"] ?? env["WALE_WABS_PREFIX"] ?? "";
  const store = await openStore(
    url,
    settingsOf({
      env,
      awsAccessKeyId: env["AWS_ACCESS_KEY_ID"],
      wabsAccountName: env["WABS_ACCOUNT_NAME"],
    }),
  );
  try {
    const tsv = (await Deno.readTextFile(join(FIXTURE, "objects.tsv"))).trim().split("\n").slice(1);
    let sentinels = 0;
    for (const line of tsv) {
      const key = line.split("\t")[0] ?? "";
      // Listing times have one-second resolution: keep the two sentinels apart.
      if (key.endsWith("_backup_stop_sentinel.json") && sentinels++ > 0) {
        await new Promise((r) => setTimeout(r, 1100));
      }
      const bytes = await Deno.readFile(join(FIXTURE, "objects", key));
      await store.put(key.slice("plain/".length), streamOf(bytes), { size: bytes.length });
    }
  } finally {
    await store.close();
  }
}

function deletedKeys(stderr: string): string[] {
  return [...stderr.matchAll(/The key being deleted is (\S+)\.\n/g)].map((m) => m[1] ?? "");
}

const BACKENDS: Record<string, () => Promise<Record<string, string>>> = {
  "S3 (Ceph RGW)": async () => {
    const r = await rgw();
    return s3Env(r, await newBucket(r, "del"));
  },
  "WABS (Azurite)": async () => {
    const a = await azurite();
    return wabsEnv(a, await newContainer(a, "del"));
  },
};

const CASES: { args: string[]; keeps: string | undefined }[] = [
  { args: ["retain", "1"], keeps: "base_000000010000000000000009_00000040" },
  { args: ["before", "000000010000000000000004"], keeps: "base_000000010000000000000009_00000040" },
  { args: ["old-versions"], keeps: "base_000000010000000000000030_00000030" },
  { args: ["everything"], keeps: undefined },
];

for (const [name, makeEnv] of Object.entries(BACKENDS)) {
  Deno.test({
    name: `delete on ${name}: dry run lists what --confirm deletes; re-run deletes nothing`,
    sanitizeResources: false,
    sanitizeOps: false,
    async fn() {
      try {
        for (const c of CASES) {
          const env = await makeEnv();
          await seed(env);
          const dry = await runInProcess(["delete", ...c.args], env);
          assert.equal(dry.code, 0, dry.stderr);
          const listed = deletedKeys(dry.stderr);
          const real = await runInProcess(["delete", "--confirm", ...c.args], env);
          assert.equal(real.code, 0, real.stderr);
          assert.deepEqual(deletedKeys(real.stderr), listed, c.args.join(" "));
          const again = await runInProcess(["delete", "--confirm", ...c.args], env);
          assert.equal(again.code, 0, again.stderr);
          if (c.args[0] !== "old-versions") {
            assert.deepEqual(deletedKeys(again.stderr), [], `second ${c.args.join(" ")}`);
          }
          const list = await runInProcess(["backup-list"], env);
          if (c.keeps === undefined) {
            assert.equal(list.stdout.split("\r\n").filter((l) => l !== "").length, 1);
            continue;
          }
          assert.match(list.stdout, new RegExp(c.keeps));
          const dir = await Deno.makeTempDir({ prefix: "wal-e-del-restore-" });
          try {
            const fetch = await runInProcess(
              ["backup-fetch", "--blind-restore", join(dir, "data"), c.keeps],
              env,
            );
            assert.equal(fetch.code, 0, fetch.stderr);
            await Deno.stat(join(dir, "data", "PG_VERSION"));
          } finally {
            await Deno.remove(dir, { recursive: true });
          }
        }
      } finally {
        await stopRgw();
        await stopAzurite();
      }
    },
  });
}
