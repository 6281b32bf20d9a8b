/**
 * The manifest recorder as backup-push drives it: sizes and CRC-32s of what went into the tar,
 * pages checked across chunk boundaries, a page that fails once but reads back whole (torn
 * while being written) not reported, one that fails twice reported as a WARNING naming file and
 * block, pages newer than the backup's start skipped, and no page checks without checksums.
 */
import assert from "node:assert/strict";
import { crc32 } from "node:zlib";
import { join } from "node:path";
import { ManifestRecorder } from "../../src/commands/backup_push/manifest.ts";
import type { TarMember } from "../../src/archive/tar_partition.ts";
import { Logger } from "../../src/log.ts";
import { PAGE_SIZE, pageChecksum } from "../../src/pg/page_checksum.ts";

/** A valid page of block `block` whose LSN is `lsn`. */
function page(block: number, lsn: bigint, fill: number): Uint8Array {
  const p = new Uint8Array(PAGE_SIZE);
  const dv = new DataView(p.buffer);
  dv.setUint32(0, Number(lsn >> 32n), true);
  dv.setUint32(4, Number(lsn & 0xFFFFFFFFn), true);
  dv.setUint16(12, 40, true); // pd_lower
  dv.setUint16(14, 8000, true); // pd_upper
  p.fill(fill, 8000);
  dv.setUint16(8, pageChecksum(p, block), true);
  return p;
}

function member(name: string, path: string, size: number): TarMember {
  return {
    name,
    type: "file",
    path,
    size,
    mode: 0o600,
    mtime: new Date(0),
    uid: 0,
    gid: 0,
    uname: "",
    gname: "",
  };
}

function recorder(dataChecksums: boolean | undefined): { r: ManifestRecorder; log: string[] } {
  const log: string[] = [];
  const r = new ManifestRecorder({
    backupName: "base_000000010000000000000002_00000040",
    startLsn: 0x2000028n,
    online: true,
    dataChecksums,
    log: new Logger("wal_e.worker.upload", { sink: (t) => log.push(t) }),
  });
  return { r, log };
}

/** Feeds `bytes` to the recorder in chunks of `chunk` bytes, as the tar writer would. */
async function feed(
  r: ManifestRecorder,
  m: TarMember,
  bytes: Uint8Array,
  chunk: number,
): Promise<void> {
  const tap = r.file(m, 3);
  for (let at = 0; at < bytes.length; at += chunk) {
    await tap.data(bytes.subarray(at, Math.min(at + chunk, bytes.length)), at);
  }
  tap.end();
}

Deno.test("manifest recorder: size and CRC-32 per file, pages checked across chunk boundaries", async () => {
  const dir = await Deno.makeTempDir();
  try {
    // Segment 1 of a relation: its pages are blocks 131072 + i.
    const pages = [0, 1, 2].map((i) => page(131_072 + i, 0x1000000n, 7 + i));
    const bytes = new Uint8Array(3 * PAGE_SIZE);
    pages.forEach((p, i) => bytes.set(p, i * PAGE_SIZE));
    const path = join(dir, "16384.1");
    await Deno.writeFile(path, bytes);
    const { r, log } = recorder(true);
    await feed(r, member("base/5/16384.1", path, bytes.length), bytes, 5000);
    await feed(r, member("PG_VERSION", join(dir, "v"), 3), new TextEncoder().encode("15\n"), 2);
    const m = r.manifest(4, new Date("2026-12-05T12:00:00Z"));
    assert.deepEqual(m.files, [
      {
        path: "base/5/16384.1",
        partition: 3,
        size: bytes.length,
        crc32: (crc32(bytes) >>> 0).toString(16).padStart(8, "0"),
      },
      { path: "PG_VERSION", partition: 3, size: 3, crc32: "980c7d1d" },
    ]);
    assert.equal(m.page_checks.pages_verified, 3);
    assert.deepEqual(m.page_checks.corrupt_pages, []);
    assert.equal(m.partition_count, 4);
    assert.equal(m.created_at, "2026-12-05T12:00:00.000Z");
    assert.equal(m.start_lsn, "0/2000028");
    assert.deepEqual(log, []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("manifest recorder: a page torn once is read again; corrupt twice is a WARNING naming file and block", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const good = page(1, 0x1000000n, 9);
    const bytes = new Uint8Array(2 * PAGE_SIZE);
    bytes.set(page(0, 0x1000000n, 8), 0);
    bytes.set(good, PAGE_SIZE);
    const path = join(dir, "16384");
    await Deno.writeFile(path, bytes);
    const torn = bytes.slice();
    torn[PAGE_SIZE + 8100]! ^= 0xFF;

    // The file on disk is whole again: a torn read, not reported.
    let { r, log } = recorder(true);
    await feed(r, member("base/5/16384", path, bytes.length), torn, 1 << 20);
    assert.deepEqual(r.manifest(1).page_checks.corrupt_pages, []);
    assert.equal(r.manifest(1).page_checks.pages_verified, 2);
    assert.deepEqual(log, []);

    // Damaged on disk too: reported once, with the block number.
    await Deno.writeFile(path, torn);
    ({ r, log } = recorder(true));
    await feed(r, member("base/5/16384", path, bytes.length), torn, 1 << 20);
    const corrupt = r.manifest(1).page_checks.corrupt_pages;
    assert.equal(corrupt.length, 1);
    assert.equal(corrupt[0]?.path, "base/5/16384");
    assert.equal(corrupt[0]?.block, 1);
    assert.equal(corrupt[0]?.partition, 3);
    assert.equal(corrupt[0]?.stored, pageChecksum(good, 1));
    assert.notEqual(corrupt[0]?.calculated, corrupt[0]?.stored);
    assert.equal(log.length, 1);
    assert.match(
      log[0] ?? "",
      /WARNING +MSG: page checksum verification failed\n +DETAIL: File "base\/5\/16384", block 1: calculated checksum [0-9A-F]{4} but the page has [0-9A-F]{4} \(read twice\)\./,
    );

    // A page newer than the backup's start is skipped; without checksums nothing is checked.
    const newer = page(0, 0x3000000n, 1);
    newer[8100]! ^= 1;
    ({ r, log } = recorder(true));
    await feed(r, member("base/5/16385", join(dir, "x"), PAGE_SIZE), newer, 1 << 20);
    assert.equal(r.manifest(1).page_checks.pages_skipped_newer, 1);
    assert.deepEqual(r.manifest(1).page_checks.corrupt_pages, []);
    ({ r, log } = recorder(false));
    await feed(r, member("base/5/16384", path, bytes.length), torn, 1 << 20);
    assert.equal(r.manifest(1).page_checks.pages_verified, 0);
    assert.equal(r.manifest(1).page_checks.data_checksums, false);
    assert.deepEqual(log, []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
