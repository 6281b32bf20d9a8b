/**
 * The one bounded-concurrency helper: runs a job per item with a few in flight. Imports
 * nothing, so storage, archive and commands (the WAL commands' fast path included) may use it.
 */

/** Options of `forEachPooled`. */
export interface PoolOptions {
  /** Jobs in flight at most (at least 1; `Infinity` when something else bounds them). */
  limit: number;
  /** Aborting stops new jobs from starting; running jobs see it through their signal. */
  signal?: AbortSignal | undefined;
  /** Aborted with the first failure (default: a controller of the pool's own). */
  abort?: AbortController | undefined;
}

/**
 * Runs `run(item, signal)` for every item of `items` (an array, a generator, an async
 * iterable read as the pool goes, so a stream of work never piles up), at most `limit` at
 * once. One item is read ahead while every slot is busy, so producing the next item overlaps
 * the running jobs. The first failure (of a job or of the iterable) stops new jobs, aborts
 * the `signal` handed to running ones (a job that ignores it finishes), and is thrown once
 * every started job has settled: later failures, often the abort's echoes, never mask it.
 * An aborted `options.signal` stops the pool the same way and throws its reason.
 */
export async function forEachPooled<T>(
  items: Iterable<T> | AsyncIterable<T>,
  run: (item: T, signal: AbortSignal) => Promise<void>,
  options: PoolOptions,
): Promise<void> {
  const limit = Math.max(1, options.limit);
  const ctl = options.abort ?? new AbortController();
  const signal = options.signal === undefined
    ? ctl.signal
    : AbortSignal.any([options.signal, ctl.signal]);
  const running = new Set<Promise<void>>();
  let failure: { err: unknown } | undefined;
  const fail = (err: unknown): void => {
    // Decided before aborting: the aborted jobs then fail too, and must not mask the cause.
    if (failure !== undefined) return;
    failure = { err };
    ctl.abort(err);
  };
  const stopped = () => failure !== undefined || signal.aborted;
  const it = Symbol.asyncIterator in items
    ? items[Symbol.asyncIterator]()
    : items[Symbol.iterator]();
  let done = false;
  try {
    while (!stopped()) {
      const next = await it.next();
      if (next.done === true) {
        done = true;
        break;
      }
      while (running.size >= limit && !stopped()) await Promise.race(running);
      if (stopped()) break;
      const job: Promise<void> = (async () => await run(next.value, signal))()
        .catch(fail)
        .finally(() => running.delete(job));
      running.add(job);
    }
    if (!done) await it.return?.();
  } catch (err) {
    fail(err);
  }
  await Promise.all(running);
  if (failure !== undefined) throw failure.err;
  options.signal?.throwIfAborted();
}
