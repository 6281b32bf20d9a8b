/**
 * lzop coded on worker threads (lzop_parallel.ts over codec_pool.ts): the parallel writer's
 * output is byte for byte the sequential writer's and real `lzop -d` decodes it; the parallel
 * reader decodes it back, and reports a corrupt block and a truncated stream with the same
 * CorruptArchiveError the sequential reader gives; a crashed worker fails the stream with a
 * UserError instead of hanging, and an upload through it stores nothing.
 */
import assert from "node:assert/strict";
import { uploadCompressed } from "../../src/archive/pipeline.ts";
import { CodecPool } from "../../src/codec/codec_pool.ts";
import {
  createParallelLzopReader,
  createParallelLzopWriter,
  encodeParallel,
  parallelCodec,
} from "../../src/codec/lzop_parallel.ts";
import { createLzopReader } from "../../src/codec/lzop_reader.ts";
import { createLzopWriter } from "../../src/codec/lzop_writer.ts";
import { CorruptArchiveError, UserError } from "../../src/errors.ts";
import { MemoryStore } from "../../src/storage/memory.ts";
import { findBinary, runProgram } from "../support/lzop_fixtures.ts";
import { assertBytes, pattern, readAll } from "../support/streams.ts";

const KiB = 1024;
const BLOCK = 256 * KiB;

/** Compressible text-like data with random stretches (some blocks stored raw). */
function mixed(size: number): Uint8Array {
  const b = new Uint8Array(size);
  const noise = pattern(Math.min(size, 3 * BLOCK), 7);
  for (let i = 0; i < size; i++) b[i] = (i >> 3) & 0x3f;
  // The second block is incompressible: stored raw.
  if (size > BLOCK) b.set(noise.subarray(0, Math.min(BLOCK, size - BLOCK)), BLOCK);
  return b;
}

/** `bytes` as a stream of chunks of `size` bytes. */
function chunks(bytes: Uint8Array, size: number): ReadableStream<Uint8Array> {
  let at = 0;
  return new ReadableStream({
    pull(c) {
      if (at >= bytes.length) return c.close();
      c.enqueue(bytes.slice(at, at + size));
      at += size;
    },
  });
}

const SIZES = [0, 1, BLOCK - 1, BLOCK, BLOCK + 1, 4 * BLOCK, 9 * BLOCK + 12345];

async function withPool(fn: (pool: CodecPool) => Promise<void>, size = 2): Promise<void> {
  const pool = new CodecPool({ size });
  try {
    await fn(pool);
  } finally {
    pool.close();
  }
}

Deno.test("parallel lzop writer: byte for byte the sequential writer, and lzop -d decodes it", async () => {
  const lzop = findBinary("lzop", "install Debian's lzop");
  await withPool(async (pool) => {
    for (const size of SIZES) {
      const plain = mixed(size);
      const o = { mtimeSeconds: 1_700_000_000, mode: 0 };
      const expected = await readAll(chunks(plain, 100_000).pipeThrough(createLzopWriter(o)));
      for (const chunk of [1000, 65_536, 3 * BLOCK + 5]) {
        const ours = await readAll(
          chunks(plain, chunk).pipeThrough(createParallelLzopWriter(pool, o)),
        );
        assertBytes(ours, expected, `size ${size}, chunks of ${chunk}`);
      }
      let at = 0;
      const source = {
        fill: (into: Uint8Array): Promise<number> => {
          const n = Math.min(into.length, plain.length - at);
          into.set(plain.subarray(at, at + n));
          at += n;
          return Promise.resolve(n);
        },
        cancel: () => {},
      };
      assertBytes(await readAll(encodeParallel(pool, source, o)), expected, `fill, size ${size}`);
      const decoded = await runProgram(lzop, ["-dc"], expected);
      assert.equal(decoded.code, 0, decoded.stderr);
      assertBytes(decoded.stdout, plain, `lzop -d, size ${size}`);
    }
  });
});

Deno.test("parallel lzop reader: decodes what lzop wrote, in any chunking", async () => {
  const lzop = findBinary("lzop", "install Debian's lzop");
  const plain = mixed(7 * BLOCK + 999);
  const native = await runProgram(lzop, ["-c"], plain);
  assert.equal(native.code, 0, native.stderr);
  await withPool(async (pool) => {
    for (const chunk of [1, 4093, BLOCK, 5 * BLOCK]) {
      if (chunk === 1) {
        // One-byte chunks over a short stream only: every field split everywhere.
        const small = await runProgram(lzop, ["-c"], plain.subarray(0, 40_000));
        const out = await readAll(
          chunks(small.stdout, 1).pipeThrough(createParallelLzopReader(pool)),
        );
        assertBytes(out, plain.subarray(0, 40_000), "one-byte chunks");
        continue;
      }
      const out = await readAll(
        chunks(native.stdout, chunk).pipeThrough(createParallelLzopReader(pool)),
      );
      assertBytes(out, plain, `chunks of ${chunk}`);
    }
  });
});

