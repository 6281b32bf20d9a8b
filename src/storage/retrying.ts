/**
 * Timeouts and bounded retries for storage requests, shared by the cloud backends.
 *
 * WAL-E retried up to 100 times with back-off capped at 2 minutes (WAL-E-COMPAT §12), which
 * can stall an archive_command for hours. We retry each *request* (not whole commands) a few
 * times with exponential back-off and full jitter, and only where trying again can help:
 * throttling, HTTP 5xx and connection-level failures. Authentication, permission and other
 * 4xx answers are never retried (issue #9).
 *
 * Defaults: 5 attempts, back-off base 250 ms doubling to a cap of 8 s (full jitter: a random
 * delay between 0 and the cap of that step), so a dead endpoint fails within ~4 s plus the
 * connect timeouts (5 s each). `WALE_RETRIES` sets the attempts (≤ 0 = unlimited, as WAL-E);
 * `WALE_REQUEST_TIMEOUT` (seconds, default 30) bounds how long a request may stay silent.
 */
import { ConfigError, StoreError, WalEError } from "../errors.ts";
import { errorFacts, fetchNetworkError, isRetryableError } from "./errors_map.ts";

/** How hard to try one storage request. */
export interface RetryPolicy {
  /** Total attempts per request, the first included; `Infinity` = unlimited. */
  readonly attempts: number;
  /** Back-off of the first retry (upper bound of its jitter), in ms. */
  readonly baseDelayMs: number;
  /** Upper bound of any single back-off, in ms. */
  readonly maxDelayMs: number;
  /** Give up connecting after this long, in ms. */
  readonly connectTimeoutMs: number;
  /** Abort a request when no byte moves (either way) for this long, in ms. */
  readonly idleTimeoutMs: number;
}

/** Defaults suited to archive_command: a failing request gives up within seconds. */
export const DEFAULT_RETRY_POLICY: RetryPolicy = Object.freeze({
  attempts: 5,
  baseDelayMs: 250,
  maxDelayMs: 8_000,
  connectTimeoutMs: 5_000,
  idleTimeoutMs: 30_000,
});

/** How the operator tuned retries, resolved by the CLI from the configuration table. */
export interface RetrySettings {
  /** `WALE_RETRIES`, parsed (≤ 0 = unlimited); undefined for the default. */
  retries?: number | undefined;
  /** `WALE_REQUEST_TIMEOUT` as written, validated here when a cloud store opens. */
  requestTimeout?: string | undefined;
}

/**
 * The policy for a store: `retries` when set, else the default of 5; `requestTimeout`
 * (positive number of seconds) for the idle timeout.
 */
export function retryPolicyOf(settings: RetrySettings = {}): RetryPolicy {
  const retries = settings.retries;
  let attempts = DEFAULT_RETRY_POLICY.attempts;
  if (retries !== undefined) attempts = retries > 0 ? retries : Infinity;
  let idleTimeoutMs = DEFAULT_RETRY_POLICY.idleTimeoutMs;
  const t = settings.requestTimeout;
  if (t !== undefined && t.trim() !== "") {
    const s = Number(t);
    if (!Number.isFinite(s) || s <= 0) {
      throw new ConfigError("invalid value for WALE_REQUEST_TIMEOUT", {
        detail: `WALE_REQUEST_TIMEOUT is "${t}".`,
        hint: "Set WALE_REQUEST_TIMEOUT to a positive number of seconds.",
      });
    }
    idleTimeoutMs = Math.round(s * 1000);
  }
  return {
    ...DEFAULT_RETRY_POLICY,
    attempts,
    idleTimeoutMs,
    connectTimeoutMs: Math.min(DEFAULT_RETRY_POLICY.connectTimeoutMs, idleTimeoutMs),
  };
}

/** Full-jitter back-off before retry number `failures` (1 = after the first failure). */
export function backoffDelay(policy: RetryPolicy, failures: number, random = Math.random): number {
  const cap = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, failures - 1));
  return Math.floor(random() * cap);
}

/** Options of `withRetries`. */
export interface RetryOptions {
  /** Aborting stops retrying at once (the current attempt's signal is aborted too). */
  signal?: AbortSignal | undefined;
  /** Defaults to `isRetryableError`. */
  isRetryable?: (err: unknown) => boolean;
  /** Called before each back-off, e.g. for logging. */
  onRetry?: (err: unknown, failures: number, delayMs: number) => void;
}

