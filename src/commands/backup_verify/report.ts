/**
 * backup-verify's output: the findings and the `--json` document. Field names here are the
 * stable interface (README: backup-verify); timestamps are ISO 8601 in UTC with `Z`.
 */
import type { CorruptPage } from "../../archive/manifest.ts";

/** How bad a finding is; any FAIL makes the command exit 1. */
export type FindingLevel = "OK" | "NOTE" | "WARN" | "FAIL";

/** One finding (one output line). */
export interface Finding {
  level: FindingLevel;
  /**
   * What it is about: `sentinel`, `manifest`, `partition`, `missing-partition`,
   * `unexpected-partition`, `unexpected-object`, `unsafe-member`, `file-missing`, `file-size`,
   * `file-checksum`, `file-unlisted`, `backup-label`, `corrupt-page`, `backup` (the verdict).
   */
  kind: string;
  /** Partition object name (`part_00000000.tar.lzo`) when it concerns one. */
  partition: string | null;
  /** File path relative to the data directory when it concerns one. */
  path: string | null;
  /** Block number for `corrupt-page`. */
  block: number | null;
  message: string;
}

/** The manifest as backup-verify saw it. */
export type ManifestSummary =
  | { present: false }
  | {
    present: true;
    created_at: string;
    online: boolean;
    start_lsn: string;
    partition_count: number;
    file_count: number;
    checksum_algorithm: string;
    data_checksums: boolean | null;
    pages_verified: number;
    pages_skipped_newer: number;
  };

/** One partition's result. */
export interface PartitionResult {
  name: string;
  number: number;
  status: "ok" | "failed" | "missing";
  members: number;
  files: number;
  tar_bytes: number;
  error: string | null;
}

/** The `--json` document. */
export interface VerifyReport {
  backup_name: string;
  /** When this verification ran. */
  verified_at: string;
  /** When the backup's sentinel was written. */
  backup_finished_at: string;
  ok: boolean;
  manifest: ManifestSummary;
  partitions: PartitionResult[];
  backup_label_present: boolean;
  corrupt_pages: CorruptPage[];
  findings: Finding[];
}

/** The text line of a finding: `LEVEL subject: message`. */
export function findingLine(f: Finding): string {
  return `${f.level.padEnd(4)} ${subject(f)}: ${f.message}`;
}

function subject(f: Finding): string {
  if (f.kind === "corrupt-page") {
    return `page ${f.path ?? "?"} block ${f.block ?? "?"} (${f.partition ?? "?"})`;
  }
  if (f.kind === "partition" && f.partition !== null) {
    return f.path === null ? `partition ${f.partition}` : `partition ${f.partition} file ${f.path}`;
  }
  if (f.path !== null) {
    return f.partition === null ? `file ${f.path}` : `file ${f.path} (${f.partition})`;
  }
  if (f.partition !== null) {
    return f.kind === "backup-label" ? `backup_label (${f.partition})` : `partition ${f.partition}`;
  }
  if (f.kind === "backup-label") return "backup_label";
  return f.kind;
}
