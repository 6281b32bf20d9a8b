/**
 * WAL prefetch (WAL-E-COMPAT §8.2–8.4). After wal-fetch serves a segment it starts ONE
 * detached `wal-prefetch` process for the next N segments (WAL-E forked one per segment),
 * which downloads them concurrently into `<pg_wal>/.wal-e/prefetch/`. A segment is published
 * there by rename only after a complete, verified decode; a later wal-fetch promotes it by
 * rename after checking it is a whole segment. In-flight downloads live in
 * `.wal-e/prefetch/running/<SEG>/`; anything not among the next N is cleaned up.
 */
import { dirname, join } from "../paths.ts";
import { walKey } from "../archive/keys.ts";
import { runPool } from "../archive/pool.ts";
import { isNotFound } from "../errors.ts";
import { nextSegmentName, SEGMENT_RE } from "../pg/wal_name.ts";
import type { CommandDeps } from "./context.ts";
import { decodeToFile, type WalFetchInput } from "./wal_fetch.ts";
import { checkWalFileName, localFileError } from "./wal_files.ts";

/** Input of wal-prefetch. */
export interface WalPrefetchInput {
  /** Directory holding `.wal-e/prefetch` (normally pg_wal). */
  baseDirectory: string;
  segmentNames: string[];
}

/** Downloads running at once inside one wal-prefetch process. */
const PREFETCH_CONCURRENCY = 4;

function areas(base: string): { done: string; running: string } {
  const done = join(base, ".wal-e", "prefetch");
  return { done, running: join(done, "running") };
}

/** A whole WAL segment is exactly wal_segment_size: a power of two from 1 MiB to 1 GiB. */
function isWholeSegment(size: number): boolean {
  return size >= 1 << 20 && size <= 1 << 30 && (size & (size - 1)) === 0;
}

async function baseOf(destination: string): Promise<string> {
  return await Deno.realPath(dirname(destination));
}

/** The N segments after `name` on its timeline (none for history and other files). */
export function prefetchCandidates(name: string, n: number): string[] {
  const head = name.slice(0, 24);
  if (!SEGMENT_RE.test(head)) return [];
  const out: string[] = [];
  let cur = head;
  for (let i = 0; i < n; i++) out.push(cur = nextSegmentName(cur));
  return out;
}

/**
 * Serves `input.segmentName` from the prefetch area when a verified copy is there (waiting for
 * an in-flight download while it grows). Returns false when the caller must download.
 */
export async function servePrefetched(input: WalFetchInput, deps: CommandDeps): Promise<boolean> {
  if (!SEGMENT_RE.test(input.segmentName)) return false;
  let base: string;
  try {
    base = await baseOf(input.destination);
  } catch {
    return false;
  }
  const { done, running } = areas(base);
  const ready = join(done, input.segmentName);
  let lastSize = -1;
  for (;;) {
    const size = await fileSize(ready);
    if (size !== undefined) {
      if (!isWholeSegment(size)) {
        await Deno.remove(ready).catch(() => {});
        return false;
      }
      await Deno.rename(ready, input.destination);
      deps.log.child("wal_e.operator.backup").info({
        msg: "promoted prefetched wal segment",
        structured: {
          action: "wal-fetch",
          key: deps.store.url(walKey(input.segmentName)),
          prefix: deps.store.pathPrefix,
          seg: input.segmentName,
        },
      });
      await cleanup(base, prefetchCandidates(input.segmentName, input.prefetch));
      return true;
    }
    const growing = await dirSize(join(running, input.segmentName));
    if (growing === undefined || growing <= lastSize) return false;
    lastSize = growing;
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** Cleans stale prefetch files and starts one detached wal-prefetch for what is missing. */
export async function startPrefetch(
  name: string,
  destination: string,
  n: number,
  deps: CommandDeps,
): Promise<void> {
  const candidates = prefetchCandidates(name, n);
  if (candidates.length === 0 || deps.selfCommand === undefined) return;
  try {
    const base = await baseOf(destination);
    await cleanup(base, candidates);
    const { done, running } = areas(base);
    const wanted: string[] = [];
    for (const seg of candidates) {
      if (await fileSize(join(done, seg)) !== undefined) continue;
      if (await dirSize(join(running, seg)) !== undefined) continue;
      wanted.push(seg);
    }
    if (wanted.length === 0) return;
    await Deno.mkdir(running, { recursive: true, mode: 0o700 });
    const [program, ...args] = deps.selfCommand;
    if (program === undefined) return;
    const child = new Deno.Command(program, {
      args: [...args, "wal-prefetch", base, ...wanted],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    child.unref();
  } catch (err) {
    // Prefetch is an optimisation: never fail the fetch PostgreSQL asked for because of it.
    deps.log.child("wal_e.worker.prefetch").warning({
      msg: "could not start WAL prefetch",
      detail: err instanceof Error ? err.message : String(err),
    });
  }
}

/** Runs wal-prefetch: downloads each segment into the prefetch area; resolves to the status. */
export async function walPrefetch(input: WalPrefetchInput, deps: CommandDeps): Promise<number> {
  for (const seg of input.segmentNames) checkWalFileName(seg, "wal-prefetch");
  let base: string;
  try {
    base = await Deno.realPath(input.baseDirectory);
  } catch (err) {
    throw localFileError(err, input.baseDirectory, "the prefetch base directory is not usable");
  }
  const { done, running } = areas(base);
  const log = deps.log.child("wal_e.worker.prefetch");
  let failed = 0;
  const jobs = input.segmentNames.map((seg) => async () => {
    const dir = join(running, seg);
    const key = walKey(seg);
    const fields = {
      action: "wal-prefetch",
      key: deps.store.url(key),
      prefix: deps.store.pathPrefix,
      seg,
    };
    try {
      await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
      log.info({ msg: "begin wal prefetch", structured: { ...fields, state: "begin" } });
      await decodeToFile(key, join(done, seg), deps, { tempDir: dir });
      log.info({ msg: "complete wal prefetch", structured: { ...fields, state: "complete" } });
    } catch (err) {
      failed++;
      log.warning({
        msg: isNotFound(err) ? `Failed to prefetch ${seg}` : "wal prefetch failed",
        detail: err instanceof Error ? err.message : String(err),
        structured: fields,
      });
    } finally {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  });
  await runPool(jobs, PREFETCH_CONCURRENCY);
  return failed === 0 ? 0 : 1;
}

/** Removes prefetched and running segments that are not in `keep`. */
async function cleanup(base: string, keep: readonly string[]): Promise<void> {
  const { done, running } = areas(base);
  const keepSet = new Set(keep);
  for (const dir of [done, running]) {
    try {
      for await (const e of Deno.readDir(dir)) {
        if (!SEGMENT_RE.test(e.name.slice(0, 24)) || keepSet.has(e.name)) continue;
        await Deno.remove(join(dir, e.name), { recursive: true }).catch(() => {});
      }
    } catch { /* no prefetch area yet */ }
  }
}

async function fileSize(path: string): Promise<number | undefined> {
  try {
    const st = await Deno.stat(path);
    return st.isFile ? st.size : undefined;
  } catch {
    return undefined;
  }
}

async function dirSize(path: string): Promise<number | undefined> {
  try {
    let total = 0;
    for await (const e of Deno.readDir(path)) {
      total += (await fileSize(join(path, e.name))) ?? 0;
    }
    return total;
  } catch {
    return undefined;
  }
}