/** The error a stream fails with (or undefined when it ends). */
async function failure(s: ReadableStream<Uint8Array>): Promise<unknown> {
  try {
    await readAll(s);
    return undefined;
  } catch (err) {
    return err;
  }
}

Deno.test("parallel lzop reader: a corrupt block and a truncated stream are the sequential reader's CorruptArchiveErrors", async () => {
  const plain = mixed(6 * BLOCK);
  const good = await readAll(
    chunks(plain, BLOCK).pipeThrough(createLzopWriter({ mtimeSeconds: 1 })),
  );
  await withPool(async (pool) => {
    const damaged = good.slice();
    // A byte inside the fourth block's data (well past its 12-byte header).
    let at = 38;
    for (let i = 0; i < 3; i++) at += 12 + new DataView(damaged.buffer).getUint32(at + 4);
    damaged[at + 12 + 100] = (damaged[at + 12 + 100] as number) ^ 0x55;
    const truncated = good.slice(0, good.length - 5000);
    for (const [what, bytes] of [["corrupt", damaged], ["truncated", truncated]] as const) {
      const seq = await failure(chunks(bytes, 70_000).pipeThrough(createLzopReader()));
      const par = await failure(chunks(bytes, 70_000).pipeThrough(createParallelLzopReader(pool)));
      assert.ok(seq instanceof CorruptArchiveError, `${what}: sequential`);
      assert.ok(par instanceof CorruptArchiveError, `${what}: parallel: ${String(par)}`);
      assert.equal(par.message, seq.message, what);
      assert.equal(par.detail, seq.detail, what);
    }
    const seqMsg =
      (await failure(chunks(damaged, 70_000).pipeThrough(createLzopReader()))) as Error;
    assert.match(seqMsg.message, /checksum mismatch|corrupt lzo data/);
  });
});

Deno.test("codec pool: a crashed worker fails the stream with a UserError, never a hang", async () => {
  const workerUrl = new URL("../support/crashing_codec_worker.ts", import.meta.url).href;
  const plain = mixed(20 * BLOCK);
  const writePool = new CodecPool({ size: 1, workerUrl });
  try {
    const err = await failure(
      chunks(plain, BLOCK).pipeThrough(createParallelLzopWriter(writePool)),
    );
    assert.ok(err instanceof UserError, String(err));
    assert.equal(err.message, "a codec worker failed");
    // The pool stays failed: later requests are refused at once.
    await assert.rejects(writePool.compress(new ArrayBuffer(16), 16), UserError);
  } finally {
    writePool.close();
  }

  const good = await readAll(chunks(plain, BLOCK).pipeThrough(createLzopWriter()));
  const readPool = new CodecPool({ size: 1, workerUrl });
  try {
    const err = await failure(chunks(good, BLOCK).pipeThrough(createParallelLzopReader(readPool)));
    assert.ok(err instanceof UserError, String(err));
  } finally {
    readPool.close();
  }

  // Through the pipeline, as backup-push uploads a volume: rejected, and nothing stored.
  const uploadPool = new CodecPool({ size: 2, workerUrl });
  const store = new MemoryStore();
  try {
    await assert.rejects(
      uploadCompressed(store, "basebackups_005/x/part_00000000.tar.lzo", chunks(plain, BLOCK), {
        encoding: {},
        codec: parallelCodec(uploadPool),
      }),
      (e: unknown) => e instanceof UserError && e.message === "a codec worker failed",
    );
    const keys = [];
    for await (const o of store.list("")) keys.push(o.key);
    assert.deepEqual(keys, []);
  } finally {
    uploadPool.close();
  }
});

Deno.test("codec pool: closing it fails pending requests; workers start only when needed", async () => {
  const pool = new CodecPool({ size: 4 });
  assert.equal(pool.started, 0);
  const plain = mixed(BLOCK);
  await readAll(chunks(plain, BLOCK).pipeThrough(createParallelLzopWriter(pool)));
  assert.ok(pool.started >= 1 && pool.started <= 4);
  const pending = pool.compress(new ArrayBuffer(BLOCK), BLOCK);
  pool.close();
  await assert.rejects(pending, UserError);
});
