/**
 * Object key layout of WAL-E's version `005` (WAL-E-COMPAT §3.2). Keys are logical names
 * relative to the store's path prefix.
 */

export const LAYOUT_VERSION = "005";
export const BASEBACKUPS_DIR = `basebackups_${LAYOUT_VERSION}/`;
export const WAL_DIR = `wal_${LAYOUT_VERSION}/`;

/** `base_<24 hex>_<8 chars>` at the start of a name (the offset is an opaque token, §3.4). */
export const BACKUP_NAME_RE = /^base_([0-9A-F]{24})_([0-9A-F]{8})/;
export const SENTINEL_SUFFIX = "_backup_stop_sentinel.json";
/** Volume names, padded (v0.7+) or not (older archives). */
export const PARTITION_RE = /^part_(\d+)\.tar\.lzo$/;

/** Key of a WAL file (segment, history, backup history, partial) by its base name. */
export function walKey(basename: string): string {
  return `${WAL_DIR}${basename}.lzo`;
}

/** Folder of one backup's objects. */
export function backupDirKey(name: string): string {
  return `${BASEBACKUPS_DIR}${name}/`;
}

export function extendedVersionKey(name: string): string {
  return `${backupDirKey(name)}extended_version.txt`;
}

export function partitionsPrefix(name: string): string {
  return `${backupDirKey(name)}tar_partitions/`;
}

/** Volume key, 8-digit zero-padded as WAL-E ≥ 0.7 writes it. */
export function partitionKey(name: string, n: number): string {
  return `${partitionsPrefix(name)}part_${String(n).padStart(8, "0")}.tar.lzo`;
}

/**
 * The backup manifest (ours, `src/archive/manifest.ts`): `<name>/manifest.json.lzo`, beside
 * `extended_version.txt` and outside `tar_partitions/`. WAL-E never reads it: its listing
 * takes only sentinels directly under `basebackups_005/` (§2.9), its backup-fetch lists only
 * `tar_partitions/` (§6.1), and its `delete before`/`retain` sweep keeps a depth-2 key other than
 * `extended_version.txt` with a "skipping non-qualifying key" warning (§10.3) while
 * `delete everything` removes it; our delete removes it with its backup.
 */
export const MANIFEST_FILE = "manifest.json.lzo";

export function manifestKey(name: string): string {
  return `${backupDirKey(name)}${MANIFEST_FILE}`;
}

/** Completion marker: a sibling of the backup folder, written last. */
export function sentinelKey(name: string): string {
  return `${BASEBACKUPS_DIR}${name}${SENTINEL_SUFFIX}`;
}

/** Backup name from its start segment and decimal byte offset, as WAL-E's `lpad(…, 8, '0')`. */
export function backupName(fileName: string, offset: number): string {
  return `base_${fileName}_${String(offset).padStart(8, "0").slice(0, 8)}`;
}
