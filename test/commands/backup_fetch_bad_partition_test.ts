/**
 * backup-fetch through main.ts (as an operator runs it) of a backup whose third partition is
 * damaged although its lzop container is valid: a tar cut inside a member, a tar cut exactly
 * at a member boundary (no end-of-archive blocks), garbage instead of a tar. Each must fail
 * with exit 1 and one MSG/DETAIL/HINT naming the partition (never a stack trace or "a bug in
 * wal-e"), and leave no `backup_label` behind: the target goes back to what it was.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { pack as tarPack } from "tar-stream";
import { partitionKey, sentinelKey } from "../../src/archive/keys.ts";
import { uploadCompressed, uploadPlain } from "../../src/archive/pipeline.ts";
import { serializeSentinel } from "../../src/archive/sentinel.ts";
import { LocalStore } from "../../src/storage/local.ts";
import { runWalE } from "../support/wal_e.ts";

const NAME = "base_000000010000000000000002_00000040";
const BAD = "tar_partitions/part_00000002.tar.lzo";

interface Member {
  name: string;
  type?: "file" | "directory";
  data?: Uint8Array;
}

/** A complete tar (tar-stream writes the two end-of-archive blocks) and its members' offsets. */
async function tarOf(members: Member[]): Promise<{ bytes: Uint8Array; ends: number[] }> {
  const p = tarPack();
  for (const m of members) {
    const header = {
      name: m.name,
      type: m.type ?? "file",
      mode: m.type === "directory" ? 0o700 : 0o600,
      mtime: new Date(1_700_000_000_000),
    };
    if ((m.type ?? "file") === "file") p.entry(header, m.data ?? new Uint8Array());
    else p.entry(header);
  }
  p.finalize();
  const bytes = new Uint8Array(
    await new Response(ReadableStream.from(p as AsyncIterable<Uint8Array>)).arrayBuffer(),
  );
  // Offsets where each member (header + padded data) ends: plain ustar names, no PAX here.
  const ends: number[] = [];
  let off = 0;
  for (const m of members) {
    off += 512 + Math.ceil((m.data?.length ?? 0) / 512) * 512;
    ends.push(off);
  }
  return { bytes, ends };
}

function fill(n: number, seed: number): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);
}

const PART0: Member[] = [
  { name: "/", type: "directory" },
  { name: "PG_VERSION", data: new TextEncoder().encode("15\n") },
  { name: "backup_label", data: new TextEncoder().encode("START WAL LOCATION: 0/2000028\n") },
  { name: "tablespace_map", data: new TextEncoder().encode("16384 /src/ts\n") },
  { name: "base/", type: "directory" },
  { name: "base/1/", type: "directory" },
];
const PART1: Member[] = [
  ...Array.from({ length: 20 }, (_, i) => ({ name: `global/${1000 + i}`, data: fill(700, i) })),
  // A tablespace's files: written through the restore spec's link when there is one.
  ...Array.from({ length: 5 }, (_, i) => ({
    name: `pg_tblspc/16384/PG_15_202209061/5/${16400 + i}`,
    data: fill(900, i),
  })),
];
const PART2: Member[] = Array.from({ length: 20 }, (_, i) => ({
  name: `base/1/${2000 + i}`,
  data: fill(3000, i),
}));

type Damage = (tar: { bytes: Uint8Array; ends: number[] }) => Uint8Array;

/** Builds a file:// store whose partition 2 is `damage`d; returns the prefix URL. */
async function storeWith(dir: string, damage: Damage): Promise<string> {
  const store = new LocalStore(`${dir.replace(/^\//, "")}/`);
  const parts = [PART0, PART1, PART2];
  for (let i = 0; i < parts.length; i++) {
    const tar = await tarOf(parts[i] ?? []);
    const bytes = i === 2 ? damage(tar) : tar.bytes;
    await uploadCompressed(store, partitionKey(NAME, i), ReadableStream.from([bytes]), {
      encoding: {},
    });
  }
  await uploadPlain(
    store,
    sentinelKey(NAME),
    serializeSentinel({
      wal_segment_backup_stop: "000000010000000000000002",
      wal_segment_offset_backup_stop: "00000248",
      expanded_size_bytes: 1,
      spec: { base_prefix: "/src/", tablespaces: [] },
    }),
    "application/json",
  );
  return `file://localhost${dir}/`;
}

const DAMAGES: [string, Damage, RegExp][] = [
  [
    "a tar cut inside a member",
    (t) => t.bytes.subarray(0, (t.ends[6] ?? 0) + 512 + 1000),
    /base\/1\/2007/,
  ],
  [
    "a tar cut exactly at a member boundary",
    (t) => t.bytes.subarray(0, t.ends[9] ?? 0),
    /end-of-archive/,
  ],
  [
    "a tar cut inside its end-of-archive blocks",
    (t) => t.bytes.subarray(0, (t.ends[19] ?? 0) + 512),
    /end-of-archive/,
  ],
  ["garbage instead of a tar", () => fill(50_000, 7), /tar header/],
];

/** Every file and directory under `dir`, relative, sorted. */
async function tree(dir: string, rel = ""): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(join(dir, rel))) {
    const r = rel === "" ? e.name : `${rel}/${e.name}`;
    out.push(r);
    if (e.isDirectory) out.push(...await tree(dir, r));
  }
  return out.sort();
}

