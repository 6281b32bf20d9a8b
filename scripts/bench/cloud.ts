// deno-lint-ignore-file no-console -- a benchmark reports on the console
/**
 * Cloud backend benchmark on loopback (issues #8, #9): per backend (Ceph RGW for S3, Azurite
 * for WABS, Swift with tempauth), a 1 GiB object streamed up and down by our Store (MB/s, peak
 * RSS of the process) beside Debian's `aws s3 cp` of the same file to the same RGW, and `curl`
 * to the same Swift, in the same run; then wal-push
 * of N 16 MiB segments, one process per segment (latency including start-up), against the
 * cloud store and against the local store. Prints ratios against the targets: throughput
 * ≥ 1.0× awscli, peak RSS ≤ 128 MiB, wal-push p50 within 1.5× of local.
 *
 * Usage: deno run -A scripts/bench/cloud.ts [--segments N] [--mib M] [--rounds R]
 *          [--backends s3,wabs,swift]
 * Transfers run R times (default 3), ours and the reference alternating; medians are reported.
 * Needs scripts/setup's packages (ceph, awscli, azurite). Each transfer runs in a child
 * process (this file with `--child`), so its peak RSS (VmHWM) is the store's alone.
 */
import { join } from "node:path";
import { storeSettingsFromEnv } from "../../src/cli/config.ts";
import { openStore, type StoreSettings } from "../../src/storage/open.ts";
import { V8_FLAGS } from "../../main.ts";
import { azurite, newContainer, stopAzurite, wabsEnv } from "../../test/support/azurite.ts";
import { newBucket, rgw, s3Env, stopRgw } from "../../test/support/rgw.ts";
import {
  adminSession,
  newContainer as newSwiftContainer,
  stopSwift,
  swift,
  tempauthEnv,
} from "../../test/support/swift.ts";

const REPO = new URL("../../", import.meta.url).pathname;
const AWS = "/usr/bin/aws"; // Debian's awscli (a pyenv one may shadow it on PATH)

interface Measure {
  seconds: number;
  peakRssMiB: number;
}

function settingsOf(env: Record<string, string>): StoreSettings {
  return storeSettingsFromEnv(env);
}

function peakRssMiB(): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(Deno.readTextFileSync("/proc/self/status"));
  return Number(m?.[1] ?? 0) / 1024;
}

/** Child mode: one put or get, then prints {seconds, peakRssMiB} as JSON. */
async function child(op: string, file: string, env: Record<string, string>): Promise<void> {
  const url = env["WALE_S3_PREFIX"] ?? env["WALE_WABS_PREFIX"] ?? env["WALE_SWIFT_PREFIX"];
  const store = await openStore(url, settingsOf(env));
  const t0 = performance.now();
  if (op === "put") {
    const f = await Deno.open(file);
    await store.put("bench/object", f.readable, { size: (await Deno.stat(file)).size });
  } else {
    let n = 0;
    for await (const chunk of await store.get("bench/object")) n += chunk.length;
    if (n !== (await Deno.stat(file)).size) throw new Error(`short read: ${n}`);
  }
  const seconds = (performance.now() - t0) / 1000;
  await store.close();
  const out: Measure = { seconds, peakRssMiB: peakRssMiB() };
  await Deno.stdout.write(new TextEncoder().encode(JSON.stringify(out)));
}

async function runChild(op: string, file: string, env: Record<string, string>): Promise<Measure> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--quiet",
      `--v8-flags=${V8_FLAGS}`,
      "--config",
      `${REPO}deno.json`,
      new URL(import.meta.url).pathname,
      "--child",
      op,
      file,
      JSON.stringify(env),
    ],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  if (out.code !== 0) throw new Error(`child ${op} failed`);
  return JSON.parse(new TextDecoder().decode(out.stdout)) as Measure;
}

/** Runs a command under /usr/bin/time; returns wall seconds and max RSS. */
async function timed(cmd: string[], env: Record<string, string>): Promise<Measure> {
  const out = await new Deno.Command("/usr/bin/time", {
    args: ["-f", "%e %M", ...cmd],
    env,
    stdout: "null",
    stderr: "piped",
  }).output();
  const err = new TextDecoder().decode(out.stderr).trim().split("\n");
  if (out.code !== 0) throw new Error(`${cmd.join(" ")} failed:\n${err.join("\n")}`);
  const [secs, kb] = (err.at(-1) ?? "0 0").split(" ");
  return { seconds: Number(secs), peakRssMiB: Number(kb) / 1024 };
}

/** A file of `mib` MiB that compresses like real data would not (worst case for throughput). */
async function makeFile(path: string, mib: number): Promise<void> {
  const f = await Deno.open(path, { write: true, create: true, truncate: true });
  const block = crypto.getRandomValues(new Uint8Array(65536));
  const buf = new Uint8Array(1 << 20);
  for (let i = 0; i < mib; i++) {
    for (let off = 0; off < buf.length; off += block.length) buf.set(block, off);
    new DataView(buf.buffer).setUint32(0, i);
    await f.write(buf);
  }
  f.close();
}

