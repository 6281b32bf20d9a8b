/**
 * The cloud backends' shared put (src/storage/upload_engine.ts), driven by a recording plan:
 * one request for an object that fits a part, parts in order then a commit for a longer one,
 * a wrong declared size or a failing part aborts the upload and commits nothing, a failure
 * after the commit aborts nothing, and a bad key reads nothing.
 */
import assert from "node:assert/strict";
import { StoreError } from "../../src/errors.ts";
import { BufferBudget } from "../../src/storage/blocks.ts";
import { type PartUpload, putInParts, type UploadPlan } from "../../src/storage/upload_engine.ts";

function source(bytes: number): ReadableStream<Uint8Array> {
  const data = new Uint8Array(bytes).map((_, i) => i % 251);
  return new ReadableStream({
    start(c) {
      for (let i = 0; i < data.length; i += 7) c.enqueue(data.slice(i, i + 7));
      c.close();
    },
  });
}

/** A plan with 16-byte parts that records every call. */
function recorder(over: Partial<PartUpload> = {}): { plan: UploadPlan; log: string[] } {
  const log: string[] = [];
  const plan: UploadPlan = {
    key: "a/b",
    options: {},
    partSize: 16,
    queueSize: 2,
    budget: new BufferBudget(8),
    url: "mem://a/b",
    single: (data) => {
      log.push(`single ${data.length}`);
      return Promise.resolve();
    },
    begin: () => {
      log.push("begin");
      return Promise.resolve({
        part: (i, d) => {
          log.push(`part ${i} ${d.length}`);
          return Promise.resolve();
        },
        commit: (total) => {
          log.push(`commit ${total}`);
          return Promise.resolve();
        },
        abort: () => {
          log.push("abort");
          return Promise.resolve();
        },
        after: () => {
          log.push("after");
          return Promise.resolve();
        },
        ...over,
      });
    },
  };
  return { plan, log };
}

Deno.test("putInParts: an object that fits one part is one request", async () => {
  const { plan, log } = recorder();
  await putInParts(source(16), plan);
  assert.deepEqual(log, ["single 16"]);
});

Deno.test("putInParts: a chunked body whose chunks are reused by their producer arrives intact", async () => {
  const { log, plan } = recorder();
  const sent: Uint8Array[] = [];
  const buf = new Uint8Array(6);
  function* reusing(): Generator<Uint8Array> {
    for (let i = 0; i < 7; i++) {
      buf.fill(i);
      yield buf.subarray(0, 6);
    }
  }
  await putInParts({ chunks: reusing() }, {
    ...plan,
    single: (d) => (sent.push(d.slice()), Promise.resolve()),
    begin: () =>
      Promise.resolve({
        part: (_i, d) => (sent.push(d.slice()), Promise.resolve()),
        commit: () => Promise.resolve(),
        abort: () => Promise.resolve(),
      }),
  });
  const all = new Uint8Array(sent.reduce((n, d) => n + d.length, 0));
  let off = 0;
  for (const d of sent) (all.set(d, off), off += d.length);
  assert.deepEqual(all, Uint8Array.from({ length: 42 }, (_, k) => Math.floor(k / 6)));
  assert.deepEqual(log, []);
});

Deno.test("putInParts: a longer object is parts in order, a commit, then after", async () => {
  const { plan, log } = recorder();
  await putInParts(source(40), { ...plan, options: { size: 40 } });
  assert.deepEqual(log, ["begin", "part 0 16", "part 1 16", "part 2 8", "commit 40", "after"]);
});

Deno.test("putInParts: a wrong declared size aborts and commits nothing", async () => {
  const { plan, log } = recorder();
  await assert.rejects(
    putInParts(source(40), { ...plan, options: { size: 41 } }),
    (e: unknown) =>
      e instanceof StoreError && e.message === "upload source had an unexpected length" &&
      e.detail === "mem://a/b: 40 bytes read, 41 declared.",
  );
  assert.ok(log.includes("abort"));
  assert.ok(!log.some((l) => l.startsWith("commit")));
  const small = recorder();
  await assert.rejects(putInParts(source(3), { ...small.plan, options: { size: 4 } }));
  assert.deepEqual(small.log, []);
});

Deno.test("putInParts: a failing part aborts; the error is mapped once", async () => {
  const { plan, log } = recorder({ part: () => Promise.reject(new Error("boom")) });
  await assert.rejects(
    putInParts(source(40), { ...plan, mapError: (e) => new Error(`mapped ${String(e)}`) }),
    { message: "mapped Error: boom" },
  );
  assert.deepEqual(log, ["begin", "abort"]);
});

Deno.test("putInParts: a failure after the commit aborts nothing", async () => {
  const { plan, log } = recorder({ after: () => Promise.reject(new Error("verify")) });
  await assert.rejects(putInParts(source(40), plan), { message: "verify" });
  assert.ok(log.includes("commit 40") && !log.includes("abort"));
});

Deno.test("putInParts: a bad key cancels the source and sends nothing", async () => {
  const { plan, log } = recorder();
  let cancelled = false;
  const body = new ReadableStream<Uint8Array>({ cancel: () => void (cancelled = true) });
  await assert.rejects(putInParts(body, { ...plan, key: "../x" }), StoreError);
  assert.ok(cancelled);
  assert.deepEqual(log, []);
});
