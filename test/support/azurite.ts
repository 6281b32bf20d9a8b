/**
 * Azurite (the Azure Storage emulator, npm `azurite` 3.37.0, installed outside the repository
 * by scripts/setup) serving blobs on 127.0.0.1 for the WABS tests. Started once per test file
 * on first use; stopped by signalling the child's PID. When it cannot start, `azurite()`
 * rejects: tests that need it fail, never skip. Flags per TOOLCHAIN.md: without
 * `--skipApiVersionCheck` every SDK call fails; without `--disableTelemetry` the first
 * SIGTERM is ignored.
 */
import { BlobServiceClient, StorageSharedKeyCredential } from "@azure/storage-blob";
import { freePort } from "./postgres.ts";

/** Azurite's well-known development account. */
export const AZURITE_ACCOUNT = "devstoreaccount1";
/** Azurite's well-known development key (public, documented by Microsoft). */
export const AZURITE_KEY =
  "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/** A running emulator. */
export interface Azurite {
  /** Blob service URL, `http://127.0.0.1:PORT/devstoreaccount1`. */
  endpoint: string;
  port: number;
}

let started: Promise<Azurite> | undefined;
let child: Deno.ChildProcess | undefined;
let dataDir: string | undefined;

/** The emulator of this test process, started on first call. */
export function azurite(): Promise<Azurite> {
  started ??= start();
  return started;
}

function findBinary(): string {
  for (
    const dir of (Deno.env.get("PATH") ?? "").split(":").concat(["/usr/bin", "/usr/local/bin"])
  ) {
    try {
      const p = `${dir}/azurite-blob`;
      if (Deno.statSync(p).isFile) return p;
    } catch { /* next */ }
  }
  throw new Error("azurite-blob not found: run scripts/setup (npm install -g azurite@3.37.0)");
}

async function start(): Promise<Azurite> {
  const bin = findBinary();
  dataDir = await Deno.makeTempDir({ prefix: "wal-e-azurite-" });
  const port = freePort();
  child = new Deno.Command(bin, {
    args: [
      "--blobHost",
      "127.0.0.1",
      "--blobPort",
      String(port),
      "--location",
      dataDir,
      "--skipApiVersionCheck",
      "--loose",
      "--silent",
      "--disableTelemetry",
    ],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  globalThis.addEventListener("unload", stopSync);
  const endpoint = `http://127.0.0.1:${port}/${AZURITE_ACCOUNT}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      const c = await Deno.connect({ hostname: "127.0.0.1", port });
      c.close();
      return { endpoint, port };
    } catch {
      if (Date.now() > deadline) {
        stopSync();
        throw new Error(`azurite-blob did not listen on 127.0.0.1:${port} within 30 s`);
      }
      const status = await Promise.race([
        child.status,
        new Promise<undefined>((r) => setTimeout(() => r(undefined), 100)),
      ]);
      if (status !== undefined) {
        const err = child === undefined ? "" : await new Response(child.stderr).text();
        child = undefined;
        throw new Error(`azurite-blob exited with ${status.code}: ${err}`);
      }
    }
  }
}

function stopSync(): void {
  if (child !== undefined) {
    try {
      child.kill("SIGTERM");
    } catch { /* already gone */ }
    child.stderr.cancel().catch(() => {});
    child = undefined;
  }
  if (dataDir !== undefined) {
    try {
      Deno.removeSync(dataDir, { recursive: true });
    } catch { /* best effort */ }
    dataDir = undefined;
  }
}

/** Stops the emulator (idempotent); register as the last test of a file. */
export async function stopAzurite(): Promise<void> {
  const c = child;
  stopSync();
  started = undefined;
  if (c !== undefined) await c.status;
}

let counter = 0;

/** Creates a fresh container with a unique name. */
export async function newContainer(a: Azurite, stem = "t"): Promise<string> {
  const name = `${stem}-${Date.now().toString(36)}-${(counter++).toString(36)}-${
    Math.random().toString(36).slice(2, 8)
  }`;
  const service = new BlobServiceClient(
    a.endpoint,
    new StorageSharedKeyCredential(AZURITE_ACCOUNT, AZURITE_KEY),
  );
  await service.getContainerClient(name).create();
  return name;
}

/** The environment that points our tool at `container` on this emulator. */
export function wabsEnv(a: Azurite, container: string, path = "pg"): Record<string, string> {
  return {
    WALE_WABS_PREFIX: `wabs://${container}/${path}`,
    WALE_WABS_ENDPOINT: a.endpoint,
    WABS_ACCOUNT_NAME: AZURITE_ACCOUNT,
    WABS_ACCESS_KEY: AZURITE_KEY,
  };
}
