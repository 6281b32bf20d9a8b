/**
 * resolveConfig (src/cli/config.ts): the environment resolved once, through the configuration
 * table, into typed settings per backend; flags win over variables; backend-only values are
 * handed over as written (checked when that backend opens), shared ones are checked at once.
 */
import assert from "node:assert/strict";
import { resolveConfig } from "../../src/cli/config.ts";
import { ConfigError, UsageError } from "../../src/errors.ts";

Deno.test("resolveConfig: typed settings per backend, flags before variables", () => {
  const c = resolveConfig({ awsAccessKeyId: "AKFLAG", wabsAccountName: "acct" }, {
    WALE_S3_PREFIX: "s3://b/p",
    AWS_ACCESS_KEY_ID: "AKENV",
    AWS_SECRET_ACCESS_KEY: "secret",
    AWS_SECURITY_TOKEN: " tok ",
    WALE_S3_SSE: "off",
    WABS_SAS_TOKEN: "?sv=1",
    SWIFT_AUTH_VERSION: "3",
    SWIFT_TEST_MAX_FILE_SIZE: "100",
    WALE_RETRIES: "0",
    WALE_REQUEST_TIMEOUT: "2.5",
    WALE_GPG_KEY_ID: "KEY",
    WALE_GPG_PASSPHRASE: "pp",
  });
  assert.equal(c.prefixUrl, "s3://b/p");
  assert.equal(c.prefixSource, "WALE_S3_PREFIX");
  assert.deepEqual(c.store.retry, { retries: 0, requestTimeout: "2.5" });
  assert.equal(c.store.s3?.accessKeyId, "AKFLAG");
  assert.equal(c.store.s3?.secretAccessKey, "secret");
  assert.equal(c.store.s3?.sessionToken, "tok");
  assert.equal(c.store.s3?.sse, "off");
  assert.equal(c.store.s3?.instanceProfile, false);
  assert.deepEqual(c.store.wabs, {
    accountName: "acct",
    accessKey: undefined,
    sasToken: "?sv=1",
    endpoint: undefined,
  });
  assert.equal(c.store.swift?.authVersion, "3");
  assert.equal(c.store.swift?.testMaxFileSize, "100");
  assert.deepEqual(c.gpg, {
    keyId: "KEY",
    publicKeyFile: undefined,
    secretKeyFile: undefined,
    passphrase: "pp",
  });
  // No raw environment travels with the store settings.
  assert.ok(!JSON.stringify(c.store).includes("WALE_"));
});

Deno.test("resolveConfig: shared values are checked at once, backend ones when used", () => {
  assert.throws(() => resolveConfig({}, { WALE_RETRIES: "many" }), ConfigError);
  assert.throws(() => resolveConfig({}, { WALE_WAL_OVERWRITE: "maybe" }), ConfigError);
  assert.throws(() => resolveConfig({}, { WALE_LOG_DESTINATION: "" }), ConfigError);
  assert.throws(
    () => resolveConfig({ awsAccessKeyId: "k" }, { AWS_INSTANCE_PROFILE: "1" }),
    UsageError,
  );
  // A bad S3-only value does not stop a file:// store.
  const c = resolveConfig({ filePrefix: "file:///tmp/x" }, { WALE_S3_SSE: "rot13" });
  assert.equal(c.prefixSource, "--file-prefix");
  assert.equal(c.store.s3?.sse, "rot13");
});

Deno.test("resolveConfig: WALE_LOG_DESTINATION naming syslog is reported with its text", () => {
  assert.equal(resolveConfig({}, {}).syslogRequested, undefined);
  assert.equal(resolveConfig({}, {}).logToStderr, true);
  const c = resolveConfig({}, { WALE_LOG_DESTINATION: "syslog" });
  assert.equal(c.syslogRequested, "syslog");
  assert.equal(c.logToStderr, false);
});