/** A 16 MiB WAL-like segment: mostly zero pages with some records (compresses ~4:1). */
async function makeSegment(path: string, seed: number): Promise<void> {
  const seg = new Uint8Array(16 << 20);
  const rnd = new Uint8Array(1 << 20);
  for (let off = 0; off < rnd.length; off += 65536) {
    crypto.getRandomValues(rnd.subarray(off, off + 65536));
  }
  for (let page = 0; page < seg.length / 8192; page++) {
    const used = (page * 7919 + seed) % 8192;
    seg.set(
      rnd.subarray(
        (page * 4099) % (rnd.length - 8192),
        (page * 4099) % (rnd.length - 8192) + used / 4,
      ),
      page * 8192,
    );
  }
  await Deno.writeFile(path, seg);
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
}

async function walPushLatencies(
  dir: string,
  n: number,
  env: Record<string, string>,
): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const name = `0000000100000000000000${(i + 16).toString(16).toUpperCase().padStart(2, "0")}`;
    const t0 = performance.now();
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "--quiet",
        `--v8-flags=${V8_FLAGS}`,
        "--config",
        `${REPO}deno.json`,
        `${REPO}main.ts`,
        "wal-push",
        join(dir, "pg_wal", name),
      ],
      env: { ...env, WALE_LOG_DESTINATION: "stderr" },
      stdout: "null",
      stderr: "piped",
    }).output();
    if (out.code !== 0) throw new Error(`wal-push failed: ${new TextDecoder().decode(out.stderr)}`);
    times.push((performance.now() - t0) / 1000);
  }
  return times;
}

