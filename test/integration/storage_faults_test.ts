/**
 * Network faults between our stores and the real servers (issue #16 items 7, 8, 9), injected
 * by the TCP fault proxy (test/support/fault_proxy.ts) in front of a real Ceph RGW, Azurite
 * and Swift: a download cut mid-body (reset, truncation, stall past WALE_REQUEST_TIMEOUT)
 * resumes and delivers the exact bytes; a fault on every attempt ends in a retryable
 * StoreError, not a hang; a resumption never splices a replaced object; a key that could
 * escape the prefix sends no request; a lost CreateMultipartUpload reply leaves no upload; and
 * wal-fetch through main.ts survives a mid-body reset.
 */
import assert from "node:assert/strict";
import {
  CreateMultipartUploadCommand,
  GetObjectCommand,
  ListMultipartUploadsCommand,
} from "@aws-sdk/client-s3";
import { StoreError } from "../../src/errors.ts";
import { openWabsStore } from "../../src/storage/azure.ts";
import { parsePrefix } from "../../src/storage/prefix.ts";
import { openS3Store } from "../../src/storage/s3.ts";
import type { Store } from "../../src/storage/store.ts";
import { openSwiftStore } from "../../src/storage/swift.ts";
import {
  azurite,
  AZURITE_ACCOUNT,
  AZURITE_KEY,
  newContainer as newAzureContainer,
} from "../support/azurite.ts";
import { FaultProxy, type FaultRule } from "../support/fault_proxy.ts";
import { adminClient, newBucket, rgw, s3Env } from "../support/rgw.ts";
import { assertBytes, pattern, readAll, streamOf } from "../support/streams.ts";
import {
  adminSession,
  newContainer as newSwiftContainer,
  swift,
  tempauthEnv,
} from "../support/swift.ts";
import { runWalE } from "../support/wal_e.ts";
import { settingsOf } from "../support/store_settings.ts";

/** Fast failure for the tests: 1 s of silence is a stall. */
const FAULT_ENV = { WALE_REQUEST_TIMEOUT: "1" };

