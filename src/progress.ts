/**
 * Progress of a long transfer (backup-push, backup-fetch): the command counts bytes against an
 * expected total; this module shows them as one status line rewritten a few times a second when
 * stderr is a terminal, or as an INFO record every `intervalMs` otherwise (a log file or the
 * PostgreSQL log gets a line now and then, not a stream of them), and ends with a summary
 * record. Both are INFO: `--terse` and a `WALE_LOG_DESTINATION` without stderr silence them.
 * WAL-E had none of this (it only logged each volume); the records are new, not WAL-E's.
 */
import type { Logger, StatusLine } from "./log.ts";

/** Where progress goes, resolved by the CLI once. */
export interface ProgressOutput {
  /** The terminal's status line; undefined when stderr is not a terminal. */
  status?: StatusLine | undefined;
  /** Milliseconds between INFO records without a terminal. @default 30 000 */
  intervalMs?: number | undefined;
}

/** Default spacing of progress records when stderr is not a terminal. */
export const DEFAULT_PROGRESS_INTERVAL_MS = 30_000;
/** The status line is redrawn at most this often. */
const REDRAW_MS = 250;
/** The rate shown is measured over about this much recent time. */
const RATE_WINDOW_MS = 10_000;

/** What one transfer is called in its messages. */
export interface ProgressOptions {
  /** Start of the status line, e.g. `backup-push`. */
  label: string;
  /** Subject of the records, e.g. `base backup upload` (→ "… progress", "… finished"). */
  subject: string;
  /** Past participle for the records, e.g. `read` or `restored`. */
  done: string;
  /** Expected bytes, when known (may be set later with `total`). */
  total?: number | undefined;
  output?: ProgressOutput | undefined;
  log: Logger;
  /** Milliseconds clock, injectable for tests. @default performance.now */
  now?: () => number;
}

/** Counts the bytes of one transfer and reports them; `stop`, `finish` or `summary` ends it. */
export class Progress {
  readonly #o: ProgressOptions;
  readonly #now: () => number;
  readonly #start: number;
  readonly #status: StatusLine | undefined;
  #bytes = 0;
  #total: number | undefined;
  #samples: { t: number; bytes: number }[];
  #timer: ReturnType<typeof setInterval> | undefined;
  #end: number | undefined;

  constructor(options: ProgressOptions) {
    this.#o = options;
    this.#now = options.now ?? (() => performance.now());
    this.#start = this.#now();
    this.#samples = [{ t: this.#start, bytes: 0 }];
    this.#total = options.total;
    const info = options.log.enabled("INFO");
    this.#status = info ? options.output?.status : undefined;
    if (!info) return;
    const every = this.#status !== undefined
      ? REDRAW_MS
      : options.output?.intervalMs ?? DEFAULT_PROGRESS_INTERVAL_MS;
    const timer = setInterval(() => this.#report(), every);
    // Never what keeps the process alive; `stop` ends it anyway.
    Deno.unrefTimer(timer);
    this.#timer = timer;
  }

  /** Counts `n` more bytes (negative to take back an attempt that is redone). */
  add(n: number): void {
    this.#bytes += n;
  }

  /** Bytes counted so far. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Sets the expected total, e.g. once a background sizing pass is done. */
  set total(bytes: number | undefined) {
    this.#total = bytes;
  }

  /** True once `stop` or `finish` ran (or reporting never started: INFO is off). */
  get stopped(): boolean {
    return this.#timer === undefined;
  }

  /** Ends reporting and erases the status line; safe to call more than once. */
  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#status?.clear();
  }

