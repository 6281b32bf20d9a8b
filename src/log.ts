/**
 * The one logger: WAL-E's record format (WAL-E-COMPAT §2.8) on stderr.
 *
 * A record is `<logger ≥12> <LEVEL ≥8> MSG: …` then optional `DETAIL:` and `HINT:` lines and
 * a `STRUCTURED: time=… pid=… k=v…` line; every line after the first is indented by 8 spaces.
 * Callers pass parts, never pre-formatted text, so the layout lives here only.
 */

/** Log levels in WAL-E's (Python logging's) order. */
export type Level = "DEBUG" | "INFO" | "WARNING" | "ERROR" | "CRITICAL";

const LEVEL_RANK: Record<Level, number> = {
  DEBUG: 10,
  INFO: 20,
  WARNING: 30,
  ERROR: 40,
  CRITICAL: 50,
};

/** One log record's parts. */
export interface LogRecord {
  msg: string;
  detail?: string | undefined;
  hint?: string | undefined;
  /** Extra `key=value` pairs for the STRUCTURED line (sorted as whole strings, as WAL-E). */
  structured?: Record<string, string | number> | undefined;
}

/** Where formatted records go; tests capture them, production writes stderr. */
export type LogSink = (text: string) => void;

/** Logger settings resolved once by the CLI. */
export interface LoggerOptions {
  /** Records below this level are dropped (`--terse` raises it to WARNING). */
  threshold?: Level;
  sink?: LogSink;
  /** Clock and pid are injectable so tests can pin the STRUCTURED line. */
  now?: () => Date;
  pid?: number;
}

/** Writes all of `text` to stderr synchronously, so records never interleave or get lost. */
export function stderrSink(text: string): void {
  const bytes = new TextEncoder().encode(text);
  let off = 0;
  while (off < bytes.length) off += Deno.stderr.writeSync(bytes.subarray(off));
}

/**
 * Formats a time as WAL-E does: UTC, six-digit fraction, literal `-00` suffix
 * (`2026-11-25T01:06:43.132000-00`). By arithmetic on the epoch milliseconds, not
 * `toISOString`, whose first call costs a process ~0.6 ms (time-zone set-up), on every WAL
 * call that logs.
 */
export function formatLogTime(d: Date): string {
  const ms = d.getTime();
  const days = Math.floor(ms / 86_400_000);
  const inDay = ms - days * 86_400_000;
  const [y, m, day] = civilFromDays(days);
  const p2 = (n: number) => (n < 10 ? `0${n}` : `${n}`);
  const hh = Math.floor(inDay / 3_600_000);
  const mm = Math.floor(inDay / 60_000) % 60;
  const ss = Math.floor(inDay / 1000) % 60;
  const frac = `${inDay % 1000}`.padStart(3, "0");
  return `${y}-${p2(m)}-${p2(day)}T${p2(hh)}:${p2(mm)}:${p2(ss)}.${frac}000-00`;
}

/** Proleptic Gregorian year, month (1-12), day (1-31) of a day count since 1970-01-01. */
function civilFromDays(days: number): [number, number, number] {
  // Shifted to eras of 400 years starting on 0000-03-01, so leap days end each year.
  const z = days + 719_468;
  const era = Math.floor(z / 146_097);
  const doe = z - era * 146_097; // day of era, 0..146096
  const yoe = Math.floor(
    (doe - Math.floor(doe / 1460) + Math.floor(doe / 36_524) -
      Math.floor(doe / 146_096)) / 365,
  ); // year of era, 0..399
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100)); // 0..365
  const mp = Math.floor((5 * doy + 2) / 153); // month from March, 0..11
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  return [yoe + era * 400 + (month <= 2 ? 1 : 0), month, day];
}

