/**
 * Our streaming tar reader (tar_read.ts): PAX and GNU long names, base-256 sizes, members split
 * across many input chunks, damaged and truncated input refused saying where; and buffer
 * recycling: a chunk is given back to its producer only once no view of it is in use (given-back
 * buffers are poisoned and refilled at once, so a view still in use would change under its
 * consumer), end to end through the parallel lzop reader and the extractor too.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { pack as tarPack } from "tar-stream";
import { readTar, type TarHeader } from "../../src/archive/tar_read.ts";
import { Extractor } from "../../src/archive/tar_extract.ts";
import { CodecPool } from "../../src/codec/codec_pool.ts";
import { createParallelLzopReader } from "../../src/codec/lzop_parallel.ts";
import { createLzopWriter } from "../../src/codec/lzop_writer.ts";
import { lend, setRecyclePoison } from "../../src/codec/recycle.ts";
import { CorruptArchiveError } from "../../src/errors.ts";
import { jagged, pattern } from "../support/streams.ts";

const enc = new TextEncoder();

interface Spec {
  name: string;
  data?: Uint8Array;
  type?: "file" | "directory" | "symlink";
  linkname?: string;
}

/** A tar of `members` written by tar-stream (a PAX header for names over 100 bytes). */
async function paxTar(members: Spec[]): Promise<Uint8Array> {
  const p = tarPack();
  for (const m of members) {
    const header = {
      name: m.name,
      type: m.type ?? "file",
      mode: 0o640,
      mtime: new Date(1_700_000_000_000),
      ...(m.linkname === undefined ? {} : { linkname: m.linkname }),
    };
    if ((m.type ?? "file") === "file") p.entry(header, m.data ?? new Uint8Array(0));
    else p.entry(header);
  }
  p.finalize();
  return new Uint8Array(
    await new Response(ReadableStream.from(p as AsyncIterable<Uint8Array>)).arrayBuffer(),
  );
}

/** One GNU-format header block (`ustar  \0`), as Python's tarfile writes in GNU_FORMAT. */
function gnuHeader(
  name: string,
  type: string,
  size: number,
  opts: { linkname?: string; base256Size?: boolean } = {},
): Uint8Array {
  const b = new Uint8Array(512);
  const put = (s: string, at: number, len: number) => b.set(enc.encode(s).subarray(0, len), at);
  const oct = (n: number, at: number, len: number) =>
    put(n.toString(8).padStart(len - 1, "0") + "\0", at, len);
  put(name, 0, 100);
  oct(0o644, 100, 8);
  oct(1000, 108, 8);
  oct(1000, 116, 8);
  if (opts.base256Size === true) {
    b[124] = 0x80;
    let n = size;
    for (let i = 135; i > 124; i--) {
      b[i] = n % 256;
      n = Math.floor(n / 256);
    }
  } else oct(size, 124, 12);
  oct(1_700_000_000, 136, 12);
  b[156] = type.charCodeAt(0);
  put(opts.linkname ?? "", 157, 100);
  put("ustar  \0", 257, 8);
  put("postgres", 265, 32);
  put("postgres", 297, 32);
  b.fill(0x20, 148, 156);
  let sum = 0;
  for (const v of b) sum += v;
  oct(sum, 148, 7);
  b[155] = 0x20;
  return b;
}

