/** The raw LZO1X codec and checksums in wasm: round trips, error codes, fuzzing the decoder. */
import assert from "node:assert/strict";
import {
  acquireBuffer,
  adler32,
  adler32Of,
  compressBlock,
  compressBound,
  crc32,
  crc32Of,
  decompressBlock,
  describeLzoStatus,
  LZO_STATUS,
  releaseBuffer,
  WasmBuffer,
} from "../../src/codec/lzo_wasm.ts";
import {
  adlerRef,
  crcRef,
  fromHex,
  randInt,
  randomBytes,
  repetitiveBytes,
  seededRandom,
  structuredBytes,
} from "../support/lzop_fixtures.ts";

const OWNER = {};
const BLOCK = 256 * 1024;
const src = acquireBuffer(compressBound(BLOCK), OWNER);
const dst = acquireBuffer(compressBound(BLOCK), OWNER);

function compress(data: Uint8Array): Uint8Array {
  src.bytes.set(data);
  const n = compressBlock(src, data.length, dst);
  return dst.bytes.slice(0, n);
}

/** Decodes `lzo` with an output limit; returns the output or the negative status. */
function decompress(lzo: Uint8Array, limit: number): Uint8Array | number {
  src.bytes.set(lzo);
  const n = decompressBlock(src, lzo.length, dst, limit);
  return n < 0 ? n : dst.bytes.slice(0, n);
}

const ALL_STATUS = new Set<number>(Object.values(LZO_STATUS));

Deno.test("compressBlock output round-trips through decompressBlock for assorted inputs", () => {
  const rand = seededRandom(1);
  const cases: Array<[string, Uint8Array]> = [
    ["empty", new Uint8Array(0)],
    ["one byte", new Uint8Array([7])],
    ["three bytes", new Uint8Array([1, 2, 3])],
    ["hello", new TextEncoder().encode("hello world\n")],
    ["64 x a", new Uint8Array(64).fill(0x61)],
    ["zeros", new Uint8Array(BLOCK)],
    ["random", randomBytes(rand, BLOCK)],
    ["repetitive", repetitiveBytes(BLOCK)],
    [
      "mixed",
      new Uint8Array([
        ...randomBytes(rand, 70000),
        ...repetitiveBytes(120000),
        ...randomBytes(rand, 300),
      ]),
    ],
  ];
  for (let len = 1; len < 80; len++) cases.push([`random ${len}`, randomBytes(rand, len)]);
  for (const [name, data] of cases) {
    const lzo = compress(data);
    assert.deepEqual(Array.from(lzo.subarray(lzo.length - 3)), [0x11, 0, 0], `${name}: end code`);
    const back = decompress(lzo, data.length);
    assert.ok(back instanceof Uint8Array, `${name}: decoded (${back})`);
    assert.deepEqual(back, data, name);
  }
});

Deno.test("compressBlock round-trips structured inputs with matches at every distance limit", () => {
  const rand = seededRandom(0x1a2b);
  for (let i = 0; i < 60; i++) {
    const data = structuredBytes(rand, 1 + randInt(rand, BLOCK));
    const lzo = compress(data);
    assert.ok(lzo.length < data.length, `case ${i}: structured input compresses`);
    const back = decompress(lzo, data.length);
    assert.ok(back instanceof Uint8Array && sameBytes(back, data), `case ${i}: round trip`);
  }
});

Deno.test("compressBlock of 64 x 'a' matches LZO 2.10's LZO1X-1 bytes from WAL-E-COMPAT §17.6", () => {
  const expected = fromHex("026161616161200b10000c616161616161616161616161616161110000");
  assert.deepEqual(compress(new Uint8Array(64).fill(0x61)), expected);
});

Deno.test("compressBlock rejects an output buffer smaller than compressBound", () => {
  const small = new WasmBuffer(dst.ptr, 100);
  assert.throws(() => compressBlock(src, 200, small), RangeError);
});

Deno.test("decompressBlock reports each kind of malformed input with its own code", () => {
  const good = compress(repetitiveBytes(5000));
  const cases: Array<[string, Uint8Array, number, number]> = [
    ["empty input", new Uint8Array(0), 100, LZO_STATUS.NO_END_MARKER],
    ["end code cut short", fromHex("1100"), 100, LZO_STATUS.INPUT_OVERRUN],
    ["literal run past the input", fromHex("1a6161"), 100, LZO_STATUS.INPUT_OVERRUN],
    ["no end code", fromHex("1561616161"), 100, LZO_STATUS.NO_END_MARKER],
    ["bytes after the end code", fromHex("110000ff"), 100, LZO_STATUS.TRAILING_INPUT],
    [
      "match before the output start",
      fromHex("15616161612210001100 00"),
      100,
      LZO_STATUS.LOOKBEHIND_OVERRUN,
    ],
    [
      "match at distance 0x4001 in a short output",
      fromHex("1561616161110400110000"),
      100,
      LZO_STATUS.LOOKBEHIND_OVERRUN,
    ],
    ["output larger than the limit", good, 4999, LZO_STATUS.OUTPUT_OVERRUN],
    ["truncated stream", good.subarray(0, good.length - 5), 5000, LZO_STATUS.INPUT_OVERRUN],
    [
      "long length run of zero bytes",
      fromHex("1561616161200000000000"),
      100,
      LZO_STATUS.OUTPUT_OVERRUN,
    ],
  ];
  for (const [name, input, limit, code] of cases) {
    const got = decompress(input, limit);
    assert.equal(got, code, `${name}: got ${got instanceof Uint8Array ? "output" : got}`);
    assert.notEqual(describeLzoStatus(code), `unknown error ${code}`);
  }
  // The bare end code is a valid empty stream.
  assert.deepEqual(decompress(fromHex("110000"), 0), new Uint8Array(0));
});

