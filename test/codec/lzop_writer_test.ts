/** The lzop writer: exact bytes of `lzop -c`, block layout, and acceptance by the real lzop. */
import assert from "node:assert/strict";
import { createLzopWriter, lzopCompress } from "../../src/codec/lzop_writer.ts";
import { lzopDecompress } from "../../src/codec/lzop_reader.ts";
import {
  concat,
  fromHex,
  lzop,
  lzopBinary,
  pipeBytes,
  randomBytes,
  repetitiveBytes,
  runProgram,
  seededRandom,
  structuredBytes,
  toHex,
} from "../support/lzop_fixtures.ts";

const MTIME_2020 = 0x5e0be100;
const HEADER_2020 = "894c5a4f000d0a1a0a104020a0094001050300000d000000005e0be1000000000000292902ba";

interface Block {
  ulen: number;
  clen: number;
  adler: number;
}

/** Block list of one writer output (default flags: one Adler-32 per block). */
function blocksOf(stream: Uint8Array): Block[] {
  const v = new DataView(stream.buffer, stream.byteOffset, stream.byteLength);
  const blocks: Block[] = [];
  let at = 38;
  for (;;) {
    const ulen = v.getUint32(at);
    if (ulen === 0) {
      assert.equal(at + 4, stream.length, "end marker is the last 4 bytes");
      return blocks;
    }
    const clen = v.getUint32(at + 4);
    blocks.push({ ulen, clen, adler: v.getUint32(at + 8) });
    at += 12 + clen;
  }
}

Deno.test("writer reproduces the 66-byte 'hello world' stream of WAL-E-COMPAT §17.6 exactly", async () => {
  const out = await lzopCompress(new TextEncoder().encode("hello world\n"), {
    mode: 0,
    mtimeSeconds: MTIME_2020,
  });
  assert.equal(
    toHex(out),
    HEADER_2020 + "0000000c0000000c1e72046768656c6c6f20776f726c640a00000000",
  );
});

Deno.test("writer turns empty input into header + end marker, which lzop accepts", async () => {
  const out = await lzopCompress(new Uint8Array(0), { mtimeSeconds: MTIME_2020 });
  assert.equal(toHex(out), HEADER_2020 + "00000000");
  assert.equal((await lzop(["-dc"], out)).length, 0);
});

Deno.test("writer records mode and mtime (default: now) in the header", async () => {
  const before = Math.floor(Date.now() / 1000);
  const out = await lzopCompress(new Uint8Array(10));
  const v = new DataView(out.buffer);
  assert.equal(v.getUint32(21), 0, "mode defaults to 0");
  const mtime = v.getUint32(25);
  assert.ok(mtime >= before && mtime <= before + 5, `mtime ${mtime} is now`);
  const withMode = await lzopCompress(new Uint8Array(10), {
    mode: 0o100600,
    mtimeSeconds: 2 ** 33 + 5,
  });
  const w = new DataView(withMode.buffer);
  assert.equal(w.getUint32(21), 0x8180);
  assert.equal(w.getUint32(25), 5);
  assert.equal(w.getUint32(29), 2);
  assert.deepEqual(await lzopDecompress(withMode), new Uint8Array(10));
});

Deno.test("writer cuts 256 KiB blocks: 262144 bytes is one block, 262145 is two", async () => {
  const data = repetitiveBytes(262145);
  const one = blocksOf(await lzopCompress(data.subarray(0, 262144)));
  assert.deepEqual(one.map((b) => b.ulen), [262144]);
  const two = blocksOf(await lzopCompress(data));
  assert.deepEqual(two.map((b) => b.ulen), [262144, 1]);
  assert.ok(two[0]!.clen < 262144 / 4, "repetitive data compresses");
  assert.equal(two[1]!.clen, 1, "a block that does not shrink is stored");
});

Deno.test("writer stores incompressible blocks raw (clen == ulen)", async () => {
  const data = randomBytes(seededRandom(3), 600_000);
  const out = await lzopCompress(data);
  const blocks = blocksOf(out);
  assert.deepEqual(blocks.map((b) => b.ulen), [262144, 262144, 75712]);
  for (const b of blocks) assert.equal(b.clen, b.ulen);
  assert.deepEqual(out.subarray(38 + 12, 38 + 12 + 100), data.subarray(0, 100));
});

Deno.test("writer output is the same whatever the input chunking", async () => {
  const rand = seededRandom(9);
  const data = concat(repetitiveBytes(300_000), randomBytes(rand, 5000), repetitiveBytes(270_000));
  const options = { mtimeSeconds: MTIME_2020 };
  const whole = await pipeBytes(data, createLzopWriter(options), data.length);
  const small = await pipeBytes(
    data,
    createLzopWriter(options),
    () => 1 + Math.floor(rand() * 9000),
  );
  assert.deepEqual(small, whole);
  const ones = await pipeBytes(data.subarray(0, 3000), createLzopWriter(options), 1);
  assert.deepEqual(ones, await lzopCompress(data.subarray(0, 3000), options));
});

