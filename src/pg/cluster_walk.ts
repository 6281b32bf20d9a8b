/**
 * The list of paths a base backup archives, in WAL-E's order and with its exclusions
 * (WAL-E-COMPAT §5.5), plus the tablespace part of the restore spec (§3.5).
 *
 * The walk is top-down and does not follow symlinked directories, except the tablespace links
 * in `pg_tblspc`, which are walked through. Each directory is listed before its files, then its
 * subdirectories follow in directory-listing order. Paths are only listed here; `lstat` happens
 * later, when the partition holding them is formed (§5.6).
 */
import type { RestoreSpec, TablespaceSpec } from "../archive/sentinel.ts";

/** One path to archive. */
export interface WalkEntry {
  /** Absolute path (through the tablespace symlink for tablespace members). */
  path: string;
  /** Member name relative to the data directory, `/`-separated; `""` is the directory itself. */
  name: string;
}

/** Options of the walk. */
export interface WalkOptions {
  /**
   * Also skip top-level `backup_label`, `tablespace_map`, `backup_label.old`: a non-exclusive
   * backup adds fresh ones after the stop, and stale ones would mislead recovery (§5.2).
   */
  skipBackupLabel?: boolean;
}

/** The walk's result: ordered entries and the restore spec for the sentinel. */
export interface ClusterWalk {
  entries: WalkEntry[];
  spec: RestoreSpec;
}

/** Top-level directories listed but not descended into, in WAL-E's order. */
const TOP_PLACEHOLDERS = ["pg_xlog", "pg_log", "pg_replslot", "pg_wal"];
/** Directories listed but not descended into at any depth. */
const ANY_PLACEHOLDERS = new Set(["pgsql_tmp", "pg_stat_tmp", ".wal-e"]);
/** Top-level files never archived. */
const TOP_EXCLUDED_FILES = new Set([
  "postmaster.pid",
  "postmaster.opts",
  "postgresql.conf",
  "pg_hba.conf",
  "pg_ident.conf",
  "recovery.conf",
  "recovery.done",
  "promote",
]);
const LABEL_FILES = new Set(["backup_label", "tablespace_map", "backup_label.old"]);

interface Listing {
  dirs: string[];
  files: string[];
}

/** Splits a directory's entries into real subdirectories and everything else, in fs order. */
async function listDir(dir: string): Promise<Listing> {
  const dirs: string[] = [];
  const files: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    if (e.isDirectory) dirs.push(e.name);
    else files.push(e.name);
  }
  return { dirs, files };
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isDirectory;
  } catch {
    return false;
  }
}

/**
 * Walks `dataDir` (absolute) and its tablespaces. `spec.base_prefix` is `dataDir` with one
 * trailing `/` as WAL-E records it.
 */
export async function walkCluster(
  dataDir: string,
  options: WalkOptions = {},
): Promise<ClusterWalk> {
  if (!dataDir.startsWith("/")) {
    throw new TypeError(`the data directory must be an absolute path: "${dataDir}"`);
  }
  const root = dataDir.replace(/\/+$/, "");
  const entries: WalkEntry[] = [{ path: root === "" ? "/" : root, name: "" }];
  const tablespaces: string[] = [];
  const tsSpecs = new Map<string, TablespaceSpec>();
  const top = await listDir(root);

  for (const name of TOP_PLACEHOLDERS) {
    if (top.dirs.includes(name) || top.files.includes(name)) {
      entries.push({ path: `${root}/${name}`, name });
    }
  }
  for (const f of top.files) {
    if (TOP_EXCLUDED_FILES.has(f) || TOP_PLACEHOLDERS.includes(f)) continue;
    if (options.skipBackupLabel === true && LABEL_FILES.has(f)) continue;
    entries.push({ path: `${root}/${f}`, name: f });
  }
  for (const d of top.dirs) {
    if (TOP_PLACEHOLDERS.includes(d) || d === "lost+found") continue;
    if (d === "pg_tblspc") {
      entries.push({ path: `${root}/${d}`, name: d });
      await walkTblspc(root, entries, tablespaces, tsSpecs);
      continue;
    }
    await walkDir(`${root}/${d}`, d, entries);
  }

  const spec: RestoreSpec = { base_prefix: `${root}/`, tablespaces };
  for (const [oid, ts] of tsSpecs) spec[oid] = ts;
  return { entries, spec };
}

/** An ordinary directory: itself, its files, then its subdirectories. */
async function walkDir(path: string, name: string, out: WalkEntry[]): Promise<void> {
  out.push({ path, name });
  const base = name.split("/").pop() ?? name;
  if (ANY_PLACEHOLDERS.has(base)) return;
  let listing: Listing;
  try {
    listing = await listDir(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return; // vanished (e.g. a dropped database)
    throw err;
  }
  for (const f of listing.files) out.push({ path: `${path}/${f}`, name: `${name}/${f}` });
  for (const d of listing.dirs) {
    if (d === "lost+found") continue;
    await walkDir(`${path}/${d}`, `${name}/${d}`, out);
  }
}

/** `pg_tblspc`: symlinks to directories are tablespaces, walked through the link (§5.5). */
async function walkTblspc(
  root: string,
  out: WalkEntry[],
  tablespaces: string[],
  specs: Map<string, TablespaceSpec>,
): Promise<void> {
  const dir = `${root}/pg_tblspc`;
  const listing = await listDir(dir);
  for (const f of listing.files) {
    const path = `${dir}/${f}`;
    const info = await Deno.lstat(path).catch(() => undefined);
    if (info?.isSymlink === true && await isDirectory(path)) {
      const target = await Deno.readLink(path);
      tablespaces.push(f);
      specs.set(f, { loc: target.endsWith("/") ? target : `${target}/`, link: `pg_tblspc/${f}` });
      await walkTablespace(path, `pg_tblspc/${f}`, out, true);
    } else {
      out.push({ path, name: `pg_tblspc/${f}` });
    }
  }
  // PG 15 in-place tablespaces: plain directories, walked as ordinary ones, not in the spec.
  for (const d of listing.dirs) await walkDir(`${dir}/${d}`, `pg_tblspc/${d}`, out);
}

/**
 * Inside a tablespace WAL-E lists files, and a directory only when it holds no files (so
 * non-empty directories are recreated implicitly); the tablespace root itself is not listed.
 */
async function walkTablespace(
  path: string,
  name: string,
  out: WalkEntry[],
  isRoot: boolean,
): Promise<void> {
  const base = name.split("/").pop() ?? name;
  if (base === "pgsql_tmp") {
    out.push({ path, name });
    return;
  }
  let listing: Listing;
  try {
    listing = await listDir(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return;
    throw err;
  }
  if (!isRoot && listing.files.length === 0) out.push({ path, name });
  for (const f of listing.files) out.push({ path: `${path}/${f}`, name: `${name}/${f}` });
  for (const d of listing.dirs) {
    if (d === "lost+found") continue;
    await walkTablespace(`${path}/${d}`, `${name}/${d}`, out, false);
  }
}