  /**
   * Ends reporting (the status line shows the final count once more, then is erased) and
   * freezes the elapsed time for `summary`. Safe to call more than once.
   */
  finish(): void {
    if (this.#end !== undefined) return;
    this.#end = this.#now();
    if (this.#timer !== undefined && this.#status !== undefined) this.#draw(this.#end);
    this.stop();
  }

  /** The summary record (bytes, time, rate, volumes); ends reporting first if still running. */
  summary(volumes: number): void {
    this.finish();
    const seconds = Math.max(((this.#end ?? this.#now()) - this.#start) / 1000, 0.001);
    const o = this.#o;
    o.log.info({
      msg: `${o.subject} finished`,
      detail: `${cap(o.done)} ${formatBytes(this.#bytes)} of file data ${
        o.done === "read" ? "into" : "from"
      } ${volumes} volume${volumes === 1 ? "" : "s"} in ${formatSeconds(seconds)} (${
        formatBytes(this.#bytes / seconds)
      }/s).`,
      structured: { bytes: this.#bytes, seconds: seconds.toFixed(3), volumes },
    });
  }

  #report(): void {
    const now = this.#now();
    this.#samples.push({ t: now, bytes: this.#bytes });
    while (this.#samples.length > 2 && (this.#samples[1]?.t ?? now) <= now - RATE_WINDOW_MS) {
      this.#samples.shift();
    }
    if (this.#status !== undefined) {
      this.#draw(now);
      return;
    }
    const o = this.#o;
    const { rate, eta } = this.#estimate(now);
    const total = this.#total;
    const of = total === undefined
      ? ""
      : ` of ${formatBytes(total)} (${percent(this.#bytes, total)})`;
    o.log.info({
      msg: `${o.subject} progress`,
      detail: `${formatBytes(this.#bytes)}${of} ${o.done} in ${
        formatClock((now - this.#start) / 1000)
      }, ${formatBytes(rate)}/s${eta === undefined ? "" : `, about ${formatClock(eta)} left`}.`,
      structured: { bytes: this.#bytes, ...(total === undefined ? {} : { total_bytes: total }) },
    });
  }

  #draw(now: number): void {
    const { rate, eta } = this.#estimate(now);
    const total = this.#total;
    const parts = [this.#o.label, formatBytes(this.#bytes)];
    if (total !== undefined) {
      parts[1] += ` / ${formatBytes(total)}`;
      parts.push(percent(this.#bytes, total));
    }
    parts.push(`${formatBytes(rate)}/s`);
    parts.push(
      eta === undefined ? formatClock((now - this.#start) / 1000) : `ETA ${formatClock(eta)}`,
    );
    this.#status?.show(parts.join("  "));
  }

  /** Recent rate in bytes/s, and seconds left at that rate when the total is known. */
  #estimate(now: number): { rate: number; eta: number | undefined } {
    const first = this.#samples[0] ?? { t: this.#start, bytes: 0 };
    const span = (now - first.t) / 1000;
    const rate = span > 0 ? Math.max(0, this.#bytes - first.bytes) / span : 0;
    const total = this.#total;
    const eta = total === undefined || rate <= 0
      ? undefined
      : Math.max(0, total - this.#bytes) / rate;
    return { rate, eta };
  }
}

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];

/** `1536` → `1.50 KiB`: binary units, three significant digits. */
export function formatBytes(bytes: number): string {
  let v = Math.max(0, bytes);
  let u = 0;
  while (v >= 1024 && u < UNITS.length - 1) {
    v /= 1024;
    u++;
  }
  if (u === 0) return `${Math.round(v)} B`;
  return `${v.toFixed(v >= 100 ? 0 : v >= 10 ? 1 : 2)} ${UNITS[u]}`;
}

/** Seconds as `m:ss` or `h:mm:ss`. */
export function formatClock(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${m}:${ss}`;
}

/** Seconds for the summary: `0.42 s`, `12.3 s`, then the clock form. */
function formatSeconds(seconds: number): string {
  if (seconds < 10) return `${seconds.toFixed(2)} s`;
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  return formatClock(seconds);
}

/** Share of `total` done, capped at 100% (files may grow while they are read). */
function percent(bytes: number, total: number): string {
  if (total <= 0) return "100%";
  return `${Math.min(100, Math.floor((bytes / total) * 100))}%`;
}

function cap(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}
