import assert from "node:assert/strict";
import { runInProcess } from "../support/wal_e.ts";
import { loadWalEFixture, walEOutput } from "../support/wale_fixture.ts";

async function withFixture(fn: (prefix: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "wal-e-list-" });
  try {
    await fn(await loadWalEFixture(dir));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** WAL-E printed S3's time format; ours is the file backend's. Compare everything else. */
function maskTimes(out: string): string {
  return out.replace(/\t20\d\d-\d\d-\d\dT[0-9:.]+Z?\t/g, "\t<time>\t");
}

for (
  const [name, args] of [
    ["backup-list", []],
    ["backup-list-detail", ["--detail"]],
    ["backup-list-LATEST", ["LATEST"]],
    ["backup-list-name", ["base_000000010000000000000030_00000030"]],
    ["backup-list-badquery", ["foo"]],
  ] as const
) {
  Deno.test(`backup-list ${args.join(" ")} prints what WAL-E printed (${name})`, async () => {
    await withFixture(async (prefix) => {
      const want = await walEOutput(name);
      const r = await runInProcess(["backup-list", ...args], { WALE_FILE_PREFIX: prefix });
      assert.equal(r.code, want.rc);
      assert.equal(maskTimes(r.stdout), maskTimes(want.stdout));
      if (want.rc !== 0) {
        assert.match(
          r.stderr,
          /MSG: invalid backup query submitted\n\s+DETAIL: The submitted query operator was "foo\."/,
        );
      }
    });
  });
}

Deno.test("backup-list prints file-backend times as Python's isoformat; --json adds ISO times, LSNs, sizes and the version", async () => {
  await withFixture(async (prefix) => {
    const r = await runInProcess(["backup-list"], { WALE_FILE_PREFIX: prefix });
    assert.match(r.stdout, /\r\nbase_000000010000000000000009_00000040\t2026-11-25T01:00:55\t\t/);
    const name = "base_000000010000000000000009_00000040";
    // Without --detail: JSON carries the details all the same.
    const j = await runInProcess(["backup-list", "--json", "LATEST"], { WALE_FILE_PREFIX: prefix });
    const root = new URL(prefix).pathname;
    const dir = `${root}/basebackups_005/${name}`;
    let compressed = 0;
    for await (const e of Deno.readDir(`${dir}/tar_partitions`)) {
      compressed += (await Deno.stat(`${dir}/tar_partitions/${e.name}`)).size;
    }
    const version = (await Deno.readTextFile(`${dir}/extended_version.txt`)).split("\n")[0];
    const started = (await Deno.stat(`${dir}/extended_version.txt`)).mtime;
    const stopped = (await Deno.stat(`${root}/basebackups_005/${name}_backup_stop_sentinel.json`))
      .mtime;
    assert.deepEqual(JSON.parse(j.stdout), [{
      name,
      last_modified: stopped?.toISOString(),
      expanded_size_bytes: 39383073,
      wal_segment_backup_start: "000000010000000000000009",
      wal_segment_offset_backup_start: "00000040",
      wal_segment_backup_stop: "000000010000000000000009",
      wal_segment_offset_backup_stop: "00007504",
      // Offsets are decimal bytes (40 = 0x28, 7504 = 0x1D50).
      start_lsn: "0/9000028",
      stop_lsn: "0/9001D50",
      start_time: started?.toISOString(),
      stop_time: stopped?.toISOString(),
      compressed_size_bytes: compressed,
      pg_version: version,
    }]);
    assert.match(version ?? "", /^PostgreSQL 15\./);
    assert.ok(compressed > 1_000_000);
  });
});

Deno.test("backup-list prints a file store's sentinel time to the microsecond, as WAL-E did", async () => {
  await withFixture(async (prefix) => {
    const name = "base_000000010000000000000009_00000040";
    const sentinel = `${
      new URL(prefix).pathname
    }/basebackups_005/${name}_backup_stop_sentinel.json`;
    // Deno.utime has milliseconds only: coreutils sets the nanoseconds.
    const touch = await new Deno.Command("touch", {
      args: ["-m", "-d", "@1764032455.123456789", sentinel],
    }).output();
    assert.equal(touch.code, 0);
    const r = await runInProcess(["backup-list", name], { WALE_FILE_PREFIX: prefix });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`\\r\\n${name}\\t2025-11-25T01:00:55\\.123457\\t`));
  });
});
