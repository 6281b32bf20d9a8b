/**
 * One run of the program: argv and environment in, exit status out. Parses, resolves the
 * configuration, opens the store, runs one command and renders any error in WAL-E's
 * MSG/DETAIL/HINT style. Nothing here exits the process; `main.ts` does.
 */
import type { Encoding } from "../archive/pipeline.ts";
import type { CommandDeps } from "../commands/context.ts";
import { version } from "../commands/version.ts";
import { EXIT, isOsError, UsageError, WalEError } from "../errors.ts";
import { Logger, type LogSink, StatusLine } from "../log.ts";
import { lazy } from "../lazy.ts";
import { phase } from "../phases.ts";
import { secretRedactor } from "../redact.ts";
import { openStore } from "../storage/open.ts";
import { type Config, resolveConfig } from "./config.ts";
import { type CommandName, commandOf, exitCodeFor } from "./exit_codes.ts";
import type { Invocation } from "./invocation.ts";
import { fastParse } from "./fast_args.ts";
import { refuseSecrets, secretValues } from "./options.ts";
import type { ParseResult } from "./program.ts";

/** The process's outside world, injectable for tests. */
export interface Io {
  stdout: (text: string) => void;
  stderr: LogSink;
  /** Program + fixed arguments that start this tool again (for wal-prefetch). */
  selfProgram?: readonly string[];
  /** stderr is a terminal: backup-push and backup-fetch keep a progress line on it. */
  stderrIsTerminal?: boolean;
}

/** Commands that report progress (src/progress.ts). */
const WITH_PROGRESS = new Set(["backup-push", "backup-fetch"]);

/** Commands that log `starting WAL-E` first (all but version and the WAL commands, §2.8). */
const ANNOUNCED = new Set([
  "backup-push",
  "backup-fetch",
  "backup-list",
  "delete",
  "backup-verify",
]);

/** Runs one command line; resolves to the exit status. */
export async function run(
  argv: readonly string[],
  env: Readonly<Record<string, string>>,
  io: Io,
): Promise<number> {
  // Every line to stderr goes through the redactor: under archive_command and restore_command
  // it ends up in the PostgreSQL log.
  const redact = secretRedactor(secretValues(env));
  const redacted: LogSink = (text) => io.stderr(redact(text));
  // Known before anything can fail, so every failure gets this command's exit status.
  const command = commandOf(argv);
  // On a terminal, records go above the progress line instead of being glued to it.
  const status = io.stderrIsTerminal === true && WITH_PROGRESS.has(command)
    ? new StatusLine(redacted)
    : undefined;
  const stderr: LogSink = status?.sink ?? redacted;
  let log = new Logger("wal_e.main", { sink: stderr });
  try {
    const parsed = await parse(argv, io);
    if (parsed.kind === "shown") return parsed.exitCode;
    // version needs no configuration: it answers even when the environment is broken.
    if (parsed.kind === "run" && parsed.invocation.name === "version") return version(io.stdout);
    const config = resolveConfig(parsed.flags, env);
    log = new Logger("wal_e.main", {
      sink: stderr,
      // Errors and warnings always reach stderr, whatever WALE_LOG_DESTINATION says.
      threshold: config.terse || !config.logToStderr ? "WARNING" : "INFO",
    });
    if (config.syslogRequested !== undefined) {
      log.warning({
        msg: "syslog logging is not supported: logging to stderr",
        detail: `WALE_LOG_DESTINATION is "${config.syslogRequested}".`,
        hint: "Set WALE_LOG_DESTINATION=stderr and let PostgreSQL's logging collector or the " +
          "service manager forward stderr to syslog.",
      });
    }
    if (parsed.kind === "none") {
      if (config.prefixUrl === undefined) await openStore(undefined, config.store);
      log.error({ msg: "subcommand not implemented" });
      return EXIT.NO_SUBCOMMAND;
    }
    const inv = parsed.invocation;
    if (inv.name === "version") return version(io.stdout);
    phase("cli");
    if (ANNOUNCED.has(inv.name)) {
      const sub = inv.name === "delete" ? `delete ${inv.input.action}` : inv.name;
      log.info({ msg: "starting WAL-E", detail: `The subcommand is "${sub}".` });
    }
    return await runWithStore(inv, config, log, io, argv, status);
  } catch (err) {
    return report(err, log, stderr, command);
  }
}

