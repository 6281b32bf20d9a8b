/**
 * The end-of-archive check of backup-fetch must not refuse the archives that exist: every
 * partition our backup-push writes and every partition the real WAL-E wrote (the fixture) ends
 * with its end-of-archive blocks and extracts completely.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { partitionTar, textMember } from "../../src/archive/tar_partition.ts";
import { Extractor } from "../../src/archive/tar_extract.ts";
import { createLzopReader } from "../../src/codec/lzop_reader.ts";
import { FIXTURE } from "../support/wale_fixture.ts";

Deno.test("a partition written by our backup-push ends with end-of-archive blocks", async () => {
  const tmp = await Deno.makeTempDir();
  try {
    const owner = { uid: Deno.uid() ?? 0, gid: Deno.gid() ?? 0 };
    // Data that ends in zeros, as the last member: only the marker may count.
    await Deno.writeFile(join(tmp, "rel"), new Uint8Array(8192));
    const st = await Deno.stat(join(tmp, "rel"));
    const members = [
      textMember("backup_label", "START WAL LOCATION: 0/2000028\n", owner),
      {
        name: "base/1/rel",
        type: "file" as const,
        path: join(tmp, "rel"),
        size: 8192,
        mode: 0o600,
        mtime: st.mtime ?? new Date(),
        uid: owner.uid,
        gid: owner.gid,
        uname: "",
        gname: "",
      },
    ];
    const bytes = new Uint8Array(
      await new Response(partitionTar({ index: 0, members, bytes: 8192 })).arrayBuffer(),
    );
    // header + 1 block + header + 16 blocks, then at least the two zero blocks.
    const lastEnd = 512 * 2 + 512 * 17;
    assert.ok(bytes.length >= lastEnd + 1024, `${bytes.length}`);
    assert.ok(bytes.subarray(lastEnd).every((b) => b === 0));
    await Deno.mkdir(join(tmp, "out"));
    const ex = await Extractor.create(join(tmp, "out"));
    await ex.extract(ReadableStream.from([bytes]));
    await ex.finish();
    assert.equal((await Deno.stat(join(tmp, "out/base/1/rel"))).size, 8192);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("every partition of WAL-E's fixture ends with end-of-archive blocks", async () => {
  const base = join(FIXTURE, "objects/plain/basebackups_005");
  let partitions = 0;
  for await (const backup of Deno.readDir(base)) {
    if (!backup.isDirectory) continue;
    for await (const part of Deno.readDir(join(base, backup.name, "tar_partitions"))) {
      const tmp = await Deno.makeTempDir();
      try {
        const file = await Deno.open(join(base, backup.name, "tar_partitions", part.name));
        const ex = await Extractor.create(tmp);
        await ex.extract(file.readable.pipeThrough(createLzopReader()));
        assert.ok((await Deno.stat(join(tmp, "PG_VERSION"))).isFile);
        partitions++;
      } finally {
        await Deno.remove(tmp, { recursive: true });
      }
    }
  }
  assert.equal(partitions, 2);
});
