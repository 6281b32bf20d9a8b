import assert from "node:assert/strict";
import { ConfigError } from "../../src/errors.ts";
import { parseS3Endpoint, s3Addressing, s3Credentials } from "../../src/storage/s3_endpoint.ts";
import { s3Of, settingsOf } from "../support/store_settings.ts";

Deno.test("WALE_S3_ENDPOINT: WAL-E's protocol+convention://host[:port] syntax", () => {
  assert.deepEqual(parseS3Endpoint("http+path://127.0.0.1:7480"), {
    protocol: "http",
    convention: "path",
    host: "127.0.0.1",
    port: 7480,
  });
  assert.deepEqual(parseS3Endpoint("https+subdomain://s3.example.com"), {
    protocol: "https",
    convention: "subdomain",
    host: "s3.example.com",
    port: undefined,
  });
  assert.deepEqual(parseS3Endpoint("HTTPS+VirtualHost://[::1]:9000"), {
    protocol: "https",
    convention: "virtualhost",
    host: "[::1]",
    port: 9000,
  });
});

Deno.test("WALE_S3_ENDPOINT: user info, path, query, fragment and bad parts are user errors", () => {
  for (
    const bad of [
      "http+path://user:pw@host:1",
      "http+path://host/",
      "http+path://host:9000/path",
      "http+path://host?x=1",
      "http+path://host#f",
      "ftp+path://host",
      "http+bucket://host",
      "http://host",
      "http+path://",
      "http+path://host:",
      "http+path://host:99999",
      "http+path://host:12ab",
      "http+path://bad_host",
      "",
    ]
  ) {
    assert.throws(() => parseS3Endpoint(bad), (e: unknown) => {
      assert.ok(e instanceof ConfigError, bad);
      assert.equal(e.message, "invalid WALE_S3_ENDPOINT");
      assert.ok(e.detail?.includes(`"${bad}"`), e.detail);
      return true;
    });
  }
});

Deno.test("region: AWS_REGION or WALE_S3_ENDPOINT is required (WAL-E's message)", () => {
  assert.throws(
    () => s3Addressing(s3Of({}), "b"),
    (e: unknown) =>
      e instanceof ConfigError && e.message === "must define one of AWS_REGION or WALE_S3_ENDPOINT",
  );
});

Deno.test("addressing: AWS_REGION alone uses AWS endpoints and follows region redirects", () => {
  const a = s3Addressing(s3Of({ AWS_REGION: "eu-west-1" }), "my-bucket");
  assert.equal(a.region, "eu-west-1");
  assert.equal(a.endpoint, undefined);
  assert.equal(a.followRegionRedirects, true);
  assert.equal(a.bucketParam, "my-bucket");
});

Deno.test("addressing: path, subdomain and virtualhost conventions; any region with an endpoint", () => {
  const p = s3Addressing(s3Of({ WALE_S3_ENDPOINT: "http+path://127.0.0.1:9000" }), "b");
  assert.deepEqual(p, {
    region: "us-east-1",
    endpoint: "http://127.0.0.1:9000",
    forcePathStyle: true,
    bucketEndpoint: false,
    bucketParam: "b",
    followRegionRedirects: false,
  });
  const s = s3Addressing(
    s3Of({ WALE_S3_ENDPOINT: "https+subdomain://s3.example.com", AWS_REGION: "moon-1" }),
    "b",
  );
  assert.equal(s.region, "moon-1");
  assert.equal(s.endpoint, "https://s3.example.com");
  assert.equal(s.forcePathStyle, false);
  const v = s3Addressing(
    s3Of({ WALE_S3_ENDPOINT: "https+virtualhost://ignored:8443" }),
    "cdn.example",
  );
  assert.equal(v.bucketEndpoint, true);
  assert.equal(v.bucketParam, "https://cdn.example:8443");
});

Deno.test("credentials: WAL-E's messages for a missing key or secret", async () => {
  await assert.rejects(
    () =>
      s3Credentials(settingsOf({ env: {}, awsAccessKeyId: "AKIA" }).s3 ?? {}, {
        connectTimeoutMs: 100,
      }),
    (e: unknown) =>
      e instanceof ConfigError &&
      e.message === "AWS Secret Key credential is required but not provided" &&
      (e.hint ?? "").includes("AWS_SECRET_ACCESS_KEY"),
  );
  await assert.rejects(
    () =>
      s3Credentials(settingsOf({ env: { AWS_SECRET_ACCESS_KEY: "s" } }).s3 ?? {}, {
        connectTimeoutMs: 100,
      }),
    (e: unknown) =>
      e instanceof ConfigError &&
      e.message === "AWS Access Key credential is required but not provided" &&
      (e.hint ?? "").includes("AWS_ACCESS_KEY_ID"),
  );
});

Deno.test("credentials: static keys with AWS_SESSION_TOKEN or WAL-E's AWS_SECURITY_TOKEN", async () => {
  assert.deepEqual(
    await s3Credentials(
      settingsOf({
        env: { AWS_SECRET_ACCESS_KEY: "s", AWS_SECURITY_TOKEN: "t1" },
        awsAccessKeyId: "k",
      }).s3 ?? {},
      { connectTimeoutMs: 100 },
    ),
    { accessKeyId: "k", secretAccessKey: "s", sessionToken: "t1" },
  );
  assert.deepEqual(
    await s3Credentials(
      settingsOf({
        env: { AWS_SECRET_ACCESS_KEY: "s", AWS_SESSION_TOKEN: "t2", AWS_SECURITY_TOKEN: "t1" },
        awsAccessKeyId: "k",
      }).s3 ?? {},
      { connectTimeoutMs: 100 },
    ),
    { accessKeyId: "k", secretAccessKey: "s", sessionToken: "t2" },
  );
  assert.deepEqual(
    await s3Credentials(
      settingsOf({ env: { AWS_SECRET_ACCESS_KEY: "s" }, awsAccessKeyId: "k" }).s3 ?? {},
      { connectTimeoutMs: 100 },
    ),
    { accessKeyId: "k", secretAccessKey: "s" },
  );
});
