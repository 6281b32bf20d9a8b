/**
 * The Swift backend against a real Swift with tempauth on 127.0.0.1 (test/support/swift.ts):
 * the shared store contract, WAL-E's physical names (leading `/`), large objects as Static
 * Large Objects, listing pages, bulk delete, and error mapping. The
 * server runs with max_file_size 4 MiB and 100-object listing pages so that segmenting and
 * paging show with small data.
 */
import { pattern, readAll, streamOf } from "../support/streams.ts";
import { bigSource, isolateMemory, memoryGrowth } from "../support/big_stream.ts";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { ConfigError, ObjectNotFoundError, StoreError } from "../../src/errors.ts";
import { openStore } from "../../src/storage/open.ts";
import { parsePrefix } from "../../src/storage/prefix.ts";
import type { Store } from "../../src/storage/store.ts";
import { DEFAULT_RETRY_POLICY } from "../../src/storage/retrying.ts";
import { openSwiftStore, SEGMENT_DIR, SwiftStore } from "../../src/storage/swift.ts";
import { swiftAuthSettings } from "../../src/storage/swift_auth.ts";
import {
  adminSession,
  newContainer,
  rawNames,
  swift,
  type SwiftServer,
  tempauthEnv,
} from "../support/swift.ts";
import { storeContract } from "./store_contract.ts";
import { settingsOf, swiftOf } from "../support/store_settings.ts";

const MAX_FILE = 4 * 1024 * 1024;
const server = (): Promise<SwiftServer> => swift({ maxFileSize: MAX_FILE, listingLimit: 100 });

async function open(
  s: SwiftServer,
  container: string,
  path = "pg",
  env: Record<string, string> = {},
): Promise<Store> {
  return await openSwiftStore(
    parsePrefix(`swift://${container}/${path}`),
    settingsOf({
      env: { ...tempauthEnv(s), ...env },
    }),
  );
}

/** `b` as 100 KB chunks of unknown total length. */
function chunked(b: Uint8Array): ReadableStream<Uint8Array> {
  const chunks: Uint8Array[] = [];
  for (let off = 0; off < b.length; off += 100_000) chunks.push(b.slice(off, off + 100_000));
  return streamOf(...chunks);
}

const md5 = (b: Uint8Array) => createHash("md5").update(b).digest("hex");

/** A fake tempauth login answer: the account on `port`, token number `n`. */
function tempauthAnswer(port: number, n: number): Response {
  return new Response(null, {
    headers: {
      "X-Storage-Url": `http://127.0.0.1:${port}/v1/AUTH_t`,
      "X-Auth-Token": `tok${n}`,
    },
  });
}

storeContract("swift (tempauth)", async () => {
  const s = await server();
  const c = await newContainer(await adminSession(s), "contract");
  return { store: await open(s, c, "contract/"), dispose: () => Promise.resolve() };
});

Deno.test("swift: objects are named /PREFIX/KEY as WAL-E wrote them, and read back", async () => {
  const s = await server();
  const admin = await adminSession(s);
  const c = await newContainer(admin, "names");
  const store = await open(s, c, "pg");
  await store.put("wal_005/000000010000000000000001.lzo", streamOf(new Uint8Array([1, 2])));
  assert.deepEqual(await rawNames(admin, c), ["/pg/wal_005/000000010000000000000001.lzo"]);
  // An object WAL-E wrote (URL container//pg/...), read through the store.
  const res = await fetch(`${admin.url}/${c}//pg/wal_005/000000010000000000000002.lzo`, {
    method: "PUT",
    headers: { "X-Auth-Token": admin.token },
    body: new Uint8Array([9, 8, 7]),
  });
  await res.body?.cancel();
  assert.equal(res.status, 201);
  assert.deepEqual(
    await readAll(await store.get("wal_005/000000010000000000000002.lzo")),
    new Uint8Array([9, 8, 7]),
  );
  const listed = await Array.fromAsync(store.list("wal_005/"));
  assert.deepEqual(listed.map((o) => o.key), [
    "wal_005/000000010000000000000001.lzo",
    "wal_005/000000010000000000000002.lzo",
  ]);
  // §2.9: Swift's last_modified verbatim, no zone.
  assert.match(listed[0]?.lastModifiedText ?? "", /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}$/);
  assert.ok(Math.abs((listed[0]?.lastModified.getTime() ?? 0) - Date.now()) < 120_000);
  assert.equal(listed[1]?.size, 3);
  // A root prefix (swift://c) still uses a leading slash.
  const root = await open(s, c, "");
  assert.deepEqual(
    (await Array.fromAsync(root.list("pg/wal_005/"))).map((o) => o.key).length,
    2,
  );
  assert.equal(store.url("x"), `swift://${c}/pg/x`);
});

