import assert from "node:assert/strict";
import { startHorizon } from "../../src/commands/delete.ts";
import { runInProcess } from "../support/wal_e.ts";
import { loadWalEFixture, maskLog, walEOutput } from "../support/wale_fixture.ts";

async function withFixture(fn: (prefix: string, dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "wal-e-delete-" });
  try {
    await fn(await loadWalEFixture(dir), dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function deletedKeys(stderr: string): string[] {
  return [...stderr.matchAll(/The key being deleted is (\S+)\.\n/g)].map((m) => m[1] ?? "");
}

Deno.test("delete everything dry run lists exactly WAL-E's lines", async () => {
  await withFixture(async (prefix) => {
    const r = await runInProcess(["delete", "everything"], { WALE_FILE_PREFIX: prefix });
    const want = await walEOutput("delete-dry-run-everything");
    assert.equal(r.code, want.rc);
    const file = `file://localhost${prefix.slice("file://localhost".length)}`;
    assert.deepEqual(maskLog(r.stderr, file), maskLog(want.stderr, file));
  });
});

Deno.test("delete --confirm deletes exactly what the dry run listed; a re-run deletes nothing", async () => {
  await withFixture(async (prefix, dir) => {
    const dry = await runInProcess(["delete", "retain", "1"], { WALE_FILE_PREFIX: prefix });
    const listed = deletedKeys(dry.stderr);
    assert.ok(listed.length > 0);
    const real = await runInProcess(["delete", "--confirm", "retain", "1"], {
      WALE_FILE_PREFIX: prefix,
    });
    assert.equal(real.code, 0);
    assert.deepEqual(deletedKeys(real.stderr), listed);
    assert.doesNotMatch(real.stderr, /This is only a dry run/);
    for (const url of listed) {
      await assert.rejects(
        () => Deno.stat(url.slice("file://localhost".length)),
        Deno.errors.NotFound,
      );
    }
    const again = await runInProcess(["delete", "--confirm", "retain", "1"], {
      WALE_FILE_PREFIX: prefix,
    });
    assert.equal(again.code, 0);
    assert.deepEqual(deletedKeys(again.stderr), []);
    // The newest backup (LATEST) survives, with the WAL from its start on.
    const list = await runInProcess(["backup-list"], { WALE_FILE_PREFIX: prefix });
    assert.match(list.stdout, /base_000000010000000000000009_00000040/);
    await Deno.stat(`${dir}/plain/wal_005/000000010000000000000009.lzo`);
  });
});

Deno.test("retain 1 keeps the newest backup, unlike WAL-E which kept its misnamed offline one", async () => {
  await withFixture(async (prefix) => {
    const r = await runInProcess(["delete", "retain", "1"], { WALE_FILE_PREFIX: prefix });
    const keys = deletedKeys(r.stderr).map((u) => u.replace(/^.*\/plain\//, ""));
    assert.ok(
      keys.includes(
        "basebackups_005/base_000000010000000000000030_00000030_backup_stop_sentinel.json",
      ),
    );
    assert.ok(!keys.some((k) => k.includes("base_000000010000000000000009_00000040")));
    assert.ok(keys.includes("wal_005/000000010000000000000008.lzo"));
    assert.ok(!keys.includes("wal_005/000000010000000000000009.lzo"));
    assert.match(
      r.stderr,
      /MSG: Deleting 1 oldest base backups\.\n\s+DETAIL: Found 2 total base backups\./,
    );
  });
});

Deno.test("retain 2 and delete before the offline backup keep every WAL file it may need", async () => {
  await withFixture(async (prefix) => {
    for (const args of [["retain", "2"], ["before", "base_000000010000000000000030_00000030"]]) {
      const r = await runInProcess(["delete", ...args], { WALE_FILE_PREFIX: prefix });
      assert.equal(r.code, 0);
      assert.deepEqual(deletedKeys(r.stderr), [], args.join(" "));
    }
  });
});

Deno.test("delete before a WAL segment name works (WAL-E crashed) and keeps history files", async () => {
  await withFixture(async (prefix) => {
    const r = await runInProcess(["delete", "before", "000000010000000000000004"], {
      WALE_FILE_PREFIX: prefix,
    });
    assert.equal(r.code, 0);
    const keys = deletedKeys(r.stderr).map((u) => u.replace(/^.*\/plain\//, ""));
    assert.deepEqual(keys, [
      "wal_005/000000010000000000000002.lzo",
      "wal_005/000000010000000000000003.lzo",
    ]);
  });
});

Deno.test("delete old-versions touches only the obsolete layouts", async () => {
  await withFixture(async (prefix, dir) => {
    await Deno.mkdir(`${dir}/plain/wal_004`, { recursive: true });
    await Deno.writeTextFile(`${dir}/plain/wal_004/x.lzo`, "old");
    const r = await runInProcess(["delete", "--confirm", "old-versions"], {
      WALE_FILE_PREFIX: prefix,
    });
    assert.equal(r.code, 0);
    assert.deepEqual(deletedKeys(r.stderr).map((u) => u.replace(/^.*\/plain\//, "")), [
      "wal_004/x.lzo",
    ]);
  });
});

Deno.test("startHorizon trusts only the log id of names that may be WAL-E offline names", () => {
  assert.equal(startHorizon("base_000000010000000000000030_00000030"), 0n);
  assert.equal(startHorizon("base_000000010000000000000009_00000040"), 9n);
  assert.equal(startHorizon("base_0000000100000002000000A2_000000A2"), 2n << 32n);
});

Deno.test("delete removes a backup's manifest with it and keeps the manifests of kept backups", async () => {
  await withFixture(async (prefix, dir) => {
    const root = `${dir}/plain/basebackups_005`;
    const old = `${root}/base_000000010000000000000030_00000030/manifest.json.lzo`;
    const kept = `${root}/base_000000010000000000000009_00000040/manifest.json.lzo`;
    await Deno.writeTextFile(old, "x");
    await Deno.writeTextFile(kept, "x");
    const r = await runInProcess(["delete", "--confirm", "retain", "1"], {
      WALE_FILE_PREFIX: prefix,
    });
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /skipping non-qualifying key/);
    assert.match(
      r.stderr,
      /MSG: deleting a backup manifest\n +DETAIL: The key being deleted is \S+base_000000010000000000000030_00000030\/manifest\.json\.lzo\./,
    );
    await assert.rejects(() => Deno.stat(old), Deno.errors.NotFound);
    await Deno.stat(kept);
  });
});
