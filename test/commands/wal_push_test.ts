import assert from "node:assert/strict";
import { join } from "node:path";
import { openDecompressed } from "../../src/archive/pipeline.ts";
import type { CommandDeps } from "../../src/commands/context.ts";
import { readySegments, walPush } from "../../src/commands/wal_push.ts";
import { UserError } from "../../src/errors.ts";
import { Logger } from "../../src/log.ts";
import { MemoryStore } from "../../src/storage/memory.ts";

function deps(store: MemoryStore, lines: string[]): CommandDeps {
  return {
    store,
    log: new Logger("wal_e.main", { sink: (t) => lines.push(t) }),
    encoding: {},
    stdout: () => {},
    env: {},
  };
}

async function walDir(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "wal-e-push-" });
  await Deno.mkdir(join(dir, "pg_wal", "archive_status"), { recursive: true });
  return dir;
}

async function segment(dir: string, name: string, ready: boolean): Promise<Uint8Array> {
  const data = new Uint8Array(64 * 1024).map((_, i) => (i * 7 + name.charCodeAt(23)) & 0xff);
  await Deno.writeFile(join(dir, "pg_wal", name), data);
  if (ready) await Deno.writeTextFile(join(dir, "pg_wal", "archive_status", `${name}.ready`), "");
  return data;
}

async function stored(store: MemoryStore, name: string): Promise<Uint8Array> {
  const s = await openDecompressed(store, `wal_005/${name}.lzo`, { encoding: {} });
  return new Uint8Array(await new Response(s).arrayBuffer());
}

Deno.test("wal-push stores the explicit file and pooled .ready segments, marking only pooled ones done", async () => {
  const dir = await walDir();
  try {
    const a = await segment(dir, "000000010000000000000001", true);
    const b = await segment(dir, "000000010000000000000002", true);
    const c = await segment(dir, "000000010000000000000003", true);
    await Deno.writeTextFile(join(dir, "pg_wal", "archive_status", "00000002.history.ready"), "");
    const store = new MemoryStore();
    const lines: string[] = [];
    const code = await walPush({
      segmentPath: join(dir, "pg_wal", "000000010000000000000001"),
      poolSize: 8,
    }, deps(store, lines));
    assert.equal(code, 0);
    assert.deepEqual(await stored(store, "000000010000000000000001"), a);
    assert.deepEqual(await stored(store, "000000010000000000000002"), b);
    assert.deepEqual(await stored(store, "000000010000000000000003"), c);
    const status = (await Array.fromAsync(Deno.readDir(join(dir, "pg_wal", "archive_status")))).map(
      (e) => e.name,
    ).sort();
    assert.deepEqual(status, [
      "000000010000000000000001.ready",
      "000000010000000000000002.done",
      "000000010000000000000003.done",
      "00000002.history.ready",
    ]);
    assert.equal(lines.filter((l) => l.includes("MSG: completed archiving to a file")).length, 3);
    assert.match(
      lines.join(""),
      /action=push-wal key=memory:\/\/store\/wal_005\/000000010000000000000001\.lzo prefix= rate=\d+ seg=000000010000000000000001 state=complete/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("wal-push with -p1 uploads only the explicit file, though other segments are ready", async () => {
  const dir = await walDir();
  try {
    const a = await segment(dir, "000000010000000000000001", true);
    await segment(dir, "000000010000000000000002", true);
    const store = new MemoryStore();
    assert.equal(
      await walPush(
        { segmentPath: join(dir, "pg_wal", "000000010000000000000001"), poolSize: 1 },
        deps(store, []),
      ),
      0,
    );
    assert.deepEqual(await stored(store, "000000010000000000000001"), a);
    assert.deepEqual((await Array.fromAsync(store.list(""))).map((o) => o.key), [
      "wal_005/000000010000000000000001.lzo",
    ]);
    // The other segment keeps its .ready: PostgreSQL will ask for it.
    assert.ok(
      await Deno.stat(join(dir, "pg_wal/archive_status/000000010000000000000002.ready")).then(
        () => true,
        () => false,
      ),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("wal-push with the default pool: a missing archive_status is no error", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeFile(join(dir, "000000010000000000000009"), new Uint8Array([1, 2, 3]));
    const store = new MemoryStore();
    assert.equal(
      await walPush(
        { segmentPath: join(dir, "000000010000000000000009"), poolSize: 32 },
        deps(store, []),
      ),
      0,
    );
    assert.deepEqual(await stored(store, "000000010000000000000009"), new Uint8Array([1, 2, 3]));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("wal-push of a missing file is a user error and leaves .ready files alone", async () => {
  const dir = await walDir();
  try {
    await segment(dir, "000000010000000000000002", true);
    const store = new MemoryStore();
    await assert.rejects(
      () =>
        walPush(
          { segmentPath: join(dir, "pg_wal", "000000010000000000000001"), poolSize: 8 },
          deps(store, []),
        ),
      (e: unknown) => e instanceof UserError && e.message === "could not find file for wal-push",
    );
    assert.deepEqual(await Array.fromAsync(store.list("")), []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a pooled segment whose file vanished is skipped and keeps its .ready", async () => {
  const dir = await walDir();
  try {
    await segment(dir, "000000010000000000000001", true);
    await Deno.writeTextFile(
      join(dir, "pg_wal", "archive_status", "000000010000000000000002.ready"),
      "",
    );
    const lines: string[] = [];
    const store = new MemoryStore();
    await walPush(
      { segmentPath: join(dir, "pg_wal", "000000010000000000000001"), poolSize: 4 },
      deps(store, lines),
    );
    assert.match(lines.join(""), /MSG: skip parallel archiving of a file/);
    assert.deepEqual(readySegments(join(dir, "pg_wal"), "x", 10), [
      "000000010000000000000001",
      "000000010000000000000002",
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("history, backup history and partial files are pushed and fetched under their own names", async () => {
  const dir = await walDir();
  try {
    const store = new MemoryStore();
    for (
      const name of [
        "00000002.history",
        "000000010000000000000002.00000028.backup",
        "000000010000000000000003.partial",
      ]
    ) {
      const data = new TextEncoder().encode(`contents of ${name}`);
      await Deno.writeFile(join(dir, "pg_wal", name), data);
      await Deno.writeTextFile(join(dir, "pg_wal", "archive_status", `${name}.ready`), "");
      assert.equal(
        await walPush({ segmentPath: join(dir, "pg_wal", name), poolSize: 32 }, deps(store, [])),
        0,
      );
      assert.deepEqual(await stored(store, name), data);
    }
    // Never picked up by the pool: only 24-hex segment names are.
    assert.deepEqual(readySegments(join(dir, "pg_wal"), "x", 32), []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
