import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { ConfigError, ObjectNotFoundError, StoreError } from "../../src/errors.ts";
import { isRetryableError } from "../../src/storage/errors_map.ts";
import { parsePrefix } from "../../src/storage/prefix.ts";
import {
  backoffDelay,
  DEFAULT_RETRY_POLICY,
  guardedStream,
  type RetryPolicy,
  retryPolicyOf,
  withRetries,
} from "../../src/storage/retrying.ts";
import { openS3Store } from "../../src/storage/s3.ts";
import { settingsOf } from "../support/store_settings.ts";

const FAST: RetryPolicy = { ...DEFAULT_RETRY_POLICY, baseDelayMs: 1, maxDelayMs: 2 };

function sdkError(status: number | undefined, name: string, code?: string): Error {
  return Object.assign(new Error(""), {
    name,
    ...(code === undefined ? {} : { code }),
    $metadata: { httpStatusCode: status },
  });
}

Deno.test("retry policy: 5 attempts by default, WALE_RETRIES when set, ≤ 0 unlimited", () => {
  assert.equal(retryPolicyOf(settingsOf({ env: {}, retries: undefined }).retry).attempts, 5);
  assert.equal(
    retryPolicyOf(settingsOf({ env: { WALE_RETRIES: "2" }, retries: 2 }).retry).attempts,
    2,
  );
  assert.equal(
    retryPolicyOf(settingsOf({ env: { WALE_RETRIES: "0" }, retries: 0 }).retry).attempts,
    Infinity,
  );
  assert.equal(
    retryPolicyOf(settingsOf({ env: { WALE_REQUEST_TIMEOUT: "1.5" }, retries: undefined }).retry)
      .idleTimeoutMs,
    1500,
  );
  assert.equal(
    retryPolicyOf(settingsOf({ env: { WALE_REQUEST_TIMEOUT: "1" }, retries: undefined }).retry)
      .connectTimeoutMs,
    1000,
  );
  assert.throws(
    () =>
      retryPolicyOf(
        settingsOf({ env: { WALE_REQUEST_TIMEOUT: "soon" }, retries: undefined }).retry,
      ),
    ConfigError,
  );
});

Deno.test("back-off is exponential with full jitter, capped", () => {
  const p = DEFAULT_RETRY_POLICY;
  assert.equal(backoffDelay(p, 1, () => 0.999999), 249);
  assert.equal(backoffDelay(p, 3, () => 0.999999), 999);
  assert.equal(backoffDelay(p, 20, () => 0.999999), 7999);
  assert.equal(backoffDelay(p, 4, () => 0), 0);
  // Worst case of the default policy: the four sleeps of five attempts stay under 4 s.
  let total = 0;
  for (let k = 1; k < p.attempts; k++) total += backoffDelay(p, k, () => 0.999999);
  assert.ok(total < 4_000, String(total));
});

Deno.test("classification: throttling, 5xx and connection errors retry; 4xx and ours never", () => {
  assert.equal(isRetryableError(sdkError(503, "SlowDown")), true);
  assert.equal(isRetryableError(sdkError(500, "InternalError")), true);
  assert.equal(isRetryableError(sdkError(429, "TooManyRequests")), true);
  assert.equal(isRetryableError(sdkError(400, "RequestTimeout")), true);
  assert.equal(isRetryableError(sdkError(undefined, "Error", "ECONNRESET")), true);
  assert.equal(isRetryableError(sdkError(undefined, "Error", "ECONNREFUSED")), true);
  assert.equal(isRetryableError(sdkError(undefined, "TimeoutError")), true);
  assert.equal(isRetryableError(sdkError(501, "NotImplemented")), false);
  assert.equal(isRetryableError(sdkError(403, "SignatureDoesNotMatch")), false);
  assert.equal(isRetryableError(sdkError(403, "InvalidAccessKeyId")), false);
  assert.equal(isRetryableError(sdkError(403, "AuthenticationFailed")), false);
  assert.equal(isRetryableError(sdkError(404, "NoSuchKey")), false);
  assert.equal(isRetryableError(sdkError(400, "InvalidArgument")), false);
  assert.equal(isRetryableError(new ConfigError("x")), false);
  assert.equal(isRetryableError(new ObjectNotFoundError("k")), false);
  assert.equal(isRetryableError(new StoreError("x", { retryable: true })), true);
  assert.equal(isRetryableError(new DOMException("stop", "AbortError")), false);
  assert.equal(isRetryableError(new TypeError("bug")), false);
});

