/**
 * Checks of the local side of the WAL commands, made before any store call: the WAL file
 * name (so a key never leaves the prefix and a swapped `%p`/`%f` is named as such), the file
 * wal-push reads and the place wal-fetch writes. Each failure is one message with a hint; none
 * reaches the operator as a stack trace. The calls are synchronous: an async file-system op
 * costs an event-loop round trip, up to milliseconds, and these commands run once per segment.
 */
import { basename, dirname } from "../paths.ts";
import { UserError } from "../errors.ts";
import { WAL_FILE_RE } from "../pg/wal_name.ts";

const RESTORE_COMMAND = `restore_command = 'wal-e wal-fetch "%f" "%p"'`;

/**
 * Throws unless `name` is a WAL file name PostgreSQL archives (`WAL_FILE_RE`); for wal-fetch,
 * `destination` tells a swapped `%f`/`%p` apart from a plain bad name.
 */
export function checkWalFileName(
  name: string,
  command: "wal-fetch" | "wal-prefetch",
  destination?: string,
): void {
  if (WAL_FILE_RE.test(name)) return;
  const swapped = /RECOVERY(XLOG|HISTORY)$/.test(name) ||
    (destination !== undefined && WAL_FILE_RE.test(basename(destination)));
  throw new UserError(`invalid WAL file name "${name}"`, {
    detail: "A WAL file name is 24 upper-case hex digits, optionally followed by .partial or " +
      "a backup history suffix, or 8 hex digits followed by .history.",
    hint: command === "wal-fetch"
      ? (swapped
        ? `The arguments look swapped: the file name (%f) comes first, then the path (%p): ${RESTORE_COMMAND}.`
        : `Use ${RESTORE_COMMAND}.`)
      : "wal-prefetch is started by wal-fetch; pass it segment names only.",
  });
}

/**
 * Checks the WAL file wal-push was given and returns its status: it must be a readable
 * regular file whose name is a WAL file name.
 */
export function statWalFileToPush(path: string): Deno.FileInfo {
  let info: Deno.FileInfo;
  try {
    info = Deno.statSync(path);
  } catch (err) {
    const msg = err instanceof Deno.errors.NotFound
      ? "could not find file for wal-push"
      : "could not read file for wal-push";
    throw localFileError(err, path, msg);
  }
  if (!info.isFile) {
    throw new UserError("wal-push needs a WAL file, not a directory or special file", {
      detail: `"${path}" is ${info.isDirectory ? "a directory" : "not a regular file"}.`,
      hint: "Use archive_command = 'wal-e wal-push %p'.",
    });
  }
  const name = basename(path);
  if (!WAL_FILE_RE.test(name)) {
    throw new UserError(`"${name}" is not a WAL file name`, {
      detail: `wal-push archives the files PostgreSQL names in %p; "${path}" is not one.`,
      hint: "Use archive_command = 'wal-e wal-push %p'.",
    });
  }
  return info;
}

/** Opens a WAL file for reading, with an operator's error when it cannot be read. */
export function openWalFile(path: string): Deno.FsFile {
  try {
    return Deno.openSync(path, { read: true });
  } catch (err) {
    throw localFileError(err, path, "could not read file for wal-push");
  }
}

/**
 * Checks where wal-fetch will write: the directory must exist. A destination that is itself a
 * directory is reported when the segment is renamed onto it (`destinationError`), not by a
 * stat here: on the normal path the destination does not exist, and the first failing
 * file-system call costs a process ~1 ms (Deno builds its error machinery then), once per
 * segment restored.
 */
export function checkFetchDestination(destination: string): void {
  const dir = dirname(destination);
  let dirInfo: Deno.FileInfo;
  try {
    dirInfo = Deno.statSync(dir);
  } catch (err) {
    throw localFileError(err, dir, "the directory of the WAL destination is not usable");
  }
  if (!dirInfo.isDirectory) {
    throw new UserError("the directory of the WAL destination is not a directory", {
      detail: `"${dir}" is not a directory.`,
      hint: `Use ${RESTORE_COMMAND}.`,
    });
  }
}

/** The operator's error for a failed rename onto the wal-fetch destination, else `err`. */
export function destinationError(err: unknown, destination: string): unknown {
  if (!(err instanceof Deno.errors.IsADirectory)) return err;
  return new UserError("the WAL destination is a directory", {
    detail: `"${destination}" is a directory; wal-fetch writes one file there.`,
    hint: `The path (%p) comes second: ${RESTORE_COMMAND}.`,
    cause: err,
  });
}

/** A local file-system failure as a `UserError` naming the path and the system's reason. */
export function localFileError(err: unknown, path: string, msg: string): UserError {
  const reason = err instanceof Error ? err.message : String(err);
  if (err instanceof Deno.errors.NotFound) {
    return new UserError(msg || "file not found", {
      detail: `The file "${path}" does not exist.`,
      hint: "Check that the path is valid and that the file has not been removed.",
      cause: err,
    });
  }
  if (err instanceof Deno.errors.PermissionDenied) {
    return new UserError(msg || "permission denied", {
      detail: `Permission denied: "${path}" (${reason}).`,
      hint: "Run wal-e as the user that owns the data directory (normally postgres).",
      cause: err,
    });
  }
  return new UserError(msg || "file system error", {
    detail: `"${path}": ${reason}.`,
    cause: err,
  });
}
