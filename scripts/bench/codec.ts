// deno-lint-ignore-file no-console -- a benchmark reports on the console
/**
 * Codec benchmark: our wasm lzop writer/reader against the native `lzop` binary, measured in
 * the same run, alternating ours/native, median of `--runs` (default 3, at least 3). Input: a
 * tar of a `pgbench -i -s 30` data directory plus 3 of its WAL segments (≈ 500 MB), built in a
 * temporary PostgreSQL 15 cluster; `--small`: scale 1 and one segment (≈ 50 MB).
 *
 *   deno run -A scripts/bench/codec.ts [--input FILE.tar] [--small] [--runs N] [--keep]
 *
 * Ours is timed end to end through the Web Streams (file read in 64 KiB chunks → lzop writer
 * or reader → discarded); native is `lzop -c FILE > /dev/null` and `lzop -dc FILE.lzo >
 * /dev/null`. Both decoders read the same `.lzo` file, written by native lzop. Throughput is
 * MB/s (10^6 bytes) of uncompressed data; a ratio-vs-native is the median of the per-run
 * ratios (ours and native timed back to back).
 */
import { createLzopReader } from "../../src/codec/lzop_reader.ts";
import { createLzopWriter } from "../../src/codec/lzop_writer.ts";

const PG_BIN = "/usr/lib/postgresql/15/bin";
const READ_CHUNK = 64 * 1024;

interface Args {
  input: string | undefined;
  small: boolean;
  runs: number;
  keep: boolean;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { input: undefined, small: false, runs: 3, keep: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--input") args.input = argv[++i];
    else if (a === "--small") args.small = true;
    else if (a === "--keep") args.keep = true;
    else if (a === "--runs") args.runs = Math.max(3, Number(argv[++i]));
    else throw new Error(`unknown argument ${a}; usage: codec.ts [--input F] [--small] [--runs N]`);
  }
  return args;
}

async function run(
  cmd: string[],
  opts: { asPostgres?: boolean; env?: Record<string, string> } = {},
) {
  const argv = opts.asPostgres && Deno.uid() === 0
    ? ["runuser", "-u", "postgres", "--", ...cmd]
    : cmd;
  const [program, ...rest] = argv as [string, ...string[]];
  const out = await new Deno.Command(program, {
    args: rest,
    cwd: "/",
    stdout: "piped",
    stderr: "piped",
    ...(opts.env === undefined ? {} : { env: opts.env }),
  }).output();
  if (!out.success) {
    const text = new TextDecoder().decode(out.stderr) + new TextDecoder().decode(out.stdout);
    throw new Error(`${cmd.join(" ")} exited ${out.code}: ${text}`);
  }
  return new TextDecoder().decode(out.stdout);
}

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** Builds the tar: initdb, pgbench -i, CHECKPOINT, stop, tar the data directory. */
async function buildInput(dir: string, scale: number, walSegments: number): Promise<string> {
  const data = `${dir}/data`;
  const sock = `${dir}/sock`;
  await Deno.mkdir(sock);
  if (Deno.uid() === 0) await run(["chown", "-R", "postgres:postgres", dir]);
  console.error(`bench: initdb + pgbench -i -s ${scale} in ${dir}`);
  await run([`${PG_BIN}/initdb`, "-D", data, "-U", "postgres", "--auth=trust", "--no-sync"], {
    asPostgres: true,
  });
  const port = freePort();
  const opts = `-c port=${port} -c listen_addresses='' -c unix_socket_directories='${sock}' ` +
    "-c fsync=off";
  await run([`${PG_BIN}/pg_ctl`, "-D", data, "-l", `${dir}/log`, "-w", "-o", opts, "start"], {
    asPostgres: true,
  });
  try {
    const env = { PGHOST: sock, PGPORT: String(port), PGUSER: "postgres" };
    await run([`${PG_BIN}/pgbench`, "-i", "-s", String(scale), "-q", "postgres"], {
      asPostgres: true,
      env,
    });
    await run([`${PG_BIN}/psql`, "-X", "-c", "CHECKPOINT", "postgres"], { asPostgres: true, env });
  } finally {
    await run([`${PG_BIN}/pg_ctl`, "-D", data, "-m", "fast", "-w", "stop"], { asPostgres: true });
  }
  // The data directory without pg_wal's churn, then a few whole WAL segments (full of
  // pgbench's inserts): ≈ 500 MB at scale 30, ≈ 50 MB at scale 1.
  const tar = `${dir}/pgdata.tar`;
  await run(["tar", "-cf", tar, "-C", data, "--exclude=./pg_wal/*", "."]);
  const segments = [];
  for await (const e of Deno.readDir(`${data}/pg_wal`)) {
    if (/^[0-9A-F]{24}$/.test(e.name)) segments.push(`./pg_wal/${e.name}`);
  }
  segments.sort();
  await run(["tar", "-rf", tar, "-C", data, ...segments.slice(0, walSegments)]);
  return tar;
}

