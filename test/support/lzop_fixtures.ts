/**
 * Helpers for the lzop codec tests: the native `lzop` binary, real PostgreSQL files from a
 * throw-away cluster, seeded randomness, and streams that split input at chosen sizes.
 */

/** Directories searched for binaries besides PATH. */
const EXTRA_BIN_DIRS = ["/usr/bin", "/bin", "/usr/local/bin"];
const PG_BIN = "/usr/lib/postgresql/15/bin";

/** Absolute path of `name` on PATH (or a standard dir); throws with an install hint if absent. */
export function findBinary(name: string, hint: string): string {
  const dirs = [
    ...(Deno.env.get("PATH") ?? "").split(":").filter((d) => d !== ""),
    ...EXTRA_BIN_DIRS,
  ];
  for (const dir of dirs) {
    const path = `${dir}/${name}`;
    try {
      if (Deno.statSync(path).isFile) return path;
    } catch {
      // not here
    }
  }
  throw new Error(`'${name}' not found on PATH; ${hint}`);
}

/** Result of running a program to completion. */
export interface RunResult {
  code: number;
  stdout: Uint8Array;
  stderr: string;
}

/** Runs `program args` with `input` on stdin (or none) and collects its output. */
export async function runProgram(
  program: string,
  args: string[],
  input?: Uint8Array,
): Promise<RunResult> {
  const child = new Deno.Command(program, {
    args,
    stdin: input === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writing = input === undefined ? Promise.resolve() : (async () => {
    const w = child.stdin.getWriter();
    try {
      await w.write(input);
      await w.close();
    } catch {
      // the program may exit before reading everything; its status tells
    }
  })();
  const [out] = await Promise.all([child.output(), writing]);
  return { code: out.code, stdout: out.stdout, stderr: new TextDecoder().decode(out.stderr) };
}

/** The native lzop binary (the tests fail, not skip, without it). */
export function lzopBinary(): string {
  return findBinary("lzop", "install it: apt-get install lzop");
}

/** Runs native lzop; returns stdout, throwing on a non-zero exit. */
export async function lzop(args: string[], input?: Uint8Array): Promise<Uint8Array> {
  const r = await runProgram(lzopBinary(), args, input);
  if (r.code !== 0) throw new Error(`lzop ${args.join(" ")} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

/** Deterministic PRNG (mulberry32) returning floats in [0, 1). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** An integer in [0, n) from `rand`. */
export function randInt(rand: () => number, n: number): number {
  return Math.floor(rand() * n);
}

/** `n` pseudo-random bytes from `rand`. */
export function randomBytes(rand: () => number, n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = randInt(rand, 256);
  return out;
}

/** Text-like, highly repetitive bytes (compress well, with varied match lengths). */
export function repetitiveBytes(n: number): Uint8Array {
  const out = new Uint8Array(n);
  const phrase = new TextEncoder().encode("INSERT INTO pgbench_accounts VALUES (");
  for (let i = 0; i < n; i++) {
    const row = Math.floor(i / 97);
    out[i] = i % 97 < phrase.length ? phrase[i % 97] as number : 0x30 + ((row * 7 + i) % 10);
  }
  return out;
}

/** Input made of random pieces, runs and copies from distances around each LZO1X limit. */
export function structuredBytes(rand: () => number, size: number): Uint8Array {
  const out = new Uint8Array(size);
  const distances = [1, 2, 3, 7, 8, 9, 0x7ff, 0x800, 0x801, 0x3fff, 0x4000, 0x4001, 0xbffe, 0xbfff];
  let at = 0;
  while (at < size) {
    const len = Math.min(size - at, 1 + randInt(rand, rand() < 0.2 ? 600 : 40));
    const kind = randInt(rand, 3);
    const dist = rand() < 0.7
      ? distances[randInt(rand, distances.length)]!
      : 1 + randInt(rand, 0xc000);
    if (kind === 0 || dist > at) {
      for (let i = 0; i < len; i++) out[at + i] = randInt(rand, 256);
    } else if (kind === 1) {
      out.fill(randInt(rand, 4), at, at + len);
    } else {
      for (let i = 0; i < len; i++) out[at + i] = out[at + i - dist]!;
    }
    at += len;
  }
  return out;
}

/** Byte arrays joined. */
export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Bytes from hex text (whitespace ignored). */
export function fromHex(hex: string): Uint8Array {
  const clean = hex.replace(/\s+/g, "");
  return new Uint8Array(clean.match(/../g)?.map((h) => parseInt(h, 16)) ?? []);
}

/** Hex text of bytes. */
export function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** A stream of `data` split into pieces of `size` bytes, or of sizes drawn by `size()`. */
export function chunked(
  data: Uint8Array,
  size: number | (() => number),
): ReadableStream<Uint8Array> {
  let at = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (at >= data.length) {
        controller.close();
        return;
      }
      const n = Math.max(1, typeof size === "number" ? size : size());
      // Fresh copies: the stage under test must not rely on the source keeping them.
      controller.enqueue(data.slice(at, at + n));
      at += n;
    },
  });
}

/** Every byte of a stream. */
export async function readAll(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** Runs `data` through `stage` in `size`-byte chunks and returns everything it emits. */
export function pipeBytes(
  data: Uint8Array,
  stage: TransformStream<Uint8Array, Uint8Array>,
  size: number | (() => number) = 64 * 1024,
): Promise<Uint8Array> {
  return readAll(chunked(data, size).pipeThrough(stage));
}

/** A file of a real PostgreSQL 15 cluster. */
export interface PgSample {
  name: string;
  data: Uint8Array;
}

let pgSamples: Promise<PgSample[]> | undefined;

/**
 * Relation files, pg_control and the first WAL segment of a fresh PostgreSQL 15 cluster with a
 * 100 000-row table (initdb + `postgres --single`, as the postgres user when root). Built once
 * per process. Throws (the test fails) when PostgreSQL 15 is not installed.
 */
export function pgSampleFiles(): Promise<PgSample[]> {
  pgSamples ??= buildPgSamples();
  return pgSamples;
}

async function asPostgres(cmd: string[], input?: Uint8Array): Promise<RunResult> {
  const argv = Deno.uid() === 0 ? ["runuser", "-u", "postgres", "--", ...cmd] : cmd;
  const [program, ...args] = argv as [string, ...string[]];
  const r = await runProgram(program, args, input);
  if (r.code !== 0) throw new Error(`${cmd.join(" ")} exited ${r.code}: ${r.stderr}`);
  return r;
}

async function buildPgSamples(): Promise<PgSample[]> {
  const initdb = `${PG_BIN}/initdb`;
  try {
    Deno.statSync(initdb);
  } catch {
    throw new Error(`${initdb} not found: install PostgreSQL 15 (apt-get install postgresql-15)`);
  }
  const dir = await Deno.makeTempDir({ prefix: "lzop-pg-" });
  try {
    await Deno.chmod(dir, 0o777);
    const data = `${dir}/data`;
    await asPostgres([
      initdb,
      "-D",
      data,
      "-U",
      "postgres",
      "--auth=trust",
      "--no-sync",
      "-E",
      "UTF8",
    ]);
    const sql = "CREATE TABLE sample AS SELECT g AS id, md5(g::text) AS hash, now() AS at " +
      "FROM generate_series(1, 100000) g;\n";
    await asPostgres(
      [`${PG_BIN}/postgres`, "--single", "-D", data, "-c", "fsync=off", "postgres"],
      new TextEncoder().encode(sql),
    );
    const files: PgSample[] = [];
    const read = async (rel: string) =>
      files.push({ name: rel, data: await Deno.readFile(`${data}/${rel}`) });
    await read("global/pg_control");
    await read("pg_wal/000000010000000000000001");
    // The largest relation file (the sample table) and the catalog pg_class of database 5.
    let biggest = { rel: "", size: 0 };
    for await (const e of Deno.readDir(`${data}/base/5`)) {
      const st = await Deno.stat(`${data}/base/5/${e.name}`);
      if (e.isFile && st.size > biggest.size) biggest = { rel: `base/5/${e.name}`, size: st.size };
    }
    await read(biggest.rel);
    await read("base/5/1259");
    return files;
  } finally {
    if (Deno.uid() === 0) await runProgram("chown", ["-R", "root", dir]);
    await Deno.remove(dir, { recursive: true });
  }
}

/** Reference Adler-32 (zlib), byte at a time: independent of the wasm code under test. */
export function adlerRef(data: Uint8Array, init = 1): number {
  let a = init & 0xffff, b = init >>> 16;
  for (const x of data) {
    a = (a + x) % 65521;
    b = (b + a) % 65521;
  }
  return ((b << 16) | a) >>> 0;
}

/** Reference CRC-32 (zlib), bit at a time: independent of the wasm code under test. */
export function crcRef(data: Uint8Array, init = 0): number {
  let c = ~init >>> 0;
  for (const x of data) {
    c ^= x;
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
  }
  return ~c >>> 0;
}

function be32(n: number): number[] {
  return [(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255];
}

/** Header fields for `craftHeader`; defaults are `lzop -c`'s. */
export interface CraftHeader {
  version?: number;
  libVersion?: number;
  versionNeeded?: number;
  method?: number;
  level?: number;
  flags?: number;
  filter?: number;
  mode?: number;
  mtime?: number;
  name?: string;
  /** Extra field bytes (sets nothing by itself: add F_H_EXTRA_FIELD 0x40 to flags). */
  extra?: Uint8Array;
  /** Stored header checksum instead of the right one. */
  checksum?: number;
}

/** Magic + an lzop header built field by field (with the presence rules of §4.1). */
export function craftHeader(h: CraftHeader = {}): Uint8Array {
  const version = h.version ?? 0x1040;
  const flags = h.flags ?? 0x0300000d;
  const modern = version >= 0x0940;
  const bytes: number[] = [version >> 8, version & 255];
  bytes.push(((h.libVersion ?? 0x20a0) >> 8) & 255, (h.libVersion ?? 0x20a0) & 255);
  if (modern) {
    bytes.push(((h.versionNeeded ?? 0x0940) >> 8) & 255, (h.versionNeeded ?? 0x0940) & 255);
  }
  bytes.push(h.method ?? 1);
  if (modern) bytes.push(h.level ?? 5);
  bytes.push(...be32(flags));
  if ((flags & 0x800) !== 0) bytes.push(...be32(h.filter ?? 0));
  bytes.push(...be32(h.mode ?? 0), ...be32(h.mtime ?? 0x5e0be100));
  if (modern) bytes.push(...be32(0));
  const name = new TextEncoder().encode(h.name ?? "");
  bytes.push(name.length, ...name);
  const body = new Uint8Array(bytes);
  const sum = (flags & 0x1000) !== 0 ? crcRef(body) : adlerRef(body);
  const parts = [fromHex("894c5a4f000d0a1a0a"), body, new Uint8Array(be32(h.checksum ?? sum))];
  if (h.extra !== undefined) {
    const len = new Uint8Array(be32(h.extra.length));
    const covered = concat(len, h.extra);
    const esum = (flags & 0x1000) !== 0 ? crcRef(covered) : adlerRef(covered);
    parts.push(covered, new Uint8Array(be32(esum)));
  }
  return concat(...parts);
}

/** One block for header `flags`: `data` is the LZO1X form of `plain`, or `plain` itself. */
export function craftBlock(flags: number, plain: Uint8Array, data: Uint8Array = plain): Uint8Array {
  const words = [plain.length, data.length];
  if ((flags & 0x1) !== 0) words.push(adlerRef(plain));
  if ((flags & 0x100) !== 0) words.push(crcRef(plain));
  if (data.length < plain.length && (flags & 0x2) !== 0) words.push(adlerRef(data));
  if (data.length < plain.length && (flags & 0x200) !== 0) words.push(crcRef(data));
  return concat(new Uint8Array(words.flatMap(be32)), data);
}

/** The 4-byte end marker. */
export const END_MARKER: Uint8Array = new Uint8Array(4);
