/** backup-fetch called directly with a memory store: selection errors and crafted archives. */
import assert from "node:assert/strict";
import { join } from "node:path";
import { pack as tarPack } from "tar-stream";
import { partitionKey, sentinelKey } from "../../src/archive/keys.ts";
import { uploadCompressed, uploadPlain } from "../../src/archive/pipeline.ts";
import { serializeSentinel } from "../../src/archive/sentinel.ts";
import { backupFetch, type BackupFetchInput } from "../../src/commands/backup_fetch.ts";
import type { CommandDeps } from "../../src/commands/context.ts";
import { CorruptArchiveError, UserError } from "../../src/errors.ts";
import { Logger } from "../../src/log.ts";
import { MemoryStore } from "../../src/storage/memory.ts";

const NAME = "base_000000010000000000000002_00000040";

function deps(store: MemoryStore, logs: string[]): CommandDeps {
  return {
    store,
    log: new Logger("test", { sink: (t) => logs.push(t) }),
    encoding: {},
    stdout: () => {},
    env: {},
  };
}

function input(dir: string, extra: Partial<BackupFetchInput> = {}): BackupFetchInput {
  return {
    clusterDirectory: dir,
    backupName: "LATEST",
    poolSize: 2,
    blindRestore: false,
    restoreSpec: undefined,
    ...extra,
  };
}

async function storeWith(
  members: { name: string; type?: "file" | "symlink"; linkname?: string }[],
): Promise<MemoryStore> {
  const store = new MemoryStore();
  const p = tarPack();
  for (const m of members) {
    if (m.type === "symlink") {
      p.entry({ name: m.name, type: "symlink", linkname: m.linkname ?? "" });
    } else p.entry({ name: m.name, mode: 0o600 }, "data");
  }
  p.finalize();
  await uploadCompressed(
    store,
    partitionKey(NAME, 0),
    ReadableStream.from(p as AsyncIterable<Uint8Array>),
    { encoding: {} },
  );
  await uploadPlain(
    store,
    sentinelKey(NAME),
    serializeSentinel({
      wal_segment_backup_stop: "000000010000000000000002",
      wal_segment_offset_backup_stop: "00000248",
      expanded_size_bytes: 4,
      spec: { base_prefix: "/src/", tablespaces: [] },
    }),
    "application/json",
  );
  return store;
}

Deno.test("backupFetch reports WAL-E's message when no backup matches", async () => {
  const tmp = await Deno.makeTempDir();
  try {
    const err = await backupFetch(
      input(join(tmp, "d"), { backupName: "base_000000010000000000000077_00000040" }),
      deps(new MemoryStore(), []),
    ).catch((e: unknown) => e);
    assert.ok(err instanceof UserError);
    assert.equal(err.message, "no backups found for fetching");
    assert.equal(
      err.detail,
      "No backup matching the query base_000000010000000000000077_00000040 was able to be located.",
    );
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("backupFetch refuses a live data directory", async () => {
  const tmp = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(join(tmp, "postmaster.pid"), "1\n");
    await assert.rejects(
      backupFetch(input(tmp), deps(new MemoryStore(), [])),
      (e: unknown) =>
        e instanceof UserError && e.message === "attempting to overwrite a live data directory",
    );
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

for (
  const [label, members] of [
    ["a ../ entry", [{ name: "ok" }, { name: "../escaped" }]],
    ["an absolute path", [{ name: "OUT/escaped" }]],
    ["a symlink escape", [{ name: "l", type: "symlink", linkname: "OUT" }, { name: "l/escaped" }]],
  ] as [string, { name: string; type?: "file" | "symlink"; linkname?: string }[]][]
) {
  Deno.test(`backupFetch refuses a crafted archive with ${label}`, async () => {
    const tmp = await Deno.makeTempDir();
    try {
      const out = join(tmp, "outside");
      await Deno.mkdir(out);
      const store = await storeWith(members.map((m) => ({
        ...m,
        name: m.name.replace("OUT", out),
        ...(m.linkname === undefined ? {} : { linkname: m.linkname.replace("OUT", out) }),
      })));
      await assert.rejects(
        backupFetch(input(join(tmp, "d")), deps(store, [])),
        CorruptArchiveError,
      );
      assert.deepEqual([...Deno.readDirSync(out)], []);
      // The target this run created is removed again with what was written into it.
      assert.deepEqual([...Deno.readDirSync(tmp)].map((e) => e.name).sort(), ["outside"]);
    } finally {
      await Deno.remove(tmp, { recursive: true });
    }
  });
}
