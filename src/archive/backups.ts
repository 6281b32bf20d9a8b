/** Finding complete base backups: those whose sentinel exists (WAL-E-COMPAT §2.9, §3.5). */
import { UserError } from "../errors.ts";
import type { Store } from "../storage/store.ts";
import { BACKUP_NAME_RE, BASEBACKUPS_DIR, SENTINEL_SUFFIX, sentinelKey } from "./keys.ts";
import { readPlain } from "./pipeline.ts";
import { parseSentinel, type Sentinel } from "./sentinel.ts";

/** A complete backup as the listing shows it. */
export interface BackupInfo {
  name: string;
  /** Sentinel modification time. */
  lastModified: Date;
  /** The backend's own rendering of it (printed verbatim). */
  lastModifiedText: string;
  walSegmentBackupStart: string;
  walSegmentOffsetBackupStart: string;
}

/** Complete backups in storage listing order. */
export async function listBackups(store: Store): Promise<BackupInfo[]> {
  const out: BackupInfo[] = [];
  for await (const obj of store.list(BASEBACKUPS_DIR)) {
    const rest = obj.key.slice(BASEBACKUPS_DIR.length);
    if (rest.includes("/") || !rest.endsWith(SENTINEL_SUFFIX)) continue;
    const name = rest.slice(0, -SENTINEL_SUFFIX.length);
    const m = BACKUP_NAME_RE.exec(name);
    if (m === null || m[0] !== name) continue;
    out.push({
      name,
      lastModified: obj.lastModified,
      lastModifiedText: obj.lastModifiedText,
      walSegmentBackupStart: m[1] ?? "",
      walSegmentOffsetBackupStart: m[2] ?? "",
    });
  }
  return out;
}

/** True for `LATEST` or a string starting with a backup name (WAL-E's query grammar). */
export function isValidQuery(query: string): boolean {
  return query === "LATEST" || BACKUP_NAME_RE.test(query);
}

/** The backups a query selects: all, LATEST (newest sentinel; last listed wins ties), or by name. */
export function selectBackups(all: readonly BackupInfo[], query: string | undefined): BackupInfo[] {
  if (query === undefined) return [...all];
  if (query === "LATEST") {
    let best: BackupInfo | undefined;
    for (const b of all) if (best === undefined || b.lastModified >= best.lastModified) best = b;
    return best === undefined ? [] : [best];
  }
  if (!isValidQuery(query)) {
    throw new UserError("invalid backup query submitted", {
      detail: `The submitted query operator was "${query}."`,
    });
  }
  return all.filter((b) => b.name === query);
}

/** Reads a backup's sentinel. */
export async function readSentinel(store: Store, name: string): Promise<Sentinel> {
  const key = sentinelKey(name);
  return parseSentinel(await readPlain(store, key), store.url(key));
}
