/**
 * backup-verify's partition scan on a memory store: a whole partition yields each file's size
 * and CRC-32; a tar cut at a member boundary (no end-of-archive blocks), a tar cut inside a
 * member, and an lzop stream with a damaged block each fail, saying where.
 */
import assert from "node:assert/strict";
import { crc32 } from "node:zlib";
import { uploadCompressed } from "../../src/archive/pipeline.ts";
import { partitionTar, textMember } from "../../src/archive/tar_partition.ts";
import { scanPartition } from "../../src/commands/backup_verify/scan.ts";
import { MemoryStore } from "../../src/storage/memory.ts";

const owner = { uid: 0, gid: 0 };
const LABEL = "START WAL LOCATION: 0/2000028 (file 000000010000000000000002)\n";
/** Over two lzop blocks (256 KiB each) of text that does not compress to nothing. */
const BIG = Array.from({ length: 90_000 }, (_, i) => (i * 7919) % 100_003).join(",");

async function tarBytes(): Promise<Uint8Array> {
  const members = [textMember("backup_label", LABEL, owner), textMember("base/1/big", BIG, owner)];
  return new Uint8Array(
    await new Response(partitionTar({ index: 0, members, bytes: 0 })).arrayBuffer(),
  );
}

async function stored(bytes: Uint8Array): Promise<MemoryStore> {
  const store = new MemoryStore();
  await uploadCompressed(store, "p", ReadableStream.from([bytes]), { encoding: {} });
  return store;
}

const hex = (s: string) => (crc32(new TextEncoder().encode(s)) >>> 0).toString(16).padStart(8, "0");

Deno.test("scan: a whole partition gives every file's size and CRC-32", async () => {
  const scan = await scanPartition(await stored(await tarBytes()), {}, "p", "part_0.tar.lzo", 0);
  assert.equal(scan.error, undefined);
  assert.equal(scan.members, 2);
  assert.deepEqual(Object.fromEntries(scan.files), {
    backup_label: { size: LABEL.length, crc32: hex(LABEL) },
    "base/1/big": { size: BIG.length, crc32: hex(BIG) },
  });
});

Deno.test("scan: a tar without its end-of-archive blocks, or cut inside a member, fails", async () => {
  const bytes = await tarBytes();
  // Both members end here: cut there, before the zero blocks.
  const boundary = 512 * 2 + 512 * (1 + Math.ceil(BIG.length / 512));
  let scan = await scanPartition(await stored(bytes.subarray(0, boundary)), {}, "p", "x", 0);
  assert.match(scan.error ?? "", /tar stream has no end-of-archive marker/);
  assert.deepEqual(scan.failedAt, { member: "base/1/big", whole: true });
  scan = await scanPartition(await stored(bytes.subarray(0, 3000)), {}, "p", "x", 0);
  assert.match(scan.error ?? "", /tar stream ends inside a member.*base\/1\/big/);
});

Deno.test("scan: a damaged lzop block fails, naming the member being read", async () => {
  const store = await stored(await tarBytes());
  const body = new Uint8Array(await new Response(await store.get("p")).arrayBuffer());
  body[body.length - 40]! ^= 0xFF;
  const damaged = new MemoryStore();
  await damaged.put("p", ReadableStream.from([body]));
  const scan = await scanPartition(damaged, {}, "p", "x", 0);
  assert.match(scan.error ?? "", /lzop|checksum|corrupt/i);
  assert.deepEqual(scan.failedAt, { member: "base/1/big", whole: false });
});
