/**
 * backup-push, upload phase: each partition's tar → lzop → (gpg) → store, at most
 * `poolSize` in flight, partitions formed lazily while earlier ones upload (WAL-E-COMPAT §5.6).
 * Nothing is buffered whole and no temporary files are used (unlike WAL-E, §14.2 item 13).
 */
import { partitionKey } from "../../archive/keys.ts";
import { type Encoding, uploadCompressed } from "../../archive/pipeline.ts";
import type { RateLimiter } from "../../archive/rate_limit.ts";
import type { MemberObserver, Partition } from "../../archive/tar_partition.ts";
import { PartitionTarSource } from "../../archive/tar_blocks.ts";
import type { Logger } from "../../log.ts";
import { forEachPooled } from "../../pool.ts";
import type { Store } from "../../storage/store.ts";
import type { BlockCodec } from "../../codec/block_codec.ts";

/** What uploading the volumes produced. */
export interface VolumesResult {
  /** Number of volumes uploaded (the next free partition number). */
  count: number;
  /** Sum of listed member sizes (the sentinel's expanded_size_bytes). */
  expandedBytes: number;
}

/** Settings of the upload phase. */
export interface VolumeUploadOptions {
  store: Store;
  encoding: Encoding;
  backupName: string;
  poolSize: number;
  limiter?: RateLimiter | undefined;
  log: Logger;
  /** Told the size of each piece of file data read (progress). */
  onData?: ((bytes: number) => void) | undefined;
  /** Sees each file's bytes on their way into the tar (the backup manifest). */
  observer?: MemberObserver | undefined;
  /** Where volumes are compressed. @default this isolate's codec */
  codec?: BlockCodec | undefined;
}

/** Uploads one partition as one volume; resolves when the object is stored. */
export async function uploadVolume(
  part: Partition,
  o: VolumeUploadOptions,
  signal?: AbortSignal,
): Promise<void> {
  const key = partitionKey(o.backupName, part.index);
  const url = o.store.url(key);
  o.log.info({
    msg: "beginning volume compression",
    detail: `Building volume ${part.index}.`,
  });
  o.log.info({ msg: "begin uploading a base backup volume", detail: `Uploading to "${url}".` });
  const started = performance.now();
  const stats = await uploadCompressed(
    o.store,
    key,
    new PartitionTarSource(part, {
      limiter: o.limiter,
      log: o.log,
      onData: o.onData,
      observer: o.observer,
    }),
    {
      encoding: o.encoding,
      codec: o.codec,
      mtimeSeconds: Math.floor(Date.now() / 1000),
      mode: 0,
      ...(signal === undefined ? {} : { signal }),
    },
  );
  const seconds = Math.max((performance.now() - started) / 1000, 0.001);
  o.log.info({
    msg: "finish uploading a base backup volume",
    detail: `Uploading to "${url}" complete at ${
      (stats.storedBytes / 1024 / seconds).toFixed(2)
    }KiB/s. `,
  });
}

/**
 * Uploads every partition `partitions` yields, `poolSize` at a time. On the first failure the
 * remaining uploads are aborted (no partial object appears, Store.put contract), no new one
 * starts, and the failure is thrown once all have settled.
 */
export async function uploadVolumes(
  partitions: AsyncIterable<Partition>,
  o: VolumeUploadOptions,
): Promise<VolumesResult> {
  let count = 0;
  let expandedBytes = 0;
  // A failed listing (lstat) or upload aborts the uploads in flight (forEachPooled).
  await forEachPooled(partitions, (part, signal) => {
    count = part.index + 1;
    expandedBytes += part.bytes;
    return uploadVolume(part, o, signal);
  }, { limit: o.poolSize });
  return { count, expandedBytes };
}