/** Chunks of `path` read synchronously (64 KiB each, fresh arrays the consumer may keep).
 * Sync reads: Deno's async `FsFile.readable` alone tops out near 1 GB/s here, which would
 * measure Deno's file I/O rather than the codec. */
function fileSource(path: string, chunkSize = READ_CHUNK): ReadableStream<Uint8Array> {
  const file = Deno.openSync(path);
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      const buf = new Uint8Array(chunkSize);
      const n = file.readSync(buf);
      if (n === null) {
        file.close();
        controller.close();
      } else {
        controller.enqueue(n === chunkSize ? buf : buf.subarray(0, n));
      }
    },
    cancel() {
      file.close();
    },
  });
}

/** Pipes `path` through `stage`; returns bytes out (written to `sink` when given). */
async function throughStream(
  path: string,
  stage: TransformStream<Uint8Array, Uint8Array>,
  sink?: Deno.FsFile,
): Promise<number> {
  let total = 0;
  for await (const chunk of fileSource(path).pipeThrough(stage)) {
    total += chunk.length;
    if (sink !== undefined) await sink.write(chunk);
  }
  return total;
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return (performance.now() - t0) / 1000;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

/** Median over runs of native time / our time (= our speed relative to native). */
function pairedRatio(native: number[], ours: number[]): number {
  return median(ours.map((o, i) => (native[i] as number) / o));
}

function mbps(bytes: number, seconds: number[]): { med: number; min: number; max: number } {
  const rates = seconds.map((s) => bytes / 1e6 / s);
  return { med: median(rates), min: Math.min(...rates), max: Math.max(...rates) };
}

function line(label: string, r: { med: number; min: number; max: number }): string {
  return `${label} ${r.med.toFixed(0)} MB/s (min–max ${r.min.toFixed(0)}–${r.max.toFixed(0)})`;
}

async function main(): Promise<void> {
  const args = parseArgs(Deno.args);
  const dir = await Deno.makeTempDir({ prefix: "wal-e-codec-bench-" });
  await Deno.chmod(dir, 0o755);
  try {
    const input = args.input ?? await buildInput(dir, args.small ? 1 : 30, args.small ? 1 : 3);
    const size = (await Deno.stat(input)).size;
    const nativeLzo = `${dir}/native.lzo`;
    const oursLzo = `${dir}/ours.lzo`;
    console.error(`bench: input ${input} (${(size / 1e6).toFixed(0)} MB), ${args.runs} runs`);

    // Warm the page cache and produce both compressed files once (sizes + decode input).
    await run(["bash", "-c", `lzop -c "$0" > "$1"`, input, nativeLzo]);
    const sink = await Deno.open(oursLzo, { write: true, create: true, truncate: true });
    const oursSize = await throughStream(input, createLzopWriter(), sink);
    sink.close();
    const nativeSize = (await Deno.stat(nativeLzo)).size;
    await run(["lzop", "-t", oursLzo]);

    const t = { oc: [] as number[], nc: [] as number[], od: [] as number[], nd: [] as number[] };
    for (let i = 0; i < args.runs; i++) {
      t.oc.push(await timed(() => throughStream(input, createLzopWriter())));
      t.nc.push(await timed(() => nativeToNull(["-c", input])));
      t.od.push(
        await timed(async () => {
          const n = await throughStream(nativeLzo, createLzopReader());
          if (n !== size) throw new Error(`decoded ${n} bytes, expected ${size}`);
        }),
      );
      t.nd.push(await timed(() => nativeToNull(["-dc", nativeLzo])));
    }
    const oc = mbps(size, t.oc), nc = mbps(size, t.nc);
    const od = mbps(size, t.od), nd = mbps(size, t.nd);
    console.log(line("codec compress ours", oc) + "; " + line("native lzop", nc));
    console.log(line("codec decompress ours", od) + "; " + line("native lzop -d", nd));
    console.log(
      `codec size ours ${oursSize} bytes, native ${nativeSize} bytes, input ${size} bytes ` +
        `(ratio ${(size / oursSize).toFixed(2)} vs ${(size / nativeSize).toFixed(2)})`,
    );
    // Each run times ours and native back to back, so a per-run ratio sees the same machine
    // load; the median of those ratios resists the noise of a shared machine.
    console.log(`codec compress ratio-vs-native ${pairedRatio(t.nc, t.oc).toFixed(2)}`);
    console.log(`codec decompress ratio-vs-native ${pairedRatio(t.nd, t.od).toFixed(2)}`);
    console.log(`codec size ratio-vs-native ${(oursSize / nativeSize).toFixed(3)}`);
  } finally {
    if (args.keep) console.error(`bench: kept ${dir}`);
    else await Deno.remove(dir, { recursive: true });
  }
}

async function nativeToNull(args: string[]): Promise<void> {
  const out = await new Deno.Command("lzop", { args, stdout: "null", stderr: "piped" }).output();
  if (!out.success) {
    throw new Error(`lzop ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  }
}

if (import.meta.main) await main();
