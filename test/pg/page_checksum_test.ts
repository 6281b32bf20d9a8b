/**
 * The page checksum against pages a real PostgreSQL 15 wrote: every page of every relation file
 * of an `initdb -k` cluster matches its stored checksum; one changed byte, or the wrong block
 * number, does not. pg_control tells a checksummed cluster from one without.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  checkPage,
  isZeroPage,
  PAGE_SIZE,
  pageChecksum,
  relationFirstBlock,
  RELSEG_BLOCKS,
  storedChecksum,
} from "../../src/pg/page_checksum.ts";
import { dataChecksumVersionOf, readDataChecksumVersion } from "../../src/pg/control_data.ts";
import { makeSharedTempDir, PgCluster } from "../support/postgres.ts";

const NEVER_NEWER = (1n << 64n) - 1n;

/** Every relation file of the data directory: [name relative to it, bytes]. */
async function relationFiles(dataDir: string): Promise<[string, Uint8Array][]> {
  const out: [string, Uint8Array][] = [];
  const walk = async (dir: string, rel: string): Promise<void> => {
    for await (const e of Deno.readDir(dir)) {
      const r = rel === "" ? e.name : `${rel}/${e.name}`;
      if (e.isDirectory) await walk(join(dir, e.name), r);
      else if (e.isFile && relationFirstBlock(r) !== undefined) {
        out.push([r, await Deno.readFile(join(dir, e.name))]);
      }
    }
  };
  await walk(dataDir, "");
  return out;
}

let clusters: Promise<{ tmp: string; withSums: string; without: string }> | undefined;

/** One cluster with data checksums and one without, made once for this file. */
function initClusters(): Promise<{ tmp: string; withSums: string; without: string }> {
  clusters ??= (async () => {
    const tmp = await makeSharedTempDir("wal-e-pagesum-");
    const withSums = join(tmp, "k");
    const without = join(tmp, "plain");
    await PgCluster.init(withSums, "", ["-k"]);
    await PgCluster.init(without);
    return { tmp, withSums, without };
  })();
  return clusters;
}

Deno.test("page checksum: every page initdb -k wrote matches, with its block number", async () => {
  const { withSums } = await initClusters();
  const files = await relationFiles(withSums);
  let pages = 0;
  let multiBlock = 0;
  for (const [name, bytes] of files) {
    assert.equal(bytes.length % PAGE_SIZE, 0, name);
    const first = relationFirstBlock(name) ?? 0;
    for (let at = 0; at < bytes.length; at += PAGE_SIZE) {
      const page = bytes.subarray(at, at + PAGE_SIZE);
      const block = first + at / PAGE_SIZE;
      if (isZeroPage(page)) continue;
      assert.equal(pageChecksum(page, block), storedChecksum(page), `${name} block ${block}`);
      assert.equal(checkPage(page, block, NEVER_NEWER), "ok");
      pages++;
      if (block > 0) multiBlock++;
    }
  }
  // A fresh cluster has hundreds of catalog pages, many beyond block 0.
  assert.ok(pages > 500, `${pages} pages`);
  assert.ok(multiBlock > 50, `${multiBlock} pages beyond block 0`);
});

Deno.test("page checksum: a changed byte or another block number is a mismatch", async () => {
  const { withSums } = await initClusters();
  const [name, bytes] =
    (await relationFiles(withSums)).find(([n, b]) =>
      n.startsWith("global/") && b.length >= 2 * PAGE_SIZE
    ) ?? ["", new Uint8Array()];
  assert.ok(name !== "");
  const page = bytes.slice(PAGE_SIZE, 2 * PAGE_SIZE);
  assert.equal(checkPage(page, 1, NEVER_NEWER), "ok");
  assert.equal(checkPage(page, 2, NEVER_NEWER), "bad");
  assert.equal(checkPage(page, 1 + RELSEG_BLOCKS, NEVER_NEWER), "bad");
  for (const at of [0, 9, 100, 4096, PAGE_SIZE - 1]) {
    const broken = page.slice();
    broken[at]! ^= 0x01;
    assert.equal(checkPage(broken, 1, NEVER_NEWER), "bad", `byte ${at}`);
  }
  // The stored checksum itself (bytes 8-9) is outside the sum: changing it breaks the match
  // only because it is compared.
  const other = page.slice();
  other[8]! ^= 0xFF;
  assert.equal(pageChecksum(other, 1), pageChecksum(page, 1));
  assert.notEqual(storedChecksum(other), pageChecksum(other, 1));
  // A page written after the backup started is not judged; an all-zero page is new.
  const broken = page.slice();
  broken[4096]! ^= 1;
  assert.equal(checkPage(broken, 1, 0n), "newer");
  assert.equal(checkPage(new Uint8Array(PAGE_SIZE), 7, 0n), "new");
});

Deno.test("relation files: numbered files of base, global and tablespaces, with forks and segments", () => {
  assert.equal(relationFirstBlock("base/5/16384"), 0);
  assert.equal(relationFirstBlock("base/5/16384.1"), RELSEG_BLOCKS);
  assert.equal(relationFirstBlock("base/5/16384_fsm"), 0);
  assert.equal(relationFirstBlock("base/5/16384_vm.2"), 2 * RELSEG_BLOCKS);
  assert.equal(relationFirstBlock("base/5/16384_init"), 0);
  assert.equal(relationFirstBlock("global/1262"), 0);
  assert.equal(relationFirstBlock("pg_tblspc/16385/PG_15_202209061/5/16386.3"), 3 * RELSEG_BLOCKS);
  for (
    const name of [
      "base/5/pg_filenode.map",
      "base/5/PG_VERSION",
      "base/5/pg_internal.init",
      "global/pg_control",
      "base/5/t3_16390",
      "pg_wal/000000010000000000000001",
      "base/5/16384_xyz",
      "backup_label",
    ]
  ) assert.equal(relationFirstBlock(name), undefined, name);
});

Deno.test("pg_control: data_checksum_version is 1 with initdb -k, 0 without", async () => {
  const { tmp, withSums, without } = await initClusters();
  try {
    assert.equal(await readDataChecksumVersion(withSums), 1);
    assert.equal(await readDataChecksumVersion(without), 0);
    assert.equal(await readDataChecksumVersion(join(tmp, "nowhere")), undefined);
    // A damaged pg_control has no offset where the CRC matches.
    const bytes = await Deno.readFile(join(withSums, "global/pg_control"));
    bytes[20]! ^= 0xFF;
    assert.equal(dataChecksumVersionOf(bytes), undefined);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});