/** One place in one backend: a store straight to the server and stores through a proxy. */
interface Place {
  /** Bucket or container. */
  storeName: string;
  /** The server's port, for the proxy. */
  upstreamPort: number;
  /** A store talking to the server directly (set-up and checks). */
  direct: Store;
  /** A store on the same place through the proxy on `port`. */
  viaProxy(port: number, env?: Record<string, string>): Promise<Store>;
  /** The request line of a GET of `key` (path prefix `pg/`). */
  getLine(key: string): RegExp;
  /** Swift: whether `key` is stored as a Static Large Object. */
  isLargeObject?: (key: string) => Promise<boolean>;
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
const portOf = (url: string) => Number(new URL(url).port);

const BACKENDS: Record<string, () => Promise<Place>> = {
  "S3 (Ceph RGW)": async () => {
    const r = await rgw();
    const bucket = await newBucket(r, "faults");
    const open = (endpoint: string, env: Record<string, string> = {}) =>
      openS3Store(
        parsePrefix(`s3://${bucket}/pg`),
        settingsOf({
          env: { WALE_S3_ENDPOINT: endpoint, AWS_SECRET_ACCESS_KEY: r.secretKey, ...env },
          awsAccessKeyId: r.accessKey,
          retries: env["WALE_RETRIES"] === undefined ? undefined : Number(env["WALE_RETRIES"]),
        }),
      );
    return {
      storeName: bucket,
      upstreamPort: portOf(r.endpoint),
      direct: await open(r.waleEndpoint),
      viaProxy: (port, env) => open(`http+path://127.0.0.1:${port}`, { ...FAULT_ENV, ...env }),
      getLine: (key) => new RegExp(`^GET /${escape(bucket)}/pg/${escape(key)}[ ?]`),
    };
  },
  "WABS (Azurite)": async () => {
    const a = await azurite();
    const container = await newAzureContainer(a, "faults");
    const open = (endpoint: string, env: Record<string, string> = {}) =>
      openWabsStore(
        parsePrefix(`wabs://${container}/pg`),
        settingsOf({
          env: { WALE_WABS_ENDPOINT: endpoint, WABS_ACCESS_KEY: AZURITE_KEY, ...env },
          wabsAccountName: AZURITE_ACCOUNT,
          retries: env["WALE_RETRIES"] === undefined ? undefined : Number(env["WALE_RETRIES"]),
        }),
      );
    return {
      storeName: container,
      upstreamPort: a.port,
      direct: await open(a.endpoint),
      viaProxy: (port, env) =>
        open(`http://127.0.0.1:${port}/${AZURITE_ACCOUNT}`, { ...FAULT_ENV, ...env }),
      getLine: (key) =>
        new RegExp(`^GET /${AZURITE_ACCOUNT}/${escape(container)}/pg/${escape(key)}[ ?]`),
    };
  },
  "Swift (tempauth)": () => swiftPlace({}),
  // The objects are Static Large Objects: ranges and If-Match go through the SLO middleware.
  "Swift (tempauth), large objects": () => swiftPlace({ SWIFT_TEST_MAX_FILE_SIZE: "1048576" }),
};

async function swiftPlace(directEnv: Record<string, string>): Promise<Place> {
  const s = await swift();
  const admin = await adminSession(s);
  const container = await newSwiftContainer(admin, "faults");
  const auth = tempauthEnv(s);
  const open = (authUrl: string, env: Record<string, string> = {}) =>
    openSwiftStore(
      parsePrefix(`swift://${container}/pg`),
      settingsOf({
        env: { ...auth, SWIFT_AUTHURL: authUrl, ...env },
        retries: env["WALE_RETRIES"] === undefined ? undefined : Number(env["WALE_RETRIES"]),
      }),
    );
  const authUrl = new URL(auth["SWIFT_AUTHURL"] ?? "");
  return {
    storeName: container,
    upstreamPort: Number(authUrl.port),
    direct: await open(authUrl.href, directEnv),
    // tempauth names the storage URL after the host asked, so all traffic uses the proxy.
    viaProxy: (port, env) => {
      const u = new URL(authUrl.href);
      u.port = String(port);
      return open(u.href, { ...FAULT_ENV, ...env });
    },
    getLine: (key) => new RegExp(`^GET /v1/AUTH_test/${escape(container)}//pg/${escape(key)}[ ?]`),
    isLargeObject: async (key) => {
      const res = await fetch(`${admin.url}/${container}//pg/${key}`, {
        method: "HEAD",
        headers: { "X-Auth-Token": admin.token },
      });
      await res.body?.cancel();
      return res.headers.get("x-static-large-object") === "True";
    },
  };
}

/** Runs `fn` with a proxy in front of `place` and a store through it; cleans up. */
async function throughProxy(
  place: Place,
  rules: FaultRule[],
  env: Record<string, string>,
  fn: (store: Store, proxy: FaultProxy) => Promise<void>,
): Promise<void> {
  const proxy = await FaultProxy.start(place.upstreamPort, rules);
  const store = await place.viaProxy(proxy.port, env);
  try {
    await fn(store, proxy);
  } finally {
    await store.close();
    await proxy.stop();
  }
}

const OBJECT = pattern(3 * 1024 * 1024 + 17, 7);

for (const [name, makePlace] of Object.entries(BACKENDS)) {
  // Large objects differ only in what the server does with ranges; the rest is the same code.
  const slo = name.endsWith("large objects");
  const test = (what: string, fn: () => Promise<void>, everywhere = true) => {
    if (!everywhere && slo) return;
    Deno.test({ name: `${name}: ${what}`, sanitizeResources: false, sanitizeOps: false, fn });
  };

  test("a reset, a truncation and a stall mid-body on the first GET are resumed: exact bytes", async () => {
    const place = await makePlace();
    await place.direct.put("obj", streamOf(OBJECT));
    if (slo) assert.ok(await place.isLargeObject?.("obj"), "not a Static Large Object");
    for (const action of ["reset", "truncate", "stall"] as const) {
      const rule = { request: place.getLine("obj"), afterBytes: 1_000_000, action };
      await throughProxy(place, [rule], {}, async (store, proxy) => {
        const t0 = Date.now();
        const got = await readAll(await store.get("obj"));
        assert.equal(proxy.events.length, 1, `${action}: the fault did not happen`);
        assertBytes(got, OBJECT, action);
        const gets = proxy.requests.filter((l) => place.getLine("obj").test(l));
        assert.equal(gets.length, 2, `${action}: ${gets.join(", ")}`);
        if (action === "stall") assert.ok(Date.now() - t0 >= 900, "resumed before the timeout");
      });
    }
  });

  test("a fault on every attempt ends in a retryable StoreError, without hanging", async () => {
    const place = await makePlace();
    await place.direct.put("obj", streamOf(OBJECT));
    for (const action of ["reset", "stall"] as const) {
      const rule = { request: place.getLine("obj"), afterBytes: 500_000, action, times: Infinity };
      await throughProxy(place, [rule], { WALE_RETRIES: "3" }, async (store, proxy) => {
        const t0 = Date.now();
        await assert.rejects(
          async () => await readAll(await store.get("obj")),
          (e: unknown) => {
            assert.ok(e instanceof StoreError, String(e));
            assert.equal(e.retryable, true);
            assert.match(e.message, /after 3 attempts/);
            return true;
          },
        );
        assert.equal(proxy.events.length, 3, action);
        assert.ok(Date.now() - t0 < 20_000, `${action}: ${Date.now() - t0} ms`);
      });
    }
  }, false);

  test("a resumed download never splices a replaced object onto the old one", async () => {
    const place = await makePlace();
    await place.direct.put("obj", streamOf(OBJECT));
    const rule = { request: place.getLine("obj"), afterBytes: 1_000_000, action: "stall" as const };
    await throughProxy(place, [rule], {}, async (store, proxy) => {
      const reading = readAll(await store.get("obj"));
      reading.catch(() => {});
      while (proxy.events.length === 0) await new Promise((r) => setTimeout(r, 20));
      // Replaced while the download is stalled: the resumption must notice.
      await place.direct.put("obj", streamOf(pattern(OBJECT.length, 99)));
      await assert.rejects(
        () => reading,
        (e: unknown) => e instanceof StoreError && /object changed/.test(e.message),
      );
    });
  });

  test("keys that could escape the prefix are refused before any request", async () => {
    const place = await makePlace();
    await throughProxy(place, [], {}, async (store, proxy) => {
      for (const key of ["../../x", "/etc/passwd", "a/./b", "a//b", "", "a\nb", ".."]) {
        const bad = (e: unknown) => e instanceof StoreError && /invalid object key/.test(e.message);
        await assert.rejects(() => store.get(key), bad, JSON.stringify(key));
        await assert.rejects(() => store.exists(key), bad);
        await assert.rejects(() => store.put(key, streamOf(new Uint8Array(1))), bad);
        await assert.rejects(() => store.deleteMany(["ok", key]), bad);
      }
      await assert.rejects(() => Array.fromAsync(store.list("../")), StoreError);
      await assert.rejects(() => store.sweepIncomplete("a/../", new Date()), StoreError);
      assert.deepEqual(proxy.requests, []);
    });
  }, false);
}

Deno.test({
  name: "S3 (Ceph RGW): a lost CreateMultipartUpload reply leaves no multipart upload",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const r = await rgw();
    const place = await BACKENDS["S3 (Ceph RGW)"]!();
    const bucket = place.storeName;
    const big = pattern(9 * 1024 * 1024 + 5, 3);
    const openUploads = async () => {
      const c = adminClient(r);
      try {
        const res = await c.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
        return res.Uploads ?? [];
      } finally {
        c.destroy();
      }
    };
    // The reply is cut after the server created the upload (its first byte has left RGW).
    const lost = (key: string, times: number): FaultRule => ({
      request: new RegExp(`^POST /${escape(bucket)}/pg/${key}\\?uploads`),
      afterBytes: 0,
      action: "reset",
      times,
    });
    // Once: the SDK retries the create and the put succeeds; the first upload is aborted.
    await throughProxy(place, [lost("big", 1)], {}, async (store, proxy) => {
      await store.put("big", streamOf(big));
      assert.equal(proxy.events.length, 1);
      assert.deepEqual(await openUploads(), []);
      assertBytes(await readAll(await place.direct.get("big")), big);
    });
    // Every time: the put fails clearly, and none of the uploads the server made remains.
    await throughProxy(
      place,
      [lost("big2", Infinity)],
      { WALE_RETRIES: "3" },
      async (store, proxy) => {
        await assert.rejects(() => store.put("big2", streamOf(big)), StoreError);
        assert.ok(proxy.events.length >= 3, `${proxy.events.length} creates`);
        assert.deepEqual(await openUploads(), []);
        assert.equal(await place.direct.exists("big2"), false);
      },
    );
    await place.direct.close();
  },
});

