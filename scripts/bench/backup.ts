// deno-lint-ignore-file no-console -- a benchmark reports on the console
/**
 * Benchmark: base backup push and fetch of a `pgbench -i -s 50` cluster (stopped, pushed with
 * --while-offline) to a local file store, against `tar -c | lzop` and `lzop -d | tar -x` on the
 * same data, in the same run. Each round runs the pipe, then ours at the default settings,
 * with `--pool-size 1`, and encrypted (an RSA key from a throwaway gpg home), one after
 * another; rounds repeat (3 by default) and the medians of the per-round ratios are printed,
 * with their range, and the peak RSS of each (`/usr/bin/time -f %M`).
 *
 *   DENO_DIR=.deno-dir deno run --allow-all scripts/bench/backup.ts [--scale N] [--rounds N]
 */
import { join } from "node:path";
import { makeSharedTempDir, PG_BIN, PgCluster, sh } from "../../test/support/postgres.ts";
import { WAL_E_CMD } from "../../test/support/wal_e.ts";
import { dispose, makeRing } from "../../test/support/gpg.ts";

interface Run {
  seconds: number;
  rssKiB: number;
}

/** Runs `argv` under /usr/bin/time; returns wall time and peak RSS. */
async function timed(argv: string[], env: Record<string, string> = {}): Promise<Run> {
  await new Deno.Command("sync").output(); // earlier runs' writeback stays out of this one
  const out = await new Deno.Command("/usr/bin/time", {
    args: ["-f", "TIME %e %M", ...argv],
    env: { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin", NO_COLOR: "1", ...env },
    stdout: "null",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stderr);
  const m = /TIME ([\d.]+) (\d+)\s*$/.exec(text);
  if (!out.success || m === null) throw new Error(`${argv.join(" ")} failed:\n${text}`);
  return { seconds: Number(m[1]), rssKiB: Number(m[2]) };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid] as number : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

function arg(name: string, fallback: number): number {
  const i = Deno.args.indexOf(name);
  return i >= 0 ? Number(Deno.args[i + 1]) : fallback;
}

const scale = arg("--scale", 50);
const rounds = arg("--rounds", 3);
const tmp = await makeSharedTempDir("wal-e-bench-");
const ring = await makeRing("rsa");
try {
  const pg = await PgCluster.init(join(tmp, "data"));
  await pg.start();
  await sh([`${PG_BIN}/pgbench`, "-i", "-s", String(scale), "-q"], { env: pg.pgEnv });
  await pg.psql("CHECKPOINT");
  await pg.stop();
  const du = await sh(["du", "-sm", "--exclude=pg_wal", pg.dataDir], { asPostgres: false });
  console.log(
    `data directory: ${du.stdout.split("\t")[0]} MiB without pg_wal (pgbench scale ${scale}); ` +
      `${navigator.hardwareConcurrency} cores; ${rounds} rounds`,
  );
  const base = {
    DENO_DIR: Deno.env.get("DENO_DIR") ? Deno.realPathSync(Deno.env.get("DENO_DIR") ?? "") : "",
  };
  const gpgEnv = {
    WALE_GPG_KEY_ID: ring.uid,
    WALE_GPG_PUBLIC_KEY_FILE: ring.pub,
    WALE_GPG_SECRET_KEY_FILE: ring.sec,
  };
  const variants = [
    { name: "default", args: [] as string[], env: {} as Record<string, string> },
    { name: "pool 1", args: ["--pool-size", "1"], env: {} },
    { name: "encrypted", args: [], env: gpgEnv },
  ];
  const store = (v: string) => join(tmp, `store-${v.replace(" ", "")}`);
  const nativeFile = join(tmp, "native.tar.lzo");
  const runs: Record<string, Run[]> = {};
  const record = (label: string, r: Run): void => {
    (runs[label] ??= []).push(r);
    console.log(
      `  ${label.padEnd(26)} ${r.seconds.toFixed(2)} s  peak RSS ${
        (r.rssKiB / 1024).toFixed(1)
      } MiB`,
    );
  };

  for (let round = 1; round <= rounds; round++) {
    console.log(`round ${round}: push`);
    await Deno.remove(nativeFile).catch(() => {});
    record(
      "push: tar | lzop",
      await timed([
        "sh",
        "-c",
        `tar -cf - --exclude=./pg_wal -C '${pg.dataDir}' . | lzop > '${nativeFile}'`,
      ]),
    );
    for (const v of variants) {
      await Deno.remove(store(v.name), { recursive: true }).catch(() => {});
      record(
        `push: ours, ${v.name}`,
        await timed(
          [...WAL_E_CMD, "backup-push", "--while-offline", ...v.args, pg.dataDir],
          { WALE_FILE_PREFIX: `file://localhost${store(v.name)}`, ...base, ...v.env },
        ),
      );
    }
    console.log(`round ${round}: fetch`);
    const nativeOut = join(tmp, "native_out");
    await Deno.remove(nativeOut, { recursive: true }).catch(() => {});
    await Deno.mkdir(nativeOut);
    record(
      "fetch: lzop -d | tar -x",
      await timed(["sh", "-c", `lzop -dc '${nativeFile}' | tar -xf - -C '${nativeOut}'`]),
    );
    for (const v of variants) {
      const out = join(tmp, "fetched");
      await Deno.remove(out, { recursive: true }).catch(() => {});
      record(
        `fetch: ours, ${v.name}`,
        await timed(
          [...WAL_E_CMD, "backup-fetch", ...v.args, out, "LATEST"],
          { WALE_FILE_PREFIX: `file://localhost${store(v.name)}`, ...base, ...v.env },
        ),
      );
    }
  }

  const stored = await sh(["du", "-sm", store("default")], { asPostgres: false });
  console.log(`\nstored: ${stored.stdout.split("\t")[0]} MiB per backup`);
  console.log("medians over the rounds (ratio: median of per-round ratios, min–max):");
  const summary = (label: string, ref: string): void => {
    const a = runs[label] ?? [];
    const b = runs[ref] ?? [];
    const ratios = a.map((r, i) => r.seconds / (b[i]?.seconds ?? NaN));
    console.log(
      `${label.padEnd(26)} ${median(a.map((r) => r.seconds)).toFixed(2)} s, ` +
        `peak RSS ${(median(a.map((r) => r.rssKiB)) / 1024).toFixed(1)} MiB (max ${
          (Math.max(...a.map((r) => r.rssKiB)) / 1024).toFixed(1)
        }); ${median(ratios).toFixed(2)}× ${ref} (${Math.min(...ratios).toFixed(2)}–${
          Math.max(...ratios).toFixed(2)
        })`,
    );
  };
  for (const op of ["push", "fetch"]) {
    const pipe = op === "push" ? "push: tar | lzop" : "fetch: lzop -d | tar -x";
    console.log(
      `${pipe.padEnd(26)} ${median((runs[pipe] ?? []).map((r) => r.seconds)).toFixed(2)} s`,
    );
    summary(`${op}: ours, default`, pipe);
    summary(`${op}: ours, pool 1`, pipe);
    summary(`${op}: ours, encrypted`, pipe);
    summary(`${op}: ours, encrypted`, `${op}: ours, default`);
  }
} finally {
  await dispose(ring).catch(() => {});
  await Deno.remove(tmp, { recursive: true }).catch(() => {});
}
