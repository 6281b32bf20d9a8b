/**
 * backup-fetch, one volume: download, decode and extract it, retrying the whole volume when
 * the download (or what decoding saw of it) failed, as WAL-E did (WAL-E-COMPAT §6.1 step 6).
 * The store retries requests on its own; this covers what slips through: a body cut after the
 * store gave up, or a cut that only shows as a truncated lzop stream. A damaged tar, an unsafe
 * member or a failed write is final at once: trying again cannot help.
 *
 * Extraction is idempotent (each member rewritten from scratch), so a retry simply starts the
 * volume over.
 */
import { openDecompressed } from "../../archive/pipeline.ts";
import type { Encoding } from "../../archive/pipeline.ts";
import type { Extractor } from "../../archive/tar_extract.ts";
import {
  ConfigError,
  CorruptArchiveError,
  describe,
  isOsError,
  StoreError,
  UserError,
  WalEError,
} from "../../errors.ts";
import type { Logger } from "../../log.ts";
import { sleep } from "../../storage/retrying.ts";
import { mapStreamErrors } from "../../streams.ts";
import type { Store } from "../../storage/store.ts";
import type { BlockCodec } from "../../codec/block_codec.ts";

/** Whole-volume attempts (the store retries each request within its own budget first). */
export const PARTITION_ATTEMPTS = 3;

/** What a volume restore needs. */
export interface PartitionJob {
  store: Store;
  encoding: Encoding;
  extractor: Extractor;
  key: string;
  /** Name for messages, e.g. `tar_partitions/part_00000002.tar.lzo`. */
  label: string;
  log: Logger;
  /** Aborted when another volume failed for good: stop, do not retry. */
  signal: AbortSignal;
  attempts?: number;
  /** Where lzop blocks are decoded. @default this isolate's codec */
  codec?: BlockCodec | undefined;
  /** Pause before a retry, in ms (default 1 000 × the number of failures so far). */
  retryDelayMs?: (failures: number) => number;
}

/** A volume that could not be restored: the cause and how many attempts were made. */
export class PartitionFailure extends Error {
  readonly label: string;
  readonly attempts: number;
  /** Set when the download or its decoding failed (not the tar, not a write). */
  readonly download: boolean;
  constructor(label: string, attempts: number, cause: unknown, download: boolean) {
    super(`partition ${label} failed`, { cause });
    this.label = label;
    this.attempts = attempts;
    this.download = download;
  }
}

/** Restores one volume; throws PartitionFailure (or the abort reason when `signal` aborted). */
export async function restorePartition(job: PartitionJob): Promise<void> {
  const attempts = job.attempts ?? PARTITION_ATTEMPTS;
  for (let attempt = 1;; attempt++) {
    job.signal.throwIfAborted();
    const seen: Seen = {};
    try {
      const body = await openDecompressed(job.store, job.key, {
        encoding: job.encoding,
        signal: job.signal,
        codec: job.codec,
      }).catch((err: unknown) => {
        seen.open = err;
        throw err;
      });
      await job.extractor.extract(watchErrors(body, seen), job.signal);
      return;
    } catch (err) {
      if (job.signal.aborted) throw job.signal.reason;
      const phase = "open" in seen && seen.open === err
        ? "open"
        : "body" in seen && seen.body === err
        ? "body"
        : undefined;
      if (phase === undefined || !worthRetrying(err, phase) || attempt >= attempts) {
        throw new PartitionFailure(job.label, attempt, err, phase !== undefined);
      }
      job.log.warning({
        msg: "retrying a base backup partition",
        detail: `Downloading ${job.label} failed (attempt ${attempt} of ${attempts}): ` +
          `${describe(err)}${err instanceof WalEError && err.detail ? `: ${err.detail}` : ""}`,
        hint: "The partition is restored again from its beginning.",
      });
      await sleep((job.retryDelayMs ?? ((n) => 1000 * n))(attempt), job.signal);
    }
  }
}

/** Where a download failed: opening it, or while its body streamed. */
interface Seen {
  open?: unknown;
  body?: unknown;
}

/**
 * Whether another attempt may succeed. A body that broke off (a cut connection, or bytes that
 * stop decoding because they were cut) is worth another download, however the store labelled
 * the error; failing to open the object counts only when the store calls it transient (it
 * already spent its own retries). A missing object, key or configuration is final.
 */
function worthRetrying(err: unknown, phase: "open" | "body"): boolean {
  if (err instanceof StoreError) return phase === "body" || err.retryable;
  if (err instanceof CorruptArchiveError) return true;
  return !(err instanceof WalEError); // raw transport errors are retried too
}

/** `src`, remembering in `seen.body` the error it fails with. */
function watchErrors(src: ReadableStream<Uint8Array>, seen: Seen): ReadableStream<Uint8Array> {
  return mapStreamErrors(src, (err) => (seen.body = err));
}

/**
 * The error an operator sees for a failed volume: names the backup, the partition, what went
 * wrong and where, and `cleanup` (what became of the target). A cause that is neither ours nor
 * the environment's is a bug: it is returned as it is, to be reported as one.
 */
export function partitionError(backup: string, f: PartitionFailure, cleanup: string): unknown {
  const cause = f.cause;
  const tries = f.attempts > 1 ? ` (after ${f.attempts} attempts)` : "";
  const what = cause instanceof WalEError
    ? `${cause.message}${cause.detail ? `: ${cause.detail}` : ""}`
    : describe(cause);
  const detail = `Partition "${f.label}" of ${backup} failed${tries}: ${what}`;
  const advice = cause instanceof WalEError && cause.hint
    ? cause.hint
    : f.download
    ? "Check the connection to the store, then run backup-fetch again."
    : undefined;
  const hint = advice === undefined ? cleanup : `${advice} ${cleanup}`;
  const msg = "could not restore a base backup partition";
  if (cause instanceof CorruptArchiveError) return new CorruptArchiveError(msg, { detail, hint });
  if (cause instanceof ConfigError) return new ConfigError(msg, { detail, hint });
  if (cause instanceof StoreError || f.download) {
    return new StoreError(msg, { detail, hint, cause });
  }
  if (cause instanceof WalEError) return new UserError(msg, { detail, hint, cause });
  if (isOsError(cause)) {
    return new UserError(msg, {
      detail,
      hint: `Check the target directory (permissions, free space). ${cleanup}`,
      cause,
    });
  }
  return cause;
}