Deno.test("two writers interleaved on the shared wasm instance keep their data apart", async () => {
  const a = repetitiveBytes(700_000);
  const b = randomBytes(seededRandom(5), 700_000);
  const [outA, outB] = await Promise.all([
    pipeBytes(a, createLzopWriter(), 10_000),
    pipeBytes(b, createLzopWriter(), 7_777),
  ]);
  assert.deepEqual(await lzopDecompress(outA), a);
  assert.deepEqual(await lzopDecompress(outB), b);
});

Deno.test("lzop -t accepts and lzop -dc restores what the writer produced", async () => {
  lzopBinary();
  const rand = seededRandom(11);
  const inputs = [
    new Uint8Array([0x42]),
    repetitiveBytes(262144),
    concat(repetitiveBytes(400_000), randomBytes(rand, 300_000), new Uint8Array(200_000)),
    structuredBytes(rand, 2_000_000),
  ];
  for (const data of inputs) {
    const out = await lzopCompress(data);
    const test = await runProgram(lzopBinary(), ["-t", "-"], out);
    assert.equal(test.code, 0, test.stderr);
    assert.deepEqual(await lzop(["-dc"], out), data);
  }
});

Deno.test("writer produces LZO 2.10's exact bytes for the 64 x 'a' vector of §17.6", async () => {
  const out = await lzopCompress(new Uint8Array(64).fill(0x61), { mtimeSeconds: MTIME_2020 });
  // Same bytes as LZO 2.10's lzop -c (WAL-E-COMPAT §17.6).
  assert.deepEqual(
    out,
    fromHex(
      HEADER_2020 + "000000400000001d148d1841" +
        "026161616161200b10000c616161616161616161616161616161110000" + "00000000",
    ),
  );
});

Deno.test("lzopFileChunks yields exactly the bytes of the stream writer, in 256 KiB chunks", async () => {
  const { lzopFileChunks, lzopCompress } = await import("../../src/codec/lzop_writer.ts");
  const dir = await Deno.makeTempDir({ prefix: "wal-e-encode-file-" });
  try {
    const block = 256 * 1024;
    const random = crypto.getRandomValues(new Uint8Array(65536));
    for (const size of [0, 1, block - 1, block, block + 1, 3 * block + 17]) {
      // Half compressible, half random: both stored and compressed blocks.
      const data = new Uint8Array(size).map((_, i) =>
        i % 7 === 0 ? random[i % 65536] ?? 0 : i >> 9
      );
      const path = `${dir}/f${size}`;
      await Deno.writeFile(path, data);
      const want = await lzopCompress(data, { mode: 0o100600, mtimeSeconds: 1_700_000_000 });
      const file = await Deno.open(path);
      const counted = { plainBytes: 0 };
      // Copied as taken: a chunk is only valid until the next one.
      const chunks = [...lzopFileChunks(file, counted, {
        mode: 0o100600,
        mtimeSeconds: 1_700_000_000,
      })].length;
      file.close();
      const again = await Deno.open(path);
      const got = concat(
        ...Array.from(
          lzopFileChunks(again, { plainBytes: 0 }, {
            mode: 0o100600,
            mtimeSeconds: 1_700_000_000,
          }),
          (c) => c.slice(),
        ),
      );
      again.close();
      assert.equal(counted.plainBytes, size);
      assert.equal(chunks, Math.max(1, Math.ceil(want.length / block)), `size ${size}`);
      assert.deepEqual(got, want, `size ${size}`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("lzopFileChunks: chunks taken after the codec memory grew (another encoder) are intact", async () => {
  const { lzopFileChunks, lzopCompress } = await import("../../src/codec/lzop_writer.ts");
  const { acquireBuffer, releaseBuffer } = await import("../../src/codec/lzo_wasm.ts");
  const dir = await Deno.makeTempDir({ prefix: "wal-e-encode-grow-" });
  try {
    // Random data: stored blocks of 256 KiB, so a stage fills in the middle of copying one.
    const data = new Uint8Array(3 * 256 * 1024 + 5);
    for (let off = 0; off < data.length; off += 65536) {
      crypto.getRandomValues(data.subarray(off, Math.min(off + 65536, data.length)));
    }
    await Deno.writeFile(`${dir}/f`, data);
    const want = await lzopCompress(data, { mode: 0o100600, mtimeSeconds: 1_700_000_000 });
    const file = await Deno.open(`${dir}/f`);
    const parts: Uint8Array[] = [];
    const held: ReturnType<typeof acquireBuffer>[] = [];
    const owner = {};
    try {
      for (
        const chunk of lzopFileChunks(file, { plainBytes: 0 }, {
          mode: 0o100600,
          mtimeSeconds: 1_700_000_000,
        })
      ) {
        parts.push(chunk.slice());
        // What a concurrent encoder does between two chunks: grow the memory (detaching views).
        held.push(acquireBuffer(4 << 20, owner));
      }
    } finally {
      file.close();
      for (const b of held) releaseBuffer(b);
    }
    assert.deepEqual(concat(...parts), want);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
