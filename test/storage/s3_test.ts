/**
 * The S3 backend against a real Ceph RGW on 127.0.0.1 (test/support/rgw.ts): the shared store
 * contract, a 256 MiB streamed object in bounded memory, multipart verification and abort,
 * error mapping by code, and instance-profile credentials from a local IMDS.
 */
import { bigRoundTrip, bigSource } from "../support/big_stream.ts";
import assert from "node:assert/strict";
import { HeadObjectCommand, ListMultipartUploadsCommand } from "@aws-sdk/client-s3";
import { ConfigError, ObjectNotFoundError } from "../../src/errors.ts";
import { parsePrefix } from "../../src/storage/prefix.ts";
import { openS3Store } from "../../src/storage/s3.ts";
import { startImds } from "../support/imds.ts";
import { adminClient, newBucket, type Rgw, rgw, s3Env } from "../support/rgw.ts";
import { runWalE } from "../support/wal_e.ts";
import { storeContract } from "./store_contract.ts";
import { settingsOf } from "../support/store_settings.ts";

async function open(r: Rgw, bucket: string, path = "pg", env: Record<string, string> = {}) {
  return await openS3Store(
    parsePrefix(`s3://${bucket}/${path}`),
    settingsOf({
      env: { WALE_S3_ENDPOINT: r.waleEndpoint, AWS_SECRET_ACCESS_KEY: r.secretKey, ...env },
      awsAccessKeyId: env["AWS_ACCESS_KEY_ID"] ?? r.accessKey,
    }),
  );
}

storeContract("s3 (Ceph RGW)", async () => {
  const r = await rgw();
  const bucket = await newBucket(r, "contract");
  return { store: await open(r, bucket, "contract/"), dispose: () => Promise.resolve() };
});

Deno.test("s3: a 256 MiB object streams up and down in bounded memory, verified by ETag", async () => {
  const r = await rgw();
  const bucket = await newBucket(r, "big");
  const s = await open(r, bucket);
  try {
    await bigRoundTrip(s, 256, 128);
    const c = adminClient(r);
    const head = await c.send(new HeadObjectCommand({ Bucket: bucket, Key: "pg/big/object" }));
    c.destroy();
    assert.match(head.ETag ?? "", /-32"$/);
    await s.deleteMany(["big/object"]);
  } finally {
    await s.close();
  }
});

Deno.test("s3: sizes around the part size round-trip (single PUT vs multipart)", async () => {
  const r = await rgw();
  const s = await open(r, await newBucket(r, "parts"));
  try {
    for (const size of [8 << 20, (8 << 20) + 1, 16 << 20, (16 << 20) + 123]) {
      const data = crypto.getRandomValues(new Uint8Array(65536));
      const whole = new Uint8Array(size);
      for (let off = 0; off < size; off += data.length) {
        whole.set(data.subarray(0, size - off), off);
      }
      await s.put(`p/${size}`, new Blob([whole]).stream(), { size });
      const back = new Uint8Array(await new Response(await s.get(`p/${size}`)).arrayBuffer());
      assert.equal(back.length, size);
      assert.ok(back.every((x, i) => x === whole[i]), `${size} differs`);
    }
  } finally {
    await s.close();
  }
});

Deno.test("s3: an aborted multipart upload leaves no object and no open upload", async () => {
  const r = await rgw();
  const bucket = await newBucket(r, "abort");
  const s = await open(r, bucket);
  try {
    const ctl = new AbortController();
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(c) {
        sent += 1 << 20;
        if (sent > 30 << 20) ctl.abort(new Error("stop"));
        c.enqueue(new Uint8Array(1 << 20));
      },
    }, { highWaterMark: 0 });
    await assert.rejects(() => s.put("a/k", body, { signal: ctl.signal }));
    const failing = bigSource(40, "sha256");
    const broken = failing.stream.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, c) {
          if (new DataView(chunk.buffer).getUint32(0) === 30) throw new Error("source broke");
          c.enqueue(chunk.slice());
        },
      }),
    );
    await assert.rejects(() => s.put("a/k2", broken), /source broke/);
    assert.deepEqual(await Array.fromAsync(s.list("")), []);
    const c = adminClient(r);
    const open = await c.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
    c.destroy();
    assert.equal(open.Uploads?.length ?? 0, 0);
  } finally {
    await s.close();
  }
});

