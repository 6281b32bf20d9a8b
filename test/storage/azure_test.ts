/**
 * The Azure Blob backend against Azurite on 127.0.0.1 (test/support/azurite.ts): the shared
 * store contract, a 256 MiB streamed object in bounded memory, aborted uploads, SAS tokens,
 * error mapping by code, and WAL-E's configuration messages.
 */
import { bigRoundTrip } from "../support/big_stream.ts";
import assert from "node:assert/strict";
import {
  ContainerSASPermissions,
  generateBlobSASQueryParameters,
  StorageSharedKeyCredential,
} from "@azure/storage-blob";
import { ConfigError, ObjectNotFoundError } from "../../src/errors.ts";
import { openWabsStore, parseWabsEndpoint, pythonDatetimeUtc } from "../../src/storage/azure.ts";
import { parsePrefix } from "../../src/storage/prefix.ts";
import {
  type Azurite,
  azurite,
  AZURITE_ACCOUNT,
  AZURITE_KEY,
  newContainer,
  wabsEnv,
} from "../support/azurite.ts";
import { runWalE } from "../support/wal_e.ts";
import { storeContract } from "./store_contract.ts";
import { settingsOf } from "../support/store_settings.ts";

function open(a: Azurite, container: string, path = "pg", env: Record<string, string> = {}) {
  return openWabsStore(
    parsePrefix(`wabs://${container}/${path}`),
    settingsOf({
      env: { WALE_WABS_ENDPOINT: a.endpoint, WABS_ACCESS_KEY: AZURITE_KEY, ...env },
      wabsAccountName: AZURITE_ACCOUNT,
    }),
  );
}

storeContract("wabs (Azurite)", async () => {
  const a = await azurite();
  return {
    store: await open(a, await newContainer(a), "contract/"),
    dispose: () => Promise.resolve(),
  };
});

Deno.test("wabs: a 256 MiB object streams up and down in bounded memory", async () => {
  const a = await azurite();
  const s = await open(a, await newContainer(a, "big"));
  try {
    await bigRoundTrip(s, 256, 128);
    await s.deleteMany(["big/object"]);
  } finally {
    await s.close();
  }
});

Deno.test("wabs: sizes around the block size round-trip; an aborted upload leaves nothing", async () => {
  const a = await azurite();
  const s = await open(a, await newContainer(a, "parts"));
  try {
    for (const size of [8 << 20, (8 << 20) + 1, (16 << 20) + 5]) {
      const whole = crypto.getRandomValues(new Uint8Array(65536));
      const data = new Uint8Array(size);
      for (let off = 0; off < size; off += whole.length) {
        data.set(whole.subarray(0, size - off), off);
      }
      await s.put(`p/${size}`, new Blob([data]).stream(), { size });
      const back = new Uint8Array(await new Response(await s.get(`p/${size}`)).arrayBuffer());
      assert.ok(back.length === size && back.every((x, i) => x === data[i]), `${size} differs`);
    }
    const ctl = new AbortController();
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(c) {
        sent += 1 << 20;
        if (sent > 20 << 20) ctl.abort(new Error("stop"));
        c.enqueue(new Uint8Array(1 << 20));
      },
    }, { highWaterMark: 0 });
    await assert.rejects(() => s.put("p/aborted", body, { signal: ctl.signal }));
    assert.equal(await s.exists("p/aborted"), false);
  } finally {
    await s.close();
  }
});

Deno.test("wabs: a SAS token works instead of the key; listing text is Python's datetime", async () => {
  const a = await azurite();
  const container = await newContainer(a, "sas");
  const sas = generateBlobSASQueryParameters({
    containerName: container,
    permissions: ContainerSASPermissions.parse("racwdl"),
    expiresOn: new Date(Date.now() + 3600_000),
  }, new StorageSharedKeyCredential(AZURITE_ACCOUNT, AZURITE_KEY)).toString();
  const s = await open(a, container, "pg", { WABS_ACCESS_KEY: "", WABS_SAS_TOKEN: `?${sas}` });
  try {
    await s.put("wal_005/x.lzo", new Blob(["x"]).stream());
    const [info] = await Array.fromAsync(s.list("wal_005/"));
    assert.match(info?.lastModifiedText ?? "", /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\+00:00$/);
    assert.equal(s.url("wal_005/x.lzo"), `wabs://${container}/pg/wal_005/x.lzo`);
  } finally {
    await s.close();
  }
  assert.equal(
    pythonDatetimeUtc(new Date(Date.UTC(2018, 6, 3, 12, 34, 56))),
    "2018-07-03 12:34:56+00:00",
  );
});

Deno.test("wabs: errors by code: wrong key, missing container, missing blob", async () => {
  const a = await azurite();
  const container = await newContainer(a, "err");
  const wrongKey = await open(a, container, "pg", { WABS_ACCESS_KEY: btoa("x".repeat(64)) });
  const noContainer = await open(a, `${container}-missing`);
  const ok = await open(a, container);
  try {
    await assert.rejects(
      () => wrongKey.put("k", new Blob(["x"]).stream()),
      (e: unknown) => e instanceof ConfigError && /WABS_ACCESS_KEY/.test(e.message),
    );
    await assert.rejects(
      () => noContainer.get("k"),
      (e: unknown) => e instanceof ConfigError && /container .* does not exist/.test(e.message),
    );
    await assert.rejects(() => Array.fromAsync(noContainer.list("")), ConfigError);
    await assert.rejects(() => ok.get("wal_005/none.lzo"), ObjectNotFoundError);
    assert.equal(await ok.exists("wal_005/none.lzo"), false);
  } finally {
    for (const s of [wrongKey, noContainer, ok]) await s.close();
  }
});

Deno.test("wabs: WAL-E's messages for a missing account or credential; endpoint syntax", async () => {
  const prefix = parsePrefix("wabs://c/pg");
  await assert.rejects(
    () => openWabsStore(prefix, settingsOf({ env: { WABS_ACCESS_KEY: "k" } })),
    (e: unknown) => e instanceof ConfigError && e.message === "WABS account name is undefined",
  );
  await assert.rejects(
    () => openWabsStore(prefix, settingsOf({ env: {}, wabsAccountName: "acct" })),
    (e: unknown) =>
      e instanceof ConfigError &&
      e.message === "WABS access credentials is required but not provided",
  );
  assert.equal(
    parseWabsEndpoint("http://127.0.0.1:10000/devstoreaccount1/"),
    "http://127.0.0.1:10000/devstoreaccount1",
  );
  for (const bad of ["ftp://x", "http://u:p@x", "http://x/?q=1", "nonsense"]) {
    assert.throws(() => parseWabsEndpoint(bad), ConfigError, bad);
  }
});

Deno.test("wabs: the tool's backup-list works with the WABS variables", async () => {
  const a = await azurite();
  const out = await runWalE(["backup-list"], wabsEnv(a, await newContainer(a, "cli")));
  assert.equal(out.code, 0, out.stderr);
});
