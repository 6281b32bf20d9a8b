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

async function bytesOf(s: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(s).arrayBuffer());
}

/** Offset just after member `i` (ustar header + padded data; no PAX in these members). */
function endOf(members: Spec[], i: number): number {
  let off = 0;
  for (const m of members.slice(0, i + 1)) {
    off += 512 + Math.ceil(new TextEncoder().encode(m.data ?? "").length / 512) * 512;
  }
  return off;
}

Deno.test("extract refuses a tar cut at a member boundary, even after zero-filled data", async () => {
  const tmp = await Deno.makeTempDir();
  try {
    // The second file ends in zeros, as relation files often do: only the position tells.
    const members: Spec[] = [
      { name: "a", data: "x".repeat(700) },
      { name: "b", data: "\0".repeat(4096) },
      { name: "c", data: "y" },
    ];
    const full = await bytesOf(craft(members));
    for (const cut of [endOf(members, 0), endOf(members, 1), endOf(members, 2) + 512]) {
      const ex = await Extractor.create(tmp);
      await assert.rejects(
        ex.extract(ReadableStream.from([full.subarray(0, cut)])),
        (e: unknown) =>
          e instanceof CorruptArchiveError && /end-of-archive/.test(e.message) &&
          /after member/.test(e.detail ?? ""),
      );
    }
    const ex = await Extractor.create(tmp);
    await ex.extract(ReadableStream.from([full.subarray(0, endOf(members, 2) + 1024)]));
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("extract refuses a tar cut between an extended header and its member", async () => {
  const tmp = await Deno.makeTempDir();
  try {
    const long = `base/1/${"n".repeat(120)}`; // > 100 bytes: tar-stream writes a PAX header
    const members: Spec[] = [{ name: "a", data: "x" }, { name: long, data: "y" }];
    const full = await bytesOf(craft(members));
    // Member a, then the PAX header block and its one data block; the member itself is cut.
    const cut = endOf(members, 0) + 1024;
    assert.notDeepEqual(full.subarray(endOf(members, 0), cut), new Uint8Array(1024));
    const ex = await Extractor.create(tmp);
    await assert.rejects(
      ex.extract(ReadableStream.from([full.subarray(0, cut)])),
      (e: unknown) => e instanceof CorruptArchiveError && /end-of-archive/.test(e.message),
    );
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("extract names the member a tar stream ends in, and garbage as a bad header", async () => {
  const tmp = await Deno.makeTempDir();
  try {
    const members: Spec[] = [{ name: "a", data: "x" }, { name: "big", data: "z".repeat(5000) }];
    const full = await bytesOf(craft(members));
    const ex = await Extractor.create(tmp);
    await assert.rejects(
      ex.extract(ReadableStream.from([full.subarray(0, endOf(members, 0) + 2048)])),
      (e: unknown) =>
        e instanceof CorruptArchiveError && /inside member "big"/.test(e.detail ?? ""),
    );
    await assert.rejects(
      ex.extract(ReadableStream.from([new Uint8Array(4096).fill(0x41)])),
      (e: unknown) => e instanceof CorruptArchiveError && e.message === "invalid tar header",
    );
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("extract fails with the input's own error when the tar stream errors", async () => {
  const tmp = await Deno.makeTempDir();
  try {
    // Small files, the download cut inside one of them (it was "Stream was destroyed").
    const members: Spec[] = Array.from({ length: 30 }, (_, i) => ({
      name: `f${i}`,
      data: "d".repeat(3000),
    }));
    const full = await bytesOf(craft(members));
    const cut = new Error("connection reset mid-body");
    let sent = false;
    const input = new ReadableStream<Uint8Array>({
      async pull(c) {
        if (sent) {
          await new Promise((r) => setTimeout(r, 20));
          return c.error(cut);
        }
        sent = true;
        c.enqueue(full.subarray(0, endOf(members, 10) + 512 + 1000));
      },
    });
    const ex = await Extractor.create(tmp);
    await assert.rejects(ex.extract(input), (e: unknown) => e === cut);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("extracting a stream again after a failure rewrites its files from scratch", async () => {
  const tmp = await Deno.makeTempDir();
  try {
    const members: Spec[] = [
      { name: "d/", type: "directory" },
      { name: "d/f", data: "final contents" },
      { name: "l", type: "symlink", linkname: "d/f" },
      { name: "h", type: "link", linkname: "d/f" },
    ];
    const full = await bytesOf(craft(members));
    const ex = await Extractor.create(tmp);
    await assert.rejects(ex.extract(ReadableStream.from([full.subarray(0, endOf(members, 1))])));
    await Deno.writeTextFile(join(tmp, "d/f"), "stale and longer than the real contents");
    await ex.extract(ReadableStream.from([full]));
    await ex.extract(ReadableStream.from([full]));
    await ex.finish();
    assert.equal(await Deno.readTextFile(join(tmp, "d/f")), "final contents");
    assert.equal(await Deno.readTextFile(join(tmp, "h")), "final contents");
    assert.equal(await Deno.readLink(join(tmp, "l")), "d/f");
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("deferred files stay pending until commit; rollback removes only what it created", async () => {
  const tmp = await Deno.makeTempDir();
  try {
    await Deno.mkdir(join(tmp, "base"));
    await Deno.writeTextFile(join(tmp, "mine"), "operator\n");
    await Deno.writeTextFile(join(tmp, "PG_VERSION"), "old\n");
    const ex = await Extractor.create(tmp, { deferred: ["tablespace_map", "backup_label"] });
    await ex.extract(craft([
      { name: "/", type: "directory" },
      { name: "backup_label", data: "label" },
      { name: "PG_VERSION", data: "15\n" },
      { name: "base/1/", type: "directory" },
      { name: "base/1/2", data: "x" },
      { name: "pg_wal", type: "symlink", linkname: "/elsewhere" },
    ]));
    assert.deepEqual(await listTree(tmp), [
      "PG_VERSION",
      "backup_label.wal-e-pending",
      "base",
      "mine",
      "pg_wal",
    ]);
    assert.equal(ex.pendingPath("tablespace_map"), undefined);
    assert.ok(ex.pendingPath("backup_label")?.endsWith("/backup_label.wal-e-pending"));
    const r = await ex.rollback();
    assert.deepEqual(r, { left: [], overwritten: 1 }); // PG_VERSION was there before
    assert.deepEqual(await listTree(tmp), ["PG_VERSION", "base", "mine"]);
    assert.deepEqual(await listTree(join(tmp, "base")), []);

    const again = await Extractor.create(tmp, { deferred: ["backup_label"] });
    await again.extract(craft([{ name: "backup_label", data: "label" }]));
    await again.finish();
    await again.commit();
    assert.deepEqual(await listTree(tmp), ["PG_VERSION", "backup_label", "base", "mine"]);
    assert.equal(await Deno.readTextFile(join(tmp, "backup_label")), "label");
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("extract tells onData the file bytes it writes, and takes them back when it fails", async () => {
  const tmp = await Deno.makeTempDir();
  try {
    let total = 0;
    const ex = await Extractor.create(tmp, { onData: (n) => (total += n) });
    await ex.extract(craft([
      { name: "d", type: "directory" },
      { name: "d/a", data: "x".repeat(5000) },
      { name: "b", data: "yz" },
    ]));
    assert.equal(total, 5002);
    const full = await bytesOf(craft([{ name: "c", data: "x".repeat(5000) }]));
    // Cut inside the member: part of its data was written before the failure.
    await assert.rejects(ex.extract(ReadableStream.from([full.subarray(0, 3000)])));
    assert.equal(total, 5002);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});
