/**
 * The lzop reader: the §17.6 vectors, everything native lzop writes, input split at any byte,
 * concatenated streams, and a typed error for each way a stream can be wrong.
 */
import assert from "node:assert/strict";
import { CorruptArchiveError } from "../../src/errors.ts";
import {
  acquireBuffer,
  compressBlock,
  compressBound,
  releaseBuffer,
} from "../../src/codec/lzo_wasm.ts";
import { createLzopReader, lzopDecompress } from "../../src/codec/lzop_reader.ts";
import { lzopCompress } from "../../src/codec/lzop_writer.ts";
import {
  concat,
  craftBlock,
  craftHeader,
  END_MARKER,
  fromHex,
  lzop,
  pipeBytes,
  randomBytes,
  repetitiveBytes,
  seededRandom,
} from "../support/lzop_fixtures.ts";

const VECTOR_66 = fromHex(
  "894c5a4f000d0a1a0a104020a0094001050300000d000000005e0be1000000000000292902ba" +
    "0000000c0000000c1e72046768656c6c6f20776f726c640a00000000",
);
const VECTOR_83 = fromHex(
  "894c5a4f000d0a1a0a104020a0094001050300000d000000005e0be1000000000000292902ba" +
    "000000400000001d148d1841026161616161200b10000c616161616161616161616161616161110000" +
    "00000000",
);
const DEFAULT_FLAGS = 0x0300000d;

/** LZO1X form of `plain` from our compressor (for crafted blocks). */
function lzo1x(plain: Uint8Array): Uint8Array {
  const owner = {};
  const src = acquireBuffer(plain.length, owner);
  const dst = acquireBuffer(compressBound(plain.length), owner);
  try {
    src.bytes.set(plain);
    return dst.bytes.slice(0, compressBlock(src, plain.length, dst));
  } finally {
    releaseBuffer(src);
    releaseBuffer(dst);
  }
}

/** A small multi-block test input: compressible blocks, then an incompressible tail. */
function sampleInput(): Uint8Array {
  return concat(repetitiveBytes(600_000), randomBytes(seededRandom(7), 3000));
}

/** Asserts that decoding `stream` fails with CorruptArchiveError `message` (and DETAIL text). */
async function assertCorrupt(
  stream: Uint8Array,
  message: string,
  detail?: RegExp,
  chunk: number = 64 * 1024,
): Promise<void> {
  await assert.rejects(pipeBytes(stream, createLzopReader(), chunk), (err: unknown) => {
    assert.ok(err instanceof CorruptArchiveError, `expected CorruptArchiveError, got ${err}`);
    assert.equal(err.message, message);
    if (detail !== undefined) assert.match(err.detail ?? "", detail);
    return true;
  });
}

Deno.test("reader decodes the 66-byte and 83-byte vectors of WAL-E-COMPAT §17.6", async () => {
  assert.equal(new TextDecoder().decode(await lzopDecompress(VECTOR_66)), "hello world\n");
  assert.deepEqual(await lzopDecompress(VECTOR_83), new Uint8Array(64).fill(0x61));
});

Deno.test("reader restores what native lzop writes with every level and checksum option", async () => {
  const rand = seededRandom(21);
  const data = concat(
    repetitiveBytes(500_000),
    randomBytes(rand, 300_000),
    new Uint8Array(100_000),
    new TextEncoder().encode("x".repeat(7000)),
  );
  const variants = [["-1"], [], ["-3"], ["-7"], ["-9"], ["--crc32"], ["-C"], ["-CC"], [
    "-CC",
    "--crc32",
  ], [
    "-F",
  ]];
  for (const opts of variants) {
    const compressed = await lzop(["-c", ...opts], data);
    assert.deepEqual(await lzopDecompress(compressed), data, `lzop ${opts.join(" ")}`);
  }
});