/**
 * Runs `op` until it succeeds, fails with a non-retryable error, or `policy.attempts` are
 * used. Each attempt gets a signal that aborts when the caller's does or after
 * `policy.idleTimeoutMs` (for requests whose whole duration is short: metadata calls,
 * single blocks). The error thrown is the last attempt's; `op` should already map SDK errors.
 */
export async function withRetries<T>(
  op: (signal: AbortSignal, attempt: number) => Promise<T>,
  policy: RetryPolicy,
  options: RetryOptions = {},
): Promise<T> {
  const retryable = options.isRetryable ?? isRetryableError;
  for (let attempt = 1;; attempt++) {
    options.signal?.throwIfAborted();
    const timeout = AbortSignal.timeout(policy.idleTimeoutMs);
    const signal = options.signal === undefined
      ? timeout
      : AbortSignal.any([options.signal, timeout]);
    try {
      return await op(signal, attempt);
    } catch (err) {
      if (options.signal?.aborted) throw err;
      const timedOut = timeout.aborted;
      if (!(timedOut || retryable(err)) || attempt >= policy.attempts) {
        if (timedOut && !(err instanceof WalEError)) {
          throw new StoreError("storage request timed out", {
            detail: `No answer within ${policy.idleTimeoutMs / 1000} s (attempt ${attempt}).`,
            hint: "Check that the storage endpoint is reachable; WALE_REQUEST_TIMEOUT sets " +
              "the limit.",
            cause: err,
            retryable: true,
          });
        }
        if (attempt > 1 && err instanceof StoreError) {
          throw new StoreError(`${err.message} after ${attempt} attempts`, {
            detail: err.detail,
            hint: err.hint,
            cause: err,
            retryable: err.retryable,
          });
        }
        throw err;
      }
      const delay = backoffDelay(policy, attempt);
      options.onRetry?.(err, attempt, delay);
      await sleep(delay, options.signal);
    }
  }
}

/** Resolves after `ms`, or rejects when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** What the AWS SDK passes to a retry strategy (its `RetryErrorInfo`). */
export interface SdkRetryErrorInfo {
  error?: unknown;
  errorType: string;
  retryAfterHint?: Date;
}

/** The AWS SDK's retry token shape. */
export interface SdkRetryToken {
  getRetryCount(): number;
  getRetryDelay(): number;
}

/**
 * A retry strategy for the AWS SDK v3 (its `RetryStrategyV2` interface) applying `policy`:
 * the SDK retries each HTTP request (buffered bodies only) with our classification and
 * back-off instead of its own token-bucket strategy.
 */
export class SdkRetryStrategy {
  readonly mode = "wal-e";
  readonly #policy: RetryPolicy;
  readonly #fetch: boolean;

  /** `fetchTransport`: the client uses fetch, whose network failures are bare TypeErrors. */
  constructor(policy: RetryPolicy, options: { fetchTransport?: boolean } = {}) {
    this.#policy = policy;
    this.#fetch = options.fetchTransport ?? false;
  }

  /** First attempt: no delay. */
  acquireInitialRetryToken(_scope: string): Promise<SdkRetryToken> {
    return Promise.resolve(token(0, 0));
  }

