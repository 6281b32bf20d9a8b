/**
 * `--cluster-read-rate-limit`: one limiter shared by every partition being built, so the
 * aggregate read rate of the cluster's files stays at or under the limit. (WAL-E gave each of
 * its `--pool-size` pipelines `floor(N / pool_size)` through `pv`, WAL-E-COMPAT §5.6; sharing
 * one budget gives the same bound without idling when fewer partitions are in flight.)
 */

/** Longest burst allowed after an idle period, in milliseconds of budget. */
const MAX_CREDIT_MS = 250;

/** A shared byte budget of `bytesPerSecond`. */
export class RateLimiter {
  readonly #rate: number;
  /** Time at which every byte granted so far has been "paid for". */
  #paidUntil: number;
  readonly #now: () => number;
  readonly #sleep: (ms: number, signal?: AbortSignal) => Promise<void>;

  /** `now`/`sleep` are injectable for tests. */
  constructor(
    bytesPerSecond: number,
    options: { now?: () => number; sleep?: (ms: number, signal?: AbortSignal) => Promise<void> } =
      {},
  ) {
    if (!(bytesPerSecond > 0)) throw new RangeError("the rate limit must be positive");
    this.#rate = bytesPerSecond;
    this.#now = options.now ?? (() => performance.now());
    this.#sleep = options.sleep ?? abortableSleep;
    this.#paidUntil = this.#now();
  }

  /** Bytes per second. */
  get rate(): number {
    return this.#rate;
  }

  /** Waits until `bytes` more may be read. Aborting rejects with the signal's reason. */
  async acquire(bytes: number, signal?: AbortSignal): Promise<void> {
    const now = this.#now();
    this.#paidUntil = Math.max(this.#paidUntil, now - MAX_CREDIT_MS) + (bytes * 1000) / this.#rate;
    const wait = this.#paidUntil - now;
    if (wait > 0) await this.#sleep(wait, signal);
  }
}

function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(t);
      reject(signal?.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** A pass-through stage that paces the bytes flowing through it with `limiter`. */
export function rateLimitTransform(limiter: RateLimiter): TransformStream<Uint8Array, Uint8Array> {
  return new TransformStream<Uint8Array, Uint8Array>({
    async transform(chunk, controller) {
      await limiter.acquire(chunk.length);
      controller.enqueue(chunk);
    },
  });
}
