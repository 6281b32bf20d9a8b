/**
 * Typed errors. Every error a user can cause or meet carries a message (MSG), optional
 * facts (DETAIL) and advice (HINT), rendered by `src/cli/run.ts` in WAL-E's log style. Its
 * class says what kind of failure it is; `src/cli/exit_codes.ts` maps kind and command to the
 * exit status, in one table. Anything thrown that is neither a `WalEError` nor an OS error is a
 * bug (WAL-E-COMPAT §2.6).
 */

/** Exit codes, WAL-E-COMPAT §2.6 and §16. */
export const EXIT = {
  OK: 0,
  /** User error (configuration, bad query, ...) and "object not found". */
  USER: 1,
  /** Usage error or unexpected failure (a bug). */
  UNEXPECTED: 2,
  /**
   * wal-fetch failures other than "not found" (store unreachable after retries, corrupt or
   * undecryptable object, bad configuration). PostgreSQL treats any exit status above 125 as
   * fatal and stops recovery, instead of taking the segment as the end of the archive and
   * promoting with WAL missing. WAL-E returned 1 or 2 here; we deliberately differ (§2.6).
   */
  RESTORE_ABORT: 126,
  /** No subcommand given. */
  NO_SUBCOMMAND: 127,
} as const;

/** Options shared by every error of ours. */
export interface WalEErrorOptions {
  detail?: string | undefined;
  hint?: string | undefined;
  cause?: unknown;
}

/** Base class: a failure we understand, with text for the operator. */
export class WalEError extends Error {
  readonly detail: string | undefined;
  readonly hint: string | undefined;

  constructor(message: string, options: WalEErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.detail = options.detail;
    this.hint = options.hint;
  }
}

/** Bad command line: unknown option, missing argument, secret on argv. Exit 2 as argparse. */
export class UsageError extends WalEError {}

/** Missing or invalid configuration (prefix, credentials, endpoint). Exit 1. */
export class ConfigError extends WalEError {}

/** Any other condition the user must resolve (bad query, live data directory, ...). Exit 1. */
export class UserError extends WalEError {}

/** A key that is not in the store. Exit 1: wal-fetch's "end of archive" answer. */
export class ObjectNotFoundError extends WalEError {
  readonly key: string;
  constructor(key: string, options: WalEErrorOptions = {}) {
    super(`object not found`, { detail: `The key "${key}" does not exist.`, ...options });
    this.key = key;
  }
}

/** A put with `ifAbsent` found the key already holding an object; nothing was stored. */
export class ObjectExistsError extends WalEError {
  readonly key: string;
  constructor(key: string, options: WalEErrorOptions = {}) {
    super(`object exists`, { detail: `The key "${key}" already holds an object.`, ...options });
    this.key = key;
  }
}

/** Stored bytes that cannot be decoded: bad magic, checksum mismatch, truncation, garbage. */
export class CorruptArchiveError extends WalEError {}

/** A storage operation failed; `retryable` says whether trying again may help. */
export class StoreError extends WalEError {
  readonly retryable: boolean;
  constructor(message: string, options: WalEErrorOptions & { retryable?: boolean } = {}) {
    super(message, options);
    this.retryable = options.retryable ?? false;
  }
}

/** A feature or backend that has not landed yet: fail loudly, never silently. */
export class NotSupportedError extends WalEError {}

/** True when `err` is ours and marks a missing object. */
export function isNotFound(err: unknown): err is ObjectNotFoundError {
  return err instanceof ObjectNotFoundError;
}

/**
 * True for an error an OS call raised (a missing file, a denied permission, a full disk): the
 * operator's environment, not a bug of ours.
 */
export function isOsError(err: unknown): err is Error {
  return Object.values(Deno.errors).some((cls) => err instanceof cls);
}

/** Text of any thrown value, for DETAIL lines. */
export function describe(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