Deno.test("swift: a stream longer than max_file_size becomes a Static Large Object", async () => {
  const s = await server();
  const admin = await adminSession(s);
  const c = await newContainer(admin, "slo");
  const store = await open(s, c, "pg");
  const big = pattern(MAX_FILE * 2 + 123_457, 7);
  await store.put("basebackups_005/b/part_00000000.tar.lzo", chunked(big));
  assert.deepEqual(await readAll(await store.get("basebackups_005/b/part_00000000.tar.lzo")), big);
  const names = await rawNames(admin, c);
  assert.equal(names.filter((n) => n.startsWith(SEGMENT_DIR)).length, 3);
  assert.ok(names.includes("/pg/basebackups_005/b/part_00000000.tar.lzo"));
  const head = await fetch(`${admin.url}/${c}//pg/basebackups_005/b/part_00000000.tar.lzo`, {
    method: "HEAD",
    headers: { "X-Auth-Token": admin.token },
  });
  assert.equal(head.headers.get("x-static-large-object"), "True");
  const listed = await Array.fromAsync(store.list(""));
  assert.deepEqual(listed.map((o) => [o.key, o.size]), [
    ["basebackups_005/b/part_00000000.tar.lzo", big.length],
  ]);
  // Replacing it leaves only the new segments; deleting it removes them too.
  const big2 = pattern(MAX_FILE + 10, 8);
  await store.put("basebackups_005/b/part_00000000.tar.lzo", chunked(big2));
  assert.equal((await rawNames(admin, c, SEGMENT_DIR)).length, 2);
  assert.equal(
    md5(await readAll(await store.get("basebackups_005/b/part_00000000.tar.lzo"))),
    md5(big2),
  );
  await store.deleteMany(["basebackups_005/b/part_00000000.tar.lzo"]);
  assert.deepEqual(await rawNames(admin, c), []);
});

Deno.test("swift: a stream up to one segment is one plain object, a longer one an SLO", async () => {
  const s = await server();
  const admin = await adminSession(s);
  const c = await newContainer(admin, "plain");
  const store = new SwiftStore({
    container: c,
    pathPrefix: "pg/",
    auth: swiftAuthSettings(swiftOf(tempauthEnv(s))),
    policy: DEFAULT_RETRY_POLICY,
    segmentSize: 1024 * 1024,
  });
  const exact = pattern(1024 * 1024, 4);
  const longer = pattern(3 * 1024 * 1024 + 5, 3);
  await store.put("exact", chunked(exact));
  await store.put("k", chunked(longer));
  assert.deepEqual((await rawNames(admin, c)).filter((n) => n.startsWith("/")), [
    "/pg/exact",
    "/pg/k",
  ]);
  assert.equal((await rawNames(admin, c, SEGMENT_DIR)).length, 4);
  const head = async (name: string) =>
    await fetch(`${admin.url}/${c}//pg/${name}`, {
      method: "HEAD",
      headers: { "X-Auth-Token": admin.token },
    });
  const plain = await head("exact");
  assert.equal(plain.headers.get("x-static-large-object"), null);
  assert.equal(plain.headers.get("etag"), md5(exact));
  assert.equal((await head("k")).headers.get("x-static-large-object"), "True");
  assert.deepEqual(await readAll(await store.get("k")), longer);
  assert.deepEqual(await readAll(await store.get("exact")), exact);
});

