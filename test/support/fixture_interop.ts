/**
 * The interop check every cloud backend passes: the archive the real WAL-E wrote, seeded
 * into the cloud store under WAL-E's names, reads back exactly as the same objects do from
 * the local store: wal-fetch (and exit 1 for a segment that is not there), backup-list with
 * the backend's own timestamp format, backup-fetch LATEST to identical trees.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { makeSharedTempDir, sh } from "./postgres.ts";
import { runWalE } from "./wal_e.ts";
import { loadWalEFixture } from "./wale_fixture.ts";

/**
 * Runs the check against `cloud` (the environment naming the seeded store). `listedTime`
 * matches a backup-list timestamp column as the backend prints it (tab-delimited).
 */
export async function fixtureReadsBackAsLocal(
  label: string,
  cloud: Record<string, string>,
  listedTime: RegExp,
): Promise<void> {
  const tmp = await makeSharedTempDir(`wal-e-${label}-interop-`);
  try {
    const local = { WALE_FILE_PREFIX: await loadWalEFixture(join(tmp, "local")) };
    const both = [[label, cloud], ["local", local]] as const;
    const seg = "000000010000000000000003";
    for (const [name, env] of both) {
      const out = await runWalE(["wal-fetch", "-p0", seg, join(tmp, `${name}.wal`)], env);
      assert.equal(out.code, 0, out.stderr);
    }
    const a = await Deno.readFile(join(tmp, `${label}.wal`));
    assert.equal(a.length, 16 << 20);
    assert.deepEqual(a, await Deno.readFile(join(tmp, "local.wal")));
    const missing = await runWalE(
      ["wal-fetch", "-p0", "0000000100000000000000FF", join(tmp, "x")],
      cloud,
    );
    assert.equal(missing.code, 1, missing.stderr);

    const list = await runWalE(["backup-list"], cloud);
    assert.equal(list.code, 0, list.stderr);
    const names = list.stdout.split("\r\n").slice(1).filter((l) => l !== "").map((l) =>
      l.split("\t")[0]
    );
    assert.deepEqual(names, [
      "base_000000010000000000000009_00000040",
      "base_000000010000000000000030_00000030",
    ]);
    assert.match(list.stdout, listedTime);
    const latest = await runWalE(["backup-list", "LATEST"], cloud);
    assert.match(latest.stdout, /base_000000010000000000000009_00000040/);

    for (const [name, env] of both) {
      const out = await runWalE(
        ["backup-fetch", "--blind-restore", join(tmp, `${name}-data`), "LATEST"],
        env,
      );
      assert.equal(out.code, 0, out.stderr);
    }
    const diff = await sh(
      ["diff", "-r", "--no-dereference", join(tmp, `${label}-data`), join(tmp, "local-data")],
      { asPostgres: false, check: false },
    );
    assert.equal(diff.code, 0, diff.stdout + diff.stderr);
  } finally {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
}
