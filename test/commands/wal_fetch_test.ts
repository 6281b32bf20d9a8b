import assert from "node:assert/strict";
import { join } from "node:path";
import { prefetchCandidates } from "../../src/commands/prefetch_area.ts";
import { assertBytes } from "../support/streams.ts";
import { runInProcess } from "../support/wal_e.ts";

const SEGS = ["000000010000000000000002", "000000010000000000000003", "000000010000000000000004"];

/** A pg_wal directory with three 1 MiB "segments" archived to a fresh file store. */
async function archived(): Promise<
  { dir: string; env: Record<string, string>; data: Uint8Array[] }
> {
  const dir = await Deno.makeTempDir({ prefix: "wal-e-fetch-" });
  const env = { WALE_FILE_PREFIX: `file://localhost${dir}/archive` };
  await Deno.mkdir(join(dir, "src"));
  await Deno.mkdir(join(dir, "pg_wal"));
  const data: Uint8Array[] = [];
  for (const [i, seg] of SEGS.entries()) {
    const bytes = new Uint8Array(1 << 20).map((_, j) => (j * (i + 3)) >> 4);
    data.push(bytes);
    await Deno.writeFile(join(dir, "src", seg), bytes);
    const r = await runInProcess(["wal-push", "-p1", join(dir, "src", seg)], env);
    assert.equal(r.code, 0, r.stderr);
  }
  return { dir, env, data };
}

Deno.test("wal-fetch restores a segment byte for byte and leaves no temp file", async () => {
  const { dir, env, data } = await archived();
  try {
    const dest = join(dir, "pg_wal", "RECOVERYXLOG");
    const r = await runInProcess(["wal-fetch", "-p0", SEGS[0] ?? "", dest], env);
    assert.equal(r.code, 0, r.stderr);
    assertBytes(await Deno.readFile(dest), data[0] ?? new Uint8Array());
    assert.deepEqual(
      (await Array.fromAsync(Deno.readDir(join(dir, "pg_wal")))).map((e) => e.name),
      ["RECOVERYXLOG"],
    );
    assert.match(r.stderr, /MSG: begin wal restore\n/);
    assert.match(r.stderr, /MSG: complete wal restore\n/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("wal-prefetch fills .wal-e/prefetch and wal-fetch promotes from it", async () => {
  const { dir, env, data } = await archived();
  try {
    const walDir = join(dir, "pg_wal");
    const p = await runInProcess(["wal-prefetch", walDir, SEGS[1] ?? "", SEGS[2] ?? ""], env);
    assert.equal(p.code, 0, p.stderr);
    const area = join(walDir, ".wal-e", "prefetch");
    assert.deepEqual((await Array.fromAsync(Deno.readDir(area))).map((e) => e.name).sort(), [
      SEGS[1],
      SEGS[2],
      "running",
    ]);
    const dest = join(walDir, "RECOVERYXLOG");
    const r = await runInProcess(["wal-fetch", SEGS[1] ?? "", dest], env);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /MSG: promoted prefetched wal segment/);
    assertBytes(await Deno.readFile(dest), data[1] ?? new Uint8Array());
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a half-written prefetch file is never served; the object is downloaded instead", async () => {
  const { dir, env, data } = await archived();
  try {
    const area = join(dir, "pg_wal", ".wal-e", "prefetch");
    await Deno.mkdir(area, { recursive: true });
    await Deno.writeFile(join(area, SEGS[2] ?? ""), new Uint8Array(1000));
    const dest = join(dir, "pg_wal", "RECOVERYXLOG");
    const r = await runInProcess(["wal-fetch", SEGS[2] ?? "", dest], env);
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /promoted prefetched/);
    assertBytes(await Deno.readFile(dest), data[2] ?? new Uint8Array());
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("wal-prefetch of a missing segment exits 1 and publishes nothing", async () => {
  const { dir, env } = await archived();
  try {
    const walDir = join(dir, "pg_wal");
    const r = await runInProcess(["wal-prefetch", walDir, "0000000100000000000000AA"], env);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /Failed to prefetch 0000000100000000000000AA/);
    const names = (await Array.fromAsync(Deno.readDir(join(walDir, ".wal-e", "prefetch")))).map((
      e,
    ) => e.name);
    assert.deepEqual(names, ["running"]);
    assert.deepEqual(
      await Array.fromAsync(Deno.readDir(join(walDir, ".wal-e", "prefetch", "running"))),
      [],
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("prefetch candidates follow the segment on its timeline (COMPAT §17.11)", () => {
  assert.deepEqual(prefetchCandidates("000000010000000A000000FE", 3), [
    "000000010000000A000000FF",
    "000000010000000B00000000",
    "000000010000000B00000001",
  ]);
  assert.deepEqual(prefetchCandidates("00000002.history", 8), []);
});

Deno.test("a corrupt WAL object makes wal-fetch exit 126 (stop recovery), not 1", async () => {
  const { dir, env } = await archived();
  try {
    const obj = join(dir, "archive", "wal_005", `${SEGS[0]}.lzo`);
    const bytes = await Deno.readFile(obj);
    bytes[bytes.length - 100] = (bytes[bytes.length - 100] ?? 0) ^ 0xff;
    await Deno.writeFile(obj, bytes);
    const dest = join(dir, "pg_wal", "RECOVERYXLOG");
    const r = await runInProcess(["wal-fetch", "-p0", SEGS[0] ?? "", dest], env);
    assert.equal(r.code, 126, r.stderr);
    assert.deepEqual(await Array.fromAsync(Deno.readDir(join(dir, "pg_wal"))), []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