function assertCleanFailure(out: { code: number; stderr: string }, memberPattern: RegExp): void {
  assert.equal(out.code, 1, out.stderr);
  assert.doesNotMatch(out.stderr, /This is a bug| {4}at |Error:|CRITICAL/, out.stderr);
  const errors = out.stderr.split("\n").filter((l) => /ERROR/.test(l));
  assert.equal(errors.length, 1, out.stderr);
  assert.match(out.stderr, new RegExp(`DETAIL: .*"${BAD.replaceAll(".", "\\.")}"`), out.stderr);
  assert.match(out.stderr, /HINT: /, out.stderr);
  assert.match(out.stderr, memberPattern, out.stderr);
}

for (const [label, damage, member] of DAMAGES) {
  Deno.test(`backup-fetch of ${label} fails naming the partition and removes what it wrote`, async () => {
    const tmp = await Deno.makeTempDir();
    try {
      const prefix = await storeWith(join(tmp, "store"), damage);
      const target = join(tmp, "restore");
      const out = await runWalE(["backup-fetch", target, "LATEST"], { WALE_FILE_PREFIX: prefix });
      assertCleanFailure(out, member);
      // The run created the target: a failure removes it all.
      assert.equal(await Deno.lstat(target).catch(() => undefined), undefined);
    } finally {
      await Deno.remove(tmp, { recursive: true });
    }
  });
}

Deno.test("a failed backup-fetch into an existing directory leaves only the operator's files", async () => {
  const tmp = await Deno.makeTempDir();
  try {
    const prefix = await storeWith(join(tmp, "store"), (t) => t.bytes.subarray(0, t.ends[9]));
    const target = join(tmp, "restore");
    await Deno.mkdir(join(target, "base"), { recursive: true });
    await Deno.writeTextFile(join(target, "operator.conf"), "keep me\n");
    await Deno.writeTextFile(join(target, "base", "note"), "mine\n");
    const before = await tree(target);
    const out = await runWalE(["backup-fetch", target, "LATEST"], { WALE_FILE_PREFIX: prefix });
    assertCleanFailure(out, /end-of-archive/);
    assert.deepEqual(await tree(target), before);
    assert.equal(await Deno.readTextFile(join(target, "operator.conf")), "keep me\n");
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("backup-fetch of intact partitions restores every member and backup_label", async () => {
  const tmp = await Deno.makeTempDir();
  try {
    const prefix = await storeWith(join(tmp, "store"), (t) => t.bytes);
    const target = join(tmp, "restore");
    const out = await runWalE(["backup-fetch", target, "LATEST"], { WALE_FILE_PREFIX: prefix });
    assert.equal(out.code, 0, out.stderr);
    const files = await tree(target);
    for (const m of [...PART0, ...PART1, ...PART2]) {
      const rel = m.name.replace(/\/$/, "");
      if (rel !== "") assert.ok(files.includes(rel), `${rel} missing`);
    }
    assert.deepEqual(await Deno.readFile(join(target, "base/1/2019")), PART2[19]?.data);
    assert.ok(!files.some((f) => f.includes("wal-e")), files.join(" "));
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

/** A restore spec putting tablespace 16384 at `ts`. */
async function specFile(tmp: string, ts: string): Promise<string> {
  const path = join(tmp, "spec.json");
  await Deno.writeTextFile(
    path,
    JSON.stringify({ tablespaces: ["16384"], "16384": { loc: `${ts}/`, link: "pg_tblspc/16384" } }),
  );
  return path;
}

Deno.test("a failed backup-fetch with a restore spec removes the directories and links it made", async () => {
  const tmp = await Deno.makeTempDir();
  try {
    const prefix = await storeWith(join(tmp, "store"), (t) => t.bytes.subarray(0, t.ends[9]));
    const target = join(tmp, "restore");
    const ts = join(tmp, "ts");
    const spec = await specFile(tmp, ts);
    const out = await runWalE(["backup-fetch", target, "LATEST", "--restore-spec", spec], {
      WALE_FILE_PREFIX: prefix,
    });
    assertCleanFailure(out, /end-of-archive/);
    assert.deepEqual((await tree(tmp)).filter((p) => !p.startsWith("store")), ["spec.json"]);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("backup-fetch with a restore spec puts backup_label and the rewritten map in place", async () => {
  const tmp = await Deno.makeTempDir();
  try {
    const prefix = await storeWith(join(tmp, "store"), (t) => t.bytes);
    const target = join(tmp, "restore");
    const ts = join(tmp, "ts");
    const spec = await specFile(tmp, ts);
    const out = await runWalE(["backup-fetch", target, "LATEST", "--restore-spec", spec], {
      WALE_FILE_PREFIX: prefix,
    });
    assert.equal(out.code, 0, out.stderr);
    assert.equal(await Deno.readTextFile(join(target, "tablespace_map")), `16384 ${ts}\n`);
    assert.match(await Deno.readTextFile(join(target, "backup_label")), /^START WAL/);
    assert.deepEqual(await Deno.readFile(join(ts, "PG_15_202209061/5/16404")), fill(900, 4));
    assert.ok(!(await tree(target)).some((f) => f.includes("wal-e")));
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});
