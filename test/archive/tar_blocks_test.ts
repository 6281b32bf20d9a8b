/**
 * PartitionTarSource (tar_blocks.ts), the tar writer backup-push uses, writes byte for byte
 * what tar-stream's pack wrote for the same partition (test/support/tar_stream_pack.ts):
 * ustar headers, PAX records for long and non-ASCII names and long link targets, the data
 * directory as `/`, zero modes, text members, empty, shrunk and grown files, and any fill size.
 */
import { join } from "node:path";
import { PartitionTarSource } from "../../src/archive/tar_blocks.ts";
import { type Partition, type TarMember, textMember } from "../../src/archive/tar_partition.ts";
import { tarStreamPartition } from "../support/tar_stream_pack.ts";
import { assertBytes, pattern, readAll } from "../support/streams.ts";

async function fillAll(src: PartitionTarSource, size: number): Promise<Uint8Array> {
  const parts: Uint8Array<ArrayBuffer>[] = [];
  for (;;) {
    const buf = new Uint8Array(size);
    const n = await src.fill(buf);
    parts.push(buf.subarray(0, n));
    if (n < size) break;
  }
  return new Uint8Array(await new Blob(parts).arrayBuffer());
}

Deno.test("PartitionTarSource: byte for byte tar-stream's output, whatever the fill size", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const mtime = new Date(1_700_000_000_000);
    const owner = { uid: 26, gid: 26, uname: "postgres", gname: "postgres", mtime };
    const file = async (name: string, bytes: Uint8Array, listed = bytes.length) => {
      await Deno.mkdir(join(dir, name, ".."), { recursive: true });
      await Deno.writeFile(join(dir, name), bytes);
      return {
        name,
        type: "file",
        path: join(dir, name),
        size: listed,
        mode: 0o600,
        ...owner,
      } satisfies TarMember;
    };
    const longDir = "base/" + "d".repeat(90) + "/" + "e".repeat(60);
    const members: TarMember[] = [
      { name: "", type: "directory", size: 0, mode: 0o700, ...owner },
      { name: "base", type: "directory", size: 0, mode: 0, ...owner },
      await file("base/1/1259", pattern(70_000, 3)),
      await file("base/1/empty", new Uint8Array(0)),
      await file("base/1/shrunk", pattern(1000, 4), 5000),
      await file("base/1/grown", pattern(9000, 5), 4096),
      await file(`${longDir}/f`, pattern(513, 6)),
      await file("base/" + "x".repeat(120), pattern(100, 7)),
      await file("base/ünïcode", pattern(10, 8)),
      {
        name: "pg_tblspc/16384",
        type: "symlink",
        size: 0,
        mode: 0o777,
        linkname: "/srv/ts",
        ...owner,
      },
      {
        name: "pg_tblspc/16385",
        type: "symlink",
        size: 0,
        mode: 0o777,
        linkname: "/srv/" + "t".repeat(150),
        ...owner,
      },
      {
        ...textMember("backup_label", "START WAL LOCATION: 0/2000028\n", { uid: 0, gid: 0 }),
        mtime,
      },
      await file("global/pg_control", pattern(8192, 9)),
    ];
    const part: Partition = { index: 0, members, bytes: 0 };
    const expected = await readAll(tarStreamPartition(part));
    for (const size of [1, 511, 512, 4096, 65_536, 1 << 20]) {
      assertBytes(await fillAll(new PartitionTarSource(part), size), expected, `fill ${size}`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
