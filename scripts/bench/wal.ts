// deno-lint-ignore-file no-console -- a benchmark reports on the console
/**
 * WAL benchmark, every figure a ratio against a reference measured in the same run, A/B
 * alternating (issues #6, #13):
 * - per call: wal-push of one 16 MiB segment, one process per call as archive_command runs it,
 *   against an empty `deno run` (the runtime's floor on this machine) and `lzop -c seg > f &&
 *   sync f`; target (ours − empty) ≤ 1.5 × lzop, peak RSS ≤ 64 MiB; with the per-phase
 *   breakdown (WALE_PHASE_TIMINGS=1, src/phases.ts).
 * - restore_command loop over 32 consecutive segments, prefetch at its default, against
 *   `lzop -dc obj > dest && sync dest` per segment; target ≤ 2.0×, peak RSS ≤ 64 MiB for every
 *   process, the detached prefetchers included (sampled from /proc); foreground calls served
 *   from the prefetch area against `version`.
 * - archiver throughput at --pool-size 1 and 8; OpenPGP encrypt/decrypt against gpg.
 *
 *   deno run -A scripts/bench/wal.ts [--rounds 21] [--segments 200] [--repo DIR] [--quick]
 * `--repo DIR` runs another checkout's main.ts (e.g. an older commit, for before/after
 * figures); `--quick` skips the throughput and OpenPGP parts. Segments are real WAL written
 * by pgbench in a temporary PostgreSQL 15 cluster, reused under consecutive names.
 */
import { join } from "node:path";
import { decryptStream, encryptStream } from "../../src/codec/pgp.ts";
import { makeRing } from "../../test/support/gpg.ts";

const PG_BIN = "/usr/lib/postgresql/15/bin";
const repoArg = Deno.args.indexOf("--repo");
const REPO = repoArg >= 0
  ? `${(Deno.args[repoArg + 1] ?? "").replace(/\/$/, "")}/`
  : new URL("../../", import.meta.url).pathname;
/** The V8 flags the checkout's main.ts declares for every start of it (none before they existed). */
async function v8FlagsOf(repo: string): Promise<string[]> {
  const main: { V8_FLAGS?: unknown } = await import(`file://${repo}main.ts`);
  return typeof main.V8_FLAGS === "string" ? [`--v8-flags=${main.V8_FLAGS}`] : [];
}

/** Our tool as its launcher (scripts/install) starts it: same V8 flags, its own module cache. */
const WAL_E = [
  Deno.execPath(),
  "run",
  "-A",
  "--quiet",
  ...await v8FlagsOf(REPO),
  "--config",
  `${REPO}deno.json`,
  `${REPO}main.ts`,
];

/**
 * A module cache of the bench's own, as the launcher has one: a copy of ours without its V8
 * code cache. V8 rejects code cached under other V8 flags (the test runner's, or an older
 * checkout's) and Deno does not write it again, so a shared cache could time every call
 * compiling its modules from source. Set for every process the bench starts.
 */
async function privateModuleCache(tmp: string): Promise<void> {
  const home = Deno.env.get("HOME") ?? "/root";
  const from = Deno.env.get("DENO_DIR") ?? join(home, ".cache", "deno");
  const to = join(tmp, "deno-dir");
  await run(["cp", "-a", from, to]);
  for (const e of await Array.fromAsync(Deno.readDir(to))) {
    if (e.name.startsWith("v8_code_cache")) await Deno.remove(join(to, e.name));
  }
  Deno.env.set("DENO_DIR", to);
}

function arg(name: string, dflt: number): number {
  const i = Deno.args.indexOf(name);
  return i >= 0 ? Number(Deno.args[i + 1]) : dflt;
}