Deno.test("swift: listing pages with marker and bulk delete removes many objects", async () => {
  const s = await server();
  const admin = await adminSession(s);
  const c = await newContainer(admin, "page");
  const store = await open(s, c, "pg");
  const keys = Array.from({ length: 250 }, (_, i) => `wal_005/${String(i).padStart(24, "0")}`);
  for (let i = 0; i < keys.length; i += 25) {
    await Promise.all(keys.slice(i, i + 25).map((k) => store.put(k, streamOf())));
  }
  // The server's pages hold 100 objects: three pages and an empty one.
  assert.deepEqual((await Array.fromAsync(store.list("wal_005/"))).map((o) => o.key), keys);
  await store.deleteMany([...keys.slice(0, 200), "wal_005/missing"]);
  assert.equal((await Array.fromAsync(store.list(""))).length, 50);
  await store.deleteMany(keys);
  assert.deepEqual(await rawNames(admin, c), []);
});

Deno.test("swift: errors are clear one-liners", async () => {
  const s = await server();
  const admin = await adminSession(s);
  const c = await newContainer(admin, "err");
  const bad = await open(s, c, "pg", { SWIFT_PASSWORD: "wrong" });
  await assert.rejects(() => bad.exists("x"), (e: unknown) => {
    assert.ok(e instanceof ConfigError);
    assert.match(e.message, /^Swift authentication failed: check SWIFT_USER and SWIFT_PASSWORD$/);
    return true;
  });
  const missing = await open(s, "no-such-container", "pg");
  await assert.rejects(() => Array.fromAsync(missing.list("")), (e: unknown) => {
    assert.ok(e instanceof ConfigError);
    assert.match(e.message, /container "no-such-container" does not exist/);
    return true;
  });
  await assert.rejects(() => missing.put("k", streamOf(new Uint8Array(1))), ConfigError);
  const store = await open(s, c, "pg");
  await assert.rejects(() => store.get("nope"), ObjectNotFoundError);
  // The client believes objects may be 64 MiB; the server's 413 becomes a clear error.
  const liar = await open(s, c, "pg", { SWIFT_TEST_MAX_FILE_SIZE: String(64 << 20) });
  await assert.rejects(() => liar.put("big", chunked(pattern(MAX_FILE + 1, 1))), (e: unknown) => {
    assert.ok(e instanceof StoreError);
    assert.match(e.message, /object too large/);
    return true;
  });
  assert.deepEqual(await rawNames(admin, c), []);
  // Nothing listens: bounded retries, then a clear error.
  const down = await openSwiftStore(
    parsePrefix(`swift://${c}/pg`),
    settingsOf({
      env: { ...tempauthEnv(s), SWIFT_AUTHURL: "http://127.0.0.1:9/auth/v1.0" },
      retries: 2,
    }),
  );
  const t0 = Date.now();
  await assert.rejects(() => down.exists("x"), (e: unknown) => {
    assert.ok(e instanceof StoreError);
    assert.match(e.message, /cannot reach the Swift auth endpoint .* after 2 attempts/);
    return true;
  });
  assert.ok(Date.now() - t0 < 10_000);
  await assert.rejects(
    () => openStore("swift://c/p", settingsOf({ env: { SWIFT_AUTHURL: "http://x" } })),
    /SWIFT_USER, SWIFT_PASSWORD not set/,
  );
});

Deno.test("swift: an expired token is renewed once on 401", async () => {
  const s = await server();
  const admin = await adminSession(s);
  const c = await newContainer(admin, "reauth");
  const store = await open(s, c, "pg");
  await store.put("k", streamOf(new Uint8Array([1])));
  // tempauth keeps tokens in memcached: flushing it revokes every token.
  const port = Number(s.env["SWIFT_MEMCACHED_PORT"]);
  assert.ok(port > 0, "memcached port");
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(new TextEncoder().encode("flush_all\r\n"));
  const buf = new Uint8Array(64);
  await conn.read(buf);
  conn.close();
  assert.equal(await store.exists("k"), true);
  assert.deepEqual(await readAll(await store.get("k")), new Uint8Array([1]));
});

