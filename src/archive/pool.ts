/**
 * `runPool(jobs, limit)`, kept only for src/commands/backup_fetch.ts, which is being rewritten
 * elsewhere and will call `forEachPooled` (src/pool.ts, the one pool helper) directly.
 * TODO(#17): remove once backup_fetch.ts no longer imports it.
 */
import { forEachPooled } from "../pool.ts";

/**
 * Runs `jobs` with at most `limit` in flight. Every started job is allowed to finish (so no
 * upload is cut off half way); then the first failure, if any, is thrown.
 */
export function runPool(jobs: readonly (() => Promise<void>)[], limit: number): Promise<void> {
  return forEachPooled(jobs, (job) => job(), { limit });
}