async function run(
  cmd: string[],
  env: Record<string, string> = {},
  asPostgres = false,
): Promise<void> {
  const argv = asPostgres && Deno.uid() === 0 ? ["runuser", "-u", "postgres", "--", ...cmd] : cmd;
  const [p, ...rest] = argv as [string, ...string[]];
  const out = await new Deno.Command(p, {
    args: rest,
    env,
    cwd: "/",
    stdout: "null",
    stderr: "piped",
  })
    .output();
  if (!out.success) throw new Error(`${cmd.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(s.length * p))] ?? NaN;
}

function segName(i: number): string {
  return `00000001${(i >> 8).toString(16).toUpperCase().padStart(8, "0")}${
    (i & 0xff).toString(16).toUpperCase().padStart(8, "0")
  }`;
}

/** Real WAL segments from pgbench, as byte arrays. */
async function realSegments(tmp: string): Promise<Uint8Array[]> {
  const data = join(tmp, "pg");
  await Deno.mkdir(data, { mode: 0o700 });
  if (Deno.uid() === 0) await run(["chown", "postgres", data, tmp]);
  await run(
    [`${PG_BIN}/initdb`, "-D", data, "-U", "postgres", "--auth=trust", "--no-sync"],
    {},
    true,
  );
  const port = String(20000 + Math.floor(Math.random() * 20000));
  await Deno.writeTextFile(
    join(data, "postgresql.conf"),
    `port=${port}\nlisten_addresses='127.0.0.1'\nunix_socket_directories='${tmp}'\nfsync=off\nmax_wal_size='4GB'\nmin_wal_size='2GB'\n`,
  );
  const env = { PGHOST: "127.0.0.1", PGPORT: port, PGUSER: "postgres" };
  await run([`${PG_BIN}/pg_ctl`, "-D", data, "-l", join(tmp, "pg.log"), "-w", "start"], {}, true);
  try {
    await run([`${PG_BIN}/pgbench`, "-i", "-s", "10", "-q", "postgres"], env, true);
    await run([`${PG_BIN}/pgbench`, "-n", "-T", "8", "-c", "2", "postgres"], env, true);
  } finally {
    await run([`${PG_BIN}/pg_ctl`, "-D", data, "-m", "fast", "-w", "stop"], {}, true);
  }
  const segs: Uint8Array[] = [];
  for await (const e of Deno.readDir(join(data, "pg_wal"))) {
    if (/^[0-9A-F]{24}$/.test(e.name) && segs.length < 24) {
      segs.push(await Deno.readFile(join(data, "pg_wal", e.name)));
    }
  }
  return segs;
}

async function lay(dir: string, segs: Uint8Array[], n: number): Promise<void> {
  await Deno.mkdir(join(dir, "archive_status"), { recursive: true });
  for (let i = 0; i < n; i++) {
    await Deno.writeFile(join(dir, segName(i + 1)), segs[i % segs.length] ?? new Uint8Array());
    await Deno.writeTextFile(join(dir, "archive_status", `${segName(i + 1)}.ready`), "");
  }
}

/** Emulates PostgreSQL's archiver; returns segments/s and per-call latencies. */
async function archiveAll(dir: string, pool: number, env: Record<string, string>) {
  const t0 = performance.now();
  let count = 0;
  for (;;) {
    const ready = (await Array.fromAsync(Deno.readDir(join(dir, "archive_status"))))
      .map((e) => e.name).filter((n) => n.endsWith(".ready")).sort();
    const next = ready[0]?.slice(0, 24);
    if (next === undefined) break;
    await run([...WAL_E, "wal-push", "-p", String(pool), join(dir, next)], env);
    await Deno.rename(
      join(dir, "archive_status", `${next}.ready`),
      join(dir, "archive_status", `${next}.done`),
    );
    count++;
  }
  const done = (await Array.fromAsync(Deno.readDir(join(dir, "archive_status")))).length;
  return { rate: done / ((performance.now() - t0) / 1000), calls: count };
}

/** One timed process: wall ms, peak RSS (KiB, /usr/bin/time) and the phase line if printed. */
interface Call {
  ms: number;
  rssKiB: number;
  phases: Record<string, number> | undefined;
}

async function timed(argv: string[], env: Record<string, string> = {}): Promise<Call> {
  const t = performance.now();
  const out = await new Deno.Command("/usr/bin/time", {
    args: ["-f", "TIME %M", ...argv],
    env: { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin", NO_COLOR: "1", ...env },
    cwd: "/",
    stdout: "null",
    stderr: "piped",
  }).output();
  const ms = performance.now() - t;
  const text = new TextDecoder().decode(out.stderr);
  const m = /TIME (\d+)\s*$/.exec(text);
  if (!out.success || m === null) throw new Error(`${argv.join(" ")} failed:\n${text}`);
  const ph = /wal-e-phases (\{.*\})/.exec(text);
  return {
    ms,
    rssKiB: Number(m[1]),
    phases: ph?.[1] === undefined ? undefined : JSON.parse(ph[1]),
  };
}

const fmt = (x: number) => x.toFixed(1);
const mib = (kib: number) => (kib / 1024).toFixed(1);

/** Median of each phase over the calls that printed phases, plus the unaccounted rest. */
function breakdown(calls: Call[]): string {
  const withPhases = calls.filter((c) => c.phases !== undefined);
  if (withPhases.length === 0) return "  (no phase timings: this checkout does not record them)";
  const names = [...new Set(withPhases.flatMap((c) => Object.keys(c.phases ?? {})))];
  const parts = names.map((n) => `${n} ${fmt(median(withPhases.map((c) => c.phases?.[n] ?? 0)))}`);
  const rest = median(
    withPhases.map((c) => c.ms - Object.values(c.phases ?? {}).reduce((a, b) => a + b, 0)),
  );
  return `  ${parts.join(", ")}, process exit + spawn ${fmt(rest)} (ms, medians; "modules" = ` +
    "runtime start + module loading, from the isolate's time origin)";
}

/** Peak RSS (KiB) of wal-prefetch processes, sampled from /proc while `fn` runs. */
async function prefetcherPeak(fn: () => Promise<void>): Promise<{ peakKiB: number; seen: number }> {
  let peakKiB = 0;
  const seen = new Set<string>();
  let running = true;
  const sampler = (async () => {
    while (running) {
      for await (const e of Deno.readDir("/proc")) {
        if (!/^\d+$/.test(e.name)) continue;
        try {
          const cmd = await Deno.readTextFile(`/proc/${e.name}/cmdline`);
          if (!cmd.includes("wal-prefetch")) continue;
          seen.add(e.name);
          const status = await Deno.readTextFile(`/proc/${e.name}/status`);
          const hwm = /VmHWM:\s+(\d+) kB/.exec(status);
          if (hwm?.[1] !== undefined) peakKiB = Math.max(peakKiB, Number(hwm[1]));
        } catch { /* exited meanwhile */ }
      }
      await new Promise((r) => setTimeout(r, 5));
    }
  })();
  try {
    await fn();
  } finally {
    running = false;
    await sampler;
  }
  return { peakKiB, seen: seen.size };
}

async function perCall(tmp: string, segs: Uint8Array[], rounds: number): Promise<void> {
  const seg = join(tmp, "one", segName(1));
  // Laid out as PostgreSQL's pg_wal is when it runs archive_command: the segment has its
  // archive_status/<seg>.ready (wal-push's pool looks there for more work).
  await Deno.mkdir(join(tmp, "one", "archive_status"), { recursive: true });
  await Deno.writeFile(seg, segs[0] ?? new Uint8Array());
  await Deno.writeTextFile(join(tmp, "one", "archive_status", `${segName(1)}.ready`), "");
  const empty = join(tmp, "empty.ts");
  await Deno.writeTextFile(empty, "export {};\n");
  const native = join(tmp, "native.lzo");
  const calls = {
    ours: [] as Call[],
    empty: [] as Call[],
    lzop: [] as Call[],
    version: [] as Call[],
  };
  // An archive that already holds WAL, as in steady state: a first push (of another segment)
  // made wal_005/, which costs a mkdir and a directory fsync once per archive, not per segment.
  const archive = join(tmp, "single");
  await Deno.mkdir(archive);
  const env = { WALE_FILE_PREFIX: `file://localhost${archive}`, WALE_PHASE_TIMINGS: "1" };
  const other = join(tmp, "other", segName(2));
  await Deno.mkdir(join(tmp, "other"));
  await Deno.writeFile(other, segs[1] ?? new Uint8Array());
  await run([...WAL_E, "wal-push", "-p1", other], env);
  const stored = join(archive, "wal_005", `${segName(1)}.lzo`);
  for (let i = 0; i < rounds; i++) {
    calls.empty.push(await timed([Deno.execPath(), "run", "-A", empty]));
    calls.ours.push(await timed([...WAL_E, "wal-push", seg], env));
    // Removed between rounds (untimed): the segment is really compressed and stored each time.
    await Deno.remove(stored);
    calls.lzop.push(
      await timed(["sh", "-c", `lzop -c '${seg}' > '${native}' && sync '${native}'`]),
    );
    calls.version.push(await timed([...WAL_E, "version"]));
  }
  const p50 = (cs: Call[]) => median(cs.map((c) => c.ms));
  const peak = (cs: Call[]) => Math.max(...cs.map((c) => c.rssKiB));
  const over = p50(calls.ours) - p50(calls.empty);
  console.log(
    `wal-push 16 MiB, one process per call (${rounds} alternating rounds): p50 ours ` +
      `${fmt(p50(calls.ours))} ms (p95 ${fmt(pct(calls.ours.map((c) => c.ms), 0.95))}), ` +
      `empty deno run ${fmt(p50(calls.empty))} ms, lzop -c + sync ${fmt(p50(calls.lzop))} ms, ` +
      `version ${fmt(p50(calls.version))} ms`,
  );
  console.log(
    `  (ours − empty) / lzop = ${(over / p50(calls.lzop)).toFixed(2)} (target ≤ 1.5); ` +
      `ours / lzop = ${(p50(calls.ours) / p50(calls.lzop)).toFixed(2)}; peak RSS ours ` +
      `${mib(peak(calls.ours))} MiB (target ≤ 64), empty deno run ${mib(peak(calls.empty))} MiB`,
  );
  console.log(breakdown(calls.ours));
}

async function restoreLoop(tmp: string, segs: Uint8Array[], rounds: number): Promise<void> {
  const n = 32;
  // An archive of n + 8 consecutive segments (the prefetcher looks 8 ahead).
  const src = join(tmp, "restore-src");
  await Deno.mkdir(src);
  const env = { WALE_FILE_PREFIX: `file://localhost${tmp}/restore-archive` };
  await Deno.mkdir(join(tmp, "restore-archive"));
  for (let i = 0; i < n + 8; i++) {
    const path = join(src, segName(i + 1));
    await Deno.writeFile(path, segs[i % segs.length] ?? new Uint8Array());
    await run([...WAL_E, "wal-push", "-p1", path], env);
  }
  const objects = join(tmp, "restore-archive", "wal_005");
  const totals = { ours: [] as number[], lzop: [] as number[] };
  const fg: Call[] = [];
  let rss = 0;
  // One pass of the restore_command loop over `walDir`; the calls' wall times and phases.
  const fetchLoop = async (walDir: string): Promise<number> => {
    await Deno.mkdir(walDir);
    const dest = join(walDir, "RECOVERYXLOG");
    const phased = { ...env, WALE_PHASE_TIMINGS: "1" };
    const t = performance.now();
    for (let i = 0; i < n; i++) {
      const c = await timed([...WAL_E, "wal-fetch", segName(i + 1), dest], phased);
      fg.push(c);
      rss = Math.max(rss, c.rssKiB);
      // PostgreSQL replays RECOVERYXLOG, then the next restore_command overwrites it.
      await Deno.remove(dest);
    }
    const ms = performance.now() - t;
    // Let the last prefetchers finish (they are detached) before anything else is timed.
    await new Promise((r) => setTimeout(r, 1500));
    await Deno.remove(walDir, { recursive: true });
    return ms;
  };
  // Untimed: the first wal-fetch and wal-prefetch calls fill the module cache.
  const warm = join(tmp, "restore-pg_wal-warm");
  await Deno.mkdir(warm);
  for (let i = 0; i < 2; i++) {
    await run([...WAL_E, "wal-fetch", segName(i + 1), join(warm, "RECOVERYXLOG")], env);
  }
  await new Promise((r) => setTimeout(r, 1500));
  for (let r = 0; r < rounds; r++) {
    const walDir = join(tmp, `restore-pg_wal-${r}`);
    await Deno.mkdir(walDir);
    const dest = join(walDir, "RECOVERYXLOG");
    const t = performance.now();
    for (let i = 0; i < n; i++) {
      await run([
        "sh",
        "-c",
        `lzop -dc '${objects}/${segName(i + 1)}.lzo' > '${dest}' && sync '${dest}'`,
      ]);
      await Deno.remove(dest);
    }
    totals.lzop.push(performance.now() - t);
    await Deno.remove(walDir, { recursive: true });
    totals.ours.push(await fetchLoop(join(tmp, `restore-pg_wal-ours-${r}`)));
  }
  // The prefetchers' memory is sampled from /proc in a pass of its own, not timed: scanning
  // /proc every few ms costs the 2-core machine ~15% of the loop, a cost lzop's loop would
  // not pay.
  const timedCalls = fg.length;
  const prefetch = await prefetcherPeak(async () => {
    await fetchLoop(join(tmp, "restore-pg_wal-rss"));
  });
  fg.length = timedCalls;
  const ours = median(totals.ours);
  const lzop = median(totals.lzop);
  console.log(
    `restore_command loop, ${n} segments, prefetch default (${rounds} alternating rounds): ` +
      `ours ${fmt(ours)} ms (${(n / (ours / 1000)).toFixed(1)} segments/s), lzop -dc + sync ` +
      `${fmt(lzop)} ms (${(n / (lzop / 1000)).toFixed(1)} segments/s)`,
  );
  console.log(
    `  ours / lzop = ${(ours / lzop).toFixed(2)} (target ≤ 2.0); peak RSS foreground ` +
      `${mib(rss)} MiB, prefetchers ${
        mib(prefetch.peakKiB)
      } MiB (${prefetch.seen} seen in an untimed ` +
      "round sampling /proc) (target ≤ 64 each)",
  );
  const served = fg.filter((c) => c.phases?.["serve-prefetched"] !== undefined);
  const fetched = fg.filter((c) => c.phases?.["serve-prefetched"] === undefined);
  console.log(
    `  foreground calls: ${served.length} served from the prefetch area, p50 ` +
      `${fmt(median(served.map((c) => c.ms)))} ms; ${fetched.length} downloaded, p50 ` +
      `${fmt(median(fetched.map((c) => c.ms)))} ms`,
  );
  console.log("  served from prefetch:");
  console.log(breakdown(served));
  console.log("  downloaded by the call itself:");
  console.log(breakdown(fetched));
}

async function main(): Promise<void> {
  const n = arg("--segments", 200);
  const rounds = arg("--rounds", 21);
  const quick = Deno.args.includes("--quick");
  const tmp = await Deno.makeTempDir({ prefix: "wal-e-bench-wal-" });
  await Deno.chmod(tmp, 0o755);
  try {
    await privateModuleCache(tmp);
    const segs = await realSegments(tmp);
    console.log(`real WAL segments: ${segs.length} × 16 MiB; wal-e: ${REPO}main.ts`);
    await perCall(tmp, segs, rounds);
    await restoreLoop(tmp, segs, 3);
    if (quick) return;
    const envFor = (p: string) => ({
      WALE_FILE_PREFIX: `file://localhost${p}`,
      PATH: Deno.env.get("PATH") ?? "",
    });
    for (const pool of [1, 8]) {
      const dir = join(tmp, `pool${pool}`);
      await lay(dir, segs, n);
      const r = await archiveAll(dir, pool, envFor(join(tmp, `arch${pool}`)));
      console.log(
        `wal-push --pool-size ${pool}: ${r.rate.toFixed(1)} segments/s (${r.calls} calls)`,
      );
    }
    await pgpBench(tmp);
  } finally {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
}

/** Encrypt/decrypt MB/s in-process vs gpg on ~200 MB of lzop data. */
async function pgpBench(tmp: string): Promise<void> {
  const ring = await makeRing("rsa");
  const env = ring.env;
  const settings = { keyId: ring.uid, publicKeyFile: ring.pub, secretKeyFile: ring.sec };
  const input = join(tmp, "data.lzo");
  await run(["sh", "-c", `cat ${tmp}/arch8/wal_005/*.lzo | head -c 200000000 > ${input}`]);
  const size = (await Deno.stat(input)).size;
  const mb = size / 1e6;
  const enc = join(tmp, "data.gpg");
  let t = performance.now();
  const f = await Deno.open(input);
  const out = await Deno.open(enc, { write: true, create: true, truncate: true });
  await (await encryptStream(f.readable, settings)).pipeTo(out.writable);
  const oursEnc = mb / ((performance.now() - t) / 1000);
  t = performance.now();
  await run([
    "sh",
    "-c",
    `gpg --batch -e -z 0 --trust-model always -r ${ring.uid} < ${input} > /dev/null`,
  ], env);
  const gpgEnc = mb / ((performance.now() - t) / 1000);
  t = performance.now();
  const g = await Deno.open(enc);
  for await (const _ of await decryptStream(g.readable, settings, "bench")) { /* drain */ }
  const oursDec = mb / ((performance.now() - t) / 1000);
  t = performance.now();
  await run(["sh", "-c", `gpg --batch -d -q < ${enc} > /dev/null`], env);
  const gpgDec = mb / ((performance.now() - t) / 1000);
  console.log(
    `encrypt: ours ${oursEnc.toFixed(0)} MB/s, gpg ${gpgEnc.toFixed(0)} MB/s, ratio ${
      (oursEnc / gpgEnc).toFixed(2)
    }`,
  );
  console.log(
    `decrypt: ours ${oursDec.toFixed(0)} MB/s, gpg ${gpgDec.toFixed(0)} MB/s, ratio ${
      (oursDec / gpgDec).toFixed(2)
    }`,
  );
}

await main();
