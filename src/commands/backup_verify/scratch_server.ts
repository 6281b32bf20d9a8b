/**
 * The restore drill's server process: `postgres` started directly as our child (its output
 * appended to a log file in the scratch directory), watched until recovery has promoted it,
 * and stopped by its PID. Also waits for the helper processes it leaves (wal-fetch and its
 * detached wal-prefetch) before the scratch directory is removed.
 */
import { join } from "node:path";
import { UserError } from "../../errors.ts";
import type { Logger } from "../../log.ts";
import {
  diagnose,
  type FailureContext,
  RecoveryLog,
  type RecoveryProgress,
} from "./recovery_log.ts";
import type { PgBinaries } from "./scratch_config.ts";

/** A running (or exited) drill server. */
export class ScratchServer {
  readonly #child: Deno.ChildProcess;
  #status: Deno.CommandStatus | undefined;
  /** Settles when the postmaster exits. */
  readonly exited: Promise<Deno.CommandStatus>;
  readonly dataDir: string;
  readonly logFile: string;

  private constructor(child: Deno.ChildProcess, dataDir: string, logFile: string) {
    this.#child = child;
    this.dataDir = dataDir;
    this.logFile = logFile;
    this.exited = child.status.then((s) => (this.#status = s));
  }

  /**
   * Starts `postgres -D dataDir` with exactly `env` (the environment `restore_command` needs:
   * store prefix, credentials, DENO_DIR, PATH). `sh` only redirects output and execs, so the
   * child's PID is the postmaster's.
   */
  static start(
    bins: PgBinaries,
    dataDir: string,
    logFile: string,
    env: Readonly<Record<string, string>>,
  ): ScratchServer {
    const child = new Deno.Command("/bin/sh", {
      args: ["-c", 'exec "$0" -D "$1" >>"$2" 2>&1', bins.postgres, dataDir, logFile],
      env: { ...env },
      clearEnv: true,
      cwd: dataDir,
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    return new ScratchServer(child, dataDir, logFile);
  }

  get pid(): number {
    return this.#child.pid;
  }

  /** The exit status, once the postmaster has exited. */
  get status(): Deno.CommandStatus | undefined {
    return this.#status;
  }

  /**
   * Stops the server: fast shutdown (SIGINT), then immediate (SIGQUIT) after 60 s, then
   * SIGKILL after 10 s more. Resolves once it has exited; says how it was stopped.
   */
  async stop(): Promise<string> {
    if (this.#status !== undefined) return "it had exited";
    const steps: [Deno.Signal, number, string][] = [
      ["SIGINT", 60_000, "fast shutdown"],
      ["SIGQUIT", 10_000, "immediate shutdown"],
      ["SIGKILL", 10_000, "killed"],
    ];
    for (const [signal, ms, how] of steps) {
      try {
        this.#child.kill(signal);
      } catch {
        break; // exited meanwhile
      }
      if (await settlesWithin(this.exited, ms)) return how;
    }
    await this.exited;
    return "killed";
  }

  /** The status line of `postmaster.pid` (`starting`, `standby`, `ready`, `stopping`). */
  async pmStatus(): Promise<string | undefined> {
    const text = await Deno.readTextFile(join(this.dataDir, "postmaster.pid")).catch(() => "");
    return text.split("\n")[7]?.trim() || undefined;
  }
}

async function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<false>((r) => (timer = setTimeout(() => r(false), ms)));
  try {
    return await Promise.race([p.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Waiting limits; tests shorten them. */
export interface WaitOptions {
  log: Logger;
  signal: AbortSignal;
  context: FailureContext;
  /** Fail when neither the log nor the postmaster status changed for this long. */
  stallMs?: number;
  /** How often a progress record is logged. */
  progressEveryMs?: number;
}

const POLL_MS = 250;

/**
 * Waits until recovery has promoted the server (postmaster status `ready`, or the log's
 * `database system is ready to accept connections`), logging progress. Throws a UserError
 * quoting the server log when the server exits first, when nothing moves for `stallMs`, or
 * when `signal` aborts.
 */
export async function waitForPromotion(
  server: ScratchServer,
  o: WaitOptions,
): Promise<RecoveryProgress> {
  const stallMs = o.stallMs ?? 10 * 60_000;
  const every = o.progressEveryMs ?? 10_000;
  const reader = new LogReader(server.logFile);
  const log = new RecoveryLog();
  let lastChange = performance.now();
  let lastReport = lastChange;
  let lastStatus: string | undefined;
  let announced = { consistent: false, stopped: false };
  for (;;) {
    const text = await reader.read();
    if (text !== "") {
      log.feed(text);
      lastChange = performance.now();
    }
    announced = announce(log.progress, announced, o.log);
    const status = await server.pmStatus();
    if (status !== lastStatus) {
      lastStatus = status;
      lastChange = performance.now();
    }
    if ((status === "ready" || log.progress.ready) && server.status === undefined) {
      return log.progress;
    }
    if (server.status !== undefined) {
      log.feed((await reader.read()) + "\n");
      throw failure(log, o.context, `exited with status ${server.status.code}`);
    }
    if (o.signal.aborted) {
      throw new UserError("restore drill interrupted", {
        detail: `Recovery was still running: ${describeProgress(log.progress)}.`,
      });
    }
    const now = performance.now();
    if (now - lastChange > stallMs) {
      const d = failure(log, o.context, `made no progress for ${Math.round(stallMs / 1000)} s`);
      throw new UserError("restore drill failed: recovery made no progress", {
        detail: d.detail,
        hint: "A restore_command that hangs (an unreachable store) or a replay stuck on a " +
          "lock would stall a real restore the same way.",
      });
    }
    if (now - lastReport >= every) {
      lastReport = now;
      o.log.info({ msg: "recovery in progress", detail: `${describeProgress(log.progress)}.` });
    }
    await Promise.race([pause(POLL_MS), server.exited]);
  }
}

function announce(
  p: RecoveryProgress,
  done: { consistent: boolean; stopped: boolean },
  log: Logger,
): { consistent: boolean; stopped: boolean } {
  if (!done.consistent && p.consistentAt !== undefined) {
    log.info({
      msg: "the restored cluster reached a consistent state",
      detail: `Consistent at ${p.consistentAt} after ${p.restoredFiles} file(s) from the archive.`,
    });
  }
  if (!done.stopped && p.stoppedAt !== undefined) {
    log.info({ msg: "recovery reached its target", detail: `Recovery stopping ${p.stoppedAt}.` });
  }
  return { consistent: p.consistentAt !== undefined, stopped: p.stoppedAt !== undefined };
}

/** One line on how far recovery got. */
export function describeProgress(p: RecoveryProgress): string {
  const last = p.lastRestored === undefined ? "" : ` (the last ${p.lastRestored})`;
  const consistent = p.consistentAt === undefined
    ? "not yet consistent"
    : `consistent at ${p.consistentAt}`;
  return `${p.restoredFiles} file(s) restored from the archive${last}, ${consistent}`;
}

function failure(log: RecoveryLog, context: FailureContext, how: string): UserError {
  const lines = log.relevantLines();
  const d = diagnose(lines, context);
  return new UserError(`restore drill failed: ${d.reason}`, {
    detail: `The drill's server ${how} (${describeProgress(log.progress)}); its log says:\n` +
      lines.map((l) => `  ${l}`).join("\n"),
    hint: d.hint,
  });
}

function pause(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Reads a growing file from where the last read stopped (the whole file may be large). */
class LogReader {
  readonly #path: string;
  #offset = 0;
  readonly #decoder = new TextDecoder();

  constructor(path: string) {
    this.#path = path;
  }

  async read(): Promise<string> {
    let file: Deno.FsFile;
    try {
      file = await Deno.open(this.#path);
    } catch {
      return ""; // not created yet
    }
    try {
      await file.seek(this.#offset, Deno.SeekMode.Start);
      const buf = new Uint8Array(256 * 1024);
      let text = "";
      for (;;) {
        const n = await file.read(buf);
        if (n === null || n === 0) break;
        this.#offset += n;
        text += this.#decoder.decode(buf.subarray(0, n), { stream: true });
      }
      return text;
    } finally {
      file.close();
    }
  }
}

/**
 * Waits (up to `timeoutMs`) for processes still using `dir`: a wal-fetch PostgreSQL started
 * (its working directory is the data directory) or the detached wal-prefetch it spawned (its
 * arguments name pg_wal), which would otherwise recreate directories after the scratch
 * directory is removed. Returns the PIDs still there at the deadline. Linux `/proc` only;
 * elsewhere it returns at once.
 */
export async function waitForHelpers(dir: string, timeoutMs: number): Promise<number[]> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const pids = await processesUsing(dir);
    if (pids.length === 0 || performance.now() > deadline) return pids;
    await pause(200);
  }
}

async function processesUsing(dir: string): Promise<number[]> {
  const out: number[] = [];
  let entries: AsyncIterable<Deno.DirEntry>;
  try {
    entries = Deno.readDir("/proc");
  } catch {
    return out;
  }
  try {
    for await (const e of entries) {
      if (!/^\d+$/.test(e.name) || Number(e.name) === Deno.pid) continue;
      const cwd = await Deno.readLink(`/proc/${e.name}/cwd`).catch(() => "");
      const argv = await Deno.readTextFile(`/proc/${e.name}/cmdline`).catch(() => "");
      if (cwd === dir || cwd.startsWith(`${dir}/`) || argv.includes(`${dir}/`)) {
        out.push(Number(e.name));
      }
    }
  } catch {
    // no /proc
  }
  return out;
}