  /** Next attempt's token, or a rejection (the SDK then throws the request's error). */
  refreshRetryTokenForRetry(prev: SdkRetryToken, info: SdkRetryErrorInfo): Promise<SdkRetryToken> {
    const failures = prev.getRetryCount() + 1;
    const error = this.#fetch ? fetchNetworkError(info.error) : info.error;
    const ok = info.errorType === "THROTTLING" || info.errorType === "TRANSIENT" ||
      info.errorType === "SERVER_ERROR" || isRetryableError(error);
    const denied = errorFacts(info.error).status;
    if (!ok || denied === 401 || denied === 403 || failures >= this.#policy.attempts) {
      return Promise.reject(info.error ?? new Error("not retryable"));
    }
    let delay = backoffDelay(this.#policy, failures);
    if (info.retryAfterHint !== undefined) {
      const hinted = info.retryAfterHint.getTime() - Date.now();
      delay = Math.max(delay, Math.min(hinted, this.#policy.maxDelayMs));
    }
    return Promise.resolve(token(failures, delay));
  }

  /** Nothing to record: no retry quota. */
  recordSuccess(_token: SdkRetryToken): void {}
}

function token(count: number, delay: number): SdkRetryToken {
  return { getRetryCount: () => count, getRetryDelay: () => delay };
}

/** A Node stream (an SDK response body) as far as `guardedStream` uses it. */
export interface NodeReadableLike extends AsyncIterable<unknown> {
  destroy(error?: Error): unknown;
}

/** Options of `guardedStream`. */
export interface BodyStreamOptions {
  /** Bytes the response announced; a shorter or longer body is an error, never success. */
  expectedLength?: number | undefined;
  /** Fail when no chunk arrives for this long (ms); undefined = rely on the socket timeout. */
  idleTimeoutMs?: number | undefined;
  /** The object's URL, for messages. */
  label: string;
  /** Maps a failure of the source (SDK/socket error) to ours. */
  mapError?: (err: unknown) => unknown;
}

/**
 * A response body (web or Node stream) as a byte `ReadableStream` that pulls on demand
 * (back-pressure), errors on truncation or silence, and closes the connection when cancelled.
 */
export function guardedStream(
  body: ReadableStream<Uint8Array> | NodeReadableLike,
  options: BodyStreamOptions,
): ReadableStream<Uint8Array> {
  let next: () => Promise<IteratorResult<unknown>>;
  let stop: (reason?: unknown) => void;
  if (body instanceof ReadableStream) {
    const reader = body.getReader();
    next = () => reader.read() as Promise<IteratorResult<unknown>>;
    stop = (reason) => void reader.cancel(reason).catch(() => {});
  } else {
    const it = body[Symbol.asyncIterator]();
    next = () => it.next();
    stop = (reason) => void body.destroy(reason instanceof Error ? reason : undefined);
  }
  let seen = 0;
  const fail = (err: unknown) => options.mapError?.(err) ?? err;
  // One watchdog re-armed lazily instead of a timer per chunk (~16,000 per GiB): a chunk only
  // records the time. Only time spent waiting on the source counts: a consumer that stops
  // pulling (back-pressure) is not a stalled download.
  const idle = options.idleTimeoutMs;
  let lastProgress = 0;
  let waiting = false;
  let stalled: StoreError | undefined;
  let watchdog: ReturnType<typeof setTimeout> | undefined;
  const arm = (ms: number) => {
    watchdog = setTimeout(() => {
      watchdog = undefined;
      if (!waiting || idle === undefined) return; // between pulls: the next pull re-arms
      const quiet = Date.now() - lastProgress;
      if (quiet < idle) return arm(idle - quiet);
      stalled = new StoreError("storage download stalled", {
        detail: `No data for ${idle / 1000} s from ${options.label} after ${seen} bytes.`,
        retryable: true,
      });
      stop(stalled);
    }, ms);
  };
  const unwatch = () => {
    if (watchdog !== undefined) clearTimeout(watchdog);
    watchdog = undefined;
  };
  return new ReadableStream<Uint8Array>({
    pull: async (controller) => {
      try {
        waiting = true;
        lastProgress = Date.now();
        if (idle !== undefined && watchdog === undefined) arm(idle);
        const { done, value } = await next();
        waiting = false;
        // A stall cancels the source, which may end the read quietly: never take that as
        // the end of the object.
        if (stalled !== undefined) throw stalled;
        if (done) {
          if (options.expectedLength !== undefined && seen !== options.expectedLength) {
            throw new StoreError("storage download ended early", {
              detail: `${options.label}: ${seen} of ${options.expectedLength} bytes received.`,
              retryable: true,
            });
          }
          unwatch();
          controller.close();
          return;
        }
        const chunk = value instanceof Uint8Array ? value : new TextEncoder().encode(String(value));
        seen += chunk.length;
        if (options.expectedLength !== undefined && seen > options.expectedLength) {
          throw new StoreError("storage download longer than announced", {
            detail: `${options.label}: more than ${options.expectedLength} bytes received.`,
          });
        }
        controller.enqueue(chunk);
      } catch (err) {
        waiting = false;
        unwatch();
        stop(err);
        controller.error(fail(stalled ?? err));
      }
    },
    cancel: (reason) => {
      unwatch();
      stop(reason);
    },
  }, { highWaterMark: 0 });
}