async function main(): Promise<void> {
  const args = Deno.args;
  const segments = Number(args[args.indexOf("--segments") + 1] ?? 100) || 100;
  const mib = Number(args[args.indexOf("--mib") + 1] ?? 1024) || 1024;
  const rounds = Number(args[args.indexOf("--rounds") + 1] ?? 3) || 3;
  const wanted = args.includes("--backends")
    ? (args[args.indexOf("--backends") + 1] ?? "").split(",")
    : ["s3", "wabs", "swift"];
  Deno.env.set("RGW_TEST_MEMSTORE_BYTES", "6G");
  const tmp = await Deno.makeTempDir({ prefix: "wal-e-bench-cloud-" });
  const rows: string[] = [];
  const say = (s: string) => {
    rows.push(s);
    console.log(s);
  };
  try {
    const file = join(tmp, "object.bin");
    await makeFile(file, mib);
    const backends: [string, Record<string, string>][] = [];
    const r = wanted.includes("s3") ? await rgw() : undefined;
    if (r !== undefined) backends.push(["s3", s3Env(r, await newBucket(r, "bench"))]);
    if (wanted.includes("wabs")) {
      const a = await azurite();
      backends.push(["wabs", wabsEnv(a, await newContainer(a, "bench"))]);
    }
    const sw = wanted.includes("swift") ? await swift() : undefined;
    let swiftSession: { url: string; token: string } | undefined;
    let swiftContainer = "";
    if (sw !== undefined) {
      swiftSession = await adminSession(sw);
      swiftContainer = await newSwiftContainer(swiftSession, "bench");
      backends.push(["swift", {
        ...tempauthEnv(sw),
        WALE_SWIFT_PREFIX: `swift://${swiftContainer}/pg`,
      }]);
    }
    const mb = (mib * 1048576) / 1e6;
    say(`# ${mib} MiB object, loopback, MB/s = 10^6 B/s`);
    say(`backend | direction | tool | median s of ${rounds} | MB/s | peak RSS MiB | each round`);

    // Rounds alternate ours and the reference tool, so load from other jobs hits both; the
    // median of each is reported (one run of either moved by ±15% on the 2-core machine).
    const samples: Record<string, Measure[]> = {};
    const add = (key: string, m: Measure) => (samples[key] ??= []).push(m);
    const s3Env0 = r === undefined ? undefined : backends[0]?.[1] ?? {};
    for (let round = 0; round < rounds; round++) {
      for (const [name, env] of backends) {
        for (const op of ["put", "get"]) {
          add(`${name}|${op}|wal-e store`, await runChild(op, file, env));
        }
      }
      if (swiftSession !== undefined) {
        const obj = `${swiftSession.url}/${swiftContainer}/curl-object`;
        const auth = `X-Auth-Token: ${swiftSession.token}`;
        const path = { PATH: "/usr/bin:/bin" };
        add("swift|put|curl", await timed(["curl", "-sSf", "-H", auth, "-T", file, obj], path));
        add(
          "swift|get|curl",
          await timed(["curl", "-sSf", "-H", auth, "-o", "/dev/null", obj], path),
        );
        // The object our store wrote (a Static Large Object: Swift serves it segment by
        // segment, more work than curl's plain object), through curl: the same server work.
        const ourObj = `${swiftSession.url}/${swiftContainer}//pg/bench/object`;
        add(
          "swift|get|curl (our object)",
          await timed(["curl", "-sSf", "-H", auth, "-o", "/dev/null", ourObj], path),
        );
      }
      if (r !== undefined && s3Env0 !== undefined) {
        const bucket = (s3Env0["WALE_S3_PREFIX"] ?? "").replace(/^s3:\/\//, "").split("/")[0];
        const awsEnv = {
          PATH: "/usr/bin:/bin",
          HOME: tmp,
          AWS_ACCESS_KEY_ID: r.accessKey,
          AWS_SECRET_ACCESS_KEY: r.secretKey,
          AWS_DEFAULT_REGION: "us-east-1",
        };
        const aws = [AWS, "--endpoint-url", r.endpoint, "s3", "cp", "--only-show-errors"];
        add(
          "s3|put|aws s3 cp",
          await timed([...aws, file, `s3://${bucket}/awscli/object`], awsEnv),
        );
        add(
          "s3|get|aws s3 cp",
          await timed([...aws, `s3://${bucket}/awscli/object`, join(tmp, "aws.out")], awsEnv),
        );
        await Deno.remove(join(tmp, "aws.out"));
      }
    }
    /** Median seconds and highest peak RSS of one row's rounds. */
    const row = (key: string): Measure => {
      const all = samples[key] ?? [];
      const secs = all.map((m) => m.seconds).sort((x, y) => x - y);
      return {
        seconds: secs[Math.floor(secs.length / 2)] ?? NaN,
        peakRssMiB: Math.max(...all.map((m) => m.peakRssMiB)),
      };
    };
    for (const key of Object.keys(samples)) {
      const m = row(key);
      const [name, op, tool] = key.split("|");
      say(
        `${name} | ${op} | ${tool} | ${m.seconds.toFixed(2)} | ${(mb / m.seconds).toFixed(0)} | ${
          m.peakRssMiB.toFixed(0)
        } | ${(samples[key] ?? []).map((x) => x.seconds.toFixed(2)).join(" ")}`,
      );
    }
    const ratio = (ourKey: string, refKey: string) =>
      (row(refKey).seconds / row(ourKey).seconds).toFixed(2);
    if (swiftSession !== undefined) {
      for (const op of ["put", "get"]) {
        say(
          `ratio swift ${op} throughput ours/curl: ` +
            `${ratio(`swift|${op}|wal-e store`, `swift|${op}|curl`)} (target ≥ 0.8)`,
        );
      }
      say(
        `ratio swift get throughput ours/curl of the same object: ` +
          `${ratio("swift|get|wal-e store", "swift|get|curl (our object)")} (target ≥ 0.8)`,
      );
    }
    if (r !== undefined) {
      for (const op of ["put", "get"]) {
        say(
          `ratio ${op} throughput ours/awscli: ` +
            `${ratio(`s3|${op}|wal-e store`, `s3|${op}|aws s3 cp`)} (target ≥ 1.0)`,
        );
      }
    }
    const ours = Object.keys(samples).filter((k) => k.endsWith("|wal-e store")).map(row);
    const peak = Math.max(...ours.map((m) => m.peakRssMiB));
    say(`peak RSS of our transfers: ${peak.toFixed(0)} MiB (target ≤ 128)`);

    const walDir = join(tmp, "wal");
    await Deno.mkdir(join(walDir, "pg_wal", "archive_status"), { recursive: true });
    for (let i = 0; i < segments; i++) {
      const name = `0000000100000000000000${(i + 16).toString(16).toUpperCase().padStart(2, "0")}`;
      await makeSegment(join(walDir, "pg_wal", name), i);
    }
    const local = { WALE_FILE_PREFIX: `file://localhost${tmp}/local-archive` };
    say(`# wal-push of ${segments} × 16 MiB segments, one process each (seconds, incl. start-up)`);
    say("store | p50 | p95 | ratio p50 to local");
    const base = await walPushLatencies(walDir, segments, local);
    say(`local | ${pct(base, 50).toFixed(3)} | ${pct(base, 95).toFixed(3)} | 1.00`);
    for (const [name, env] of backends) {
      const t = await walPushLatencies(walDir, segments, env);
      say(
        `${name} | ${pct(t, 50).toFixed(3)} | ${pct(t, 95).toFixed(3)} | ${
          (pct(t, 50) / pct(base, 50)).toFixed(2)
        } (target ≤ 1.5)`,
      );
    }
  } finally {
    await stopRgw();
    await stopAzurite();
    await stopSwift();
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
}

if (import.meta.main) {
  if (Deno.args[0] === "--child") {
    await child(Deno.args[1] ?? "", Deno.args[2] ?? "", JSON.parse(Deno.args[3] ?? "{}"));
  } else {
    await main();
  }
}
