import assert from "node:assert/strict";
import { join } from "node:path";
import { pack as tarPack } from "tar-stream";
import { Extractor, normalizeName } from "../../src/archive/tar_extract.ts";
import { CorruptArchiveError } from "../../src/errors.ts";

interface Spec {
  name: string;
  type?: "file" | "directory" | "symlink" | "link";
  data?: string;
  mode?: number;
  linkname?: string;
  mtime?: Date;
}

/** A tar stream holding `members`, built with tar-stream (names written verbatim). */
function craft(members: Spec[]): ReadableStream<Uint8Array> {
  const p = tarPack();
  for (const m of members) {
    const header = {
      name: m.name,
      type: m.type ?? "file",
      mode: m.mode ?? 0o600,
      mtime: m.mtime ?? new Date(1_700_000_000_000),
      ...(m.linkname === undefined ? {} : { linkname: m.linkname }),
    };
    if ((m.type ?? "file") === "file") p.entry(header, m.data ?? "");
    else p.entry(header);
  }
  p.finalize();
  return ReadableStream.from(p as AsyncIterable<Uint8Array>);
}

async function listTree(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) out.push(e.name);
  return out.sort();
}

Deno.test("normalizeName maps root spellings to the target and refuses escapes", () => {
  for (const n of ["/", "", ".", "./"]) assert.equal(normalizeName(n), "");
  assert.equal(normalizeName("./base/1/"), "base/1");
  assert.throws(() => normalizeName("../x"), CorruptArchiveError);
  assert.throws(() => normalizeName("a/../../x"), CorruptArchiveError);
  assert.throws(() => normalizeName("/etc/passwd"), CorruptArchiveError);
});

Deno.test("extract restores files, dirs, symlinks, hard links, modes and mtimes", async () => {
  const tmp = await Deno.makeTempDir();
  try {
    const target = join(tmp, "t");
    await Deno.mkdir(target);
    const ex = await Extractor.create(target);
    const mtime = new Date(1_600_000_000_000);
    // Children before their directory entry (as from another volume), then the dir.
    await ex.extract(craft([
      { name: "/", type: "directory", mode: 0o700, mtime },
      { name: "base/1/123", data: "hello", mode: 0o640, mtime },
      { name: "pg_wal", type: "symlink", linkname: "/nowhere/wal" },
      { name: "base/1/hard", type: "link", linkname: "base/1/123" },
    ]));
    await ex.extract(craft([{ name: "base/", type: "directory", mode: 0o750, mtime }]));
    await ex.finish();
    assert.equal(await Deno.readTextFile(join(target, "base/1/123")), "hello");
    assert.equal(await Deno.readTextFile(join(target, "base/1/hard")), "hello");
    const st = await Deno.stat(join(target, "base/1/123"));
    assert.equal((st.mode ?? 0) & 0o777, 0o640);
    assert.equal(st.mtime?.getTime(), mtime.getTime());
    const dst = await Deno.stat(join(target, "base"));
    assert.equal((dst.mode ?? 0) & 0o777, 0o750);
    assert.equal(dst.mtime?.getTime(), mtime.getTime());
    assert.equal(((await Deno.stat(target)).mode ?? 0) & 0o777, 0o700);
    assert.equal(await Deno.readLink(join(target, "pg_wal")), "/nowhere/wal");
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

for (
  const [label, members] of [
    ["a ../ entry", [{ name: "../escaped", data: "x" }]],
    ["a nested ../ entry", [{ name: "a/../../escaped", data: "x" }]],
    ["an absolute path", [{ name: "ABS/escaped", data: "x" }]],
    [
      "a write through a symlink",
      [
        { name: "link", type: "symlink", linkname: "OUTSIDE" },
        { name: "link/escaped", data: "x" },
      ],
    ],
    [
      "a directory replaced by a symlink",
      [
        { name: "d/", type: "directory" },
        { name: "d", type: "symlink", linkname: "OUTSIDE" },
        { name: "d/escaped", data: "x" },
      ],
    ],
  ] as [string, Spec[]][]
) {
  Deno.test(`extract refuses ${label} and writes nothing outside the target`, async () => {
    const tmp = await Deno.makeTempDir();
    try {
      const target = join(tmp, "t");
      const outside = join(tmp, "outside");
      await Deno.mkdir(target);
      await Deno.mkdir(outside);
      const fixed = members.map((m) => ({
        ...m,
        name: m.name.replace("ABS", outside),
        ...(m.linkname === undefined ? {} : { linkname: m.linkname.replace("OUTSIDE", outside) }),
      }));
      const ex = await Extractor.create(target);
      await assert.rejects(ex.extract(craft(fixed)), CorruptArchiveError);
      assert.deepEqual(await listTree(outside), []);
      assert.deepEqual((await listTree(tmp)).sort(), ["outside", "t"]);
    } finally {
      await Deno.remove(tmp, { recursive: true });
    }
  });
}

Deno.test("extract writes through a trusted tablespace link", async () => {
  const tmp = await Deno.makeTempDir();
  try {
    const target = join(tmp, "t");
    const ts = join(tmp, "ts");
    await Deno.mkdir(join(target, "pg_tblspc"), { recursive: true });
    await Deno.mkdir(ts);
    await Deno.symlink(ts, join(target, "pg_tblspc/16384"));
    const ex = await Extractor.create(target, { trustedLinks: ["pg_tblspc/16384"] });
    await ex.extract(craft([{ name: "pg_tblspc/16384/PG_15/5/1", data: "t" }]));
    await ex.finish();
    assert.equal(await Deno.readTextFile(join(ts, "PG_15/5/1")), "t");
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("extract fails on a truncated tar stream", async () => {
  const tmp = await Deno.makeTempDir();
  try {
    const full = new Uint8Array(
      await new Response(craft([{ name: "f", data: "x".repeat(5000) }])).arrayBuffer(),
    );
    const ex = await Extractor.create(tmp);
    await assert.rejects(ex.extract(ReadableStream.from([full.subarray(0, 2000)])));
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});