Deno.test("swift: 5xx, 429 and 498 are retried; a 401 re-authenticates once, never loops", async () => {
  let auths = 0;
  const seen: string[] = [];
  const answers = [503, 429, 498, 401, 200];
  const server: Deno.HttpServer<Deno.NetAddr> = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen: () => {},
  }, (req): Response => {
    const u = new URL(req.url);
    if (u.pathname === "/auth/v1.0") return tempauthAnswer(server.addr.port, ++auths);
    seen.push(`${req.method} ${u.pathname} ${req.headers.get("x-auth-token")}`);
    if (u.pathname === "/v1/AUTH_t/c//pg/k") {
      return new Response(null, { status: answers.shift() ?? 500 });
    }
    return new Response(null, { status: 401 });
  });
  try {
    const store = await openSwiftStore(
      parsePrefix("swift://c/pg"),
      settingsOf({
        env: {
          SWIFT_AUTHURL: `http://127.0.0.1:${server.addr.port}/auth/v1.0`,
          SWIFT_USER: "u",
          SWIFT_PASSWORD: "p",
          SWIFT_AUTH_VERSION: "1",
        },
        retries: 10,
      }),
    );
    assert.equal(await store.exists("k"), true);
    assert.deepEqual(seen, [
      "HEAD /v1/AUTH_t/c//pg/k tok1",
      "HEAD /v1/AUTH_t/c//pg/k tok1",
      "HEAD /v1/AUTH_t/c//pg/k tok1",
      "HEAD /v1/AUTH_t/c//pg/k tok1",
      "HEAD /v1/AUTH_t/c//pg/k tok2",
    ]);
    assert.equal(auths, 2);
    seen.length = 0;
    await assert.rejects(() => store.exists("other"), (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      assert.match(e.message, /Swift rejected the token/);
      return true;
    });
    assert.equal(seen.length, 2);
    assert.equal(auths, 3);
  } finally {
    await server.shutdown();
  }
});