Deno.test("withRetries: retries retryable failures, then gives up with the attempt count", async () => {
  let calls = 0;
  assert.equal(
    await withRetries(() => {
      calls++;
      if (calls < 3) throw new StoreError("busy", { retryable: true });
      return Promise.resolve("ok");
    }, FAST),
    "ok",
  );
  assert.equal(calls, 3);
  calls = 0;
  await assert.rejects(
    () =>
      withRetries(() => {
        calls++;
        throw new StoreError("busy", { retryable: true });
      }, { ...FAST, attempts: 4 }),
    (e: unknown) => e instanceof StoreError && e.message === "busy after 4 attempts",
  );
  assert.equal(calls, 4);
  calls = 0;
  await assert.rejects(() =>
    withRetries(() => {
      calls++;
      throw new ConfigError("denied");
    }, FAST), ConfigError);
  assert.equal(calls, 1);
});

Deno.test("withRetries: each attempt times out; the caller's abort stops at once", async () => {
  let calls = 0;
  const t0 = Date.now();
  await assert.rejects(
    () =>
      withRetries((signal) => {
        calls++;
        return new Promise((_, reject) =>
          signal.addEventListener("abort", () => reject(signal.reason))
        );
      }, { ...FAST, attempts: 3, idleTimeoutMs: 50 }),
    (e: unknown) => e instanceof StoreError && /timed out/.test(e.message),
  );
  assert.equal(calls, 3);
  assert.ok(Date.now() - t0 < 2_000);
  const ctl = new AbortController();
  calls = 0;
  const p = withRetries(
    (signal) => {
      calls++;
      setTimeout(() => ctl.abort(new Error("user abort")), 10);
      return new Promise((_, reject) =>
        signal.addEventListener("abort", () => reject(signal.reason))
      );
    },
    FAST,
    { signal: ctl.signal },
  );
  await assert.rejects(() => p, /user abort/);
  assert.equal(calls, 1);
});

/** A scripted fake S3 endpoint: records requests, answers with `answer(n)` for request n. */
function fakeS3(
  answer: (n: number, req: Request, body: Uint8Array) => Response | Promise<Response>,
): {
  seen: { method: string; url: string; headers: Headers }[];
  port: number;
  close(): Promise<void>;
} {
  const seen: { method: string; url: string; headers: Headers }[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const body = new Uint8Array(await req.arrayBuffer());
    seen.push({ method: req.method, url: req.url, headers: req.headers });
    return await answer(seen.length, req, body);
  });
  const port = server.addr.port;
  return { seen, port, close: () => server.shutdown() };
}

function okPut(body: Uint8Array): Response {
  const etag = createHash("md5").update(body).digest("hex");
  return new Response(null, { status: 200, headers: { ETag: `"${etag}"` } });
}

function s3Error(status: number, code: string): Response {
  return new Response(
    `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message></Message></Error>`,
    { status, headers: { "content-type": "application/xml" } },
  );
}

function storeFor(port: number, env: Record<string, string> = {}, prefix = "s3://bkt/pg") {
  return openS3Store(
    parsePrefix(prefix),
    settingsOf({
      env: {
        WALE_S3_ENDPOINT: `http+path://127.0.0.1:${port}`,
        AWS_SECRET_ACCESS_KEY: "secret",
        ...env,
      },
      awsAccessKeyId: "AKIDTEST",
      // As the CLI resolves it: WALE_RETRIES parsed, undefined when unset.
      retries: env["WALE_RETRIES"] === undefined ? undefined : Number(env["WALE_RETRIES"]),
    }),
  );
}

