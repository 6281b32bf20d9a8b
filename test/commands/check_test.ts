/**
 * check's parts without a server: the store probe (every step, and the probe deleted even when a
 * step fails) and the verdicts on pg_stat_archiver readings.
 */
import assert from "node:assert/strict";
import { PROBE_DIR, probeStore } from "../../src/commands/check/store_probe.ts";
import { judge } from "../../src/commands/check/postgres_findings.ts";
import { findingLine } from "../../src/commands/check/finding.ts";
import type { ArchiverStatus } from "../../src/pg/archiver_status.ts";
import { StoreError } from "../../src/errors.ts";
import { MemoryStore } from "../../src/storage/memory.ts";

async function keys(store: MemoryStore): Promise<string[]> {
  return (await Array.fromAsync(store.list(""))).map((o) => o.key);
}

Deno.test("check probe: write, read back, list and delete pass and leave nothing behind", async () => {
  const store = new MemoryStore("pg/");
  const lines = (await probeStore(store)).map(findingLine);
  assert.match(
    lines[0] ?? "",
    /^OK store: write: memory:\/\/store\/pg\/wal-e-check\/probe-[0-9a-f]{16}\n$/,
  );
  assert.deepEqual(lines.slice(1), [
    "OK store: read back\n",
    "OK store: list\n",
    "OK store: delete\n",
  ]);
  assert.deepEqual(await keys(store), []);
});

Deno.test("check probe: bytes that do not read back fail, and the probe is still deleted", async () => {
  class Garbling extends MemoryStore {
    override get(): Promise<ReadableStream<Uint8Array>> {
      return Promise.resolve(ReadableStream.from([new Uint8Array(1024)]));
    }
    override deleteMany(): Promise<void> {
      return Promise.reject(new StoreError("delete refused"));
    }
  }
  const store = new Garbling();
  const findings = await probeStore(store);
  assert.deepEqual(findings.map((f) => `${f.status} ${f.text.split(":")[0]}`), [
    "OK write",
    "FAIL read back",
    "OK list",
    "FAIL delete",
  ]);
  // deleteMany refused twice (the step and the clean-up): the probe stays, and only it.
  assert.ok((await keys(store)).every((k) => k.startsWith(PROBE_DIR)));
  // A delete step that fails once: the clean-up afterwards still removes the probe.
  const flaky = new (class extends MemoryStore {
    deletes = 0;
    override deleteMany(k: readonly string[]): Promise<void> {
      return this.deletes++ === 0 ? Promise.reject(new StoreError("busy")) : super.deleteMany(k);
    }
  })();
  assert.equal((await probeStore(flaky)).at(-1)?.status, "FAIL");
  assert.deepEqual(await keys(flaky), [], "the probe is deleted after a failed delete step");
});

Deno.test("check probe: a refused write fails, and the later steps do not pretend", async () => {
  const store = new (class extends MemoryStore {
    override put(): Promise<void> {
      return Promise.reject(new StoreError("access denied", { detail: "403 from the server." }));
    }
  })();
  const lines = (await probeStore(store)).map(findingLine);
  assert.deepEqual(lines, [
    "FAIL store: write: access denied: 403 from the server.\n",
    "OK store: list\n",
  ]);
});

const HEALTHY: ArchiverStatus = {
  server: '127.0.0.1:5432 as "postgres"',
  serverVersion: "PostgreSQL 15",
  inRecovery: false,
  archiveMode: "on",
  archiveCommand: "envdir /etc/wal-e.d/env wal-e wal-push %p",
  archiveLibrary: "",
  archivedCount: 10,
  failedCount: 0,
  lastArchivedWal: "000000010000000000000009",
  lastArchivedTime: "2026-01-01T00:00:00+00:00",
  lastFailedWal: null,
  lastFailedTime: null,
  failingNow: false,
};

function statuses(s: Partial<ArchiverStatus>): string[] {
  return judge({ ...HEALTHY, ...s }).map((f) => `${f.status} ${f.text.split(":")[0]}`);
}

Deno.test("check postgres verdicts: archive_mode, archive_library, archive_command, archiver", () => {
  assert.deepEqual(statuses({}), ["OK archive_mode", "OK archive_command", "OK archiver"]);
  assert.deepEqual(statuses({ archiveMode: "off" })[0], "FAIL archive_mode");
  assert.deepEqual(statuses({ inRecovery: true })[0], "WARN archive_mode");
  assert.deepEqual(statuses({ inRecovery: true, archiveMode: "always" })[0], "OK archive_mode");
  assert.ok(statuses({ archiveLibrary: "basic_archive" }).includes("FAIL archive_library"));
  assert.deepEqual(statuses({ archiveCommand: "cp %p /mnt/%f" })[1], "FAIL archive_command");
  assert.deepEqual(
    statuses({ archiveCommand: "wal-e wal-push pg_wal" })[1],
    "FAIL archive_command",
  );
  assert.deepEqual(statuses({ failingNow: true, failedCount: 3 })[2], "FAIL archiver");
  assert.deepEqual(statuses({ archivedCount: 0, lastArchivedWal: null })[2], "WARN archiver");
  // Failures that a later success followed are history, not a failure.
  assert.deepEqual(
    statuses({ failedCount: 2, lastFailedTime: "2025-12-31T00:00:00+00:00" })[2],
    "OK archiver",
  );
});