Deno.test("swift: deletes one by one without the bulk middleware; bulk errors in a 200 body fail", async () => {
  let bulk = false;
  let bulkMax = 2;
  let auths = 0;
  /** Per-object answers the next bulk requests put in their 200 bodies. */
  const objectErrors: string[] = [];
  const seen: string[] = [];
  const server: Deno.HttpServer<Deno.NetAddr> = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen: () => {},
  }, async (req): Promise<Response> => {
    const u = new URL(req.url);
    if (u.pathname === "/auth/v1.0") return tempauthAnswer(server.addr.port, ++auths);
    if (u.pathname === "/info") {
      return Response.json({
        swift: { max_file_size: 1000 },
        ...(bulk ? { bulk_delete: { max_deletes_per_request: bulkMax } } : {}),
      });
    }
    seen.push(`${req.method} ${u.pathname}${u.search} ${req.headers.get("x-auth-token")}`);
    if (req.method === "GET") return Response.json([]);
    if (req.method === "DELETE") {
      return new Response(null, { status: u.pathname.endsWith("/gone") ? 404 : 204 });
    }
    const lines = (await req.text()).trim().split("\n");
    const failed = objectErrors.shift();
    return Response.json({
      "Response Status": lines.length > 2
        ? "413 Request Entity Too Large"
        : failed === undefined
        ? "200 OK"
        : "400 Bad Request",
      "Response Body": "",
      "Number Deleted": failed === undefined ? lines.length : 0,
      Errors: failed === undefined ? [] : lines.map((l) => [l, failed]),
    });
  });
  const env = {
    SWIFT_AUTHURL: `http://127.0.0.1:${server.addr.port}/auth/v1.0`,
    SWIFT_USER: "u",
    SWIFT_PASSWORD: "p",
    SWIFT_AUTH_VERSION: "1",
  };
  try {
    const one = await openSwiftStore(parsePrefix("swift://c/pg"), settingsOf({ env }));
    await one.deleteMany(["a", "gone"]);
    assert.deepEqual(seen.slice(0, 2), [
      "DELETE /v1/AUTH_t/c//pg/a?multipart-manifest=delete tok1",
      "DELETE /v1/AUTH_t/c//pg/gone?multipart-manifest=delete tok1",
    ]);
    bulk = true;
    seen.length = 0;
    const many = await openSwiftStore(parsePrefix("swift://c/pg"), settingsOf({ env }));
    await many.deleteMany(["a", "b", "c"]);
    // Batches of max_deletes_per_request, then the segment listing.
    assert.deepEqual(seen.map((x) => x.split("?")[0]), [
      "POST /v1/AUTH_t",
      "POST /v1/AUTH_t",
      "GET /v1/AUTH_t/c",
    ]);
    // The token expires during a bulk delete: its sub-requests fail with 401 inside a 200
    // answer; the store logs in again and resends. A per-object 503 is retried as well.
    seen.length = 0;
    objectErrors.push("401 Unauthorized", "503 Service Unavailable");
    await many.deleteMany(["a", "b"]);
    assert.deepEqual(seen.map((x) => `${x.split("?")[0]} ${x.split(" ").at(-1)}`), [
      `POST /v1/AUTH_t tok${auths - 1}`,
      `POST /v1/AUTH_t tok${auths}`,
      `POST /v1/AUTH_t tok${auths}`,
      `GET /v1/AUTH_t/c tok${auths}`,
    ]);
    // A server that says 200 but puts 413 in the body (its real limit is lower than /info
    // said): not a success.
    bulkMax = 10_000;
    const liar = await openSwiftStore(parsePrefix("swift://c/pg"), settingsOf({ env }));
    await assert.rejects(() => liar.deleteMany(["a", "b", "c"]), (e: unknown) => {
      assert.ok(e instanceof StoreError);
      assert.match(e.message, /^Swift bulk delete failed$/);
      assert.match(e.detail ?? "", /413 Request Entity Too Large/);
      return true;
    });
  } finally {
    await server.shutdown();
  }
});

Deno.test("swift: a 160 MiB stream goes up and down in bounded memory", async () => {
  const s = await server();
  const admin = await adminSession(s);
  const c = await newContainer(admin, "big");
  const store = await open(s, c, "pg");
  const src = bigSource(160, "md5");
  const base = isolateMemory();
  let peak = base;
  const timer = setInterval(() => (peak = Math.max(peak, isolateMemory())), 20);
  try {
    await store.put("big/object", src.stream);
    const h = createHash("md5");
    let size = 0;
    for await (const chunk of await store.get("big/object")) {
      h.update(chunk);
      size += chunk.length;
    }
    assert.equal(size, 160 << 20);
    assert.equal(h.digest("hex"), src.digest());
  } finally {
    clearInterval(timer);
  }
  const growth = (peak - base) / (1 << 20);
  // Bounded: well under the 160 MiB object (GC timing alone moves the peak by a few MiB).
  assert.ok(growth < 96, `memory grew by ${growth.toFixed(0)} MiB`);
  assert.equal((await rawNames(admin, c, SEGMENT_DIR)).length, 40);
  // A key below it keeps its own segments when the object is replaced.
  await store.put("big/object/sub", chunked(pattern(MAX_FILE + 1, 5)));
  await store.put("big/object", chunked(pattern(MAX_FILE + 2, 6)));
  assert.equal((await rawNames(admin, c, SEGMENT_DIR)).length, 4);
  // A small put over a large object skips the segment listing (it would cost every WAL push
  // a request): the old segments stay until the key is deleted.
  await store.put("big/object", chunked(pattern(10, 6)));
  assert.equal((await rawNames(admin, c, SEGMENT_DIR)).length, 4);
  await store.deleteMany(["big/object"]);
  assert.equal((await rawNames(admin, c, SEGMENT_DIR)).length, 2);
  assert.equal((await readAll(await store.get("big/object/sub"))).length, MAX_FILE + 1);
});

