/**
 * Long Swift transfers against a real Swift whose tempauth tokens live 3 s and whose manifests
 * hold 3 entries (test/support/swift.ts): a token that expires in the middle of an upload is
 * renewed and the upload completes, a slow download outlives its token, and a Static Large
 * Object with more segments than one manifest may list is stored through nested manifests.
 * Segments are 1 MiB (max_file_size).
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { parsePrefix } from "../../src/storage/prefix.ts";
import { openSwiftStore, SEGMENT_DIR } from "../../src/storage/swift.ts";
import { pattern, readAll, streamOf } from "../support/streams.ts";
import {
  adminSession,
  newContainer,
  rawNames,
  swift,
  type SwiftServer,
  tempauthEnv,
} from "../support/swift.ts";
import { settingsOf } from "../support/store_settings.ts";

const MIB = 1024 * 1024;
const TOKEN_LIFE_S = 3;
const server = (): Promise<SwiftServer> =>
  swift({ maxFileSize: MIB, tokenLife: TOKEN_LIFE_S, maxManifestSegments: 3 });

const md5 = (b: Uint8Array) => createHash("md5").update(b).digest("hex");

/**
 * Raw names in `container` with a fresh admin token; tokens expire within seconds here, so on
 * a loaded machine one may die between login and listing: try again with a new one.
 */
async function names(s: SwiftServer, container: string, prefix = ""): Promise<string[]> {
  for (let attempt = 1;; attempt++) {
    try {
      return await rawNames(await adminSession(s), container, prefix);
    } catch (err) {
      if (attempt >= 5) throw err;
    }
  }
}

/** 401 answers the proxy logged so far (its access log, one request per line). */
async function unauthorizedCount(s: SwiftServer): Promise<number> {
  const log = await Deno.readTextFile(`${s.dir}/log/proxy-server.log`);
  return log.split("\n").filter((l) => / HTTP\/1\.[01] 401 /.test(l)).length;
}

/** `data` in 256 KiB chunks, one chunk every `delayMs`: an upload that takes a while. */
function slowStream(data: Uint8Array, delayMs: number): ReadableStream<Uint8Array> {
  let off = 0;
  return new ReadableStream<Uint8Array>({
    async pull(c) {
      if (off >= data.length) return c.close();
      await new Promise((r) => setTimeout(r, delayMs));
      c.enqueue(data.slice(off, off + 256 * 1024));
      off += 256 * 1024;
    },
  });
}

Deno.test("swift: a token that expires mid-upload is renewed; a slow download outlives it", async () => {
  const s = await server();
  const c = await newContainer(await adminSession(s), "expiry");
  const store = await openSwiftStore(
    parsePrefix(`swift://${c}/pg`),
    settingsOf({ env: tempauthEnv(s) }),
  );
  const data = pattern(12 * MIB + 12_345, 21);
  const before = await unauthorizedCount(s);
  // 49 chunks at 200 ms: ~10 s, so tokens (3 s) expire several times on the way.
  const t0 = Date.now();
  await store.put("basebackups_005/b/tar_partitions/part_00000000.tar.lzo", slowStream(data, 200));
  const took = Date.now() - t0;
  assert.ok(took > 2 * TOKEN_LIFE_S * 1000, `upload took only ${took} ms`);
  // The proof that the renewal path ran: Swift refused expired tokens during this upload.
  const refused = await unauthorizedCount(s) - before;
  assert.ok(refused >= 1, "no request met an expired token: the test did not test expiry");
  // Read back slowly (~7 s, past the token's life): Swift checks the token once per
  // request, and serves the segments of a Static Large Object under that first check.
  const h = createHash("md5");
  let size = 0;
  const body = await store.get("basebackups_005/b/tar_partitions/part_00000000.tar.lzo");
  const r0 = Date.now();
  for await (const chunk of body) {
    h.update(chunk);
    size += chunk.length;
    await new Promise((r) => setTimeout(r, (chunk.length / (1024 * 1024)) * 550));
  }
  assert.ok(Date.now() - r0 > 2 * TOKEN_LIFE_S * 1000, `download took ${Date.now() - r0} ms`);
  assert.equal(size, data.length);
  assert.equal(h.digest("hex"), md5(data));
  // deno-lint-ignore no-console -- shows in the test output how often expiry was met
  console.log(`upload ${took} ms, ${refused} requests refused with 401 and re-sent`);
});

Deno.test("swift: more segments than one manifest may list go through nested manifests", async () => {
  const s = await server();
  const c = await newContainer(await adminSession(s), "nested");
  const store = await openSwiftStore(
    parsePrefix(`swift://${c}/pg`),
    settingsOf({ env: tempauthEnv(s) }),
  );
  // 11 segments, 3 per manifest: 4 sub-manifests, then 2, then the object's manifest of 2.
  const data = pattern(10 * MIB + 777, 23);
  await store.put("big", streamOf(data));
  const segs = await names(s, c, SEGMENT_DIR);
  assert.equal(segs.filter((n) => /\/\d{8}$/.test(n)).length, 11);
  assert.equal(segs.filter((n) => /\/m1-\d{8}$/.test(n)).length, 4);
  assert.equal(segs.filter((n) => /\/m2-\d{8}$/.test(n)).length, 2);
  const back = await readAll(await store.get("big"));
  assert.equal(md5(back), md5(data));
  const listed = await Array.fromAsync(store.list(""));
  assert.deepEqual(listed.map((o) => [o.key, o.size]), [["big", data.length]]);
  // Replaced by another large object: only the new upload's names remain; deleted: nothing.
  await store.put("big", streamOf(pattern(2 * MIB + 1, 24)));
  assert.equal((await names(s, c, SEGMENT_DIR)).length, 3);
  await store.deleteMany(["big"]);
  assert.deepEqual(await names(s, c), []);
});
