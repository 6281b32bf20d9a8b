/**
 * Writer → reader round trips at the block-size edges, and both-way interop with native lzop on
 * real PostgreSQL 15 files (relations, pg_control, a WAL segment), with sizes close to lzop's.
 */
import assert from "node:assert/strict";
import { createLzopReader, lzopDecompress } from "../../src/codec/lzop_reader.ts";
import { createLzopWriter, lzopCompress } from "../../src/codec/lzop_writer.ts";
import {
  concat,
  lzop,
  lzopBinary,
  pgSampleFiles,
  pipeBytes,
  randomBytes,
  repetitiveBytes,
  runProgram,
  seededRandom,
} from "../support/lzop_fixtures.ts";

const KIB = 1024;

Deno.test("writer → reader round trip: empty, 1 byte, 256 KiB, 256 KiB + 1, 1 MiB random, repetitive", async () => {
  const rand = seededRandom(2024);
  const cases: Array<[string, Uint8Array]> = [
    ["empty", new Uint8Array(0)],
    ["1 byte", new Uint8Array([0xff])],
    ["exactly 262144", repetitiveBytes(262144)],
    ["262145", concat(randomBytes(rand, 1), repetitiveBytes(262144))],
    ["1 MiB random", randomBytes(rand, 1024 * KIB)],
    ["highly repetitive", new Uint8Array(3 * 1024 * KIB).fill(0x20)],
    ["text-like", repetitiveBytes(2 * 1024 * KIB + 17)],
  ];
  for (const [name, data] of cases) {
    const compressed = await pipeBytes(data, createLzopWriter(), 64 * KIB);
    const back = await pipeBytes(compressed, createLzopReader(), 100_003);
    assert.deepEqual(back, data, name);
  }
});

Deno.test("PostgreSQL files: our lzop output passes lzop -t and lzop -dc gives the same bytes", async () => {
  lzopBinary();
  for (const file of await pgSampleFiles()) {
    const ours = await lzopCompress(file.data);
    const test = await runProgram(lzopBinary(), ["-t", "-"], ours);
    assert.equal(test.code, 0, `${file.name}: ${test.stderr}`);
    assert.deepEqual(await lzop(["-dc"], ours), file.data, file.name);
  }
});

Deno.test("PostgreSQL files: we decode what lzop -1, default and -9 write to the same bytes", async () => {
  for (const file of await pgSampleFiles()) {
    for (const level of ["-1", "-5", "-9"]) {
      // -9 is slow on the 16 MiB WAL segment; its first 2 MiB exercise the same encoder.
      const data = level === "-9" ? file.data.subarray(0, 2 * 1024 * KIB) : file.data;
      const native = await lzop(["-c", level], data);
      assert.deepEqual(await lzopDecompress(native), data, `${file.name} ${level}`);
    }
  }
});

Deno.test("PostgreSQL files: our compressed size is within 2% of lzop's default level", async () => {
  let ours = 0;
  let native = 0;
  for (const file of await pgSampleFiles()) {
    const a = (await lzopCompress(file.data)).length;
    const b = (await lzop(["-c"], file.data)).length;
    assert.ok(Math.abs(a / b - 1) <= 0.02, `${file.name}: ours ${a} bytes, lzop ${b} bytes`);
    ours += a;
    native += b;
  }
  assert.ok(Math.abs(ours / native - 1) <= 0.02, `total: ours ${ours} bytes, lzop ${native} bytes`);
});