Deno.test("swift: concurrent large puts share the store's buffer budget", async () => {
  const s = await server();
  const admin = await adminSession(s);
  const c = await newContainer(admin, "budget");
  // Measured: with 1000 slots (no effective budget) the same puts grew memory by 129 MiB.
  const slots = 4;
  const store = new SwiftStore({
    container: c,
    pathPrefix: "pg/",
    auth: swiftAuthSettings(swiftOf(tempauthEnv(s))),
    policy: DEFAULT_RETRY_POLICY,
    bufferSlots: slots,
  });
  // 8 puts of 24 MiB in 4 MiB segments: alone, each may hold 4 segment buffers (128 MiB in
  // all); the budget lets all of them together hold 4 (16 MiB).
  const sources = Array.from({ length: 8 }, () => bigSource(24, "md5"));
  const growth = await memoryGrowth(async () => {
    await Promise.all(sources.map((src, i) => store.put(`part_${i}`, src.stream)));
  }) / (1 << 20);
  for (const [i, src] of sources.entries()) {
    const h = createHash("md5");
    for await (const chunk of await store.get(`part_${i}`)) h.update(chunk);
    assert.equal(h.digest("hex"), src.digest(), `part_${i}`);
  }
  assert.ok(growth < 64, `memory grew by ${growth.toFixed(0)} MiB with ${slots} slots`);
});

Deno.test("swift: sweepIncomplete removes old segments no manifest uses, under the prefix only", async () => {
  const s = await server();
  const admin = await adminSession(s);
  const c = await newContainer(admin, "sweep");
  const store = await open(s, c, "pg");
  const big = pattern(MAX_FILE + 1000, 3);
  await store.put("basebackups_005/b/part_0", chunked(big));
  await store.put("basebackups_005/plain", streamOf(new Uint8Array([4])));
  const inUse = await rawNames(admin, c, SEGMENT_DIR);
  assert.equal(inUse.length, 2);
  // What killed puts left: segments of an older upload of a complete key, of a key with no
  // object, of a key now stored as a plain object, under another prefix, outside `pg/`.
  const orphans = [
    "pg/basebackups_005/b/part_0/deadbeefdeadbeef/00000000",
    "pg/basebackups_005/gone/feedfacefeedface/00000000",
    "pg/basebackups_005/gone/feedfacefeedface/00000001",
    "pg/basebackups_005/plain/1111222233334444/00000000",
    "pg/wal_005/x/0123456789abcdef/00000000",
    "other/k/0123456789abcdef/00000000",
  ].map((n) => SEGMENT_DIR + n);
  for (const name of orphans) {
    const res = await fetch(`${admin.url}/${c}/${name}`, {
      method: "PUT",
      headers: { "X-Auth-Token": admin.token },
      body: new Uint8Array(10),
    });
    await res.body?.cancel();
    assert.equal(res.status, 201);
  }
  // Started after the cutoff: possibly in flight, kept.
  assert.equal(await store.sweepIncomplete("", new Date(Date.now() - 600_000)), 0);
  const later = new Date(Date.now() + 600_000);
  assert.equal(await store.sweepIncomplete("basebackups_005/", later), 3);
  assert.deepEqual(
    (await rawNames(admin, c, SEGMENT_DIR)).sort(),
    [...inUse, orphans[4], orphans[5]].sort(),
  );
  assert.equal(await store.sweepIncomplete("", later), 1);
  assert.deepEqual((await rawNames(admin, c, SEGMENT_DIR)).sort(), [...inUse, orphans[5]].sort());
  // The complete objects read back whole.
  assert.equal(md5(await readAll(await store.get("basebackups_005/b/part_0"))), md5(big));
  assert.deepEqual(await readAll(await store.get("basebackups_005/plain")), new Uint8Array([4]));
});
