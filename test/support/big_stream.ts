/** Large test streams and memory measurement for the bounded-memory store tests. */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import type { Store } from "../../src/storage/store.ts";

/**
 * `mib` MiB of pseudo-random data produced on demand, with its digest (`algorithm`: sha256,
 * md5, ...). The source recycles two 1 MiB buffers so that the RSS measured is the store's
 * own, not the source's garbage (a store that kept a reference instead of copying would fail
 * the digest comparison).
 */
export function bigSource(
  mib: number,
  algorithm = "sha256",
): { stream: ReadableStream<Uint8Array>; digest: () => string } {
  const seed = crypto.getRandomValues(new Uint8Array(65536));
  const bufs = [new Uint8Array(1 << 20), new Uint8Array(1 << 20)];
  const hash = createHash(algorithm);
  let i = 0;
  const stream = new ReadableStream<Uint8Array>({
    pull(c) {
      if (i === mib) return c.close();
      const b = bufs[i % 2] ?? new Uint8Array(1 << 20);
      for (let off = 0; off < b.length; off += seed.length) b.set(seed, off);
      new DataView(b.buffer).setUint32(0, i++);
      hash.update(b);
      c.enqueue(b);
    },
  }, { highWaterMark: 0 });
  return { stream, digest: () => hash.digest("hex") };
}

/**
 * This isolate's memory: V8 heap plus external (ArrayBuffer) memory. Not RSS: `deno test
 * --parallel` runs test modules as workers in one process, so RSS would count theirs too.
 */
export function isolateMemory(): number {
  // Live memory only: garbage awaiting collection (late under CPU contention) is not what a
  // store holds. `deno task test` passes --expose-gc; without it this measures as before.
  (globalThis as { gc?: () => void }).gc?.();
  const m = Deno.memoryUsage();
  return m.heapUsed + m.external;
}

/** Peak growth (bytes) of this isolate's memory while `fn` runs, sampled every 20 ms. */
export async function memoryGrowth(fn: () => Promise<void>): Promise<number> {
  const base = isolateMemory();
  let peak = base;
  const timer = setInterval(() => (peak = Math.max(peak, isolateMemory())), 20);
  try {
    await fn();
  } finally {
    clearInterval(timer);
  }
  return Math.max(peak, isolateMemory()) - base;
}

/** Streams a `mib` MiB object up and down; asserts identity and bounded memory. */
export async function bigRoundTrip(s: Store, mib: number, limitMiB: number): Promise<void> {
  const src = bigSource(mib, "sha256");
  const up = await memoryGrowth(() => s.put("big/object", src.stream));
  const want = src.digest();
  let got = "";
  let size = 0;
  const down = await memoryGrowth(async () => {
    const h = createHash("sha256");
    for await (const chunk of await s.get("big/object")) {
      h.update(chunk);
      size += chunk.length;
    }
    got = h.digest("hex");
  });
  assert.equal(size, mib << 20);
  assert.equal(got, want);
  assert.ok(up < limitMiB << 20, `upload grew memory by ${(up / 2 ** 20).toFixed(0)} MiB`);
  assert.ok(down < limitMiB << 20, `download grew memory by ${(down / 2 ** 20).toFixed(0)} MiB`);
}
