/**
 * The backup manifest (ours; WAL-E had none): every regular file of the backup with its
 * partition, size and CRC-32, computed by backup-push from the bytes it streamed into the tar,
 * plus what page checksum verification found. backup-verify checks a backup against it.
 *
 * CRC-32 (IEEE, zlib's) because it is native in Deno's `node:zlib` and runs at ≈ 7 GB/s here,
 * against ≈ 1.1 GB/s for SHA-256 with the CPU's SHA extensions: the push pays almost nothing
 * for it. It detects damage, which is its purpose (lzop's own block checksums are Adler-32); it
 * is no defence against someone who can rewrite the store, who could rewrite the manifest too.
 *
 * Stored at `manifestKey(name)` (keys.ts says why WAL-E ignores it) through the same pipeline
 * as a partition (lzop, then OpenPGP when a key is configured: file names and checksums of an
 * encrypted backup stay encrypted), written after the last volume and before the sentinel.
 * The document is JSON; its field names are stable (README: backup-verify).
 */
import { crc32 } from "node:zlib";
import { CorruptArchiveError } from "../errors.ts";
import type { Store } from "../storage/store.ts";
import { manifestKey } from "./keys.ts";
import { type Encoding, openDecompressed, uploadCompressed } from "./pipeline.ts";

/** Identifies the document. */
export const MANIFEST_FORMAT = "wal-e-backup-manifest";
export const MANIFEST_VERSION = 1;

/** One regular file of the backup. */
export interface ManifestFile {
  /** Relative to the data directory, as in the tar (`base/5/16384`, `backup_label`). */
  path: string;
  /** Partition number (`part_<N>.tar.lzo`). */
  partition: number;
  /** Bytes stored in the tar. */
  size: number;
  /** CRC-32 (IEEE) of those bytes, 8 lower-case hex digits. */
  crc32: string;
}

/** A page whose checksum did not match, read twice. */
export interface CorruptPage {
  path: string;
  partition: number;
  /** Block number within the relation fork (segment × 131072 + page in the file). */
  block: number;
  /** Checksum computed from the page. */
  calculated: number;
  /** Checksum stored in the page header. */
  stored: number;
}

/** What page checksum verification did during the push. */
export interface PageChecks {
  /** `data_checksums` of the cluster; null when pg_control could not tell. */
  data_checksums: boolean | null;
  /** Pages whose checksum was compared. */
  pages_verified: number;
  /** Pages not compared: written after the backup started (their LSN is newer). */
  pages_skipped_newer: number;
  corrupt_pages: CorruptPage[];
}

/** The manifest document. */
export interface Manifest {
  format: typeof MANIFEST_FORMAT;
  version: number;
  backup_name: string;
  /** ISO 8601 with zone (UTC, `Z`): when the manifest was written. */
  created_at: string;
  /** An online backup carries `backup_label` (an offline one has none). */
  online: boolean;
  /** The backup's start LSN (`X/X`); pages newer than it were not verified. */
  start_lsn: string;
  /** Volumes written: `part_0` … `part_<partition_count - 1>`. */
  partition_count: number;
  checksum_algorithm: "crc32";
  page_checks: PageChecks;
  files: ManifestFile[];
}

/** The running checksum of one file's bytes, as the manifest records it. */
export class FileChecksum {
  #crc = 0;

  update(chunk: Uint8Array): void {
    this.#crc = crc32(chunk, this.#crc);
  }

  /** 8 lower-case hex digits. */
  hex(): string {
    return (this.#crc >>> 0).toString(16).padStart(8, "0");
  }
}

/** Serializes `m`, files ordered by partition then path (stable output). */
export function serializeManifest(m: Manifest): Uint8Array {
  const files = [...m.files].sort((a, b) =>
    a.partition - b.partition || (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)
  );
  return new TextEncoder().encode(JSON.stringify({ ...m, files }));
}

/** Parses a manifest; CorruptArchiveError naming `where` when it is not one. */
export function parseManifest(text: string, where: string): Manifest {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw bad(where, `not JSON (${err instanceof Error ? err.message : String(err)})`);
  }
  if (typeof doc !== "object" || doc === null) throw bad(where, "not a JSON object");
  const m = doc as Partial<Manifest>;
  if (m.format !== MANIFEST_FORMAT) throw bad(where, `format is not "${MANIFEST_FORMAT}"`);
  if (m.version !== MANIFEST_VERSION) {
    throw bad(where, `version ${String(m.version)} is not ${MANIFEST_VERSION}`);
  }
  if (!Array.isArray(m.files)) throw bad(where, "no files list");
  if (typeof m.partition_count !== "number") throw bad(where, "no partition_count");
  for (const f of m.files as unknown[]) {
    const e = f as Partial<ManifestFile>;
    if (
      typeof e?.path !== "string" || typeof e.partition !== "number" ||
      typeof e.size !== "number" || typeof e.crc32 !== "string"
    ) throw bad(where, `a malformed file entry ${JSON.stringify(f)}`);
  }
  const pc = m.page_checks;
  if (typeof pc !== "object" || pc === null || !Array.isArray(pc.corrupt_pages)) {
    throw bad(where, "no page_checks");
  }
  return m as Manifest;
}

function bad(where: string, why: string): CorruptArchiveError {
  return new CorruptArchiveError("backup manifest is damaged", {
    detail: `"${where}": ${why}.`,
  });
}

/** Uploads the manifest of `m.backup_name` (lzop, and OpenPGP when configured). */
export async function uploadManifest(
  store: Store,
  encoding: Encoding,
  m: Manifest,
): Promise<void> {
  const bytes = serializeManifest(m);
  await uploadCompressed(
    store,
    manifestKey(m.backup_name),
    new ReadableStream({
      start(c) {
        c.enqueue(bytes);
        c.close();
      },
    }),
    { encoding, mode: 0, mtimeSeconds: Math.floor(Date.now() / 1000) },
  );
}

/** Reads and parses the manifest of `name`; ObjectNotFoundError when it has none. */
export async function readManifest(
  store: Store,
  encoding: Encoding,
  name: string,
  signal?: AbortSignal,
): Promise<Manifest> {
  const key = manifestKey(name);
  const body = await openDecompressed(store, key, {
    encoding,
    ...(signal === undefined ? {} : { signal }),
  });
  return parseManifest(await new Response(body).text(), store.url(key));
}
