import assert from "node:assert/strict";
import { RateLimiter, rateLimitTransform } from "../../src/archive/rate_limit.ts";

Deno.test("RateLimiter paces bytes to the rate with a fake clock", async () => {
  let now = 0;
  const sleeps: number[] = [];
  const limiter = new RateLimiter(1000, {
    now: () => now,
    sleep: (ms) => {
      sleeps.push(ms);
      now += ms;
      return Promise.resolve();
    },
  });
  for (let i = 0; i < 10; i++) await limiter.acquire(500);
  // 5000 bytes at 1000 B/s: 5 s in total.
  assert.equal(now, 5000);
  assert.equal(sleeps.reduce((a, b) => a + b, 0), 5000);
});

Deno.test("RateLimiter is shared: two readers together stay at the rate", async () => {
  const limiter = new RateLimiter(200_000);
  const t0 = performance.now();
  const reader = async (): Promise<void> => {
    for (let i = 0; i < 5; i++) await limiter.acquire(10_000);
  };
  await Promise.all([reader(), reader()]);
  const elapsed = performance.now() - t0;
  // 100 kB at 200 kB/s ≈ 500 ms.
  assert.ok(elapsed >= 450, `too fast: ${elapsed} ms`);
  assert.ok(elapsed < 1500, `too slow: ${elapsed} ms`);
});

Deno.test("rateLimitTransform passes bytes unchanged", async () => {
  const src = ReadableStream.from([new Uint8Array([1, 2]), new Uint8Array([3])]);
  const out = new Uint8Array(
    await new Response(src.pipeThrough(rateLimitTransform(new RateLimiter(1e9)))).arrayBuffer(),
  );
  assert.deepEqual([...out], [1, 2, 3]);
});

Deno.test("RateLimiter rejects a non-positive rate", () => {
  assert.throws(() => new RateLimiter(0), RangeError);
});
