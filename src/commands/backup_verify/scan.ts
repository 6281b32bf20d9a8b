/**
 * backup-verify, scan phase: one partition downloaded, decoded (OpenPGP when encrypted, lzop
 * with its block checksums) and read as a tar, nothing written to disk: each regular file's
 * size and CRC-32, and whether the tar is whole (tar_read.ts: damaged headers, a member cut
 * short, a missing end-of-archive marker).
 */
import { FileChecksum } from "../../archive/manifest.ts";
import { type Encoding, openDecompressed } from "../../archive/pipeline.ts";
import { normalizeName } from "../../archive/tar_extract.ts";
import { readTar } from "../../archive/tar_read.ts";
import { describe, isOsError, WalEError } from "../../errors.ts";
import type { Store } from "../../storage/store.ts";

/** One regular file as found in a partition. */
export interface ScannedFile {
  size: number;
  crc32: string;
}

/** What reading one partition found. */
export interface PartitionScan {
  /** `part_00000000.tar.lzo`. */
  label: string;
  number: number;
  /** Members read (every type). */
  members: number;
  /** Regular files by path relative to the data directory. */
  files: Map<string, ScannedFile>;
  /** Decoded tar bytes. */
  tarBytes: number;
  /** Set when the partition could not be read to its end: what went wrong, and where. */
  error: string | undefined;
  /** Member names refused as unsafe (absolute, `..`). */
  unsafe: string[];
  /** The member being read when `error` happened, if any (else the last one read whole). */
  failedAt: { member: string; whole: boolean } | undefined;
}

/** Reads partition `key`; failures of the object's contents or the store become `error`. */
export async function scanPartition(
  store: Store,
  encoding: Encoding,
  key: string,
  label: string,
  number: number,
): Promise<PartitionScan> {
  const scan: PartitionScan = {
    label,
    number,
    members: 0,
    files: new Map(),
    tarBytes: 0,
    error: undefined,
    unsafe: [],
    failedAt: undefined,
  };
  let current: string | undefined;
  let last: string | undefined;
  try {
    const body = await openDecompressed(store, key, { encoding });
    const counted = body.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, c) {
          scan.tarBytes += chunk.length;
          c.enqueue(chunk);
        },
      }),
    );
    await readTar(counted, async (h, data) => {
      scan.members++;
      current = h.name;
      let rel: string | undefined;
      try {
        rel = normalizeName(h.name);
      } catch {
        scan.unsafe.push(h.name);
      }
      if (rel === undefined || (h.type !== "file" && h.type !== "contiguous-file")) {
        for await (const _ of data) { /* skip */ }
        last = h.name;
        current = undefined;
        return;
      }
      const hash = new FileChecksum();
      let size = 0;
      for await (const chunk of data) {
        hash.update(chunk);
        size += chunk.length;
      }
      scan.files.set(rel, { size, crc32: hash.hex() });
      last = h.name;
      current = undefined;
    });
  } catch (err) {
    if (!(err instanceof WalEError) && !isOsError(err)) throw err; // a bug: reported as one
    scan.error = errorText(err);
    if (current !== undefined) scan.failedAt = { member: current, whole: false };
    else if (last !== undefined) scan.failedAt = { member: last, whole: true };
  }
  return scan;
}

/** One line for an error, for findings. */
export function errorText(err: unknown): string {
  return err instanceof WalEError
    ? `${err.message}${err.detail ? `: ${err.detail}` : ""}`
    : describe(err);
}
