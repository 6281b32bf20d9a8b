/**
 * Bad cloud configuration through the real command line: each case must end with a non-zero
 * exit within 30 s and one MSG line that names what to fix (issue #9). S3 cases run against a
 * real Ceph RGW (which checks signatures), Azure cases against Azurite.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { azurite, AZURITE_KEY, newContainer, wabsEnv } from "../support/azurite.ts";
import { freePort } from "../support/postgres.ts";
import { newBucket, rgw, s3Env } from "../support/rgw.ts";
import { runWalE } from "../support/wal_e.ts";

interface Case {
  name: string;
  env: () => Promise<Record<string, string>>;
  args?: string[];
  msg: RegExp;
}

const SEGMENT = "000000010000000000000001";
let walFile: Promise<string> | undefined;

/** A WAL file to push, made on first use and removed when this file's tests unload. */
function walFileToPush(): Promise<string> {
  walFile ??= (async () => {
    const dir = await Deno.makeTempDir({ prefix: "wal-e-cfg-" });
    globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));
    await Deno.mkdir(join(dir, "pg_wal"));
    const path = join(dir, "pg_wal", SEGMENT);
    await Deno.writeFile(path, new Uint8Array(1 << 20));
    return path;
  })();
  return walFile;
}

async function check(c: Case): Promise<void> {
  const env = await c.env();
  const args = c.args ?? ["backup-list"];
  const wal = args.includes("%wal") ? await walFileToPush() : "";
  const t0 = performance.now();
  const out = await runWalE(args.map((a) => a === "%wal" ? wal : a), env);
  const ms = performance.now() - t0;
  assert.notEqual(out.code, 0, `${c.name}: exit 0\n${out.stderr}`);
  assert.ok(ms < 30_000, `${c.name}: took ${ms.toFixed(0)} ms`);
  const msgs = out.stderr.split("\n").filter((l) => l.includes("MSG: "));
  assert.ok(
    msgs.some((l) => c.msg.test(l)),
    `${c.name}: no MSG line matching ${c.msg}\n${out.stderr}`,
  );
}

const s3Cases: Case[] = [
  {
    name: "wrong secret (RGW answers 403 SignatureDoesNotMatch)",
    env: async () => {
      const r = await rgw();
      return { ...s3Env(r, await newBucket(r)), AWS_SECRET_ACCESS_KEY: "wrong-secret" };
    },
    args: ["wal-push", "%wal"],
    msg: /AWS_SECRET_ACCESS_KEY/,
  },
  {
    name: "unknown access key (403 InvalidAccessKeyId)",
    env: async () => {
      const r = await rgw();
      return { ...s3Env(r, await newBucket(r)), AWS_ACCESS_KEY_ID: "NOSUCHACCESSKEY00000" };
    },
    msg: /AWS_ACCESS_KEY_ID/,
  },
  {
    name: "missing bucket",
    env: async () => s3Env(await rgw(), "no-such-bucket-here"),
    args: ["wal-fetch", "-p0", SEGMENT, "/tmp/wal-e-never-written"],
    msg: /bucket "no-such-bucket-here" does not exist: check WALE_S3_PREFIX/,
  },
  {
    name: "endpoint down",
    env: async () => ({
      ...s3Env(await rgw(), "b"),
      WALE_S3_ENDPOINT: `http+path://127.0.0.1:${freePort()}`,
    }),
    msg: /cannot reach the S3 endpoint http:\/\/127\.0\.0\.1:\d+ after 5 attempts/,
  },
  {
    name: "endpoint down, on a read (wal-fetch)",
    env: async () => ({
      ...s3Env(await rgw(), "b"),
      WALE_S3_ENDPOINT: `http+path://127.0.0.1:${freePort()}`,
    }),
    args: ["wal-fetch", "-p0", SEGMENT, "/tmp/wal-e-never-written"],
    msg: /cannot reach the S3 endpoint http:\/\/127\.0\.0\.1:\d+ after 5 attempts/,
  },
  {
    name: "malformed endpoint (a path)",
    env: async () => ({ ...s3Env(await rgw(), "b"), WALE_S3_ENDPOINT: "http+path://h:1/x" }),
    msg: /invalid WALE_S3_ENDPOINT/,
  },
  {
    name: "malformed prefix (no bucket)",
    env: () => Promise.resolve({ WALE_S3_PREFIX: "s3:///pg", AWS_REGION: "us-east-1" }),
    msg: /names no bucket/,
  },
  {
    name: "neither region nor endpoint",
    env: () =>
      Promise.resolve({
        WALE_S3_PREFIX: "s3://b/pg",
        AWS_ACCESS_KEY_ID: "k",
        AWS_SECRET_ACCESS_KEY: "s",
      }),
    msg: /must define one of AWS_REGION or WALE_S3_ENDPOINT/,
  },
  {
    name: "key without secret",
    env: () =>
      Promise.resolve({
        WALE_S3_PREFIX: "s3://b/pg",
        AWS_REGION: "us-east-1",
        AWS_ACCESS_KEY_ID: "k",
      }),
    msg: /AWS Secret Key credential is required but not provided/,
  },
];

for (const c of s3Cases) Deno.test(`s3 config error: ${c.name}`, () => check(c));

const wabsCases: Case[] = [
  {
    name: "wrong key",
    env: async () => {
      const a = await azurite();
      return { ...wabsEnv(a, await newContainer(a)), WABS_ACCESS_KEY: btoa("k".repeat(64)) };
    },
    args: ["wal-push", "%wal"],
    msg: /WABS_ACCESS_KEY/,
  },
  {
    name: "wrong key on read",
    env: async () => {
      const a = await azurite();
      return { ...wabsEnv(a, await newContainer(a)), WABS_ACCESS_KEY: btoa("k".repeat(64)) };
    },
    msg: /WABS_ACCESS_KEY/,
  },
  {
    name: "missing container",
    env: async () => wabsEnv(await azurite(), "no-such-container"),
    msg: /container "no-such-container" does not exist: check WALE_WABS_PREFIX/,
  },
  {
    name: "endpoint down",
    env: async () => ({
      ...wabsEnv(await azurite(), "c"),
      WALE_WABS_ENDPOINT: `http://127.0.0.1:${freePort()}/devstoreaccount1`,
    }),
    msg: /cannot reach the Azure endpoint .* after 5 attempts/,
  },
  {
    name: "malformed endpoint",
    env: async () => ({ ...wabsEnv(await azurite(), "c"), WALE_WABS_ENDPOINT: "ftp://x" }),
    msg: /invalid WALE_WABS_ENDPOINT/,
  },
  {
    name: "no account name",
    env: () => Promise.resolve({ WALE_WABS_PREFIX: "wabs://c/pg", WABS_ACCESS_KEY: AZURITE_KEY }),
    msg: /WABS account name is undefined/,
  },
  {
    name: "no key or SAS token",
    env: () => Promise.resolve({ WALE_WABS_PREFIX: "wabs://c/pg", WABS_ACCOUNT_NAME: "a" }),
    msg: /WABS access credentials is required but not provided/,
  },
];

for (const c of wabsCases) Deno.test(`wabs config error: ${c.name}`, () => check(c));