/** Renders one record exactly as WAL-E lays it out (without the trailing newline). */
export function formatRecord(
  name: string,
  level: Level,
  rec: LogRecord,
  time: Date,
  pid: number,
): string {
  const lines = [`MSG: ${rec.msg}`];
  if (rec.detail !== undefined) lines.push(`DETAIL: ${rec.detail}`);
  if (rec.hint !== undefined) lines.push(`HINT: ${rec.hint}`);
  const pairs = Object.entries(rec.structured ?? {}).map(([k, v]) => `${k}=${v}`).sort();
  lines.push(["STRUCTURED:", `time=${formatLogTime(time)}`, `pid=${pid}`, ...pairs].join(" "));
  const body = lines.join("\n");
  return `${name.padEnd(12)} ${level.padEnd(8)} ${body}`.replaceAll("\n", "\n        ");
}

/** A named logger (WAL-E's Python module names, e.g. `wal_e.main`) sharing one sink. */
export class Logger {
  readonly #name: string;
  readonly #threshold: number;
  readonly #sink: LogSink;
  readonly #now: () => Date;
  readonly #pid: number;

  constructor(name: string, options: LoggerOptions = {}) {
    this.#name = name;
    this.#threshold = LEVEL_RANK[options.threshold ?? "INFO"];
    this.#sink = options.sink ?? stderrSink;
    this.#now = options.now ?? (() => new Date());
    this.#pid = options.pid ?? Deno.pid;
  }

  /** A logger with another name and the same settings. */
  child(name: string): Logger {
    const level = (Object.keys(LEVEL_RANK) as Level[]).find((l) =>
      LEVEL_RANK[l] === this.#threshold
    );
    return new Logger(name, {
      threshold: level ?? "INFO",
      sink: this.#sink,
      now: this.#now,
      pid: this.#pid,
    });
  }

  /** True when records of `level` would be written. */
  enabled(level: Level): boolean {
    return LEVEL_RANK[level] >= this.#threshold;
  }

  log(level: Level, rec: LogRecord): void {
    if (!this.enabled(level)) return;
    this.#sink(formatRecord(this.#name, level, rec, this.#now(), this.#pid) + "\n");
  }

  debug(rec: LogRecord): void {
    this.log("DEBUG", rec);
  }
  info(rec: LogRecord): void {
    this.log("INFO", rec);
  }
  warning(rec: LogRecord): void {
    this.log("WARNING", rec);
  }
  error(rec: LogRecord): void {
    this.log("ERROR", rec);
  }
  critical(rec: LogRecord): void {
    this.log("CRITICAL", rec);
  }
}

/**
 * One status line kept at the bottom of a terminal (backup progress): rewritten in place, and
 * records written through `sink` appear above it instead of being glued to it. Only for a
 * terminal: the control sequences (`\r`, erase line) mean nothing in a file.
 */
export class StatusLine {
  readonly #write: LogSink;
  readonly #columns: () => number | undefined;
  #shown = "";

  /** `columns` gives the terminal's width (asked at each redraw: it may be resized). */
  constructor(write: LogSink, columns: () => number | undefined = terminalColumns) {
    this.#write = write;
    this.#columns = columns;
  }

  /** A sink for log records: erases the status line, writes `text`, redraws the line. */
  readonly sink: LogSink = (text) => {
    this.#write(this.#shown === "" ? text : `\r\x1b[K${text}${this.#shown}`);
  };

  /**
   * Replaces the status line with `text` (one line, no newline), cut to the terminal's width:
   * a line that wraps could no longer be rewritten in place.
   */
  show(text: string): void {
    const width = this.#columns();
    this.#shown = width !== undefined && width > 1 ? text.slice(0, width - 1) : text;
    this.#write(`\r\x1b[K${this.#shown}`);
  }

  /** Erases the status line; the cursor is left at the start of the empty line. */
  clear(): void {
    if (this.#shown === "") return;
    this.#shown = "";
    this.#write("\r\x1b[K");
  }
}

/** Width of the terminal stderr is on, when the system tells it. */
function terminalColumns(): number | undefined {
  try {
    return Deno.consoleSize().columns;
  } catch {
    return undefined;
  }
}
