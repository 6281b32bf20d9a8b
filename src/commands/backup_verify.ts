/**
 * backup-verify (ours; WAL-E had none): is this base backup whole, as stored? Every partition is
 * downloaded and decoded in parallel (at most `--pool-size` at once) without writing anything to
 * disk: lzop block checksums, a complete tar (headers, members, end-of-archive marker), and
 * `backup_label` for an online backup. With the backup's manifest (written by our backup-push,
 * `src/archive/manifest.ts`) every file must be in its partition with the recorded size and
 * CRC-32, no partition may be missing, and the corrupt pages backup-push found are reported.
 * A backup without a manifest (WAL-E's) gets every check that needs none, and a note.
 *
 * One line per finding on stdout (`OK`, `NOTE`, `WARN`, `FAIL`), or one JSON document with
 * `--json`; then, on any FAIL, an error naming the first culprit and exit status 1. With
 * `--restore`, once every check passed, the restore drill runs (`backup_verify/restore_drill.ts`,
 * loaded only then).
 */
import { type BackupInfo, listBackups, readSentinel, selectBackups } from "../archive/backups.ts";
import { PARTITION_RE, partitionsPrefix } from "../archive/keys.ts";
import { type Manifest, type ManifestFile, readManifest } from "../archive/manifest.ts";
import { forEachPooled } from "../pool.ts";
import { normalizeName } from "../archive/tar_extract.ts";
import { CorruptArchiveError, ObjectNotFoundError, UserError, WalEError } from "../errors.ts";
import type { CommandDeps } from "./context.ts";
import { errorText, type PartitionScan, scanPartition } from "./backup_verify/scan.ts";
import {
  type Finding,
  findingLine,
  type ManifestSummary,
  type VerifyReport,
} from "./backup_verify/report.ts";

/** Input of backup-verify. */
export interface BackupVerifyInput {
  /** A backup name or `LATEST`. */
  backupName: string;
  json: boolean;
  /** Partitions read at once. */
  poolSize: number;
  /** Run the restore drill after the checks pass. */
  restore?: boolean | undefined;
  targetTime?: string | undefined;
  pgBin?: string | undefined;
}

/** Runs backup-verify; resolves to the exit status. */
export async function backupVerify(input: BackupVerifyInput, deps: CommandDeps): Promise<number> {
  const selected = selectBackups(await listBackups(deps.store), input.backupName)[0];
  if (selected === undefined) {
    throw new UserError("no backups found for verifying", {
      detail: `No backup matching the query ${input.backupName} was able to be located.`,
      hint: "backup-list shows the complete backups.",
    });
  }
  const report = await verify(selected, input.poolSize, deps);
  deps.stdout(
    input.json
      ? JSON.stringify(report, null, 2) + "\n"
      : report.findings.map((f) => findingLine(f) + "\n").join(""),
  );
  // The closing verdict line is not a problem of its own.
  const failures = report.findings.filter((f) => f.level === "FAIL" && f.kind !== "backup");
  if (failures.length > 0) {
    throw new CorruptArchiveError("backup verification failed", {
      detail: `${selected.name}: ${failures.length} problem${failures.length > 1 ? "s" : ""}; ` +
        failures.slice(0, 3).map((f) => findingLine(f).slice(5)).join("; ") +
        (failures.length > 3 ? "; ..." : ""),
      hint: "Restore another backup (backup-list), and take a new base backup (backup-push).",
    });
  }
  if (input.restore !== true) return 0;
  const { runRestoreDrill } = await import("./backup_verify/restore_drill.ts");
  return await runRestoreDrill(
    { backupName: selected.name, targetTime: input.targetTime, pgBin: input.pgBin },
    deps,
  );
}

