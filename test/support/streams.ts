/** Stream helpers for tests. */

/** A stream yielding `chunks` in order. */
export function streamOf(...chunks: Uint8Array[]): ReadableStream<Uint8Array> {
  const queue = [...chunks];
  return new ReadableStream<Uint8Array>({
    pull(c) {
      const next = queue.shift();
      if (next === undefined) c.close();
      else c.enqueue(next);
    },
  });
}

/** Every byte of a stream. */
export async function readAll(s: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(s).arrayBuffer());
}

/**
 * Asserts two byte arrays are equal, reporting the first difference (node:assert's deepEqual
 * renders a diff of every element, which takes minutes for megabytes).
 */
export function assertBytes(actual: Uint8Array, expected: Uint8Array, what = "bytes"): void {
  if (actual.length !== expected.length) {
    throw new Error(`${what}: length ${actual.length}, expected ${expected.length}`);
  }
  for (let i = 0; i < actual.length; i++) {
    if (actual[i] !== expected[i]) {
      throw new Error(`${what}: first difference at byte ${i}: ${actual[i]} != ${expected[i]}`);
    }
  }
}

/** `size` deterministic pseudo-random bytes (a linear congruential sequence from `seed`). */
export function pattern(size: number, seed: number): Uint8Array {
  const b = new Uint8Array(size);
  let x = seed;
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

/**
 * `bytes` as a stream of chunks of pseudo-random sizes between 1 and `max` (a linear
 * congruential sequence from `seed`): boundaries land anywhere, single bytes included.
 */
export function jagged(bytes: Uint8Array, max: number, seed = 1): ReadableStream<Uint8Array> {
  let at = 0;
  let s = seed;
  return new ReadableStream({
    pull(c) {
      if (at >= bytes.length) return c.close();
      s = (s * 1103515245 + 12345) % 2147483648;
      const n = 1 + (s % max);
      c.enqueue(bytes.slice(at, at + n));
      at += n;
    },
  });
}