/**
 * The WAL commands' plain command lines are parsed without commander (see fast_args.ts);
 * everything else, help and every error included, by commander, loaded only then.
 */
async function parse(argv: readonly string[], io: Io): Promise<ParseResult> {
  refuseSecrets(argv);
  const fast = fastParse(argv);
  if (fast !== undefined) return { kind: "run", ...fast };
  return (await lazy.program()).parseArgs(argv, io.stdout);
}

async function runWithStore(
  inv: Exclude<Invocation, { name: "version" }>,
  config: Config,
  log: Logger,
  io: Io,
  argv: readonly string[],
  status: StatusLine | undefined,
): Promise<number> {
  const store = await openStore(config.prefixUrl, config.store);
  phase("store-open");
  const globalArgs = argv.slice(0, Math.max(0, argv.indexOf(inv.name)));
  const deps: CommandDeps = {
    store,
    log,
    encoding: encodingOf(config),
    stdout: io.stdout,
    env: config.processEnv,
    // Built when asked (see main.ts).
    get selfCommand() {
      const self = io.selfProgram;
      return self === undefined ? undefined : [...self, ...globalArgs];
    },
    progress: {
      status,
      intervalMs: config.progressIntervalSeconds === undefined
        ? undefined
        : config.progressIntervalSeconds * 1000,
    },
  };
  try {
    switch (inv.name) {
      // Each command's code loads only when it runs: start-up time matters for the WAL
      // commands PostgreSQL starts once per segment (backup commands load PostgreSQL and tar
      // libraries too).
      case "backup-push":
        return await (await lazy.backupPush()).backupPush(
          { ...inv.input, archiveTimeoutSeconds: config.archiveTimeoutSeconds },
          deps,
        );
      case "backup-fetch":
        return await (await lazy.backupFetch()).backupFetch(inv.input, deps);
      case "backup-list":
        return await (await lazy.backupList()).backupList(inv.input, deps);
      case "wal-push":
        return await (await import("../commands/wal_push.ts")).walPush(
          { ...inv.input, overwrite: config.walOverwrite },
          deps,
        );
      case "wal-fetch":
        return await (await import("../commands/wal_fetch.ts")).walFetch(inv.input, deps);
      case "wal-prefetch":
        return await (await import("../commands/wal_prefetch.ts")).walPrefetch(inv.input, deps);
      case "delete":
        return await (await lazy.deleteCommand()).deleteCommand(inv.input, deps);
      case "wal-verify":
        return await (await lazy.walVerify()).walVerify(inv.input, deps);
      case "check":
        return await (await lazy.check()).check(inv.input, deps);
      case "backup-verify":
        return await (await lazy.backupVerify()).backupVerify(inv.input, deps);
    }
  } finally {
    await store.close();
  }
}

/**
 * Encryption settings: keys from WALE_GPG_*_KEY_FILE, else gpg's keyring (COMPAT §9), whose
 * child process gets the process environment (GNUPGHOME, HOME, PATH).
 */
function encodingOf(config: Config): Encoding {
  if (config.gpg === undefined) return {};
  return { pgp: { ...config.gpg, env: config.processEnv } };
}

/** Renders an error for the operator and picks the exit status from the one table. */
function report(err: unknown, log: Logger, stderr: LogSink, command: CommandName | "none"): number {
  if (err instanceof UsageError) {
    stderr(`wal-e: error: ${err.message}\n`);
    if (err.detail !== undefined) stderr(`DETAIL: ${err.detail}\n`);
    if (err.hint !== undefined) stderr(`HINT: ${err.hint}\n`);
  } else if (err instanceof WalEError) {
    log.error({ msg: err.message, detail: err.detail, hint: err.hint });
  } else if (isOsError(err)) {
    // An OS call we did not expect to fail (a file that vanished, a full disk): the operator
    // needs the system's words, not our stack.
    log.error({
      msg: "a file system or system call failed",
      detail: err.message,
      hint: "Check the paths, permissions and free space named above.",
    });
  } else {
    const detail = err instanceof Error ? (err.stack ?? err.message) : String(err);
    log.critical({
      msg: "An unprocessed exception has avoided all error handling",
      detail,
      hint: "This is a bug in wal-e; please report it with this message.",
    });
  }
  return exitCodeFor(command, err);
}