Deno.test("s3: deleteMany takes more than 1000 keys; list at the bucket root", async () => {
  const r = await rgw();
  const bucket = await newBucket(r, "del");
  const s = await open(r, bucket, "");
  try {
    const keys = Array.from({ length: 2100 }, (_, i) => `d/${String(i).padStart(5, "0")}`);
    for (let i = 0; i < keys.length; i += 100) {
      await Promise.all(keys.slice(i, i + 100).map((k) => s.put(k, new Blob([k]).stream())));
    }
    assert.equal((await Array.fromAsync(s.list(""))).length, 2100);
    assert.equal(s.url("d/1"), `s3://${bucket}/d/1`);
    await s.deleteMany([...keys.slice(0, 2050), "d/missing"]);
    assert.deepEqual((await Array.fromAsync(s.list("d/"))).map((o) => o.key), keys.slice(2050));
  } finally {
    await s.close();
  }
});

Deno.test("s3: errors are mapped by code: wrong secret, unknown key, missing bucket, missing key", async () => {
  const r = await rgw();
  const bucket = await newBucket(r, "err");
  const wrongSecret = await open(r, bucket, "pg", { AWS_SECRET_ACCESS_KEY: "wrong" });
  const unknownKey = await open(r, bucket, "pg", { AWS_ACCESS_KEY_ID: "NOSUCHKEY0000000000" });
  const noBucket = await open(r, `${bucket}-missing`);
  const ok = await open(r, bucket);
  try {
    await assert.rejects(
      () => wrongSecret.put("k", new Blob(["x"]).stream()),
      (e: unknown) => e instanceof ConfigError && /AWS_SECRET_ACCESS_KEY/.test(e.message),
    );
    await assert.rejects(
      () => Array.fromAsync(unknownKey.list("")),
      (e: unknown) => e instanceof ConfigError && /AWS_ACCESS_KEY_ID/.test(e.message),
    );
    await assert.rejects(
      () => noBucket.get("k"),
      (e: unknown) => e instanceof ConfigError && /bucket .* does not exist/.test(e.message),
    );
    await assert.rejects(() => Array.fromAsync(noBucket.list("")), ConfigError);
    await assert.rejects(() => ok.get("wal_005/none.lzo"), ObjectNotFoundError);
    assert.equal(await ok.exists("wal_005/none.lzo"), false);
  } finally {
    for (const s of [wrongSecret, unknownKey, noBucket, ok]) await s.close();
  }
});

for (const v1Only of [false, true]) {
  Deno.test(`s3: --aws-instance-profile reads credentials from IMDS${v1Only ? "v1" : "v2"}`, async () => {
    const r = await rgw();
    const bucket = await newBucket(r, "imds");
    const imds = startImds({ accessKeyId: r.accessKey, secretAccessKey: r.secretKey, v1Only });
    try {
      const env = {
        WALE_S3_PREFIX: `s3://${bucket}/pg`,
        WALE_S3_ENDPOINT: r.waleEndpoint,
        AWS_EC2_METADATA_SERVICE_ENDPOINT: imds.endpoint,
      };
      const out = await runWalE(["--aws-instance-profile", "backup-list"], env);
      assert.equal(out.code, 0, out.stderr);
      assert.match(out.stdout, /^name\tlast_modified/);
      const creds = imds.requests.filter((q) =>
        q.startsWith("GET ") && q.includes(`/imds-`) ||
        q.includes("wal-e-test-role")
      );
      assert.ok(creds.length > 0, imds.requests.join("\n"));
      if (v1Only) {
        assert.ok(imds.requests.every((q) => !q.endsWith(" token")), imds.requests.join("\n"));
      } else {
        assert.equal(imds.requests[0], "PUT /latest/api/token");
        assert.ok(creds.every((q) => q.endsWith(" token")), imds.requests.join("\n"));
      }
      const env2 = { ...env, AWS_INSTANCE_PROFILE: "true" };
      assert.equal((await runWalE(["backup-list"], env2)).code, 0);
    } finally {
      await imds.close();
    }
  });
}

Deno.test("s3: the tool's backup-list works with WALE_S3_* variables (s3Env)", async () => {
  const r = await rgw();
  const out = await runWalE(["backup-list"], s3Env(r, await newBucket(r, "cli")));
  assert.equal(out.code, 0, out.stderr);
});
