/**
 * backup-push (WAL-E-COMPAT §5): push a base backup, online through the non-exclusive API on
 * one connection (§5.2) or `--while-offline` from a stopped cluster (§5.4).
 *
 * Before anything else it removes leftovers of uploads a killed push left behind (older than
 * a day, `sweepLeftovers`). Order of objects (§5.8): extended_version.txt, the volumes, then
 * (after the stop) one extra volume with `backup_label`/`tablespace_map` for online backups,
 * then the backup manifest (`backup_push/manifest.ts`: each file's size and CRC-32, and the
 * page checksum findings), and the sentinel strictly last, only when everything succeeded. The stop call is always attempted, even after a failure,
 * and the first failure is the one reported.
 * Phases live in `backup_push/`.
 */
import { BASEBACKUPS_DIR, extendedVersionKey, sentinelKey, WAL_DIR } from "../archive/keys.ts";
import { uploadPlain } from "../archive/pipeline.ts";
import { RateLimiter } from "../archive/rate_limit.ts";
import { type Manifest, uploadManifest } from "../archive/manifest.ts";
import { serializeSentinel } from "../archive/sentinel.ts";
import { planPartitions, textMember } from "../archive/tar_partition.ts";
import { describe, UserError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { type BackupSession, type BackupStop, parseBackupLabel } from "../pg/backup_api.ts";
import { DEFAULT_ARCHIVE_STALL_SECONDS, waitForArchive } from "../pg/archive_wait.ts";
import { walkCluster, type WalkEntry } from "../pg/cluster_walk.ts";
import { readDataChecksumVersion } from "../pg/control_data.ts";
import { walFileNameOffset } from "../pg/wal_name.ts";
import { Progress } from "../progress.ts";
import { checkDataDirectory } from "./backup_push/data_dir.ts";
import { ManifestRecorder } from "./backup_push/manifest.ts";
import { nameFor, type StartedBackup, startOffline, startOnline } from "./backup_push/start.ts";
import { uploadVolume, uploadVolumes, type VolumeUploadOptions } from "./backup_push/volumes.ts";
import type { CommandDeps } from "./context.ts";
import type { BlockCodec } from "../codec/block_codec.ts";
import { CodecPool } from "../codec/codec_pool.ts";
import { parallelCodec } from "../codec/lzop_parallel.ts";

/** Input of backup-push. */
export interface BackupPushInput {
  clusterDirectory: string;
  poolSize: number;
  /** Bytes per second over the whole read, all partitions together. */
  readRateLimit: number | undefined;
  whileOffline: boolean;
  /** Ask for an immediate checkpoint at start (WAL-E always spread it). @default false */
  fastCheckpoint?: boolean;
  /**
   * Seconds the wait for the backup's last WAL segment may go without any archiving progress
   * (`WALE_ARCHIVE_TIMEOUT`). @default DEFAULT_ARCHIVE_STALL_SECONDS
   */
  archiveTimeoutSeconds?: number | undefined;
}

/**
 * Runs backup-push; resolves to the exit status. Volumes are compressed on a pool of worker
 * threads (one per core), whatever `poolSize` (the volumes in flight, WAL-E's meaning).
 */
export async function backupPush(input: BackupPushInput, deps: CommandDeps): Promise<number> {
  const pool = new CodecPool();
  try {
    return await pushBackup(input, deps, parallelCodec(pool));
  } finally {
    pool.close();
  }
}

async function pushBackup(
  input: BackupPushInput,
  deps: CommandDeps,
  codec: BlockCodec,
): Promise<number> {
  const log = deps.log.child("wal_e.operator.backup");
  // Before any connection or upload; a relative path is made absolute (COMPAT §2.3 deviation).
  const dataDir = await checkDataDirectory(input.clusterDirectory);
  await sweepLeftovers(deps, log);
  const started = input.whileOffline
    ? await startOffline(dataDir, deps.env)
    : await startOnline(dataDir, deps.env, log, { fast: input.fastCheckpoint === true });
  const recorder = new ManifestRecorder({
    backupName: started.name,
    startLsn: started.startLsn,
    online: started.session !== undefined,
    dataChecksums: await dataChecksums(dataDir, log),
    log: deps.log.child("wal_e.worker.upload"),
  });
  const upload: VolumeUploadOptions = {
    store: deps.store,
    encoding: deps.encoding,
    backupName: started.name,
    poolSize: input.poolSize,
    limiter: input.readRateLimit === undefined ? undefined : new RateLimiter(input.readRateLimit),
    log: deps.log.child("wal_e.worker.upload"),
    observer: recorder,
    codec,
  };
  const progress = new Progress({
    label: "backup-push",
    subject: "base backup upload",
    done: "read",
    log,
    output: deps.progress,
  });
  upload.onData = (n) => progress.add(n);

  // The first failure is the one reported; stopping the backup still happens after it.
  let failure: { err: unknown } | undefined;
  let volumes = { count: 0, expandedBytes: 0 };
  let spec = {};
  try {
    // Listed before anything is uploaded (WAL-E's order, §5.1): an unreadable cluster or
    // tablespace fails here without leaving extended_version.txt behind.
    const walk = await walkCluster(dataDir, { skipBackupLabel: started.session !== undefined });
    spec = walk.spec;
    void sizeInBackground(walk.entries, progress);
    await uploadVersion(started, deps, log);
    volumes = await uploadVolumes(planPartitions(walk.entries, { log: upload.log }), upload);
  } catch (err) {
    failure = { err };
  }
  progress.finish();

  const stop = started.session === undefined
    ? undefined
    : await endBackup(started.session, failure !== undefined, log);
  if (failure !== undefined) throw failure.err;
  if (stop?.archiving === true) {
    const last = walFileNameOffset(stop.lsn, started.timeline, started.segmentSize).fileName;
    log.info({
      msg: "waiting for WAL archiving",
      detail: `The backup needs WAL up to ${last}; waiting until PostgreSQL has archived it.`,
    });
    await waitForArchive(dataDir, last, {
      stallSeconds: input.archiveTimeoutSeconds ?? DEFAULT_ARCHIVE_STALL_SECONDS,
      log,
    });
  }

  let partitionCount = volumes.count;
  let stopName = { fileName: started.name.slice(5, 29), offset: Number(started.name.slice(30)) };
  if (stop !== undefined) {
    checkLabel(started, stop);
    stopName = walFileNameOffset(stop.lsn, started.timeline, started.segmentSize);
    const owner = { uid: Deno.uid() ?? 0, gid: Deno.gid() ?? 0 };
    const members = [textMember("backup_label", stop.labelFile, owner)];
    if (stop.spcmapFile !== "") members.push(textMember("tablespace_map", stop.spcmapFile, owner));
    await uploadVolume({ index: volumes.count, members, bytes: 0 }, upload);
    partitionCount++;
  }
  await writeManifest(recorder.manifest(partitionCount), deps, log);

  const sentinel = serializeSentinel({
    wal_segment_backup_stop: stopName.fileName,
    wal_segment_offset_backup_stop: String(stopName.offset).padStart(8, "0").slice(0, 8),
    expanded_size_bytes: volumes.expandedBytes,
    spec,
  });
  await uploadPlain(deps.store, sentinelKey(started.name), sentinel, "application/json");
  progress.summary(volumes.count + (stop === undefined ? 0 : 1));
  log.info({
    msg: "base backup complete",
    detail: `The backup "${started.name}" is stored at "${
      deps.store.url(sentinelKey(started.name))
    }".`,
  });
  return 0;
}

/**
 * The progress total: the walk lists paths only (partitions `lstat` them lazily, as they are
 * formed), so a second, cheap pass sums the file sizes while the upload runs. Gives up once
 * the progress ended; a file that vanished or cannot be read counts nothing (the upload itself
 * reports it).
 */
async function sizeInBackground(entries: readonly WalkEntry[], progress: Progress): Promise<void> {
  let total = 0;
  for (const e of entries) {
    if (progress.stopped) return;
    const st = await Deno.lstat(e.path).catch(() => undefined);
    if (st?.isFile === true) total += st.size;
  }
  progress.total = total;
}

/**
 * Whether the cluster has data checksums (pg_control), logged when it cannot be told: then
 * pages are not verified.
 */
async function dataChecksums(dataDir: string, log: Logger): Promise<boolean | undefined> {
  const version = await readDataChecksumVersion(dataDir);
  if (version === undefined) {
    log.info({
      msg: "not verifying page checksums",
      detail: `Could not tell from "${dataDir}/global/pg_control" whether the cluster has ` +
        "data checksums (PostgreSQL 10 or later is needed).",
    });
  }
  return version === undefined ? undefined : version > 0;
}

/** Uploads the manifest (before the sentinel) and sums up the page checks. */
async function writeManifest(manifest: Manifest, deps: CommandDeps, log: Logger): Promise<void> {
  await uploadManifest(deps.store, deps.encoding, manifest);
  const pc = manifest.page_checks;
  if (pc.data_checksums !== true) return;
  const summary = `${pc.pages_verified} pages verified, ${pc.pages_skipped_newer} written ` +
    "during the backup skipped";
  if (pc.corrupt_pages.length === 0) {
    log.info({ msg: "page checksums verified", detail: `${summary}; none corrupt.` });
    return;
  }
  log.warning({
    msg: `${pc.corrupt_pages.length} pages failed checksum verification`,
    detail: `${summary}. Corrupt: ${
      pc.corrupt_pages.slice(0, 10).map((p) => `"${p.path}" block ${p.block}`).join(", ")
    }${pc.corrupt_pages.length > 10 ? ", ..." : ""}.`,
    hint: "The backup was written and records them in its manifest (backup-verify lists " +
      "them); check the cluster's storage.",
  });
}

/**
 * Ends the backup on the server and closes the session; always called once the backup began.
 * The server is not asked to wait for WAL archiving (it would wait silently and forever):
 * `waitForArchive` does that afterwards, logged and bounded, when `archiving` says the server
 * archives. Without an earlier failure, a failing stop fails the backup ("could not stop hot
 * backup").
 * After a failure, that failure stays the one reported: the stop does not wait for WAL
 * archiving (the backup is void, and a store that just failed may be failing the archive
 * too), and its own error is only logged as a WARNING. Resolves to undefined then.
 */
async function endBackup(
  session: BackupSession,
  failed: boolean,
  log: Logger,
): Promise<(BackupStop & { archiving: boolean }) | undefined> {
  try {
    const stop = await session.stop(false);
    return { ...stop, archiving: !failed && await session.archivingActive() };
  } catch (err) {
    if (!failed) {
      throw new UserError("could not stop hot backup", { detail: describe(err), cause: err });
    }
    log.warning({
      msg: "could not stop hot backup",
      detail: `${describe(err)} (after the backup had already failed; that error follows).`,
      hint: "The server ends the backup itself when this session closes.",
    });
    return undefined;
  } finally {
    await session.close().catch(() => {});
  }
}

/**
 * Leftovers of interrupted uploads older than this are removed by the next backup-push. An
 * upload still in flight in another process is far younger: a local temporary file is
 * rewritten every moment, and each S3 multipart upload carries one partition (≤ 1.5 GiB).
 */
const LEFTOVER_AGE_MS = 24 * 3600_000;

/**
 * Removes what killed uploads left under the prefix (hidden temporary files, multipart
 * uploads, orphaned large-object segments; Store.sweepIncomplete). Never fails the backup.
 */
async function sweepLeftovers(deps: CommandDeps, log: Logger): Promise<void> {
  const cutoff = new Date(Date.now() - LEFTOVER_AGE_MS);
  for (const prefix of [BASEBACKUPS_DIR, WAL_DIR]) {
    try {
      const removed = await deps.store.sweepIncomplete(prefix, cutoff);
      if (removed > 0) {
        log.info({
          msg: "removed leftovers of interrupted uploads",
          detail: `${removed} under "${
            deps.store.url(prefix)
          }", started before ${cutoff.toISOString()}.`,
        });
      }
    } catch (err) {
      log.warning({
        msg: "could not remove leftovers of interrupted uploads",
        detail: `${deps.store.url(prefix)}: ${describe(err)}`,
        hint: "The backup goes on; the leftovers only take space.",
      });
    }
  }
}

/** extended_version.txt, uploaded before any volume (§3.6). */
async function uploadVersion(
  started: StartedBackup,
  deps: CommandDeps,
  log: Logger,
): Promise<void> {
  const key = extendedVersionKey(started.name);
  log.info({
    msg: "start upload postgres version metadata",
    detail: `Uploading to ${deps.store.url(key)}.`,
  });
  await uploadPlain(deps.store, key, new TextEncoder().encode(started.version), "text/plain");
  log.info({
    msg: "postgres version metadata upload complete",
    detail: `Uploaded to ${deps.store.url(key)}.`,
  });
}

/**
 * The name was derived from the start call before any volume went out; the label returned by
 * the stop must agree (start LSN, file and timeline), else the backup is refused (§5.2).
 */
function checkLabel(started: StartedBackup, stop: BackupStop): void {
  const label = parseBackupLabel(stop.labelFile);
  const expected = nameFor(started.startLsn, started.timeline, started.segmentSize);
  const fromLabel = label === undefined
    ? undefined
    : nameFor(label.lsn, label.timeline ?? started.timeline, started.segmentSize);
  const fileOk = label !== undefined && label.fileName === started.name.slice(5, 29) &&
    (label.timeline === undefined || label.timeline === started.timeline);
  if (fromLabel !== started.name || expected !== started.name || !fileOk) {
    throw new UserError("backup label does not match the backup's name", {
      detail: `The backup was named "${started.name}" but the label says "${
        (stop.labelFile.split("\n").find((l) => l.startsWith("START WAL")) ?? "").trim()
      }".`,
      hint: "No sentinel was written; take the backup again.",
    });
  }
}
