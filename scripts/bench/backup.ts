// deno-lint-ignore-file no-console -- a benchmark reports on the console
/**
 * Benchmark: base backup push and fetch of a `pgbench -i -s 50` cluster (stopped, pushed with
 * --while-offline) to a local file store, against `tar -c | lzop` and `lzop -d | tar -x` on the
 * same data in the same run. Prints wall times, peak RSS (`/usr/bin/time -f %M`) and ratios.
 *
 *   DENO_DIR=.deno-dir deno run --allow-all scripts/bench/backup.ts [--scale N]
 */
import { join } from "node:path";
import { makeSharedTempDir, PG_BIN, PgCluster, sh } from "../../test/support/postgres.ts";
import { WAL_E_CMD } from "../../test/support/wal_e.ts";

interface Run {
  seconds: number;
  rssKiB: number;
}

/** Runs `argv` under /usr/bin/time; returns wall time and peak RSS. */
async function timed(argv: string[], env: Record<string, string> = {}): Promise<Run> {
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

function line(label: string, r: Run): void {
  console.log(
    `${label.padEnd(28)} ${r.seconds.toFixed(2)} s  peak RSS ${(r.rssKiB / 1024).toFixed(1)} MiB`,
  );
}

const scaleArg = Deno.args.indexOf("--scale");
const scale = scaleArg >= 0 ? Number(Deno.args[scaleArg + 1]) : 50;
const tmp = await makeSharedTempDir("wal-e-bench-");
try {
  const pg = await PgCluster.init(join(tmp, "data"));
  await pg.start();
  await sh([`${PG_BIN}/pgbench`, "-i", "-s", String(scale), "-q"], { env: pg.pgEnv });
  await pg.psql("CHECKPOINT");
  await pg.stop();
  const du = await sh(["du", "-sm", pg.dataDir], { asPostgres: false });
  console.log(`data directory: ${du.stdout.split("\t")[0]} MiB (pgbench scale ${scale})`);
  const deno = {
    DENO_DIR: Deno.env.get("DENO_DIR") ? Deno.realPathSync(Deno.env.get("DENO_DIR") ?? "") : "",
  };

  const nativeFile = join(tmp, "native.tar.lzo");
  const nativePush = await timed([
    "sh",
    "-c",
    `tar -cf - --exclude=./pg_wal -C '${pg.dataDir}' . | lzop > '${nativeFile}'`,
  ]);
  line("native tar | lzop", nativePush);
  const nativeOut = join(tmp, "native_out");
  await Deno.mkdir(nativeOut);
  const nativeFetch = await timed([
    "sh",
    "-c",
    `lzop -dc '${nativeFile}' | tar -xf - -C '${nativeOut}'`,
  ]);
  line("native lzop -d | tar -x", nativeFetch);

  for (const pool of [1, 4]) {
    const prefix = `file://localhost${tmp}/store${pool}`;
    const push = await timed(
      [...WAL_E_CMD, "backup-push", "--while-offline", "--pool-size", String(pool), pg.dataDir],
      { WALE_FILE_PREFIX: prefix, ...deno },
    );
    line(`backup-push --pool-size ${pool}`, push);
    const out = join(tmp, `fetched${pool}`);
    const fetch = await timed(
      [...WAL_E_CMD, "backup-fetch", "--pool-size", String(pool), out, "LATEST"],
      { WALE_FILE_PREFIX: prefix, ...deno },
    );
    line(`backup-fetch --pool-size ${pool}`, fetch);
    const stored = await sh(["du", "-sm", `${tmp}/store${pool}`], { asPostgres: false });
    console.log(`stored: ${stored.stdout.split("\t")[0]} MiB`);
    console.log(
      `backup push ratio-vs-native (pool ${pool}) ${
        (push.seconds / nativePush.seconds).toFixed(2)
      }`,
    );
    console.log(
      `backup fetch ratio-vs-native (pool ${pool}) ${
        (fetch.seconds / nativeFetch.seconds).toFixed(2)
      }`,
    );
    await Deno.remove(out, { recursive: true });
  }
} finally {
  await Deno.remove(tmp, { recursive: true }).catch(() => {});
}
