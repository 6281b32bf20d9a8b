/** Runs async jobs with bounded concurrency; the first failure wins after all jobs settle. */

/**
 * Runs `jobs` with at most `limit` in flight. Every started job is allowed to finish (so no
 * upload is cut off half way); then the first failure, if any, is thrown.
 */
export async function runPool(
  jobs: readonly (() => Promise<void>)[],
  limit: number,
): Promise<void> {
  let next = 0;
  let firstError: { err: unknown } | undefined;
  const worker = async (): Promise<void> => {
    while (next < jobs.length && firstError === undefined) {
      const job = jobs[next++];
      if (job === undefined) break;
      try {
        await job();
      } catch (err) {
        firstError ??= { err };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, jobs.length)) }, worker));
  if (firstError !== undefined) throw firstError.err;
}
