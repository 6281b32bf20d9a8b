/**
 * Downloads that survive a broken body (issue #16 item 7). A reset, a premature end or a stall
 * in the middle of a response body is retried within the store's retry budget: the download
 * resumes with an HTTP Range request from the first byte not yet delivered, pinned to the
 * object's ETag (`If-Match`, and the answer's ETag and size are checked too) so bytes of a
 * replaced object are never spliced onto the old one's. Without an ETag it restarts, and only
 * when nothing was delivered yet. The consumer sees one uninterrupted, byte-exact stream, or a
 * retryable `StoreError` once the budget is spent; never a clean end before the last byte.
 *
 * Budget: the first request and every resumption are attempts of `RetryPolicy.attempts`, with
 * the back-off of retrying.ts between them. A body that delivered `PROGRESS_CREDIT` bytes
 * before failing starts the count afresh: a long download that keeps moving is not a failing
 * one, and each fresh count needs that much progress, so it still ends. A resumption's own
 * request has the backend's per-request retries; when those are spent the download fails.
 */
import { StoreError, WalEError } from "../errors.ts";
import { isRetryableError } from "./errors_map.ts";
import { backoffDelay, guardedStream, type RetryPolicy, sleep } from "./retrying.ts";

/** A body that delivers this many bytes before failing gives the download its budget back. */
export const PROGRESS_CREDIT = 64 * 1024 * 1024;

/** One answer to a GET, ranged or not, as `resumableStream` needs it. */
export interface BodyAnswer {
  body: ReadableStream<Uint8Array>;
  /** Offset in the object of the body's first byte: 0 for a whole-object answer. */
  start: number;
  /** Bytes in this body (Content-Length) when announced. */
  length: number | undefined;
  /** The object's size: Content-Range's total, or the Content-Length of a whole answer. */
  total: number | undefined;
  /** The object's ETag as the server sent it (quotes included), when it sent one. */
  etag: string | undefined;
}

/** Where a resumed request starts: the first byte not delivered, of the pinned version. */
export interface ResumePoint {
  offset: number;
  /** Send as `If-Match`; the server must answer 412 when the object changed. */
  etag: string;
}

/** Opens the object again: from `from` (a ranged, pinned GET) or, when undefined, whole. */
export type Reopen = (
  from: ResumePoint | undefined,
  signal: AbortSignal | undefined,
) => Promise<BodyAnswer>;

/** Options of `resumableStream`. */
export interface ResumeOptions {
  policy: RetryPolicy;
  /** The object's URL, for messages. */
  label: string;
  signal?: AbortSignal | undefined;
  /** Called before each resumption, e.g. for logging or tests. */
  onResume?: (err: unknown, offset: number, attempt: number) => void;
}

/** The answer's facts from a fetch `Response` (206 with Content-Range, or 200). */
export function answerOf(res: Response, body: ReadableStream<Uint8Array>): BodyAnswer {
  const h = res.headers;
  return answerFrom(
    body,
    res.status,
    h.get("content-length"),
    h.get("content-range"),
    h.get("etag"),
  );
}

/** The answer's facts from its status and headers (any client). */
export function answerFrom(
  body: ReadableStream<Uint8Array>,
  status: number,
  contentLength: string | number | null | undefined,
  contentRange: string | null | undefined,
  etag: string | null | undefined,
): BodyAnswer {
  const length = contentLength === null || contentLength === undefined || contentLength === ""
    ? undefined
    : Number(contentLength);
  const known = length !== undefined && Number.isSafeInteger(length) ? length : undefined;
  let start = 0;
  let total = known;
  if (status === 206) {
    const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec((contentRange ?? "").trim());
    start = m === null ? -1 : Number(m[1]);
    total = m === null || m[3] === "*" ? undefined : Number(m[3]);
  }
  return { body, start, length: known, total, etag: etag ?? undefined };
}

/** The error of a resumption refused with 412, or whose answer is another object's. */
export function objectChangedError(label: string, detail?: string): StoreError {
  return new StoreError("object changed while it was being downloaded", {
    detail: detail ?? `${label} was replaced; its new bytes cannot continue the old ones.`,
    hint: "Something overwrote the object during the download; run the command again.",
    retryable: false,
  });
}

