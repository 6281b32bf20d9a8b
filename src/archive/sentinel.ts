/**
 * The completion sentinel `<name>_backup_stop_sentinel.json` (WAL-E-COMPAT §3.5): its
 * existence alone marks a backup complete. Serialised byte-for-byte as Python's
 * `json.dumps` defaults (", " and ": " separators, ASCII escapes, no trailing newline).
 */
import { CorruptArchiveError } from "../errors.ts";

/** One tablespace in the restore spec. */
export interface TablespaceSpec {
  /** Directory the `pg_tblspc/<oid>` symlink pointed at, with a trailing `/`. */
  loc: string;
  /** `pg_tblspc/<oid>`. */
  link: string;
}

/** The restore spec stored in the sentinel (and accepted by `--restore-spec FILE`). */
export interface RestoreSpec {
  base_prefix?: string;
  tablespaces?: string[];
  [oid: string]: TablespaceSpec | string | string[] | undefined;
}

/** Sentinel fields WAL-E writes; readers keep unknown extra keys. */
export interface Sentinel {
  wal_segment_backup_stop: string;
  wal_segment_offset_backup_stop: string;
  expanded_size_bytes: number;
  spec?: RestoreSpec;
}

/**
 * JSON text as Python's `json.dumps(value)` renders it. A `Map` keeps its insertion order
 * (a plain object would list integer-like keys such as tablespace OIDs first).
 */
export function pythonJson(value: unknown): string {
  if (value === null || value === undefined) return "null";
  if (typeof value === "string") {
    return JSON.stringify(value).replace(
      /[\u007f-\uffff]/g,
      (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
    );
  }
  if (typeof value === "number" || typeof value === "boolean") return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(pythonJson).join(", ")}]`;
  const entries = (value instanceof Map ? [...value.entries()] : Object.entries(value as object))
    .filter(([, v]) => v !== undefined);
  return `{${entries.map(([k, v]) => `${pythonJson(k)}: ${pythonJson(v)}`).join(", ")}}`;
}

/** Sentinel bytes with the fields in WAL-E's order. */
export function serializeSentinel(s: Sentinel): Uint8Array {
  const spec = s.spec === undefined ? undefined : orderSpec(s.spec);
  return new TextEncoder().encode(pythonJson(
    new Map<string, unknown>([
      ["wal_segment_backup_stop", s.wal_segment_backup_stop],
      ["wal_segment_offset_backup_stop", s.wal_segment_offset_backup_stop],
      ["expanded_size_bytes", s.expanded_size_bytes],
      ["spec", spec],
    ]),
  ));
}

/** The spec in WAL-E's key order: base_prefix, tablespaces, then one entry per OID. */
function orderSpec(spec: RestoreSpec): Map<string, unknown> {
  const out = new Map<string, unknown>([
    ["base_prefix", spec.base_prefix ?? ""],
    ["tablespaces", spec.tablespaces ?? []],
  ]);
  for (const oid of spec.tablespaces ?? []) {
    const ts = spec[oid];
    if (ts !== undefined && typeof ts === "object" && !Array.isArray(ts)) {
      out.set(oid, new Map([["loc", ts.loc], ["link", ts.link]]));
    }
  }
  return out;
}

/** Parses sentinel bytes; a malformed body is a CorruptArchiveError naming `key`. */
export function parseSentinel(bytes: Uint8Array, key: string): Sentinel {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder().decode(bytes));
  } catch (err) {
    throw new CorruptArchiveError("backup sentinel is not valid JSON", {
      detail: `The object "${key}" could not be parsed.`,
      cause: err,
    });
  }
  const v = value as Partial<Sentinel> | null;
  if (
    v === null || typeof v !== "object" || typeof v.wal_segment_backup_stop !== "string" ||
    typeof v.wal_segment_offset_backup_stop !== "string"
  ) {
    throw new CorruptArchiveError("backup sentinel lacks its stop position", {
      detail: `The object "${key}" has no wal_segment_backup_stop/offset strings.`,
    });
  }
  return v as Sentinel;
}