/** Every check of one backup. */
async function verify(
  backup: BackupInfo,
  poolSize: number,
  deps: CommandDeps,
): Promise<VerifyReport> {
  const findings: Finding[] = [];
  const add = (f: Omit<Finding, "partition" | "path" | "block"> & Partial<Finding>): void => {
    findings.push({ partition: null, path: null, block: null, ...f });
  };

  let offline = false;
  try {
    const s = await readSentinel(deps.store, backup.name);
    // An offline backup (no backup_label) stops where it starts (WAL-E-COMPAT §5.4).
    offline = `${s.wal_segment_backup_stop}_${s.wal_segment_offset_backup_stop}` ===
      backup.name.slice(5);
  } catch (err) {
    if (!(err instanceof WalEError)) throw err;
    add({ level: "FAIL", kind: "sentinel", message: errorText(err) });
  }

  let manifest: Manifest | undefined;
  try {
    manifest = await readManifest(deps.store, deps.encoding, backup.name);
  } catch (err) {
    if (err instanceof ObjectNotFoundError) {
      add({
        level: "NOTE",
        kind: "manifest",
        message: "absent (a backup written by WAL-E or before manifests): file sizes and " +
          "checksums cannot be compared, nor missing partitions or files found",
      });
    } else if (err instanceof WalEError) {
      add({ level: "FAIL", kind: "manifest", message: errorText(err) });
    } else throw err;
  }
  if (manifest !== undefined && manifest.backup_name !== backup.name) {
    add({
      level: "FAIL",
      kind: "manifest",
      message: `belongs to backup "${manifest.backup_name}"`,
    });
    manifest = undefined;
  }

  // The partitions as stored.
  const prefix = partitionsPrefix(backup.name);
  const stored: { key: string; label: string; number: number }[] = [];
  for await (const o of deps.store.list(prefix)) {
    const label = o.key.slice(prefix.length);
    const m = PARTITION_RE.exec(label);
    if (m === null) {
      add({
        level: "WARN",
        kind: "unexpected-object",
        message: `"${deps.store.url(o.key)}" is not a partition; backup-fetch skips it`,
      });
      continue;
    }
    stored.push({ key: o.key, label, number: Number(m[1]) });
  }
  stored.sort((a, b) => a.number - b.number);
  const labelOf = (n: number): string =>
    stored.find((p) => p.number === n)?.label ?? `part_${String(n).padStart(8, "0")}.tar.lzo`;

  const scans: PartitionScan[] = [];
  await forEachPooled(stored, async (p) => {
    scans.push(await scanPartition(deps.store, deps.encoding, p.key, p.label, p.number));
  }, { limit: poolSize });
  scans.sort((a, b) => a.number - b.number);

  const present = new Set(stored.map((p) => p.number));
  const expectedCount = manifest?.partition_count ??
    (stored.length === 0 ? 0 : (stored[stored.length - 1]?.number ?? 0) + 1);
  const missing: number[] = [];
  for (let n = 0; n < expectedCount; n++) if (!present.has(n)) missing.push(n);
  if (stored.length === 0 && manifest === undefined) {
    add({ level: "FAIL", kind: "partition", message: "the backup has no partitions" });
  }
  const listed = groupByPartition(manifest?.files ?? []);
  for (const n of missing) {
    const files = listed.get(n)?.length ?? 0;
    add({
      level: "FAIL",
      kind: "missing-partition",
      partition: labelOf(n),
      message: manifest === undefined
        ? "missing from the store (partitions are numbered without gaps)"
        : `missing from the store; the manifest lists ${files} file${files === 1 ? "" : "s"} in it`,
    });
  }
  for (const p of stored) {
    if (manifest !== undefined && p.number >= manifest.partition_count) {
      add({
        level: "FAIL",
        kind: "unexpected-partition",
        partition: p.label,
        message: `the manifest records ${manifest.partition_count} partitions`,
      });
    }
  }

  for (const s of scans) {
    for (const name of s.unsafe) {
      add({
        level: "FAIL",
        kind: "unsafe-member",
        partition: s.label,
        path: name,
        message: "absolute or leaving the data directory; backup-fetch refuses it",
      });
    }
    if (s.error !== undefined) {
      const unchecked = listed.get(s.number)?.length;
      const at = s.failedAt;
      add({
        level: "FAIL",
        kind: "partition",
        partition: s.label,
        // The file being decoded when it failed (its tar member), as backup-fetch would meet it.
        path: at?.whole === false ? normalizedOrRaw(at.member) : null,
        message: s.error +
          (at?.whole === true ? ` (after file "${at.member}")` : "") +
          (unchecked === undefined
            ? ""
            : ` (${unchecked} file${
              unchecked === 1 ? "" : "s"
            } of the manifest in it not checked)`),
      });
    } else {
      add({
        level: "OK",
        kind: "partition",
        partition: s.label,
        message: `lzop checksums and tar structure; ${s.members} members, ${s.files.size} ` +
          `files, ${s.tarBytes} bytes of tar`,
      });
    }
  }

  if (manifest !== undefined) compareWithManifest(manifest, scans, labelOf, add);

  // backup_label: in the root of an online backup (the last partition for ours).
  const labelScan = scans.find((s) => s.files.has("backup_label"));
  const online = manifest?.online ?? !offline;
  if (labelScan !== undefined) {
    add({ level: "OK", kind: "backup-label", partition: labelScan.label, message: "present" });
  } else if (online) {
    add({
      level: "FAIL",
      kind: "backup-label",
      message: "not in any partition: recovery would not know where to start" +
        (scans.some((s) => s.error !== undefined) || missing.length > 0
          ? " (a partition above is missing or unreadable)"
          : ""),
    });
  } else {
    add({
      level: "NOTE",
      kind: "backup-label",
      message: "none: an offline backup (--while-offline) has no backup_label",
    });
  }

  if (manifest !== undefined) {
    for (const p of manifest.page_checks.corrupt_pages) {
      add({
        level: "FAIL",
        kind: "corrupt-page",
        partition: labelOf(p.partition),
        path: p.path,
        block: p.block,
        message: `checksum verification failed when backup-push read it (calculated ${
          hex(p.calculated)
        }, stored ${hex(p.stored)})`,
      });
    }
  }

  const failed = findings.filter((f) => f.level === "FAIL").length;
  add({
    level: failed === 0 ? "OK" : "FAIL",
    kind: "backup",
    message: failed === 0
      ? `${backup.name}: verified (${scans.length} partitions, ` +
        `${scans.reduce((n, s) => n + s.files.size, 0)} files${
          manifest === undefined ? ", no manifest" : ", matching the manifest"
        })`
      : `${backup.name}: ${failed} problem${failed === 1 ? "" : "s"}`,
  });

  return {
    backup_name: backup.name,
    verified_at: new Date().toISOString(),
    backup_finished_at: backup.lastModified.toISOString(),
    ok: failed === 0,
    manifest: manifestSummary(manifest),
    partitions: [
      ...scans.map((s) => ({
        name: s.label,
        number: s.number,
        status: s.error === undefined ? "ok" as const : "failed" as const,
        members: s.members,
        files: s.files.size,
        tar_bytes: s.tarBytes,
        error: s.error ?? null,
      })),
      ...missing.map((n) => ({
        name: labelOf(n),
        number: n,
        status: "missing" as const,
        members: 0,
        files: 0,
        tar_bytes: 0,
        error: "missing from the store",
      })),
    ].sort((a, b) => a.number - b.number),
    backup_label_present: labelScan !== undefined,
    corrupt_pages: manifest?.page_checks.corrupt_pages ?? [],
    findings,
  };
}