function sameEtag(a: string, b: string): boolean {
  const bare = (t: string) => t.trim().replace(/^W\//, "").replaceAll('"', "").toLowerCase();
  return bare(a) === bare(b);
}

/**
 * A byte stream of the whole object whose first response is `first`, reopening it with
 * `reopen` after a retryable failure of a body. See the module doc.
 */
/**
 * A backend's `get`: the first answer through `open`, then the body as `resumableStream`
 * makes it, reopened through `open` from where it broke.
 */
export async function resumableGet(
  open: Reopen,
  o: ResumeOptions,
): Promise<ReadableStream<Uint8Array>> {
  const first = await open(undefined, o.signal);
  return resumableStream(first, open, o);
}

export function resumableStream(
  first: BodyAnswer,
  reopen: Reopen,
  o: ResumeOptions,
): ReadableStream<Uint8Array> {
  const { policy, label, signal } = o;
  let delivered = 0;
  let total = first.total;
  let etag = first.etag;
  let attempt = 1;
  let attemptStart = 0;
  let reader: ReadableStreamDefaultReader<Uint8Array>;
  /** Bytes of the current body to drop: a server that ignored Range resent the start. */
  let skip = 0;
  let cancelled = false;

  const guard = (a: BodyAnswer) =>
    guardedStream(a.body, {
      expectedLength: a.length,
      idleTimeoutMs: policy.idleTimeoutMs,
      label,
      // Reading a fetch body fails only in transport (reset, cut, decoding of a cut chunk):
      // worth another attempt. Our own errors (a stall, a short body) keep their class.
      mapError: (err) =>
        err instanceof WalEError ? err : new StoreError("storage download interrupted", {
          detail: `${label}: ${err instanceof Error ? err.message : String(err)} after ` +
            `${delivered} bytes.`,
          cause: err,
          retryable: true,
        }),
    }).getReader();

  /** Accepts `a` as the continuation at `delivered`, or throws (releasing its body). */
  const adopt = (a: BodyAnswer): void => {
    try {
      check(a);
    } catch (err) {
      void a.body.cancel().catch(() => {});
      throw err;
    }
    reader = guard(a);
    // The consumer gave up while this body was being opened: release it at once.
    if (cancelled) void reader.cancel().catch(() => {});
  };

  /** Throws unless `a` continues the object at `delivered`; sets `skip`, `total`, `etag`. */
  const check = (a: BodyAnswer): void => {
    if (delivered === 0) {
      // Nothing delivered: any version of the object may start afresh.
      if (a.start !== 0) throw objectChangedError(label, `${label}: unexpected range answer.`);
      total = a.total;
      etag = a.etag;
      skip = 0;
    } else {
      const changed = (a.etag === undefined || etag === undefined || !sameEtag(a.etag, etag)) ||
        (a.total !== undefined && total !== undefined && a.total !== total);
      if (changed) {
        throw objectChangedError(
          label,
          `${label}: ETag ${a.etag ?? "(none)"} and size ${a.total ?? "?"} on resuming, ` +
            `${etag ?? "(none)"} and ${total ?? "?"} at first.`,
        );
      }
      if (a.start === delivered) skip = 0;
      else if (a.start === 0) skip = delivered;
      else {
        throw new StoreError("storage answered a resumed download with the wrong range", {
          detail: `${label}: asked for bytes from ${delivered}, got them from ${a.start}.`,
          retryable: false,
        });
      }
    }
  };

  /** After `err` broke the body: reopen within the budget, or throw the final error. */
  const recover = async (err: unknown): Promise<void> => {
    if (cancelled || signal?.aborted || !isRetryableError(err)) throw err;
    if (delivered - attemptStart >= PROGRESS_CREDIT) attempt = 1;
    if (attempt >= policy.attempts) throw exhausted(err, attempt);
    if (delivered > 0 && etag === undefined) {
      throw new StoreError("storage download interrupted and cannot resume", {
        detail: `${label}: cut after ${delivered} bytes, and the server sent no ETag to pin ` +
          "a resumed request to.",
        cause: err,
        retryable: true,
      });
    }
    await sleep(backoffDelay(policy, attempt), signal);
    attempt++;
    attemptStart = delivered;
    o.onResume?.(err, delivered, attempt);
    const from = delivered > 0 && etag !== undefined ? { offset: delivered, etag } : undefined;
    adopt(await reopen(from, signal));
  };

  adopt(first);
  return new ReadableStream<Uint8Array>({
    pull: async (controller) => {
      for (;;) {
        let chunk: Uint8Array | undefined;
        try {
          const r = await reader.read();
          if (r.done) {
            // guardedStream checked this body's length; a body of unknown length is checked
            // against the object's size here.
            if (total !== undefined && delivered !== total) {
              throw new StoreError("storage download ended early", {
                detail: `${label}: ${delivered} of ${total} bytes received.`,
                retryable: true,
              });
            }
            controller.close();
            return;
          }
          chunk = r.value;
        } catch (err) {
          if (total !== undefined && delivered === total && skip === 0) {
            // Every byte arrived; only the end of the exchange broke.
            controller.close();
            return;
          }
          try {
            await recover(err);
          } catch (final) {
            controller.error(final);
            return;
          }
          continue;
        }
        if (skip > 0) {
          const n = Math.min(skip, chunk.length);
          skip -= n;
          chunk = chunk.subarray(n);
          if (chunk.length === 0) continue;
        }
        delivered += chunk.length;
        controller.enqueue(chunk);
        return;
      }
    },
    cancel: (reason) => {
      cancelled = true;
      return reader.cancel(reason).catch(() => {});
    },
  }, { highWaterMark: 0 });
}

function exhausted(err: unknown, attempts: number): unknown {
  if (!(err instanceof StoreError) || attempts <= 1) return err;
  return new StoreError(`${err.message} after ${attempts} attempts`, {
    detail: err.detail,
    hint: err.hint ?? "Check the network path to the storage endpoint; WALE_RETRIES sets the " +
        "number of attempts.",
    cause: err,
    retryable: true,
  });
}
