import assert from "node:assert/strict";
import { ConfigError, ObjectNotFoundError } from "../../src/errors.ts";
import { LocalStore, pythonIsoUtc } from "../../src/storage/local.ts";
import { readAll, streamOf } from "../support/streams.ts";
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

Deno.test("local store: sweepIncomplete removes old temporary files of killed puts under the prefix only", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const s = new LocalStore(`${dir.slice(1)}/pg/`);
    const root = `${dir}/pg`;
    await s.put("basebackups_005/b1/tar_partitions/part_1.tar.lzo", streamOf(new Uint8Array([1])));
    // What a killed put leaves: its hidden temporary file (put's naming), here in its own
    // directory, another beside a complete object, a recent one (a put in flight) and one
    // under another prefix.
    const temp = (key: string) => {
      const cut = key.lastIndexOf("/");
      return `${root}/${key.slice(0, cut)}/.${key.slice(cut + 1)}.wal-e-tmp.0123456789ab`;
    };
    const old = new Date(Date.now() - 7_200_000);
    const make = async (key: string, mtime: Date) => {
      const path = temp(key);
      await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
      await Deno.writeFile(path, new Uint8Array(10));
      await Deno.utime(path, mtime, mtime);
      return path;
    };
    const killed = await make("basebackups_005/b2/tar_partitions/part_0.tar.lzo", old);
    const beside = await make("basebackups_005/b1/tar_partitions/part_2.tar.lzo", old);
    const inFlight = await make("basebackups_005/b3/tar_partitions/part_0.tar.lzo", new Date());
    const elsewhere = await make("wal_005/000000010000000000000001.lzo", old);
    // Not a temporary file of ours, though hidden: kept.
    await Deno.writeFile(`${root}/basebackups_005/.keep`, new Uint8Array(1));
    await Deno.utime(`${root}/basebackups_005/.keep`, old, old);

    // The name above is the one put really uses: a put in flight shows its temporary file.
    let release: ReadableStreamDefaultController<Uint8Array> | undefined;
    const pending = s.put(
      "basebackups_005/b1/tar_partitions/part_9.tar.lzo",
      new ReadableStream<Uint8Array>({
        start(c) {
          release = c;
          c.enqueue(new Uint8Array(5));
        },
      }),
    );
    const names = async () =>
      (await Array.fromAsync(Deno.readDir(`${root}/basebackups_005/b1/tar_partitions`)))
        .map((e) => e.name);
    while (!(await names()).some((n) => n.startsWith(".part_9"))) {
      await new Promise((r) => setTimeout(r, 5));
    }
    const real = (await names()).find((n) => n.startsWith(".part_9")) ?? "";
    assert.match(real, /^\.part_9\.tar\.lzo\.wal-e-tmp\.[0-9a-f]{12}$/);
    release?.close();
    await pending;

    const cutoff = new Date(Date.now() - 3_600_000);
    assert.equal(await s.sweepIncomplete("basebackups_005/", cutoff), 2);
    const exists = (p: string) => Deno.stat(p).then(() => true, () => false);
    assert.equal(await exists(killed), false);
    assert.equal(await exists(beside), false);
    // The killed put's directories are pruned; the complete object's stay.
    assert.equal(await exists(`${root}/basebackups_005/b2`), false);
    assert.equal(await exists(inFlight), true);
    assert.equal(await exists(elsewhere), true);
    assert.equal(await exists(`${root}/basebackups_005/.keep`), true);
    assert.deepEqual(
      await readAll(await s.get("basebackups_005/b1/tar_partitions/part_1.tar.lzo")),
      new Uint8Array([1]),
    );
    // A prefix in the middle of a name matches by object key, as list does.
    assert.equal(await s.sweepIncomplete("wal_005/0000000100", cutoff), 1);
    assert.equal(await exists(elsewhere), false);
    assert.equal(await s.sweepIncomplete("", cutoff), 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name:
    `local store: a full disk fails the put with a StoreError naming the file, and leaves nothing${
      Deno.uid() === 0 ? "" : " (needs root to mount a 1 MiB tmpfs: run as root)"
    }`,
  ignore: Deno.uid() !== 0,
  async fn() {
    const { StoreError } = await import("../../src/errors.ts");
    const dir = await Deno.makeTempDir({ prefix: "wal-e-full-" });
    const mount = await new Deno.Command("mount", {
      args: ["-t", "tmpfs", "-o", "size=1m", "tmpfs", dir],
    })
      .output();
    assert.equal(mount.code, 0, new TextDecoder().decode(mount.stderr));
    try {
      const s = new LocalStore(`${dir.slice(1)}/`);
      const err = await s.put("wal_005/A.lzo", streamOf(new Uint8Array(4 << 20))).then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.ok(err instanceof StoreError, String(err));
      assert.match(err.detail ?? "", /wal-e-tmp/);
      assert.deepEqual(await Array.fromAsync(s.list("")), []);
      assert.deepEqual(
        (await Array.fromAsync(Deno.readDir(`${dir}/wal_005`))).map((e) => e.name),
        [],
      );
    } finally {
      await new Deno.Command("umount", { args: [dir] }).output();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
