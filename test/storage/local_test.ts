import assert from "node:assert/strict";
import { ConfigError, ObjectNotFoundError } from "../../src/errors.ts";
import { LocalStore, pythonIsoUtc } from "../../src/storage/local.ts";
import { storeContract } from "./store_contract.ts";

storeContract("local", async () => {
  const dir = await Deno.makeTempDir({ prefix: "wal-e-local-" });
  // The prefix directory exists, as a bucket does for the cloud stores.
  await Deno.mkdir(`${dir}/prefix`);
  return {
    store: new LocalStore(`${dir.slice(1)}/prefix/`),
    dispose: () => Deno.remove(dir, { recursive: true }),
  };
});

Deno.test("local store writes /<path prefix>/<key> and names it file://localhost/...", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const s = new LocalStore(`${dir.slice(1)}/pg/`);
    await s.put("wal_005/A.lzo", new Blob([new Uint8Array([1, 2])]).stream());
    assert.deepEqual(await Deno.readFile(`${dir}/pg/wal_005/A.lzo`), new Uint8Array([1, 2]));
    assert.equal(s.url("wal_005/A.lzo"), `file://localhost${dir}/pg/wal_005/A.lzo`);
    assert.equal(s.pathPrefix, `${dir.slice(1)}/pg/`);
    // No temporary file is left beside the object.
    assert.deepEqual(
      (await Array.fromAsync(Deno.readDir(`${dir}/pg/wal_005`))).map((e) => e.name),
      ["A.lzo"],
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("local store prunes directories emptied by deleteMany but keeps the root", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const s = new LocalStore(`${dir.slice(1)}/`);
    await s.put("basebackups_005/b/tar_partitions/part_0.tar.lzo", new Blob(["x"]).stream());
    await s.deleteMany(["basebackups_005/b/tar_partitions/part_0.tar.lzo"]);
    assert.deepEqual(await Array.fromAsync(Deno.readDir(dir)), []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("local store lists times as Python's utcfromtimestamp().isoformat()", () => {
  assert.equal(
    pythonIsoUtc(new Date(Date.UTC(2026, 10, 25, 1, 6, 53, 595))),
    "2026-11-25T01:06:53.595000",
  );
  assert.equal(pythonIsoUtc(new Date(Date.UTC(2026, 10, 25, 1, 6, 53, 0))), "2026-11-25T01:06:53");
});

Deno.test("local store: a missing key under a missing prefix directory is a ConfigError, not 'not found'", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const s = new LocalStore(`${dir.slice(1)}/unmounted/pg/`);
    await assert.rejects(() => s.get("wal_005/A.lzo"), ConfigError);
    await Deno.mkdir(`${dir}/unmounted/pg`, { recursive: true });
    await assert.rejects(() => s.get("wal_005/A.lzo"), ObjectNotFoundError);
    // A prefix through a regular file is a configuration mistake too, on every operation.
    await Deno.writeTextFile(`${dir}/file`, "x");
    const f = new LocalStore(`${dir.slice(1)}/file/pg/`);
    await assert.rejects(() => f.get("wal_005/A.lzo"), ConfigError);
    await assert.rejects(() => f.put("wal_005/A.lzo", new Blob(["x"]).stream()), ConfigError);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