Deno.test({
  name: "S3 (Ceph RGW): sweepIncomplete aborts old multipart uploads under the prefix only",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const r = await rgw();
    const bucket = await newBucket(r, "sweep");
    const c = adminClient(r);
    const store = await openS3Store(
      parsePrefix(`s3://${bucket}/pg`),
      settingsOf({
        env: { WALE_S3_ENDPOINT: r.waleEndpoint, AWS_SECRET_ACCESS_KEY: r.secretKey },
        awsAccessKeyId: r.accessKey,
      }),
    );
    try {
      // What killed backup-pushes left: uploads created and never completed nor aborted.
      for (const Key of ["pg/basebackups_005/b1/part_0", "pg/wal_005/x", "other/part_0"]) {
        await c.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key }));
      }
      await store.put("basebackups_005/b1/done", streamOf(new Uint8Array([1, 2, 3])));
      const keys = async () =>
        ((await c.send(new ListMultipartUploadsCommand({ Bucket: bucket }))).Uploads ?? [])
          .map((u) => u.Key).sort();
      // A cutoff before they started: they may be in flight, so they stay.
      assert.equal(await store.sweepIncomplete("", new Date(Date.now() - 60_000)), 0);
      assert.equal((await keys()).length, 3);
      const later = new Date(Date.now() + 60_000);
      assert.equal(await store.sweepIncomplete("basebackups_005/", later), 1);
      assert.deepEqual(await keys(), ["other/part_0", "pg/wal_005/x"]);
      assert.equal(await store.sweepIncomplete("", later), 1);
      // Outside the prefix: not ours to touch. The complete object is untouched.
      assert.deepEqual(await keys(), ["other/part_0"]);
      const obj = await c.send(
        new GetObjectCommand({ Bucket: bucket, Key: "pg/basebackups_005/b1/done" }),
      );
      assert.deepEqual(await obj.Body?.transformToByteArray(), new Uint8Array([1, 2, 3]));
    } finally {
      c.destroy();
      await store.close();
    }
  },
});

