/**
 * No secret reaches stderr (and so the PostgreSQL log) on any backend: a marker secret is set
 * and a failing command is run through main.ts against the real servers; the marker must not
 * appear in anything printed. Also: on S3, a segment name that could leave the prefix sends no
 * request at all (a fault proxy in front of RGW counts them).
 */
import assert from "node:assert/strict";
import {
  ContainerSASPermissions,
  generateBlobSASQueryParameters,
  StorageSharedKeyCredential,
} from "@azure/storage-blob";
import {
  azurite,
  AZURITE_ACCOUNT,
  AZURITE_KEY,
  newContainer,
  wabsEnv,
} from "../support/azurite.ts";
import { FaultProxy } from "../support/fault_proxy.ts";
import { newBucket, rgw, s3Env } from "../support/rgw.ts";
import { swift, tempauthEnv } from "../support/swift.ts";
import { runWalE } from "../support/wal_e.ts";
import { makeSharedTempDir } from "../support/postgres.ts";

const SEG = "000000010000000000000002";
const MARKER = "MarkerSecret5f1e2d3c4b5a69788796";

async function fetchFails(env: Record<string, string>, name = SEG): Promise<string> {
  const dir = await makeSharedTempDir("wal-e-redact-");
  try {
    const r = await runWalE(["wal-fetch", "-p0", name, `${dir}/RECOVERYXLOG`], {
      ...env,
      WALE_RETRIES: "1",
    });
    assert.equal(r.code, 126, r.stderr);
    assert.doesNotMatch(r.stderr, /bug in wal-e|\n\s+at /, r.stderr);
    return r.stderr + r.stdout;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function assertHidden(out: string, secret: string): void {
  assert.ok(!out.includes(secret), `secret leaked:\n${out}`);
  assert.ok(!out.includes(encodeURIComponent(secret)), `secret leaked (encoded):\n${out}`);
}

const sanitize = { sanitizeResources: false, sanitizeOps: false };

Deno.test({
  name: "S3 (Ceph RGW): a wrong secret key is not printed",
  ...sanitize,
  async fn() {
    const r = await rgw();
    const env = { ...s3Env(r, await newBucket(r, "redact")), AWS_SECRET_ACCESS_KEY: MARKER };
    assertHidden(await fetchFails(env), MARKER);
  },
});

Deno.test({
  name: "S3 (Ceph RGW): wal-fetch of ../../x sends no request outside (or inside) the prefix",
  ...sanitize,
  async fn() {
    const r = await rgw();
    const proxy = await FaultProxy.start(Number(new URL(r.endpoint).port));
    try {
      const env = {
        ...s3Env(r, await newBucket(r, "escape")),
        WALE_S3_ENDPOINT: `http+path://127.0.0.1:${proxy.port}`,
      };
      const out = await fetchFails(env, "../../x");
      assert.match(out, /MSG: invalid WAL file name/);
      assert.doesNotMatch(out, /secret|credential/i);
      assert.deepEqual(proxy.requests, []);
      // The same path with a valid name does reach the server, inside the prefix.
      const dir = await makeSharedTempDir("wal-e-redact-");
      const ok = await runWalE(["wal-fetch", "-p0", SEG, `${dir}/RECOVERYXLOG`], env);
      await Deno.remove(dir, { recursive: true });
      assert.equal(ok.code, 1, ok.stderr);
      assert.ok(proxy.requests.length > 0);
      for (const line of proxy.requests) assert.match(line, /^[A-Z]+ \/[^/]+\/pg\/wal_005\//);
    } finally {
      await proxy.stop();
    }
  },
});

Deno.test({
  name: "WABS (Azurite): a wrong account key and a SAS signature are not printed",
  ...sanitize,
  async fn() {
    const a = await azurite();
    const container = await newContainer(a, "redact");
    const key = btoa(MARKER);
    assertHidden(await fetchFails({ ...wabsEnv(a, container), WABS_ACCESS_KEY: key }), key);
    // A SAS token whose signature is wrong: the service refuses it and the SDK's error quotes
    // the request URL, signature included.
    const sas = `sv=2021-08-06&ss=b&srt=sco&sp=rl&se=2099-01-01T00%3A00%3A00Z&sig=${MARKER}%3D`;
    const out = await fetchFails({
      ...wabsEnv(a, container),
      WABS_ACCESS_KEY: "",
      WABS_SAS_TOKEN: sas,
    });
    assertHidden(out, MARKER);
    // A valid read-only SAS whose download is cut mid-body by a proxy: a failure after the
    // request went out with the real signature.
    const good = generateBlobSASQueryParameters({
      containerName: container,
      permissions: ContainerSASPermissions.parse("rl"),
      expiresOn: new Date(Date.now() + 3600_000),
    }, new StorageSharedKeyCredential(AZURITE_ACCOUNT, AZURITE_KEY)).toString();
    const sig = new URLSearchParams(good).get("sig") ?? "";
    assert.ok(sig.length > 10);
    // One segment archived, so the download has a body to cut.
    const src = await makeSharedTempDir("wal-e-redact-src-");
    await Deno.writeFile(`${src}/${SEG}`, crypto.getRandomValues(new Uint8Array(65536)));
    const pushed = await runWalE(["wal-push", "-p1", `${src}/${SEG}`], wabsEnv(a, container));
    await Deno.remove(src, { recursive: true });
    assert.equal(pushed.code, 0, pushed.stderr);
    const proxy = await FaultProxy.start(a.port, [
      { request: /^GET /, afterBytes: 0, action: "reset" },
      { request: /^GET /, afterBytes: 2000, action: "reset", times: Infinity },
    ]);
    try {
      const env = {
        ...wabsEnv(a, container),
        WALE_WABS_ENDPOINT: a.endpoint.replace(`:${a.port}`, `:${proxy.port}`),
        WABS_ACCESS_KEY: "",
        WABS_SAS_TOKEN: good,
      };
      for (const rule of [0, 1]) {
        const cut = await fetchFails(env);
        assertHidden(cut, sig);
        assert.equal(proxy.events.at(-1)?.rule, rule);
      }
      assert.ok(proxy.events.length > 0, "the proxy cut nothing");
    } finally {
      await proxy.stop();
    }
  },
});

Deno.test({
  name: "Swift: a wrong password is not printed",
  ...sanitize,
  async fn() {
    const s = await swift();
    const env = {
      ...tempauthEnv(s),
      WALE_SWIFT_PREFIX: "swift://redact/pg",
      SWIFT_PASSWORD: MARKER,
    };
    assertHidden(await fetchFails(env), MARKER);
  },
});
