/**
 * The prefetch area as wal-fetch uses it (WAL-E-COMPAT §8.2–8.4): serving a segment from it,
 * and starting the prefetcher. After wal-fetch serves a segment it starts ONE detached
 * `wal-prefetch` process (src/commands/wal_prefetch.ts) for the next N segments (WAL-E forked
 * one per segment), which downloads them into `<pg_wal>/.wal-e/prefetch/`. A segment is
 * published there by rename only after a complete, verified decode; a later wal-fetch promotes
 * it by rename after checking it is a whole segment. In-flight downloads live in
 * `.wal-e/prefetch/running/<SEG>/`; anything not among the next N is cleaned up.
 *
 * Cost per call matters (PostgreSQL starts one wal-fetch per segment): a new prefetcher is
 * started only when fewer than half of the next N are ready or in flight, for all that are
 * missing, so one process start is shared by several segments; it runs under `nice` so it
 * yields the CPU to the foreground call and to PostgreSQL's replay; and the foreground polls
 * for an in-flight segment every few milliseconds. File-system calls on the foreground path
 * are synchronous: each async op costs an event-loop round trip, up to milliseconds.
 */
import { dirname, join } from "../paths.ts";
import { walKey } from "../archive/keys.ts";
import { nextSegmentName, SEGMENT_RE } from "../pg/wal_name.ts";
import type { CommandDeps } from "./context.ts";
import { destinationError } from "./wal_files.ts";

/** The ready area (`.wal-e/prefetch`) and the in-flight area (`running/`) under `base`. */
export function areas(base: string): { done: string; running: string } {
  const done = join(base, ".wal-e", "prefetch");
  return { done, running: join(done, "running") };
}

/** A whole WAL segment is exactly wal_segment_size: a power of two from 1 MiB to 1 GiB. */
function isWholeSegment(size: number): boolean {
  return size >= 1 << 20 && size <= 1 << 30 && (size & (size - 1)) === 0;
}

