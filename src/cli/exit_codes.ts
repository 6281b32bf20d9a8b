/**
 * The one table of exit statuses: what each command returns for each kind of failure. It is
 * applied after the command is known (argv is scanned for the command name before anything
 * else can fail), so a bad variable read before the command runs still gets the command's
 * status. `test/cli/exit_codes_test.ts` pins it for every command.
 *
 * WAL-E returned 1 for user errors and 2 for the unexpected (WAL-E-COMPAT §2.6). We keep that
 * everywhere but in wal-fetch, where PostgreSQL reads any status from 1 to 125 as "this file is
 * not in the archive" and ends recovery (promoting with WAL missing). There 1 means only
 * "the segment is not in a reachable, correctly configured store"; every other failure, usage
 * and configuration mistakes included, is 126, which makes PostgreSQL stop recovery instead.
 */
import {
  ConfigError,
  CorruptArchiveError,
  EXIT,
  isOsError,
  NotSupportedError,
  ObjectNotFoundError,
  StoreError,
  UsageError,
  WalEError,
} from "../errors.ts";

/** What went wrong, as far as the exit status is concerned. */
export type FailureKind =
  | "usage"
  | "config"
  | "not-found"
  | "corrupt"
  | "store"
  | "unsupported"
  | "user"
  | "environment"
  | "bug";

/** Every command name, plus `none` for a command line without one. */
export const COMMAND_NAMES = [
  "version",
  "backup-push",
  "backup-fetch",
  "backup-list",
  "wal-push",
  "wal-fetch",
  "wal-prefetch",
  "delete",
  "wal-verify",
  "check",
  "backup-verify",
] as const;
export type CommandName = typeof COMMAND_NAMES[number];

const WALE_STYLE: Readonly<Record<FailureKind, number>> = Object.freeze({
  usage: EXIT.UNEXPECTED,
  config: EXIT.USER,
  "not-found": EXIT.USER,
  corrupt: EXIT.USER,
  store: EXIT.USER,
  unsupported: EXIT.USER,
  user: EXIT.USER,
  environment: EXIT.USER,
  bug: EXIT.UNEXPECTED,
});

/** Only "not in the archive" may end recovery; everything else stops it (module comment). */
const RESTORE_COMMAND: Readonly<Record<FailureKind, number>> = Object.freeze({
  usage: EXIT.RESTORE_ABORT,
  config: EXIT.RESTORE_ABORT,
  "not-found": EXIT.USER,
  corrupt: EXIT.RESTORE_ABORT,
  store: EXIT.RESTORE_ABORT,
  unsupported: EXIT.RESTORE_ABORT,
  user: EXIT.RESTORE_ABORT,
  environment: EXIT.RESTORE_ABORT,
  bug: EXIT.RESTORE_ABORT,
});

/** The table: command → failure kind → exit status. */
export const EXIT_TABLE: Readonly<
  Record<CommandName | "none", Readonly<Record<FailureKind, number>>>
> = Object.freeze({
  none: WALE_STYLE,
  version: WALE_STYLE,
  "backup-push": WALE_STYLE,
  "backup-fetch": WALE_STYLE,
  "backup-list": WALE_STYLE,
  "wal-push": WALE_STYLE,
  "wal-fetch": RESTORE_COMMAND,
  "wal-prefetch": WALE_STYLE,
  delete: WALE_STYLE,
  "wal-verify": WALE_STYLE,
  check: WALE_STYLE,
  "backup-verify": WALE_STYLE,
});

/** Classifies anything thrown. */
export function failureKind(err: unknown): FailureKind {
  if (err instanceof UsageError) return "usage";
  if (err instanceof ObjectNotFoundError) return "not-found";
  if (err instanceof ConfigError) return "config";
  if (err instanceof CorruptArchiveError) return "corrupt";
  if (err instanceof StoreError) return "store";
  if (err instanceof NotSupportedError) return "unsupported";
  if (err instanceof WalEError) return "user";
  if (isOsError(err)) return "environment";
  return "bug";
}

/** The exit status of `command` failing with `err`. */
export function exitCodeFor(command: CommandName | "none", err: unknown): number {
  return EXIT_TABLE[command][failureKind(err)];
}

/**
 * The command an argv names: its first word that is a command name. Global options come first
 * and their values are URLs, key ids and names, never a command name.
 */
export function commandOf(argv: readonly string[]): CommandName | "none" {
  for (const arg of argv) {
    if ((COMMAND_NAMES as readonly string[]).includes(arg)) return arg as CommandName;
  }
  return "none";
}