Deno.test("S3 PUT: WAL-E's headers, plain body, retried on 503 until it succeeds", async () => {
  const fake = fakeS3((n, _req, body) => n <= 2 ? s3Error(503, "SlowDown") : okPut(body));
  const s = await storeFor(fake.port, { WALE_S3_STORAGE_CLASS: "STANDARD_IA" });
  try {
    await s.put("wal_005/x.lzo", new Blob(["hello"]).stream());
    assert.equal(fake.seen.length, 3);
    const h = fake.seen[2]?.headers ?? new Headers();
    assert.equal(new URL(fake.seen[2]?.url ?? "").pathname, "/bkt/pg/wal_005/x.lzo");
    assert.equal(h.get("x-amz-server-side-encryption"), "AES256");
    assert.equal(h.get("x-amz-storage-class"), "STANDARD_IA");
    assert.equal(h.get("content-md5"), createHash("md5").update("hello").digest("base64"));
    assert.equal(h.get("content-length"), "5");
    assert.equal(h.get("content-type"), "application/octet-stream");
    assert.equal(h.get("content-encoding"), null);
    assert.equal(h.get("x-amz-trailer"), null);
  } finally {
    await s.close();
    await fake.close();
  }
});

Deno.test("S3 PUT: WALE_S3_SSE=off sends no encryption header; storage class defaults to STANDARD", async () => {
  const fake = fakeS3((_n, _req, body) => okPut(body));
  const s = await storeFor(fake.port, { WALE_S3_SSE: "off" });
  try {
    await s.put("k", new Blob(["x"]).stream(), { contentType: "application/json" });
    const h = fake.seen[0]?.headers ?? new Headers();
    assert.equal(h.get("x-amz-server-side-encryption"), null);
    assert.equal(h.get("x-amz-storage-class"), "STANDARD");
    assert.equal(h.get("content-type"), "application/json");
  } finally {
    await s.close();
    await fake.close();
  }
});

Deno.test("S3 PUT: an ETag that is not our MD5 fails the put", async () => {
  const fake = fakeS3(() =>
    new Response(null, { status: 200, headers: { ETag: `"${"0".repeat(32)}"` } })
  );
  const s = await storeFor(fake.port, { WALE_RETRIES: "1" });
  try {
    await assert.rejects(
      () => s.put("k", new Blob(["abc"]).stream()),
      (e: unknown) => e instanceof StoreError && /different bytes/.test(e.message),
    );
  } finally {
    await s.close();
    await fake.close();
  }
});

Deno.test("S3: 403 is never retried; 500 is retried WALE_RETRIES times, then one clear error", async () => {
  const denied = fakeS3(() => s3Error(403, "SignatureDoesNotMatch"));
  const s = await storeFor(denied.port);
  try {
    await assert.rejects(
      () => s.get("k"),
      (e: unknown) => e instanceof ConfigError && /AWS_SECRET_ACCESS_KEY/.test(e.message),
    );
    assert.equal(denied.seen.length, 1);
  } finally {
    await s.close();
    await denied.close();
  }
  const broken = fakeS3(() => s3Error(500, "InternalError"));
  const s2 = await storeFor(broken.port, { WALE_RETRIES: "3" });
  try {
    await assert.rejects(
      () => s2.exists("k"),
      (e: unknown) => e instanceof StoreError && /after 3 attempts/.test(e.message),
    );
    assert.equal(broken.seen.length, 3);
  } finally {
    await s2.close();
    await broken.close();
  }
});