/**
 * Each manifest file against what its partition holds (partitions that failed or are missing
 * are reported once, above), and files in the partitions that the manifest does not list.
 */
function compareWithManifest(
  manifest: Manifest,
  scans: readonly PartitionScan[],
  labelOf: (n: number) => string,
  add: (f: Omit<Finding, "partition" | "path" | "block"> & Partial<Finding>) => void,
): void {
  const readable = new Map(scans.filter((s) => s.error === undefined).map((s) => [s.number, s]));
  const inManifest = new Set<string>();
  for (const f of manifest.files) {
    inManifest.add(`${f.partition}\0${f.path}`);
    const scan = readable.get(f.partition);
    if (scan === undefined) continue;
    const got = scan.files.get(f.path);
    const where = { partition: labelOf(f.partition), path: f.path };
    if (got === undefined) {
      const elsewhere = scans.find((s) => s.files.has(f.path));
      add({
        level: "FAIL",
        kind: "file-missing",
        ...where,
        message: elsewhere === undefined
          ? "listed in the manifest but not in its partition"
          : `listed in the manifest for this partition but found in ${elsewhere.label}`,
      });
    } else if (got.size !== f.size) {
      add({
        level: "FAIL",
        kind: "file-size",
        ...where,
        message: `${got.size} bytes, the manifest says ${f.size}`,
      });
    } else if (got.crc32 !== f.crc32) {
      add({
        level: "FAIL",
        kind: "file-checksum",
        ...where,
        message: `CRC-32 ${got.crc32} differs from the manifest's ${f.crc32}`,
      });
    }
  }
  for (const s of readable.values()) {
    for (const path of s.files.keys()) {
      if (inManifest.has(`${s.number}\0${path}`)) continue;
      add({
        level: "FAIL",
        kind: "file-unlisted",
        partition: s.label,
        path,
        message: "in the partition but not in the manifest",
      });
    }
  }
}

function groupByPartition(files: readonly ManifestFile[]): Map<number, ManifestFile[]> {
  const out = new Map<number, ManifestFile[]>();
  for (const f of files) {
    const list = out.get(f.partition) ?? [];
    list.push(f);
    out.set(f.partition, list);
  }
  return out;
}

function manifestSummary(m: Manifest | undefined): ManifestSummary {
  if (m === undefined) return { present: false };
  return {
    present: true,
    created_at: m.created_at,
    online: m.online,
    start_lsn: m.start_lsn,
    partition_count: m.partition_count,
    file_count: m.files.length,
    checksum_algorithm: m.checksum_algorithm,
    data_checksums: m.page_checks.data_checksums,
    pages_verified: m.page_checks.pages_verified,
    pages_skipped_newer: m.page_checks.pages_skipped_newer,
  };
}

function normalizedOrRaw(name: string): string {
  try {
    return normalizeName(name);
  } catch {
    return name;
  }
}

function hex(n: number): string {
  return n.toString(16).toUpperCase().padStart(4, "0");
}