Deno.test({
  name: "S3 (Ceph RGW): wal-fetch through main.ts survives a mid-body reset (exit 0, exact bytes)",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const r = await rgw();
    const bucket = await newBucket(r, "walfetch");
    const dir = await Deno.makeTempDir({ prefix: "wal-e-faults-" });
    const segment = "000000010000000000000003";
    try {
      // Incompressible, so the stored object is ~16 MiB and the cut lands mid-body.
      const bytes = new Uint8Array(16 * 1024 * 1024);
      for (let off = 0; off < bytes.length; off += 65536) {
        crypto.getRandomValues(bytes.subarray(off, off + 65536));
      }
      await Deno.mkdir(`${dir}/pg_wal`);
      await Deno.writeFile(`${dir}/pg_wal/${segment}`, bytes);
      const env = s3Env(r, bucket);
      const push = await runWalE(["wal-push", `${dir}/pg_wal/${segment}`], env);
      assert.equal(push.code, 0, push.stderr);
      const proxy = await FaultProxy.start(portOf(r.endpoint), [{
        request: new RegExp(`^GET /${escape(bucket)}/pg/wal_005/${segment}\\.lzo[ ?]`),
        afterBytes: 2_000_000,
        action: "reset",
      }]);
      try {
        const out = await runWalE(["wal-fetch", "-p0", segment, `${dir}/restored`], {
          ...env,
          WALE_S3_ENDPOINT: `http+path://127.0.0.1:${proxy.port}`,
        });
        assert.equal(out.code, 0, out.stderr);
        assert.equal(proxy.events.length, 1, "the reset did not happen");
        assertBytes(await Deno.readFile(`${dir}/restored`), bytes);
      } finally {
        await proxy.stop();
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
