/**
 * A real OpenStack Swift on 127.0.0.1 for the Swift tests (test/support/swift-test-server.sh:
 * Debian's python3-swift, one node, tempauth and memcached, ~2 s to start; `keystone: true`
 * adds Keystone 22 with two Keystone-auth proxies and a v2.0 shim, ~12 s). Started once per
 * test file on first use, stopped by PID (the script's pid files) at unload or `stopSwift()`.
 * When it cannot start, `swift()` rejects: tests that need it fail, never skip.
 */

const SCRIPT = new URL("./swift-test-server.sh", import.meta.url).pathname;

/** How to start the server. */
export interface SwiftServerOptions {
  keystone?: boolean;
  /** `SWIFT_TEST_MAX_FILE_SIZE` of the server (bytes). */
  maxFileSize?: number;
  /** `SWIFT_TEST_LISTING_LIMIT` of the server (objects per listing page). */
  listingLimit?: number;
  /** `SWIFT_TEST_TOKEN_LIFE` of the server (tempauth token lifetime, seconds). */
  tokenLife?: number;
  /** `SWIFT_TEST_MAX_MANIFEST_SEGMENTS` of the server (entries per SLO manifest). */
  maxManifestSegments?: number;
}

/** A running server: the KEY=VALUE lines the script printed (SWIFT_AUTHURL, ...). */
export interface SwiftServer {
  env: Record<string, string>;
  dir: string;
}

let started: Promise<SwiftServer> | undefined;
let runningDir: string | undefined;

/** The server of this test process, started on first call (options of the first call win). */
export function swift(options: SwiftServerOptions = {}): Promise<SwiftServer> {
  started ??= start(options);
  return started;
}

async function start(o: SwiftServerOptions): Promise<SwiftServer> {
  const tmp = await Deno.makeTempDir({ prefix: "wal-e-swift-" });
  const dir = `${tmp}/sw`;
  const env: Record<string, string> = {};
  if (o.maxFileSize !== undefined) env["SWIFT_TEST_MAX_FILE_SIZE"] = String(o.maxFileSize);
  if (o.listingLimit !== undefined) env["SWIFT_TEST_LISTING_LIMIT"] = String(o.listingLimit);
  if (o.tokenLife !== undefined) env["SWIFT_TEST_TOKEN_LIFE"] = String(o.tokenLife);
  if (o.maxManifestSegments !== undefined) {
    env["SWIFT_TEST_MAX_MANIFEST_SEGMENTS"] = String(o.maxManifestSegments);
  }
  runningDir = dir;
  globalThis.addEventListener("unload", stopSync);
  const out = await new Deno.Command("bash", {
    args: [SCRIPT, "start", dir, ...(o.keystone === true ? ["--keystone"] : [])],
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  if (out.code !== 0) {
    throw new Error(
      `cannot start Swift (run scripts/setup to install python3-swift memcached` +
        `${o.keystone === true ? " python3-keystone python3-keystonemiddleware" : ""}):\n` +
        `${text}\n${new TextDecoder().decode(out.stderr)}`,
    );
  }
  const vars: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const i = line.indexOf("=");
    if (i > 0) vars[line.slice(0, i)] = line.slice(i + 1);
  }
  return { env: vars, dir };
}

function stopSync(): void {
  if (runningDir === undefined) return;
  const dir = runningDir;
  runningDir = undefined;
  new Deno.Command("bash", { args: [SCRIPT, "stop", dir], stdout: "null", stderr: "null" })
    .outputSync();
  try {
    Deno.removeSync(dir.replace(/\/sw$/, ""), { recursive: true });
  } catch { /* best effort */ }
}

/**
 * Stops the server now (idempotent). Not needed at the end of a test file: it is stopped when
 * the file's tests unload (no "teardown" test, which would count as a pass).
 */
export function stopSwift(): Promise<void> {
  stopSync();
  started = undefined;
  return Promise.resolve();
}

/** The tempauth (v1) environment for our tool. */
export function tempauthEnv(s: SwiftServer): Record<string, string> {
  return {
    SWIFT_AUTHURL: s.env["SWIFT_AUTHURL"] ?? "",
    SWIFT_USER: s.env["SWIFT_USER"] ?? "",
    SWIFT_PASSWORD: s.env["SWIFT_PASSWORD"] ?? "",
    SWIFT_AUTH_VERSION: "1",
  };
}

/** A v1 token and storage URL, for test set-up requests. */
export async function adminSession(s: SwiftServer): Promise<{ url: string; token: string }> {
  const res = await fetch(s.env["SWIFT_AUTHURL"] ?? "", {
    headers: {
      "X-Auth-User": s.env["SWIFT_USER"] ?? "",
      "X-Auth-Key": s.env["SWIFT_PASSWORD"] ?? "",
    },
  });
  await res.body?.cancel();
  if (!res.ok) throw new Error(`tempauth failed: HTTP ${res.status}`);
  return {
    url: res.headers.get("x-storage-url") ?? "",
    token: res.headers.get("x-auth-token") ?? "",
  };
}

let counter = 0;

/** Creates a fresh container (unique name) in the account at `url` with `token`. */
export async function newContainer(
  session: { url: string; token: string },
  stem = "t",
): Promise<string> {
  const name = `${stem}-${Date.now().toString(36)}-${(counter++).toString(36)}-${
    Math.random().toString(36).slice(2, 8)
  }`;
  const res = await fetch(`${session.url}/${name}`, {
    method: "PUT",
    headers: { "X-Auth-Token": session.token },
  });
  await res.body?.cancel();
  if (res.status !== 201 && res.status !== 202) {
    throw new Error(`cannot create container ${name}: HTTP ${res.status}`);
  }
  return name;
}

/** Physical object names in `container` (raw listing, all pages), for assertions. */
export async function rawNames(
  session: { url: string; token: string },
  container: string,
  prefix = "",
): Promise<string[]> {
  const names: string[] = [];
  let marker = "";
  for (;;) {
    const q = new URLSearchParams({ format: "json", prefix, marker });
    const res = await fetch(`${session.url}/${container}?${q}`, {
      headers: { "X-Auth-Token": session.token },
    });
    const page = res.status === 204 ? [] : await res.json() as { name: string }[];
    if (res.status === 204) await res.body?.cancel();
    if (page.length === 0) return names;
    names.push(...page.map((p) => p.name));
    marker = page[page.length - 1]?.name ?? "";
  }
}
