/**
 * Upload buffers (src/storage/blocks.ts): a store-wide budget bounds the buffers of all puts
 * together, a put that holds a buffer never waits for the budget (so puts cannot deadlock one
 * another), and a finished put gives its slots back even when a buffer was lost.
 */
import assert from "node:assert/strict";
import { BufferBudget, BufferPool } from "../../src/storage/blocks.ts";

/** Whether `p` settles within a few event-loop turns. */
async function settles(p: Promise<unknown>): Promise<boolean> {
  let done = false;
  void p.then(() => (done = true), () => (done = true));
  for (let i = 0; i < 5; i++) await new Promise((r) => setTimeout(r, 0));
  return done;
}

Deno.test("buffer budget: a put without buffers waits for another put's slots", async () => {
  const budget = new BufferBudget(2);
  const a = new BufferPool(16, 3, budget);
  const b = new BufferPool(16, 3, budget);
  await a.acquire();
  await a.acquire();
  assert.equal(budget.available, 0);
  const waiting = b.acquire();
  assert.equal(await settles(waiting), false);
  a.close();
  assert.equal((await waiting).length, 16);
  b.close();
  assert.equal(budget.available, 2);
});

Deno.test("buffer budget: a put holding a buffer waits for its own, never the budget", async () => {
  const budget = new BufferBudget(2);
  const a = new BufferPool(16, 3, budget);
  const b = new BufferPool(16, 3, budget);
  const aBuf = await a.acquire();
  const bBuf = await b.acquire();
  // Both want a second buffer and the budget is spent: each waits for its own to come back.
  const aNext = a.acquire();
  const bNext = b.acquire();
  assert.equal(await settles(aNext), false);
  a.release(aBuf);
  assert.equal(await aNext, aBuf);
  b.release(bBuf);
  assert.equal(await bNext, bBuf);
  a.close();
  b.close();
  assert.equal(budget.available, 2);
});

Deno.test("buffer budget: close returns every slot, lost buffers included, once", async () => {
  const budget = new BufferBudget(3);
  const pool = new BufferPool(16, 3, budget);
  const lost = await pool.acquire();
  (lost.buffer as ArrayBuffer).transfer(); // detached, as by a failed BYOB read
  assert.equal(lost.length, 0);
  pool.release(await pool.acquire());
  assert.equal(budget.available, 1);
  pool.close();
  pool.close();
  assert.equal(budget.available, 3);
  // Without a budget a pool is bounded by its own size only.
  const free = new BufferPool(16, 2);
  await free.acquire();
  await free.acquire();
  assert.equal(await settles(free.acquire()), false);
});
