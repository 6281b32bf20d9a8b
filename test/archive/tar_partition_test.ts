import assert from "node:assert/strict";
import { join } from "node:path";
import {
  type Partition,
  partitionTar,
  planPartitions,
  textMember,
} from "../../src/archive/tar_partition.ts";
import { walkCluster } from "../../src/pg/cluster_walk.ts";

async function tarList(bytes: Uint8Array): Promise<string[]> {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeFile(join(dir, "x.tar"), bytes);
    const out = await new Deno.Command("tar", {
      args: ["-tvf", join(dir, "x.tar")],
      stdout: "piped",
      stderr: "null",
    }).output();
    return new TextDecoder().decode(out.stdout).trim().split("\n");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function bytesOf(s: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(s).arrayBuffer());
}

async function collect(it: AsyncIterable<Partition>): Promise<Partition[]> {
  const out: Partition[] = [];
  for await (const p of it) out.push(p);
  return out;
}

Deno.test("planPartitions cuts at the byte budget and the member limit (COMPAT §17.12)", async () => {
  const dir = await Deno.makeTempDir();
  try {
    for (const n of ["a", "b", "c"]) await Deno.writeFile(join(dir, n), new Uint8Array(100));
    const entries = [
      { path: dir, name: "" },
      ...["a", "b", "c"].map((n) => ({ path: join(dir, n), name: n })),
    ];
    // Budget 200: root+a (100), then b would make 200 ≥ 200 → cut; c likewise.
    const parts = await collect(planPartitions(entries, { maxBytes: 200 }));
    assert.deepEqual(parts.map((p) => p.members.map((m) => m.name)), [["", "a"], ["b"], ["c"]]);
    assert.deepEqual(parts.map((p) => p.index), [0, 1, 2]);
    const byCount = await collect(planPartitions(entries, { maxMembers: 3 }));
    assert.deepEqual(byCount.map((p) => p.members.length), [3, 1]);
    // A file of exactly the budget is alone; a bigger one is accepted alone (§16 deviation).
    const big = await collect(planPartitions(entries, { maxBytes: 100 }));
    assert.deepEqual(big.map((p) => p.members.map((m) => m.name)), [[""], ["a"], ["b"], ["c"]]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("planPartitions skips a vanished path", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const parts = await collect(
      planPartitions([{ path: dir, name: "" }, { path: join(dir, "gone"), name: "gone" }]),
    );
    assert.deepEqual(parts[0]?.members.map((m) => m.name), [""]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("partitionTar writes '/' first, dirs with '/', symlinks, long names GNU tar reads", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const long = "d".repeat(120);
    await Deno.mkdir(join(dir, "sub", long), { recursive: true });
    await Deno.writeTextFile(join(dir, "sub", long, "f".repeat(120)), "x");
    await Deno.writeTextFile(join(dir, "PG_VERSION"), "15\n");
    await Deno.symlink("/elsewhere/wal", join(dir, "pg_wal"));
    const walk = await walkCluster(dir);
    const [part] = await collect(planPartitions(walk.entries));
    assert.ok(part !== undefined);
    const tar = await bytesOf(partitionTar(part));
    assert.equal(new TextDecoder().decode(tar.subarray(0, 2)), "/\0");
    const listing = await tarList(tar);
    assert.match(listing[0] ?? "", / \/$/);
    assert.ok(listing.some((l) => l.includes("pg_wal -> /elsewhere/wal")));
    assert.ok(listing.some((l) => l.endsWith(`sub/${long}/${"f".repeat(120)}`)));
    assert.ok(listing.some((l) => l.endsWith(`sub/${long}/`)));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("partitionTar emits the listed size: pads a shrunk file, cuts a grown one", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeFile(join(dir, "shrinks"), new Uint8Array(5000).fill(7));
    await Deno.writeFile(join(dir, "grows"), new Uint8Array(10).fill(9));
    await Deno.writeFile(join(dir, "vanishes"), new Uint8Array(10));
    const entries = ["shrinks", "grows", "vanishes"].map((n) => ({ path: join(dir, n), name: n }));
    const [part] = await collect(planPartitions(entries));
    assert.ok(part !== undefined);
    await Deno.writeFile(join(dir, "shrinks"), new Uint8Array(1000).fill(7));
    await Deno.writeFile(join(dir, "grows"), new Uint8Array(20000).fill(9));
    await Deno.remove(join(dir, "vanishes"));
    const tar = await bytesOf(partitionTar(part, { chunkSize: 512 }));
    const out = join(dir, "out");
    await Deno.mkdir(out);
    await Deno.writeFile(join(dir, "x.tar"), tar);
    await new Deno.Command("tar", { args: ["-xf", join(dir, "x.tar"), "-C", out] }).output();
    const shrunk = await Deno.readFile(join(out, "shrinks"));
    assert.equal(shrunk.length, 5000);
    assert.equal(shrunk[999], 7);
    assert.equal(shrunk[1000], 0);
    assert.equal((await Deno.readFile(join(out, "grows"))).length, 10);
    assert.equal(await Deno.stat(join(out, "vanishes")).catch(() => undefined), undefined);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("partitionTar tells onData the listed file bytes it reads, padding included", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeFile(join(dir, "a"), new Uint8Array(3000));
    await Deno.writeFile(join(dir, "b"), new Uint8Array(700));
    const entries = [
      { path: dir, name: "" },
      ...["a", "b"].map((n) => ({
        path: join(dir, n),
        name: n,
      })),
    ];
    const [part] = await collect(planPartitions(entries));
    assert.ok(part !== undefined);
    await Deno.writeFile(join(dir, "b"), new Uint8Array(100)); // shrank: padded to 700
    const seen: number[] = [];
    await bytesOf(partitionTar(part, { chunkSize: 1024, onData: (n) => seen.push(n) }));
    // Chunks end where the tar's buffers do (headers share them); the sum is what counts.
    assert.ok(seen.every((n) => n > 0 && n <= 1024), String(seen));
    assert.equal(seen.reduce((a, b) => a + b, 0), 3700);
    assert.equal(part.bytes, 3700);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("textMember builds a 0600 backup_label member", async () => {
  const m = textMember("backup_label", "START WAL LOCATION: 0/2000028\n", { uid: 0, gid: 0 });
  const tar = await bytesOf(partitionTar({ index: 3, members: [m], bytes: 0 }));
  const listing = await tarList(tar);
  assert.match(listing[0] ?? "", /^-rw------- .* 30 .* backup_label$/);
});