Deno.test("decompressBlock decodes the special first-byte literal forms and M1 matches", () => {
  // 18: one literal, then a 2-byte M1 match at distance 1 (state 1) and end.
  assert.deepEqual(decompress(fromHex("12 61 00 00 110000"), 10), fromHex("616161"));
  // 21: four literals, then an M1 3-byte match at distance 2049 would reach before the start.
  assert.equal(decompress(fromHex("15 61626364 00 00 110000"), 10), LZO_STATUS.LOOKBEHIND_OVERRUN);
  // 0000LLLL literal run of 18 + 1 = 19 via a length extension byte.
  const lit = new Uint8Array(19).fill(0x7a);
  assert.deepEqual(decompress(new Uint8Array([0, 1, ...lit, 0x11, 0, 0]), 19), lit);
});

/** Canary bytes after the output limit: wider than any whole-word copy could overshoot. */
const CANARY = 4096;

function fillCanary(buffer: WasmBuffer, from: number): void {
  buffer.bytes.fill(0xa5, from, from + CANARY);
}

function canaryIntact(buffer: WasmBuffer, from: number): boolean {
  const view = buffer.bytes.subarray(from, from + CANARY);
  for (let i = 0; i < view.length; i++) if (view[i] !== 0xa5) return false;
  return true;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

Deno.test("decompressBlock fuzz: random and mutated input never traps, overruns or hangs", () => {
  const rand = seededRandom(0xdecaf);
  const seeds = [
    repetitiveBytes(30000),
    randomBytes(rand, 3000),
    new Uint8Array(20000),
    new Uint8Array([
      ...repetitiveBytes(9000),
      ...randomBytes(rand, 500),
      ...repetitiveBytes(60000),
    ]),
  ].map((d) => ({ plain: d, lzo: compress(d) }));
  const deadline = Date.now() + 20_000;
  let errors = 0;
  for (let i = 0; i < 6000; i++) {
    let input: Uint8Array;
    let plain: Uint8Array | undefined;
    if (i % 3 === 0) {
      input = randomBytes(rand, randInt(rand, 400));
      if (input.length > 0 && rand() < 0.5) input[0] = randInt(rand, 32);
    } else {
      const seed = seeds[randInt(rand, seeds.length)]!;
      input = seed.lzo.slice();
      plain = seed.plain;
      const flips = 1 + randInt(rand, 4);
      for (let k = 0; k < flips; k++) {
        const at = randInt(rand, input.length);
        input[at] = rand() < 0.5 ? input[at]! ^ (1 << randInt(rand, 8)) : randInt(rand, 256);
      }
      if (rand() < 0.2) input = input.subarray(0, randInt(rand, input.length));
    }
    const limit = plain !== undefined && rand() < 0.7 ? plain.length : randInt(rand, 70000);
    src.bytes.set(input);
    fillCanary(dst, limit);
    const srcCopy = src.bytes.slice(0, input.length);
    const n = decompressBlock(src, input.length, dst, limit);
    assert.ok(n >= 0 ? n <= limit : ALL_STATUS.has(n), `case ${i}: result ${n}`);
    assert.ok(canaryIntact(dst, limit), `case ${i}: wrote past the output limit`);
    assert.ok(sameBytes(src.bytes.subarray(0, input.length), srcCopy), `case ${i}: input modified`);
    if (n < 0) errors++;
    assert.ok(Date.now() < deadline, "fuzz took too long");
  }
  assert.ok(errors > 3000, `most mutations must be rejected (${errors})`);
});

Deno.test("adler32 and crc32 match zlib's definitions, whole and continued", () => {
  const rand = seededRandom(42);
  const hello = new TextEncoder().encode("hello world\n");
  assert.equal(adler32Of(hello), 0x1e720467);
  assert.equal(crc32Of(hello), 0xaf083b2d);
  assert.equal(adler32Of(new Uint8Array(0)), 1);
  assert.equal(crc32Of(new Uint8Array(0)), 0);
  const buf = acquireBuffer(300_000, OWNER);
  try {
    for (const len of [1, 15, 16, 17, 31, 100, 5551, 5552, 5553, 5537, 65536, 262144, 299_999]) {
      const data = randomBytes(rand, len);
      if (len > 1000) data.fill(0xff, 0, 6000); // worst case for the deferred modulo
      buf.bytes.set(data);
      assert.equal(adler32(buf, 0, len), adlerRef(data), `adler32 ${len}`);
      assert.equal(crc32(buf, 0, len), crcRef(data), `crc32 ${len}`);
      const cut = Math.floor(len / 3);
      assert.equal(
        adler32(buf, cut, len - cut, adler32(buf, 0, cut)),
        adlerRef(data),
        `adler32 split ${len}`,
      );
      assert.equal(
        crc32(buf, cut, len - cut, crc32(buf, 0, cut)),
        crcRef(data),
        `crc32 split ${len}`,
      );
    }
  } finally {
    releaseBuffer(buf);
  }
});

Deno.test("acquireBuffer reuses released buffers and views survive memory growth", () => {
  const owner = {};
  const a = acquireBuffer(1000, owner);
  a.bytes.set([1, 2, 3]);
  releaseBuffer(a);
  const b = acquireBuffer(2000, owner);
  assert.equal(b.ptr, a.ptr, "same size class comes back from the pool");
  const big = acquireBuffer(8 * 1024 * 1024, owner); // grows the memory, detaching old views
  assert.deepEqual(Array.from(b.bytes.subarray(0, 3)), [1, 2, 3]);
  releaseBuffer(big);
  releaseBuffer(b);
  assert.throws(() => acquireBuffer(-1, owner), RangeError);
});
