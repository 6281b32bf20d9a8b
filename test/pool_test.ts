/**
 * The one pool helper (src/pool.ts): at most `limit` jobs in flight, an async iterable read
 * as the pool goes (one item ahead), the first failure stops new jobs and aborts the running
 * ones' signal and is thrown once all have settled, a failing iterable counts as a failure,
 * and an outside abort stops the pool.
 */
import assert from "node:assert/strict";
import { forEachPooled } from "../src/pool.ts";

const tick = (ms = 1) => new Promise((r) => setTimeout(r, ms));

Deno.test("forEachPooled: runs every item with at most `limit` in flight", async () => {
  let running = 0;
  let most = 0;
  const seen: number[] = [];
  await forEachPooled([1, 2, 3, 4, 5, 6, 7], async (n) => {
    running++;
    most = Math.max(most, running);
    await tick(n % 3);
    seen.push(n);
    running--;
  }, { limit: 3 });
  assert.equal(most, 3);
  assert.deepEqual(seen.sort(), [1, 2, 3, 4, 5, 6, 7]);
});

Deno.test("forEachPooled: reads an async iterable one item ahead of the free slots", async () => {
  let produced = 0;
  let finished = 0;
  let most = 0;
  async function* items(): AsyncGenerator<number> {
    for (let i = 0; i < 10; i++) {
      produced++;
      most = Math.max(most, produced - finished);
      yield i;
    }
  }
  await forEachPooled(items(), async () => {
    await tick();
    finished++;
  }, { limit: 2 });
  assert.equal(finished, 10);
  assert.equal(most, 3);
});

Deno.test("forEachPooled: the first failure aborts the others, starts none, and wins", async () => {
  const started: number[] = [];
  const aborted: number[] = [];
  let stoppedEarly = false;
  async function* items(): AsyncGenerator<number> {
    try {
      for (let i = 0; i < 100; i++) yield i;
    } finally {
      stoppedEarly = true;
    }
  }
  await assert.rejects(
    forEachPooled(items(), async (n, signal) => {
      started.push(n);
      if (n === 1) {
        await tick();
        throw new Error("first");
      }
      // The others fail only because they were aborted: their errors must not win.
      await new Promise((_, reject) =>
        signal.addEventListener("abort", () => {
          aborted.push(n);
          reject(new Error(`echo ${n}`));
        })
      );
    }, { limit: 3 }),
    { message: "first" },
  );
  assert.deepEqual(started, [0, 1, 2]);
  assert.deepEqual(aborted.sort(), [0, 2]);
  assert.ok(stoppedEarly);
});

Deno.test("forEachPooled: a job that ignores the abort finishes before the pool throws", async () => {
  let finished = false;
  await assert.rejects(
    forEachPooled([0, 1], async (n) => {
      if (n === 0) throw new Error("boom");
      await tick(20);
      finished = true;
    }, { limit: 2 }),
    { message: "boom" },
  );
  assert.ok(finished);
});

Deno.test("forEachPooled: a failing iterable aborts the running jobs and is thrown", async () => {
  let abortedWith: unknown;
  const abort = new AbortController();
  async function* items(): AsyncGenerator<number> {
    yield 0;
    await tick();
    throw new Error("listing failed");
  }
  await assert.rejects(
    forEachPooled(
      items(),
      (_n, signal) =>
        new Promise<void>((resolve) =>
          signal.addEventListener("abort", () => {
            abortedWith = signal.reason;
            resolve();
          })
        ),
      { limit: 4, abort },
    ),
    { message: "listing failed" },
  );
  assert.equal((abortedWith as Error).message, "listing failed");
  assert.ok(abort.signal.aborted);
});

Deno.test("forEachPooled: an outside abort stops new jobs and throws its reason", async () => {
  const outside = new AbortController();
  const started: number[] = [];
  await assert.rejects(
    forEachPooled([0, 1, 2, 3], async (n) => {
      started.push(n);
      if (n === 0) outside.abort(new Error("cancelled"));
      await tick();
    }, { limit: 1, signal: outside.signal }),
    { message: "cancelled" },
  );
  assert.deepEqual(started, [0]);
});

Deno.test("forEachPooled: nothing to do resolves at once", async () => {
  await forEachPooled([], () => Promise.reject(new Error("never")), { limit: 0 });
});