Deno.test("S3: a server that accepts but never answers times out (WALE_REQUEST_TIMEOUT)", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns: Deno.Conn[] = [];
  (async () => {
    for await (const c of listener) conns.push(c);
  })().catch(() => {});
  const s = await storeFor(listener.addr.port, { WALE_REQUEST_TIMEOUT: "0.3", WALE_RETRIES: "2" });
  const t0 = Date.now();
  try {
    await assert.rejects(() => s.get("k"), StoreError);
    assert.ok(Date.now() - t0 < 5_000, `${Date.now() - t0} ms`);
    assert.equal(conns.length, 2);
  } finally {
    await s.close();
    listener.close();
    for (const c of conns) c.close();
  }
});

Deno.test("S3: the virtualhost convention uses the bucket name as the host", async () => {
  const fake = fakeS3((_n, _req, body) => okPut(body));
  const s = await storeFor(
    fake.port,
    { WALE_S3_ENDPOINT: `http+virtualhost://ignored.example:${fake.port}` },
    "s3://127.0.0.1/pg",
  );
  try {
    await s.put("k", new Blob(["x"]).stream());
    const u = new URL(fake.seen[0]?.url ?? "");
    assert.equal(u.pathname, "/pg/k");
    assert.equal(fake.seen[0]?.headers.get("host"), `127.0.0.1:${fake.port}`);
    assert.equal(s.url("k"), "s3://127.0.0.1/pg/k");
  } finally {
    await s.close();
    await fake.close();
  }
});

Deno.test("S3 GET: a body that stalls mid-way errors after the idle timeout", async () => {
  let stalled: ReadableStreamDefaultController<Uint8Array> | undefined;
  const fake = fakeS3(() =>
    new Response(
      new ReadableStream<Uint8Array>({
        start(c) {
          stalled = c;
          c.enqueue(new Uint8Array(1000));
        },
      }),
      { status: 200, headers: { "content-length": "5000" } },
    )
  );
  const s = await storeFor(fake.port, { WALE_REQUEST_TIMEOUT: "0.3" });
  const t0 = Date.now();
  try {
    const body = await s.get("k");
    await assert.rejects(() => new Response(body).arrayBuffer());
    assert.ok(Date.now() - t0 < 5_000, `${Date.now() - t0} ms`);
  } finally {
    try {
      stalled?.close();
    } catch { /* closed by the server */ }
    await s.close();
    await fake.close();
  }
});

Deno.test("guardedStream: a consumer that pauses is not a stall; a silent source is", async () => {
  const chunks = [new Uint8Array(10), new Uint8Array(10), new Uint8Array(10)];
  const paused = guardedStream(
    new ReadableStream<Uint8Array>({
      pull(c) {
        const next = chunks.shift();
        if (next === undefined) c.close();
        else c.enqueue(next);
      },
    }),
    { expectedLength: 30, idleTimeoutMs: 100, label: "paused" },
  );
  const reader = paused.getReader();
  let total = 0;
  for (;;) {
    // Three idle timeouts between reads: back-pressure, not silence from the source.
    await new Promise((r) => setTimeout(r, 300));
    const { done, value } = await reader.read();
    if (done) break;
    total += value.length;
  }
  assert.equal(total, 30);

  let silent: ReadableStreamDefaultController<Uint8Array> | undefined;
  const t0 = Date.now();
  const stalled = guardedStream(
    new ReadableStream<Uint8Array>({
      start(c) {
        silent = c;
        c.enqueue(new Uint8Array(5));
      },
    }),
    { expectedLength: 50, idleTimeoutMs: 200, label: "silent" },
  );
  await assert.rejects(() => new Response(stalled).arrayBuffer(), (e: unknown) => {
    assert.ok(e instanceof StoreError);
    assert.match(e.message, /stalled/);
    assert.match(e.detail ?? "", /after 5 bytes/);
    return true;
  });
  const took = Date.now() - t0;
  assert.ok(took >= 180 && took < 2_000, `${took} ms`);
  try {
    silent?.close();
  } catch { /* cancelled by the stall */ }
});

