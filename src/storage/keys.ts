/**
 * Key validation shared by every backend (issue #16 item 8): a key that could name something
 * outside the store's prefix is refused before any request is sent or any path is built. The
 * commands validate segment and backup names themselves; this is the store's own defence.
 *
 * A key is `/`-separated segments under the prefix. Refused: the empty key, a leading `/`,
 * an empty segment (`a//b`, a trailing `/`), a `.` or `..` segment, and control characters
 * (C0, DEL, C1: they end or corrupt header lines and log lines). Object stores would take
 * most of these literally, but HTTP clients normalise `..` in URL paths and the local store
 * would follow it, so no backend accepts them.
 */
import { StoreError } from "../errors.ts";
import type { PutBody } from "./store.ts";

const CONTROL = /\p{Cc}/u;

/** Why `key` is not a valid object key, or undefined when it is. */
function keyProblem(key: string, prefix: boolean): string | undefined {
  if (key === "") return prefix ? undefined : "is empty";
  if (CONTROL.test(key)) return "contains a control character";
  if (key.startsWith("/")) return 'starts with "/"';
  const segments = key.split("/");
  // A listing prefix may end with "/" (a directory) or in the middle of a segment.
  if (prefix && segments.at(-1) === "") segments.pop();
  for (const s of segments) {
    if (s === "") return "has an empty path segment";
    if (s === "." || s === "..") return `has a "${s}" path segment`;
  }
  return undefined;
}

function refuse(what: string, text: string, problem: string): StoreError {
  return new StoreError(`invalid ${what}`, {
    detail: `The ${what} ${JSON.stringify(text)} ${problem}: it could name an object outside ` +
      "the storage prefix, so no request was sent.",
    hint: 'Object names are relative, /-separated, without empty, "." or ".." segments.',
    retryable: false,
  });
}

/** Throws a non-retryable `StoreError` unless `key` is a valid object key. */
export function checkKey(key: string): void {
  const problem = keyProblem(key, false);
  if (problem !== undefined) throw refuse("object key", key, problem);
}

/**
 * Throws unless `prefix` is a valid listing prefix: `""`, or a key, or a key followed by `/`
 * (a partial last segment such as `wal_005/0000000100` is a key too).
 */
export function checkKeyPrefix(prefix: string): void {
  const problem = keyProblem(prefix, true);
  if (problem !== undefined) throw refuse("listing prefix", prefix, problem);
}

/**
 * `Store.sweepIncomplete` of a backend whose interrupted puts leave nothing it can list: the
 * prefix is checked as everywhere, and nothing is removed.
 */
export function nothingToSweep(prefix: string): Promise<number> {
  try {
    checkKeyPrefix(prefix);
  } catch (err) {
    return Promise.reject(err);
  }
  return Promise.resolve(0);
}

/**
 * `checkKey` for a put: a refused key also cancels the body, which the put owns, so the
 * producer feeding it is released rather than left waiting.
 */
export async function checkPutKey(key: string, body: PutBody): Promise<void> {
  try {
    checkKey(key);
  } catch (err) {
    // Tested as bytes: naming ReadableStream would load the streams classes (see PutBody).
    // A ChunkedBody needs no cancel (tested inline: `isChunked` would load store.ts).
    if (!(body instanceof Uint8Array) && !("chunks" in body)) {
      await body.cancel(err).catch(() => {});
    }
    throw err;
  }
}
