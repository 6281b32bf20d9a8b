// deno-lint-ignore-file no-console -- a benchmark reports on the console
/**
 * WAL benchmark (issue #6), every figure measured in this run:
 * - wal-push of N segments as PostgreSQL's archiver drives it (one process per call, oldest
 *   `.ready` first, the caller marking its own segment done): `--pool-size 1` vs `8`, in
 *   segments/s; and the single-segment p50/p95 latency against `lzop -c seg > f && sync`.
 * - restore_command's calling pattern over M segments: wal-fetch with `-p0` vs the default
 *   prefetch of 8, in segments/s (PostgreSQL's replay time is not included).
 * - OpenPGP encrypt/decrypt throughput in-process vs the `gpg` binary on the same lzop data.
 *
 *   deno run -A scripts/bench/wal.ts [--segments 200] [--fetch 100]
 * Segments are real WAL written by pgbench in a temporary PostgreSQL 15 cluster, reused
 * under consecutive names.
 */
import { join } from "node:path";
import { decryptStream, encryptStream } from "../../src/codec/pgp.ts";
import { makeRing } from "../../test/support/gpg.ts";

const PG_BIN = "/usr/lib/postgresql/15/bin";
const REPO = new URL("../../", import.meta.url).pathname;
const WAL_E = [
  Deno.execPath(),
  "run",
  "-A",
  "--quiet",
  "--config",
  `${REPO}deno.json`,
  `${REPO}main.ts`,
];

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
  const lat: number[] = [];
  const t0 = performance.now();
  let count = 0;
  for (;;) {
    const ready = (await Array.fromAsync(Deno.readDir(join(dir, "archive_status"))))
      .map((e) => e.name).filter((n) => n.endsWith(".ready")).sort();
    const next = ready[0]?.slice(0, 24);
    if (next === undefined) break;
    const t = performance.now();
    await run([...WAL_E, "wal-push", "-p", String(pool), join(dir, next)], env);
    lat.push(performance.now() - t);
    await Deno.rename(
      join(dir, "archive_status", `${next}.ready`),
      join(dir, "archive_status", `${next}.done`),
    );
    count++;
  }
  const done = (await Array.fromAsync(Deno.readDir(join(dir, "archive_status")))).length;
  return { rate: done / ((performance.now() - t0) / 1000), lat, calls: count };
}

async function main(): Promise<void> {
  const n = arg("--segments", 200);
  const m = arg("--fetch", 100);
  const tmp = await Deno.makeTempDir({ prefix: "wal-e-bench-wal-" });
  await Deno.chmod(tmp, 0o755);
  try {
    const segs = await realSegments(tmp);
    console.log(`real WAL segments: ${segs.length} × 16 MiB, reused for ${n} names`);
    const envFor = (p: string) => ({
      WALE_FILE_PREFIX: `file://localhost${p}`,
      PATH: Deno.env.get("PATH") ?? "",
    });

    // Single-segment latency vs the native pipe.
    const one = join(tmp, "one");
    await lay(one, segs, 1);
    const ours: number[] = [];
    const native: number[] = [];
    for (let i = 0; i < 15; i++) {
      let t = performance.now();
      await run([...WAL_E, "wal-push", "-p1", join(one, segName(1))], envFor(join(tmp, "a1")));
      ours.push(performance.now() - t);
      t = performance.now();
      await run([
        "sh",
        "-c",
        `lzop -c '${join(one, segName(1))}' > '${join(tmp, "native.lzo")}' && sync`,
      ]);
      native.push(performance.now() - t);
    }
    console.log(
      `wal-push single segment p50 ${median(ours).toFixed(1)} ms p95 ${
        pct(ours, 0.95).toFixed(1)
      } ms; ` +
        `lzop+sync p50 ${median(native).toFixed(1)} ms`,
    );
    console.log(`wal-push p50 ratio-vs-native ${(median(ours) / median(native)).toFixed(2)}`);

    for (const pool of [1, 8]) {
      const dir = join(tmp, `pool${pool}`);
      await lay(dir, segs, n);
      const r = await archiveAll(dir, pool, envFor(join(tmp, `arch${pool}`)));
      console.log(
        `wal-push --pool-size ${pool}: ${r.rate.toFixed(1)} segments/s (${r.calls} calls)`,
      );
    }

    // restore_command pattern over m segments from the pool-8 archive.
    for (const prefetch of [0, 8]) {
      const walDir = join(tmp, `restore${prefetch}`);
      await Deno.mkdir(walDir);
      const t0 = performance.now();
      for (let i = 0; i < m; i++) {
        await run(
          [
            ...WAL_E,
            "wal-fetch",
            "-p",
            String(prefetch),
            segName(i + 1),
            join(walDir, "RECOVERYXLOG"),
          ],
          envFor(join(tmp, "arch8")),
        );
      }
      const rate = m / ((performance.now() - t0) / 1000);
      console.log(`wal-fetch --prefetch ${prefetch}: ${rate.toFixed(1)} segments/s`);
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