/** A body of `bytes` that breaks (the connection dies) after `cut` bytes when `cut` is set. */
function bodyOf(bytes: Uint8Array, cut?: number): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    start(c) {
      c.enqueue(bytes.slice(0, cut ?? bytes.length));
      if (cut === undefined) c.close();
      else setTimeout(() => c.error(new Error("cut")), 20);
    },
  });
}

const WHOLE = new Uint8Array(10_000).map((_, i) => (i * 7) & 0xff);

for (
  const [what, second] of [
    [
      "a 206 from the byte delivered",
      () =>
        new Response(bodyOf(WHOLE.subarray(4000)), {
          status: 206,
          headers: { "content-range": "bytes 4000-9999/10000", etag: '"v1"' },
        }),
    ],
    [
      "a server that ignores Range (its first bytes skipped)",
      () => new Response(bodyOf(WHOLE), { status: 200, headers: { etag: '"v1"' } }),
    ],
  ] as const
) {
  Deno.test(`S3 GET: a body cut mid-way resumes with Range and If-Match; ${what}`, async () => {
    const fake = fakeS3((n) =>
      n === 1
        ? new Response(bodyOf(WHOLE, 4000), { status: 200, headers: { etag: '"v1"' } })
        : second()
    );
    const s = await storeFor(fake.port, { WALE_REQUEST_TIMEOUT: "1" });
    try {
      const got = new Uint8Array(await new Response(await s.get("k")).arrayBuffer());
      assert.deepEqual(got, WHOLE);
      assert.equal(fake.seen.length, 2);
      assert.equal(fake.seen[0]?.headers.get("range"), null);
      assert.equal(fake.seen[1]?.headers.get("range"), "bytes=4000-");
      assert.equal(fake.seen[1]?.headers.get("if-match"), '"v1"');
    } finally {
      await s.close();
      await fake.close();
    }
  });
}

Deno.test("S3 GET: a resumption that answers another version is refused, never spliced", async () => {
  for (
    const second of [
      () => s3Error(412, "PreconditionFailed"),
      () =>
        new Response(bodyOf(WHOLE.subarray(4000)), {
          status: 206,
          headers: { "content-range": "bytes 4000-9999/10000", etag: '"v2"' },
        }),
    ]
  ) {
    const fake = fakeS3((n) =>
      n === 1
        ? new Response(bodyOf(WHOLE, 4000), { status: 200, headers: { etag: '"v1"' } })
        : second()
    );
    const s = await storeFor(fake.port, { WALE_REQUEST_TIMEOUT: "1" });
    try {
      await assert.rejects(
        async () => await new Response(await s.get("k")).arrayBuffer(),
        (e: unknown) => e instanceof StoreError && /object changed/.test(e.message),
      );
      assert.equal(fake.seen.length, 2);
    } finally {
      await s.close();
      await fake.close();
    }
  }
});

Deno.test("S3 GET: without an ETag a cut body restarts only if nothing was delivered", async () => {
  // Cut before the first byte: restarted whole.
  let fake = fakeS3((n) => new Response(bodyOf(WHOLE, n === 1 ? 0 : undefined)));
  let s = await storeFor(fake.port, { WALE_REQUEST_TIMEOUT: "1" });
  try {
    assert.deepEqual(new Uint8Array(await new Response(await s.get("k")).arrayBuffer()), WHOLE);
    assert.equal(fake.seen.length, 2);
  } finally {
    await s.close();
    await fake.close();
  }
  // Cut after some bytes: nothing to pin a resumption to, so an error, never a short object.
  fake = fakeS3(() => new Response(bodyOf(WHOLE, 4000)));
  s = await storeFor(fake.port, { WALE_REQUEST_TIMEOUT: "1" });
  try {
    await assert.rejects(
      async () => await new Response(await s.get("k")).arrayBuffer(),
      (e: unknown) => e instanceof StoreError && /cannot resume/.test(e.message) && e.retryable,
    );
    assert.equal(fake.seen.length, 1);
  } finally {
    await s.close();
    await fake.close();
  }
});