function baseOf(destination: string): string {
  return Deno.realPathSync(dirname(destination));
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
export async function servePrefetched(
  input: { segmentName: string; destination: string },
  deps: CommandDeps,
): Promise<boolean> {
  if (!SEGMENT_RE.test(input.segmentName)) return false;
  let base: string;
  try {
    base = baseOf(input.destination);
  } catch {
    return false;
  }
  const { done, running } = areas(base);
  const ready = join(done, input.segmentName);
  let lastState = "";
  let lastProgress = performance.now();
  for (;;) {
    // Listings, not a stat of a name that may be absent: see `namesIn`.
    const size = namesIn(done).has(input.segmentName) ? fileSize(ready) : undefined;
    if (size !== undefined) {
      if (!isWholeSegment(size)) {
        removeQuietly(ready);
        return false;
      }
      try {
        Deno.renameSync(ready, input.destination);
      } catch (err) {
        throw destinationError(err, input.destination);
      }
      deps.log.child("wal_e.operator.backup").info({
        msg: "promoted prefetched wal segment",
        structured: {
          action: "wal-fetch",
          key: deps.store.url(walKey(input.segmentName)),
          prefix: deps.store.pathPrefix,
          seg: input.segmentName,
        },
      });
      return true;
    }
    // In flight (or queued in a prefetcher): wait while the prefetch area makes progress; a
    // vanished or stalled download is ours to do.
    if (!namesIn(running).has(input.segmentName)) return false;
    const state = areaState(running);
    const now = performance.now();
    if (state !== lastState) {
      lastState = state;
      lastProgress = now;
    } else if (now - lastProgress > STALL_MS) {
      return false;
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

/** How often the foreground looks for an in-flight segment, and when it stops waiting. */
const POLL_MS = 5;
const STALL_MS = 2_000;

/** A `running/<SEG>` directory that has not changed for this long belongs to a dead prefetcher. */
const STALE_MS = 10_000;

/**
 * Cleans stale prefetch files and, when fewer than half of the next `n` segments are ready or
 * in flight, starts one detached, niced wal-prefetch for all that are missing.
 */
export function startPrefetch(
  name: string,
  destination: string,
  n: number,
  deps: CommandDeps,
): void {
  const candidates = prefetchCandidates(name, n);
  if (candidates.length === 0 || deps.selfCommand === undefined) return;
  try {
    const base = baseOf(destination);
    const { done, running } = areas(base);
    const ready = cleanup(done, candidates);
    const started = cleanup(running, candidates);
    const wanted: string[] = [];
    for (const seg of candidates) {
      if (ready.has(seg)) continue;
      if (started.has(seg) && inFlight(join(running, seg))) continue;
      wanted.push(seg);
    }
    if (wanted.length === 0 || candidates.length - wanted.length >= Math.ceil(n / 2)) return;
    // Marked in flight before the child starts, so the next call neither waits for nothing
    // nor starts a second prefetcher for the same segments.
    for (const seg of wanted) {
      Deno.mkdirSync(join(running, seg), { recursive: true, mode: 0o700 });
    }
    const [program, ...args] = deps.selfCommand;
    if (program === undefined) return;
    const argv = [program, ...args, "wal-prefetch", base, ...wanted];
    const child = new Deno.Command(NICE, {
      args: ["-n", "10", ...argv],
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

/** coreutils' nice (every Debian host has it). */
const NICE = "/usr/bin/nice";

/**
 * Whether `dir` is a live in-flight download: it exists and it, or a file in it, changed in
 * the last STALE_MS. A stale one (its prefetcher was killed) is removed, to be fetched again.
 */
function inFlight(dir: string): boolean {
  let newest = 0;
  try {
    newest = Deno.statSync(dir).mtime?.getTime() ?? 0;
    for (const e of Deno.readDirSync(dir)) {
      newest = Math.max(newest, mtimeOf(join(dir, e.name)));
    }
  } catch {
    return false;
  }
  if (Date.now() - newest < STALE_MS) return true;
  removeQuietly(dir);
  return false;
}

/**
 * Removes the segments in `dir` (the ready or the running area) that are not in `keep`;
 * returns the names it kept.
 */
function cleanup(dir: string, keep: readonly string[]): Set<string> {
  const keepSet = new Set(keep);
  const kept = new Set<string>();
  for (const name of namesIn(dir)) {
    if (!SEGMENT_RE.test(name.slice(0, 24))) continue;
    if (keepSet.has(name)) kept.add(name);
    else removeQuietly(join(dir, name));
  }
  return kept;
}

/**
 * The names in `dir`, none when it does not exist. The foreground asks "is this segment
 * there?" with one listing rather than a stat per name: the normal answer is often "no", and
 * the first failing file-system call costs a process ~1 ms (Deno builds its error machinery).
 */
function namesIn(dir: string): Set<string> {
  const names = new Set<string>();
  try {
    for (const e of Deno.readDirSync(dir)) names.add(e.name);
  } catch { /* no prefetch area yet */ }
  return names;
}

function mtimeOf(path: string): number {
  try {
    return Deno.statSync(path).mtime?.getTime() ?? 0;
  } catch {
    return 0;
  }
}

function removeQuietly(path: string): void {
  try {
    Deno.removeSync(path, { recursive: true });
  } catch { /* gone already */ }
}

function fileSize(path: string): number | undefined {
  try {
    const st = Deno.statSync(path);
    return st.isFile ? st.size : undefined;
  } catch {
    return undefined;
  }
}

/** Names and sizes of every file under `running/*` : any change is a prefetcher's progress. */
function areaState(running: string): string {
  const parts: string[] = [];
  try {
    for (const seg of Deno.readDirSync(running)) {
      parts.push(seg.name);
      const dir = join(running, seg.name);
      try {
        for (const e of Deno.readDirSync(dir)) {
          parts.push(`${e.name}:${fileSize(join(dir, e.name)) ?? -1}`);
        }
      } catch { /* finished meanwhile */ }
    }
  } catch { /* no area */ }
  return parts.sort().join(",");
}
