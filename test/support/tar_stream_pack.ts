/**
 * Reference for tests: a partition's tar stream as `npm:tar-stream`'s pack writes it (what
 * backup-push wrote before `PartitionTarSource`), to prove the new writer byte-identical.
 */
import { drained } from "../../src/archive/drained.ts";
import { type Pack, pack as tarPack } from "tar-stream";
import type { Partition, TarMember, TarOptions } from "../../src/archive/tar_partition.ts";

/**
 * One partition as a tar stream. File data is exactly the listed size: padded with NUL bytes
 * when the file shrank, cut when it grew (§5.7); a file gone by the time it is opened is left
 * out with a DEBUG record. Cancelling the stream stops reading and closes the open file.
 */
export function tarStreamPartition(
  part: Partition,
  options: TarOptions = {},
): ReadableStream<Uint8Array> {
  const pack = tarPack();
  const producer = async (): Promise<void> => {
    for (const m of part.members) {
      if (pack.destroyed) return;
      await writeMember(pack, m, options);
    }
    pack.finalize();
  };
  producer().catch((err: unknown) =>
    pack.destroy(err instanceof Error ? err : new Error(String(err)))
  );
  return ReadableStream.from(pack as AsyncIterable<Uint8Array>);
}

function headerName(m: TarMember): string {
  if (m.type !== "directory") return m.name;
  return m.name === "" ? "/" : `${m.name}/`;
}

type Sink = ReturnType<Pack["entry"]>;

async function writeMember(pack: Pack, m: TarMember, options: TarOptions): Promise<void> {
  let file: Deno.FsFile | undefined;
  if (m.type === "file" && m.data === undefined && m.path !== undefined) {
    try {
      file = await Deno.open(m.path, { read: true });
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
      options.log?.debug({
        msg: "skipping a file that vanished before it could be archived",
        detail: `The path "${m.path}" no longer exists.`,
      });
      return;
    }
  }
  try {
    let finished!: Promise<void>;
    const sink = new Promise<Sink>((resolveSink) => {
      finished = new Promise<void>((resolve, reject) => {
        resolveSink(pack.entry({
          name: headerName(m),
          type: m.type,
          size: m.size,
          mode: m.mode,
          mtime: m.mtime,
          uid: m.uid,
          gid: m.gid,
          uname: m.uname,
          gname: m.gname,
          ...(m.linkname === undefined ? {} : { linkname: m.linkname }),
        }, (err) => (err ? reject(err) : resolve())));
      });
    });
    const s = await sink;
    if (m.type === "file") {
      if (m.data !== undefined) await write(s, m.data);
      else if (file !== undefined) await copyExactly(file, s, m, options);
      s.end(undefined); // tar-stream's .d.ts wants an argument (TOOLCHAIN.md)
    }
    await finished;
  } finally {
    file?.close();
  }
}

async function write(sink: Sink, chunk: Uint8Array): Promise<void> {
  if (!sink.write(chunk)) await drained(sink, "tar stream");
}

/** Copies exactly `m.size` bytes of `file`: NUL padding if it shrank, cut if it grew. */
async function copyExactly(
  file: Deno.FsFile,
  sink: Sink,
  m: TarMember,
  options: TarOptions,
): Promise<void> {
  const chunkSize = options.chunkSize ?? 1024 * 1024;
  let remaining = m.size;
  let eof = false;
  while (remaining > 0) {
    const buf = new Uint8Array(Math.min(chunkSize, remaining));
    let filled = 0;
    while (!eof && filled < buf.length) {
      let n: number | null;
      try {
        n = await file.read(buf.subarray(filled));
      } catch (err) {
        throw err;
      }
      if (n === null) eof = true;
      else filled += n;
    }
    if (eof && filled < buf.length) {
      options.log?.debug({
        msg: "padding a file that shrank while being archived",
        detail: `The path "${m.path ?? m.name}" is shorter than the ${m.size} bytes listed.`,
      });
    }
    // A shrunk file's remainder stays zero-filled (the buffer is fresh).
    await options.limiter?.acquire(buf.length);
    await write(sink, buf);
    remaining -= buf.length;
  }
}
