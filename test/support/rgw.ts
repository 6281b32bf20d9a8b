/**
 * A real Ceph RADOS Gateway on 127.0.0.1 for the S3 tests (test/support/rgw-test-server.sh:
 * one mon, one memstore OSD, one radosgw, no cephx; ~1.5 s to start). Started once per test
 * file on first use, stopped by PID (the script's pid files) when the process unloads or
 * `stopRgw()` runs. When it cannot start, `rgw()` rejects: tests that need it fail, never skip.
 */
import { join } from "node:path";
import { CreateBucketCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { FIXTURE } from "./wale_fixture.ts";

const SCRIPT = new URL("./rgw-test-server.sh", import.meta.url).pathname;

/** A running gateway and its test user's keys. */
export interface Rgw {
  /** `http://127.0.0.1:PORT` */
  endpoint: string;
  /** WAL-E syntax: `http+path://127.0.0.1:PORT` */
  waleEndpoint: string;
  accessKey: string;
  secretKey: string;
  /** The cluster's directory (`RGW_CONF` is `dir/etc/ceph.conf`). */
  dir: string;
}

let started: Promise<Rgw> | undefined;
let runningDir: string | undefined;

/** The gateway of this test process, started on first call. */
export function rgw(): Promise<Rgw> {
  started ??= start();
  return started;
}

async function start(): Promise<Rgw> {
  const dir = await Deno.makeTempDir({ prefix: "wal-e-rgw-" });
  const out = await new Deno.Command("bash", {
    args: [SCRIPT, "start", `${dir}/cluster`],
    stdout: "piped",
    stderr: "piped",
  }).output();
  runningDir = `${dir}/cluster`;
  globalThis.addEventListener("unload", stopSync);
  const text = new TextDecoder().decode(out.stdout);
  if (out.code !== 0) {
    throw new Error(
      `cannot start Ceph RGW (run scripts/setup to install ceph-mon ceph-osd radosgw):\n` +
        `${text}\n${new TextDecoder().decode(out.stderr)}`,
    );
  }
  const env: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const i = line.indexOf("=");
    if (i > 0) env[line.slice(0, i)] = line.slice(i + 1);
  }
  return {
    endpoint: env["S3_ENDPOINT"] ?? "",
    waleEndpoint: env["WALE_S3_ENDPOINT"] ?? "",
    accessKey: env["S3_ACCESS_KEY"] ?? "",
    secretKey: env["S3_SECRET_KEY"] ?? "",
    dir: `${dir}/cluster`,
  };
}

function stopSync(): void {
  if (runningDir === undefined) return;
  const dir = runningDir;
  runningDir = undefined;
  new Deno.Command("bash", { args: [SCRIPT, "stop", dir], stdout: "null", stderr: "null" })
    .outputSync();
  try {
    Deno.removeSync(dir.replace(/\/cluster$/, ""), { recursive: true });
  } catch { /* best effort */ }
}

/**
 * Stops the gateway now (idempotent). Not needed at the end of a test file: it is stopped when
 * the file's tests unload (no "teardown" test, which would count as a pass).
 */
export function stopRgw(): Promise<void> {
  stopSync();
  started = undefined;
  return Promise.resolve();
}

/** An SDK client with the test user's keys (path-style, checksums only when required). */
export function adminClient(r: Rgw, secretKey = r.secretKey): S3Client {
  return new S3Client({
    endpoint: r.endpoint,
    region: "us-east-1",
    forcePathStyle: true,
    credentials: { accessKeyId: r.accessKey, secretAccessKey: secretKey },
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
  });
}

let counter = 0;

/** Creates a fresh bucket with a unique name. */
export async function newBucket(r: Rgw, stem = "t"): Promise<string> {
  const name = `${stem}-${Date.now().toString(36)}-${(counter++).toString(36)}-${
    Math.random().toString(36).slice(2, 8)
  }`;
  const c = adminClient(r);
  try {
    await c.send(new CreateBucketCommand({ Bucket: name }));
  } finally {
    c.destroy();
  }
  return name;
}

/** The environment that points our tool at `bucket` on this gateway. */
export function s3Env(r: Rgw, bucket: string, path = "pg"): Record<string, string> {
  return {
    WALE_S3_PREFIX: `s3://${bucket}/${path}`,
    WALE_S3_ENDPOINT: r.waleEndpoint,
    AWS_ACCESS_KEY_ID: r.accessKey,
    AWS_SECRET_ACCESS_KEY: r.secretKey,
  };
}

/**
 * Uploads the WAL-E fixture's objects (those whose key passes `keep`) to `bucket` under WAL-E's
 * key names, in objects.tsv order, a second apart after each sentinel so their modification
 * times keep WAL-E's order (LATEST).
 */
export async function putWalEFixture(
  r: Rgw,
  bucket: string,
  keep: (key: string) => boolean = () => true,
): Promise<void> {
  const c = adminClient(r);
  try {
    const tsv = await Deno.readTextFile(join(FIXTURE, "objects.tsv"));
    for (const line of tsv.trim().split("\n").slice(1)) {
      const [key, , , contentType] = line.split("\t");
      if (key === undefined || !keep(key)) continue;
      await c.send(
        new PutObjectCommand({
          Bucket: bucket,
          Key: key,
          Body: await Deno.readFile(join(FIXTURE, "objects", key)),
          ContentType: contentType,
        }),
      );
      if (key.endsWith("_backup_stop_sentinel.json")) await new Promise((r) => setTimeout(r, 1100));
    }
  } finally {
    c.destroy();
  }
}
