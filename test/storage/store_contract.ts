/**
 * The shared store contract: every backend's test file calls `storeContract` once with a
 * factory, then adds its own cases. The cases are the doc comments of `src/storage/store.ts`.
 */
import assert from "node:assert/strict";
import { ObjectExistsError, ObjectNotFoundError, StoreError } from "../../src/errors.ts";
import type { Store } from "../../src/storage/store.ts";
import { pattern, readAll, streamOf } from "../support/streams.ts";

/** A fresh, empty store plus its disposal. */
export interface StoreFixture {
  store: Store;
  dispose(): Promise<void>;
}

async function keys(store: Store, prefix: string): Promise<string[]> {
  return (await Array.fromAsync(store.list(prefix))).map((o) => o.key);
}

/** Registers the contract cases for the store `make` creates. */
export function storeContract(name: string, make: () => Promise<StoreFixture>): void {
  const t = (what: string, fn: (s: Store) => Promise<void>) =>
    Deno.test(`${name} store: ${what}`, async () => {
      const f = await make();
      try {
        await fn(f.store);
      } finally {
        await f.store.close();
        await f.dispose();
      }
    });

  t("round-trips 0 B, 1 B and multi-chunk objects, with and without a known size", async (s) => {
    for (const size of [0, 1, 65_536, 1_000_003]) {
      const data = pattern(size, size + 1);
      const chunks: Uint8Array[] = [];
      for (let off = 0; off < size; off += 40_000) chunks.push(data.slice(off, off + 40_000));
      await s.put(`rt/known-${size}`, streamOf(...chunks), { size });
      await s.put(`rt/unknown-${size}`, streamOf(...chunks));
      assert.deepEqual(await readAll(await s.get(`rt/known-${size}`)), data);
      assert.deepEqual(await readAll(await s.get(`rt/unknown-${size}`)), data);
    }
  });

  t("stores bytes given whole (wal-push's body) as a stream would", async (s) => {
    for (const size of [0, 1, 1_000_003]) {
      const data = pattern(size, size + 7);
      await s.put(`bytes/${size}`, data, { size });
      assert.deepEqual(await readAll(await s.get(`bytes/${size}`)), data);
    }
    await assert.rejects(() => s.put("../escape", new Uint8Array([1])), StoreError);
  });

  t("a missing key is ObjectNotFoundError on get and false on exists", async (s) => {
    await assert.rejects(() => s.get("nope/missing.lzo"), ObjectNotFoundError);
    assert.equal(await s.exists("nope/missing.lzo"), false);
    await s.put("nope/present", streamOf(new Uint8Array([1])));
    assert.equal(await s.exists("nope/present"), true);
  });

  t("put replaces an existing object", async (s) => {
    await s.put("r/k", streamOf(new Uint8Array([1, 2, 3])));
    await s.put("r/k", streamOf(new Uint8Array([9])));
    assert.deepEqual(await readAll(await s.get("r/k")), new Uint8Array([9]));
  });

  t(
    "ifAbsent stores a new key, and on an existing one fails leaving it and no debris",
    async (s) => {
      if (!s.capabilities.conditionalPut) {
        // Not claimed: the option is ignored, the put replaces (callers check `exists` first).
        await s.put("c/k", new Uint8Array([1]));
        await s.put("c/k", new Uint8Array([2]), { ifAbsent: true });
        assert.deepEqual(await readAll(await s.get("c/k")), new Uint8Array([2]));
        return;
      }
      await s.put("c/k", new Uint8Array([1, 2]), { ifAbsent: true });
      await assert.rejects(
        () => s.put("c/k", new Uint8Array([9]), { ifAbsent: true }),
        ObjectExistsError,
      );
      await assert.rejects(
        () => s.put("c/k", streamOf(new Uint8Array([8])), { ifAbsent: true }),
        ObjectExistsError,
      );
      assert.deepEqual(await readAll(await s.get("c/k")), new Uint8Array([1, 2]));
      assert.deepEqual(await keys(s, "c/"), ["c/k"]);
      assert.equal(await s.sweepIncomplete("c/", new Date(Date.now() + 60_000)), 0);
    },
  );

  t("list is recursive, prefix-filtered, sorted, and empty for an unknown prefix", async (s) => {
    const names = ["a/b/c.lzo", "a/b/d.lzo", "a/e", "a.x", "b/f", "a/bb/g"];
    for (const k of names) await s.put(k, streamOf(new TextEncoder().encode(k)));
    assert.deepEqual(await keys(s, "a/"), ["a/b/c.lzo", "a/b/d.lzo", "a/bb/g", "a/e"]);
    assert.deepEqual(await keys(s, "a/b"), ["a/b/c.lzo", "a/b/d.lzo", "a/bb/g"]);
    assert.deepEqual(await keys(s, "a/b/"), ["a/b/c.lzo", "a/b/d.lzo"]);
    assert.deepEqual(await keys(s, "zzz/"), []);
    const info = (await Array.fromAsync(s.list("a/e")))[0];
    assert.equal(info?.size, 3);
    assert.ok(info !== undefined && Math.abs(info.lastModified.getTime() - Date.now()) < 600_000);
    assert.ok(info.lastModifiedText.length > 0);
  });

  t("list pages through more than 1000 keys", async (s) => {
    const n = 1_234;
    await Promise.all(
      Array.from(
        { length: n },
        (_, i) => s.put(`many/${String(i).padStart(5, "0")}`, streamOf()),
      ),
    );
    const listed = await keys(s, "many/");
    assert.equal(listed.length, n);
    assert.deepEqual(listed, [...listed].sort());
  });

  t("deleteMany removes keys and ignores missing ones; re-running is harmless", async (s) => {
    for (const k of ["d/1", "d/2", "d/x/3"]) await s.put(k, streamOf(new Uint8Array([1])));
    await s.deleteMany(["d/1", "d/x/3", "d/never"]);
    assert.deepEqual(await keys(s, "d/"), ["d/2"]);
    await s.deleteMany(["d/1", "d/x/3", "d/never"]);
    assert.deepEqual(await keys(s, "d/"), ["d/2"]);
  });

  t("an aborted or failing put leaves no visible object and keeps the old one", async (s) => {
    await s.put("ab/k", streamOf(new Uint8Array([7])));
    const failing = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(new Uint8Array(100_000));
      },
      pull(c) {
        c.error(new Error("source broke"));
      },
    });
    await assert.rejects(() => s.put("ab/k", failing));
    await assert.rejects(() => s.put("ab/new", failing));
    const ctl = new AbortController();
    const slow = new ReadableStream<Uint8Array>({
      pull(c) {
        c.enqueue(new Uint8Array(10_000));
        ctl.abort();
      },
    });
    await assert.rejects(() => s.put("ab/aborted", slow, { signal: ctl.signal }));
    assert.deepEqual(await keys(s, "ab/"), ["ab/k"]);
    assert.deepEqual(await readAll(await s.get("ab/k")), new Uint8Array([7]));
  });

  t("keys with awkward characters round-trip", async (s) => {
    const k = "odd/sp ace+plus%25(paren)=é.lzo";
    await s.put(k, streamOf(new Uint8Array([5])));
    assert.deepEqual(await keys(s, "odd/"), [k]);
    assert.deepEqual(await readAll(await s.get(k)), new Uint8Array([5]));
  });

  t("url names the object under the prefix", (s) => {
    assert.ok(s.url("wal_005/x.lzo").endsWith(`${s.pathPrefix}wal_005/x.lzo`));
    return Promise.resolve();
  });

  t(
    "keys that could escape the prefix are refused with a StoreError before any request",
    async (s) => {
      const badKeys = [
        "",
        "/abs",
        "../x",
        "../../x",
        "a/../../x",
        "..",
        ".",
        "./x",
        "a/./b",
        "a//b",
        "a/",
        "a\nb",
        "a\u0000b",
        "a\u007fb",
        "wal_005/\r",
      ];
      const refused = (what: string) => (e: unknown) => {
        assert.ok(e instanceof StoreError, `${what}: ${String(e)}`);
        assert.equal(e.retryable, false);
        assert.match(e.message, /^invalid (object key|listing prefix)$/, what);
        return true;
      };
      await s.put("esc/kept", streamOf(new Uint8Array([1])));
      for (const key of badKeys) {
        const what = JSON.stringify(key);
        let cancelled = false;
        const body = new ReadableStream<Uint8Array>({
          cancel() {
            cancelled = true;
          },
        });
        await assert.rejects(() => s.put(key, body), refused(`put ${what}`));
        assert.ok(cancelled, `put ${what} did not release its body`);
        await assert.rejects(() => s.get(key), refused(`get ${what}`));
        await assert.rejects(() => s.exists(key), refused(`exists ${what}`));
        // Nothing of a batch with a bad key is deleted.
        await assert.rejects(() => s.deleteMany(["esc/kept", key]), refused(`delete ${what}`));
      }
      for (const prefix of ["/", "/x", "../", "..", "a/..", "a/../", "./", "a//", "a\n"]) {
        const what = JSON.stringify(prefix);
        await assert.rejects(() => Array.fromAsync(s.list(prefix)), refused(`list ${what}`));
        await assert.rejects(
          () => s.sweepIncomplete(prefix, new Date()),
          refused(`sweep ${what}`),
        );
      }
      assert.deepEqual(await keys(s, "esc/"), ["esc/kept"]);
      // Dots inside a segment are ordinary names.
      await s.put("esc/..a/.b/c..d", streamOf(new Uint8Array([2])));
      assert.deepEqual(await readAll(await s.get("esc/..a/.b/c..d")), new Uint8Array([2]));
    },
  );

  t("sweepIncomplete never touches complete objects; 0 when no put was interrupted", async (s) => {
    const data = pattern(1_000_003, 5);
    await s.put("sw/a/big", streamOf(data));
    await s.put("sw/b", streamOf(new Uint8Array([1])));
    const future = new Date(Date.now() + 3_600_000);
    assert.equal(await s.sweepIncomplete("", future), 0);
    assert.equal(await s.sweepIncomplete("sw/", future), 0);
    assert.equal(await s.sweepIncomplete("sw/a", future), 0);
    assert.deepEqual(await keys(s, "sw/"), ["sw/a/big", "sw/b"]);
    assert.deepEqual(await readAll(await s.get("sw/a/big")), data);
  });
}