Deno.test("reader accepts a header with a file name and path (lzop -c FILE, lzop -P)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "lzop-name-" });
  try {
    const path = `${dir}/segment-000000010000000000000001`;
    const data = repetitiveBytes(300_000);
    await Deno.writeFile(path, data);
    for (const opts of [["-c", path], ["-c", "-P", path]]) {
      const compressed = await lzop(opts);
      assert.ok(compressed[33]! > 0, "the header carries a name");
      assert.deepEqual(await lzopDecompress(compressed), data, opts.join(" "));
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("reader copes with input split into 1-byte and random-size chunks", async () => {
  const data = sampleInput();
  const rand = seededRandom(99);
  for (const opts of [["-c"], ["-c", "-CC", "--crc32"]]) {
    const compressed = await lzop(opts, data);
    assert.deepEqual(await pipeBytes(compressed, createLzopReader(), 1), data, `1-byte ${opts}`);
    const sizes = () => 1 + Math.floor(rand() * 5000);
    assert.deepEqual(
      await pipeBytes(compressed, createLzopReader(), sizes),
      data,
      `random ${opts}`,
    );
  }
});

Deno.test("reader decodes concatenated streams and ignores trailing zero bytes", async () => {
  const a = repetitiveBytes(270_000);
  const b = new TextEncoder().encode("second stream");
  const both = concat(await lzopCompress(a), await lzop(["-c", "--crc32"], b));
  assert.deepEqual(await lzopDecompress(both), concat(a, b));
  const padded = concat(both, new Uint8Array(1000));
  assert.deepEqual(await pipeBytes(padded, createLzopReader(), 1), concat(a, b));
});

Deno.test("reader rejects trailing garbage after the end marker", async () => {
  await assertCorrupt(
    concat(VECTOR_66, fromHex("41")),
    "trailing garbage after lzop stream",
    /offset 66/,
  );
  await assertCorrupt(
    concat(VECTOR_66, new Uint8Array(5), fromHex("01")),
    "trailing garbage after lzop stream",
    /offset 71/,
    1,
  );
  // Something that starts like a second stream but is not one.
  await assertCorrupt(
    concat(VECTOR_66, fromHex("894c5a4f000d0a1a0b")),
    "trailing garbage after lzop stream",
  );
});

Deno.test("reader reports every truncation of a stream as truncated", async () => {
  const stream = await lzopCompress(
    concat(repetitiveBytes(262_200), randomBytes(seededRandom(4), 100)),
  );
  for (let cut = 1; cut < stream.length; cut += cut < 120 ? 1 : 97) {
    await assertCorrupt(stream.subarray(0, cut), "truncated lzop stream", /The input ends/);
  }
  await assertCorrupt(
    stream.subarray(0, stream.length - 4),
    "truncated lzop stream",
    /before the end marker/,
  );
  // A second stream that stops inside its header.
  await assertCorrupt(
    concat(VECTOR_66, VECTOR_66.subarray(0, 20)),
    "truncated lzop stream",
    /stream 2/,
  );
});

Deno.test("reader rejects input that is not lzop at all", async () => {
  await assertCorrupt(new Uint8Array(0), "not an lzop stream", /empty/);
  await assertCorrupt(new TextEncoder().encode("hello"), "not an lzop stream");
  await assertCorrupt(new TextEncoder().encode("hello world, not lzop"), "not an lzop stream");
  await assertCorrupt(fromHex("1f8b0800000000000003"), "not an lzop stream");
});

Deno.test("reader verifies the header checksum (Adler-32, or CRC-32 with F_H_CRC32)", async () => {
  const flipped = VECTOR_66.slice();
  flipped[28]! ^= 1; // mtime
  await assertCorrupt(flipped, "lzop header checksum mismatch", /0x292902ba/);
  const crcFlags = 0x03001101;
  const good = concat(
    craftHeader({ flags: crcFlags }),
    craftBlock(crcFlags, fromHex("0102")),
    END_MARKER,
  );
  assert.deepEqual(await lzopDecompress(good), fromHex("0102"));
  const bad = concat(craftHeader({ flags: crcFlags, checksum: 7 }), END_MARKER);
  await assertCorrupt(bad, "lzop header checksum mismatch");
});

Deno.test("reader verifies block checksums of uncompressed and compressed data", async () => {
  const stored = VECTOR_66.slice();
  stored[54]! ^= 0x20; // inside "hello world"
  await assertCorrupt(
    stored,
    "lzop block checksum mismatch",
    /Adler-32 of the uncompressed data.*Block 1 of stream 1 starts at offset 38/,
  );
  const plain = repetitiveBytes(5000);
  const packed = lzo1x(plain);
  for (const flags of [0x03000003, 0x03000201, 0x03000300]) {
    const block = craftBlock(flags, plain, packed);
    const good = concat(craftHeader({ flags }), block, END_MARKER);
    assert.deepEqual(await lzopDecompress(good), plain);
    const bad = good.slice();
    bad[bad.length - 10]! ^= 0x40; // inside the LZO data
    await assertCorrupt(bad, "lzop block checksum mismatch", /of the compressed data/);
  }
  const crcOnly = 0x03000100;
  const bad = concat(
    craftHeader({ flags: crcOnly }),
    craftBlock(crcOnly, plain, packed),
    END_MARKER,
  );
  bad[38 + 8]! ^= 1; // the stored CRC-32
  await assertCorrupt(bad, "lzop block checksum mismatch", /CRC-32 of the uncompressed data/);
});

Deno.test("reader rejects malformed LZO1X data and blocks that decode to the wrong length", async () => {
  const flags = 0x0300000c; // no checksums: only the decoder can notice
  const plain = repetitiveBytes(3000);
  const packed = lzo1x(plain);
  const cut = concat(
    craftHeader({ flags }),
    craftBlock(flags, plain, packed.subarray(0, 40)),
    END_MARKER,
  );
  await assertCorrupt(
    cut,
    "corrupt lzo data in lzop block",
    /input ends inside an instruction|no end-of-stream/,
  );
  const short = concat(
    craftHeader({ flags }),
    craftBlock(flags, new Uint8Array(3100), packed).subarray(0, 8),
    packed,
    END_MARKER,
  );
  await assertCorrupt(short, "lzop block length mismatch", /3000 bytes, not 3100/);
  const garbage = concat(
    craftHeader({ flags }),
    craftBlock(flags, plain, fromHex("20000000000000")),
    END_MARKER,
  );
  await assertCorrupt(garbage, "corrupt lzo data in lzop block");
});

Deno.test("reader rejects bad block lengths: split marker, over 64 MiB, clen > ulen", async () => {
  const h = craftHeader();
  await assertCorrupt(concat(h, fromHex("ffffffff")), "unsupported lzop split file");
  await assertCorrupt(concat(h, fromHex("04000001 00000010")), "lzop block too large", /67108865/);
  await assertCorrupt(
    concat(h, fromHex("00000010 00000011 00000000")),
    "lzop block larger compressed than uncompressed",
    /17 compressed and 16/,
  );
});

Deno.test("reader accepts blocks larger than 256 KiB up to lzop's 64 MiB limit", async () => {
  const plain = repetitiveBytes(1_500_000);
  const stream = concat(craftHeader(), craftBlock(DEFAULT_FLAGS, plain, lzo1x(plain)), END_MARKER);
  assert.deepEqual(await lzopDecompress(stream), plain);
});

Deno.test("reader accepts methods 1-3 at any level and rejects other methods", async () => {
  const plain = repetitiveBytes(4000);
  for (const [method, level] of [[1, 1], [2, 1], [3, 9], [1, 5]] as const) {
    const s = concat(
      craftHeader({ method, level }),
      craftBlock(DEFAULT_FLAGS, plain, lzo1x(plain)),
      END_MARKER,
    );
    assert.deepEqual(await lzopDecompress(s), plain, `method ${method}`);
  }
  await assertCorrupt(
    concat(craftHeader({ method: 4 }), END_MARKER),
    "unsupported lzop compression method",
    /4/,
  );
});

Deno.test("reader handles header versions 0x0900..0x1040 and refuses newer needs", async () => {
  const plain = fromHex("616263");
  for (const version of [0x0900, 0x0930, 0x0940, 0x1030, 0x1040, 0x2000]) {
    const s = concat(craftHeader({ version }), craftBlock(DEFAULT_FLAGS, plain), END_MARKER);
    assert.deepEqual(await pipeBytes(s, createLzopReader(), 1), plain, `version ${version}`);
  }
  await assertCorrupt(
    concat(craftHeader({ version: 0x08ff }), END_MARKER),
    "unsupported lzop header version",
  );
  await assertCorrupt(
    concat(craftHeader({ versionNeeded: 0x1050 }), END_MARKER),
    "unsupported lzop version needed to extract",
  );
});

Deno.test("reader rejects reserved and multipart flags, and non-zero filters", async () => {
  await assertCorrupt(
    concat(craftHeader({ flags: DEFAULT_FLAGS | 0x4000 }), END_MARKER),
    "unknown lzop header flags",
    /0x0300400d/,
  );
  await assertCorrupt(
    concat(craftHeader({ flags: DEFAULT_FLAGS | 0x400 }), END_MARKER),
    "unsupported multipart lzop stream",
  );
  const filtered = DEFAULT_FLAGS | 0x800;
  const ok = concat(
    craftHeader({ flags: filtered, filter: 0 }),
    craftBlock(filtered, fromHex("00")),
    END_MARKER,
  );
  assert.deepEqual(await lzopDecompress(ok), fromHex("00"));
  await assertCorrupt(
    concat(craftHeader({ flags: filtered, filter: 1 }), END_MARKER),
    "unsupported lzop filter",
  );
});

Deno.test("reader skips a checksummed extra field and rejects a corrupted one", async () => {
  for (const flags of [DEFAULT_FLAGS | 0x40, 0x03001041]) {
    const extra = new TextEncoder().encode("extra field bytes");
    const s = concat(craftHeader({ flags, extra }), craftBlock(flags, fromHex("0a0b")), END_MARKER);
    assert.deepEqual(await pipeBytes(s, createLzopReader(), 1), fromHex("0a0b"));
    const bad = s.slice();
    bad[45]! ^= 1; // inside the extra field
    await assertCorrupt(bad, "lzop header extra field checksum mismatch");
  }
  const empty = concat(
    craftHeader({ flags: DEFAULT_FLAGS | 0x40, extra: new Uint8Array(0) }),
    END_MARKER,
  );
  assert.deepEqual(await lzopDecompress(empty), new Uint8Array(0));
});

Deno.test("native lzop accepts the crafted extra field (its checksum covers the length word)", async () => {
  const flags = DEFAULT_FLAGS | 0x40;
  const s = concat(
    craftHeader({ flags, extra: fromHex("0102030405") }),
    craftBlock(flags, fromHex("61")),
    END_MARKER,
  );
  assert.deepEqual(await lzop(["-dc"], s), fromHex("61"));
});
