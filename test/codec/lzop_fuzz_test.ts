/**
 * Seeded fuzzing of the lzop reader: bit flips, byte changes, truncation, splices, insertions,
 * deletions and appended garbage on valid streams. Every case must either give back the
 * original bytes or fail with CorruptArchiveError — never another exception, a hang, or wrong
 * output accepted.
 */
import assert from "node:assert/strict";
import { CorruptArchiveError } from "../../src/errors.ts";
import { createLzopReader } from "../../src/codec/lzop_reader.ts";
import { lzopCompress } from "../../src/codec/lzop_writer.ts";
import {
  concat,
  craftBlock,
  craftHeader,
  END_MARKER,
  lzop,
  pipeBytes,
  randInt,
  randomBytes,
  repetitiveBytes,
  seededRandom,
} from "../support/lzop_fixtures.ts";

interface Seed {
  name: string;
  plain: Uint8Array;
  stream: Uint8Array;
}

async function seeds(): Promise<Seed[]> {
  const rand = seededRandom(77);
  const small = new TextEncoder().encode("hello world\n".repeat(40));
  const multi = concat(repetitiveBytes(300_000), randomBytes(rand, 2000), repetitiveBytes(5000));
  const crcPlain = concat(repetitiveBytes(20_000), randomBytes(rand, 500));
  const crcFlags = 0x03001303; // every checksum, CRC-32 header
  return [
    { name: "ours small", plain: small, stream: await lzopCompress(small) },
    { name: "ours multi-block", plain: multi, stream: await lzopCompress(multi) },
    {
      name: "lzop -CC --crc32",
      plain: crcPlain,
      stream: await lzop(["-c", "-CC", "--crc32"], crcPlain),
    },
    { name: "lzop -9", plain: crcPlain, stream: await lzop(["-c", "-9"], crcPlain) },
    {
      name: "crafted all checksums + extra field",
      plain: small,
      stream: concat(
        craftHeader({ flags: crcFlags | 0x40, extra: randomBytes(rand, 30), name: "file" }),
        craftBlock(crcFlags, small),
        END_MARKER,
      ),
    },
  ];
}

type Mutation = (s: Uint8Array, rand: () => number, other: Uint8Array) => Uint8Array;

const MUTATIONS: Array<[string, Mutation]> = [
  ["flip bits", (s, rand) => {
    const out = s.slice();
    for (let k = 1 + randInt(rand, 3); k > 0; k--) {
      out[randInt(rand, out.length)]! ^= 1 << randInt(rand, 8);
    }
    return out;
  }],
  ["set byte", (s, rand) => {
    const out = s.slice();
    out[randInt(rand, out.length)] = randInt(rand, 256);
    return out;
  }],
  ["truncate", (s, rand) => s.subarray(0, randInt(rand, s.length))],
  ["splice from elsewhere", (s, rand, other) => {
    const src = rand() < 0.5 ? s : other;
    const from = randInt(rand, src.length);
    const piece = src.subarray(from, from + 1 + randInt(rand, 64));
    const at = randInt(rand, s.length);
    return concat(s.subarray(0, at), piece, s.subarray(at + piece.length));
  }],
  ["insert bytes", (s, rand) => {
    const at = randInt(rand, s.length);
    return concat(s.subarray(0, at), randomBytes(rand, 1 + randInt(rand, 8)), s.subarray(at));
  }],
  ["delete bytes", (s, rand) => {
    const at = randInt(rand, s.length);
    return concat(s.subarray(0, at), s.subarray(at + 1 + randInt(rand, 16)));
  }],
  ["append garbage", (s, rand) => concat(s, randomBytes(rand, 1 + randInt(rand, 40)))],
  ["append zeros", (s, rand) => concat(s, new Uint8Array(1 + randInt(rand, 40)))],
];

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

Deno.test("lzop reader fuzz: mutated streams decode to the original or fail with CorruptArchiveError", async () => {
  const all = await seeds();
  const rand = seededRandom(0x5eed);
  const started = Date.now();
  const outcomes = new Map<string, number>();
  const ITERATIONS = 6000;
  for (let i = 0; i < ITERATIONS; i++) {
    const seed = all[i % all.length]!;
    const other = all[(i + 1) % all.length]!.stream;
    const [mutName, mutate] = MUTATIONS[randInt(rand, MUTATIONS.length)]!;
    const input = mutate(seed.stream, rand, other);
    // Mostly large chunks (fast), sometimes tiny ones to cross every field boundary.
    const chunk = rand() < 0.1 ? 1 + randInt(rand, 7) : 1 + randInt(rand, 70_000);
    let outcome: string;
    try {
      const out = await pipeBytes(input, createLzopReader(), chunk);
      assert.ok(
        sameBytes(out, seed.plain),
        `case ${i} (${seed.name}, ${mutName}): wrong output accepted`,
      );
      outcome = "original";
    } catch (err) {
      if (!(err instanceof CorruptArchiveError)) {
        throw new Error(`case ${i} (${seed.name}, ${mutName}): unexpected ${err}`, { cause: err });
      }
      outcome = err.message;
    }
    outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
    assert.ok(Date.now() - started < 60_000, "fuzz loop too slow: a decoder may be looping");
  }
  // The mutations reach most of the reader's checks.
  for (
    const expected of [
      "original",
      "truncated lzop stream",
      "trailing garbage after lzop stream",
      "lzop header checksum mismatch",
      "lzop block checksum mismatch",
    ]
  ) {
    assert.ok(
      (outcomes.get(expected) ?? 0) > 0,
      `no case ended in "${expected}": ${[...outcomes]}`,
    );
  }
});