function padded(data: Uint8Array): Uint8Array {
  const out = new Uint8Array(Math.ceil(data.length / 512) * 512);
  out.set(data);
  return out;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

interface Read {
  header: TarHeader;
  data: Uint8Array;
}

async function readAllMembers(tar: ReadableStream<Uint8Array>): Promise<Read[]> {
  const out: Read[] = [];
  await readTar(tar, async (header, data) => {
    const parts: Uint8Array[] = [];
    for await (const c of data) parts.push(c.slice());
    out.push({ header, data: concat(parts) });
  });
  return out;
}

Deno.test("readTar reads PAX long names and link targets, whatever the chunking", async () => {
  const longDir = `base/16384/${"d".repeat(90)}`;
  const members: Spec[] = [
    { name: "./", type: "directory" },
    { name: `${longDir}/${"f".repeat(120)}`, data: pattern(700_000, 3) },
    { name: "short", data: enc.encode("hello") },
    { name: "pg_tblspc/16385", type: "symlink", linkname: `/srv/${"t".repeat(150)}` },
    { name: "empty" },
  ];
  const tar = await paxTar(members);
  for (const max of [1, 7, 513, 65_536, tar.length]) {
    const got = await readAllMembers(jagged(tar, max, max));
    assert.deepEqual(got.map((m) => m.header.name), members.map((m) => m.name));
    assert.equal(got[0]?.header.type, "directory");
    assert.deepEqual(got[1]?.data, members[1]?.data);
    assert.equal(got[1]?.header.size, 700_000);
    assert.equal(got[1]?.header.mode, 0o640);
    assert.equal(got[1]?.header.mtime?.getTime(), 1_700_000_000_000);
    assert.deepEqual(got[2]?.data, enc.encode("hello"));
    assert.equal(got[3]?.header.type, "symlink");
    assert.equal(got[3]?.header.linkname, members[3]?.linkname);
    assert.equal(got[4]?.data.length, 0);
  }
});

Deno.test("readTar reads GNU long names, long link names and base-256 sizes", async () => {
  const name = `base/1/${"g".repeat(200)}`;
  const link = `../${"l".repeat(180)}`;
  const data = pattern(3000, 9);
  const tar = concat([
    gnuHeader("././@LongLink", "L", name.length + 1),
    padded(enc.encode(name + "\0")),
    gnuHeader(name.slice(0, 100), "0", data.length, { base256Size: true }),
    padded(data),
    gnuHeader("././@LongLink", "K", link.length + 1),
    padded(enc.encode(link + "\0")),
    gnuHeader("ln", "2", 0, { linkname: link.slice(0, 100) }),
    new Uint8Array(10240), // Python pads the end to a 10 KiB record
  ]);
  const got = await readAllMembers(jagged(tar, 300));
  assert.equal(got.length, 2);
  assert.equal(got[0]?.header.name, name);
  assert.equal(got[0]?.header.uname, "postgres");
  assert.equal(got[0]?.header.uid, 1000);
  assert.deepEqual(got[0]?.data, data);
  assert.equal(got[1]?.header.name, "ln");
  assert.equal(got[1]?.header.linkname, link);
});

/** The CorruptArchiveError readTar rejects `bytes` with. */
async function failure(bytes: Uint8Array): Promise<CorruptArchiveError> {
  let caught: unknown;
  try {
    await readAllMembers(jagged(bytes, 1000));
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof CorruptArchiveError, `not a CorruptArchiveError: ${caught}`);
  return caught;
}

Deno.test("readTar refuses damaged and truncated tars, saying where", async () => {
  const tar = await paxTar([
    { name: "a", data: pattern(1000, 1) },
    { name: "b", data: pattern(5000, 2) },
  ]);
  const bEnd = 512 + 1024 + 512 + 5120;
  // A flipped byte in b's header: its checksum no longer matches.
  const flipped = tar.slice();
  flipped[1536 + 10] = (flipped[1536 + 10] as number) ^ 1;
  let e = await failure(flipped);
  assert.equal(e.message, "invalid tar header");
  assert.match(e.detail ?? "", /byte 1536, after member "a".*checksum mismatch/);
  e = await failure(new Uint8Array(4096).fill(0x41));
  assert.equal(e.message, "invalid tar header");
  assert.match(e.detail ?? "", /does not start with a tar header/);
  // Cut inside b's header, inside b's data, at b's end, inside the end-of-archive blocks.
  e = await failure(tar.subarray(0, 1536 + 100));
  assert.equal(e.message, "tar stream ends inside a member");
  assert.match(e.detail ?? "", /inside a header, after member "a"/);
  e = await failure(tar.subarray(0, 1536 + 512 + 3000));
  assert.match(e.detail ?? "", /ends at byte 5048 inside member "b"/);
  for (const cut of [bEnd, bEnd + 512, bEnd + 700]) {
    e = await failure(tar.subarray(0, cut));
    assert.equal(e.message, "tar stream has no end-of-archive marker");
    assert.match(e.detail ?? "", /after member "b"/);
  }
  await readAllMembers(jagged(tar.subarray(0, bEnd + 1024), 77));
  // A malformed PAX record.
  const pax = enc.encode("99 path=x\n");
  const paxHead = gnuHeader("PaxHeader", "x", pax.length);
  paxHead.set(enc.encode("ustar\u000000"), 257);
  paxHead.fill(0x20, 148, 156);
  let sum = 0;
  for (const v of paxHead) sum += v;
  paxHead.set(enc.encode(sum.toString(8).padStart(6, "0") + "\0 "), 148);
  e = await failure(concat([paxHead, padded(pax), tar]));
  assert.equal(e.message, "damaged tar stream");
  assert.match(e.detail ?? "", /malformed PAX record/);
  // A lone extended header at the end (its member missing) is not an end-of-archive marker.
  e = await failure(
    concat([
      tar.subarray(0, bEnd),
      paxHead,
      padded(enc.encode("10 path=x\n")),
      new Uint8Array(1024),
    ]),
  );
  assert.equal(e.message, "tar stream has no end-of-archive marker");
});

/**
 * `bytes` in chunks of pseudo-random sizes, each in a buffer lent to the reader and reused
 * once given back: a reader that gives a buffer back too early sees its bytes change (poison,
 * then the next chunk's bytes).
 */
function recycling(bytes: Uint8Array, stats: { reused: number; allocated: number }) {
  const free: ArrayBuffer[] = [];
  const SIZE = 4096;
  let at = 0;
  let s = 5;
  return new ReadableStream<Uint8Array>({
    pull(c) {
      if (at >= bytes.length) return c.close();
      s = (s * 1103515245 + 12345) % 2147483648;
      const n = Math.min(1 + (s % SIZE), bytes.length - at);
      const buf = free.pop();
      if (buf === undefined) stats.allocated++;
      else stats.reused++;
      const chunk = new Uint8Array(buf ?? new ArrayBuffer(SIZE), 0, n);
      chunk.set(bytes.subarray(at, at + n));
      at += n;
      lend(chunk, (back) => free.push(back.buffer as ArrayBuffer));
      c.enqueue(chunk);
    },
  }, { highWaterMark: 3 });
}

Deno.test("readTar gives a chunk back only once no view of it is in use", async () => {
  const members: Spec[] = Array.from({ length: 40 }, (_, i) => ({
    name: `base/1/${i}`,
    data: pattern(i * 997, i),
  }));
  const tar = await paxTar(members);
  const stats = { reused: 0, allocated: 0 };
  setRecyclePoison(true);
  try {
    const got: Uint8Array[] = [];
    await readTar(recycling(tar, stats), async (_h, data) => {
      const parts: Uint8Array[] = [];
      for await (const c of data) {
        const copy = c.slice();
        // Let the producer run (it refills given-back buffers) while this view is held.
        await new Promise((r) => setTimeout(r, 0));
        assert.deepEqual(c, copy, "a chunk changed while its view was in use");
        parts.push(copy);
      }
      got.push(concat(parts));
    });
    assert.deepEqual(got, members.map((m) => m.data));
  } finally {
    setRecyclePoison(false);
  }
  assert.ok(stats.reused > stats.allocated, `buffers were not reused: ${JSON.stringify(stats)}`);
});

Deno.test("a restore through the parallel lzop reader with poisoned recycled buffers is exact", async () => {
  const tmp = await Deno.makeTempDir();
  const pool = new CodecPool({ size: 2 });
  setRecyclePoison(true);
  try {
    // Files larger and smaller than a decoded batch (1 MiB), so members straddle batches.
    const members: Spec[] = [
      { name: "big", data: pattern(5 * 1024 * 1024 + 123, 11) },
      ...Array.from(
        { length: 30 },
        (_, i) => ({ name: `small/${i}`, data: pattern(i * 40_000 + 1, i) }),
      ),
      { name: "mid", data: pattern(1024 * 1024, 12) },
    ];
    const tar = await paxTar([{ name: "small", type: "directory" }, ...members]);
    const lzo = ReadableStream.from([tar]).pipeThrough(createLzopWriter());
    const decoded = lzo.pipeThrough(createParallelLzopReader(pool));
    const ex = await Extractor.create(tmp);
    await ex.extract(decoded);
    await ex.finish();
    for (const m of members) {
      const onDisk = await Deno.readFile(join(tmp, m.name));
      assert.ok(onDisk.length === m.data?.length, `${m.name}: size`);
      assert.deepEqual(onDisk, m.data, `${m.name} differs`);
    }
  } finally {
    setRecyclePoison(false);
    pool.close();
    await Deno.remove(tmp, { recursive: true });
  }
});
