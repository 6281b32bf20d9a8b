/**
 * The list of paths a base backup archives, in WAL-E's order and with its exclusions
 * (WAL-E-COMPAT §5.5), plus the tablespace part of the restore spec (§3.5).
 *
 * The walk is top-down and does not follow symlinked directories, except the tablespace links
 * in `pg_tblspc`, which are walked through. Each directory is listed before its files, then its
 * subdirectories follow in directory-listing order. Paths are only listed here; `lstat` happens
 * later, when the partition holding them is formed (§5.6).
 *
 * A directory that cannot be listed, and a tablespace link that cannot be followed (dangling,
 * permission denied, a loop, not a directory), fail the walk with a UserError naming it:
 * skipping it would yield a backup that looks complete and restores without that data.
 * Only what vanished while being walked (a dropped database or tablespace) is passed over.
 */
import type { RestoreSpec, TablespaceSpec } from "../archive/sentinel.ts";
import { describe, UserError } from "../errors.ts";

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

/** The OS's reason without Deno's trailing `: op 'path'` (the path is named separately). */
export function osReason(err: unknown): string {
  return describe(err).replace(/: [a-z_]+ '.*'$/s, "");
}

const READ_HINT = "Run backup-push as the cluster's owner (usually postgres) and make sure it " +
  "can read the whole data directory and every tablespace.";

/** Where a listing failure is reported: the data directory, or one tablespace. */
interface Place {
  /** `pg_tblspc/<oid>` for a tablespace; undefined for the data directory itself. */
  link?: string;
  /** Maps a walked path (through the link) to the path to show (through the target). */
  show: (path: string) => string;
}

const DATA_DIR: Place = { show: (p) => p };

/**
 * Splits a directory's entries into real subdirectories and everything else, in fs order;
 * undefined when the directory vanished. Any other failure is a UserError naming `place`.
 */
async function listDir(dir: string, place: Place): Promise<Listing | undefined> {
  const dirs: string[] = [];
  const files: string[] = [];
  try {
    for await (const e of Deno.readDir(dir)) {
      if (e.isDirectory) dirs.push(e.name);
      else files.push(e.name);
    }
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return undefined;
    throw new UserError(
      place.link === undefined
        ? "could not read the data directory"
        : `could not read tablespace "${place.link}"`,
      {
        detail: `Could not list "${place.show(dir)}": ${osReason(err)}.`,
        hint: READ_HINT,
        cause: err,
      },
    );
  }
  return { dirs, files };
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
  const top = await listDir(root, DATA_DIR);
  if (top === undefined) {
    throw new UserError(`the data directory "${root}" does not exist`, { hint: READ_HINT });
  }

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
  const listing = await listDir(path, DATA_DIR);
  if (listing === undefined) return; // vanished (e.g. a dropped database)
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
  const listing = await listDir(dir, DATA_DIR);
  if (listing === undefined) return;
  for (const f of listing.files) {
    const path = `${dir}/${f}`;
    const link = `pg_tblspc/${f}`;
    const entry = await followTablespace(path, link);
    if (entry.kind === "gone") continue; // dropped during the backup
    if (entry.kind === "plain") {
      out.push({ path, name: link }); // a stray file: archived as it is, as WAL-E did
      continue;
    }
    const target = entry.target;
    tablespaces.push(f);
    specs.set(f, { loc: target.endsWith("/") ? target : `${target}/`, link });
    const base = target.replace(/\/+$/, "");
    const place: Place = { link, show: (p) => base + p.slice(path.length) };
    const found = await walkTablespace(path, link, out, true, place);
    // The directory went away under a link that is still there: not a dropped tablespace.
    if (!found && await lstatOrUndefined(path, link) !== undefined) {
      throw danglingError(link, target);
    }
  }
  // PG 15 in-place tablespaces: plain directories, walked as ordinary ones, not in the spec.
  for (const d of listing.dirs) await walkDir(`${dir}/${d}`, `pg_tblspc/${d}`, out);
}

type TablespaceEntry =
  | { kind: "tablespace"; target: string }
  | { kind: "plain" }
  | { kind: "gone" };

/**
 * What a `pg_tblspc` entry is: a symlink to a readable directory (a tablespace), not a
 * symlink at all, or gone. A link that cannot be followed to a directory (dangling,
 * permission denied on the way, a loop, a file) is a UserError naming it: WAL-E took any
 * such link for a plain symlink and silently left the tablespace's data out.
 */
async function followTablespace(path: string, link: string): Promise<TablespaceEntry> {
  const info = await lstatOrUndefined(path, link);
  if (info === undefined) return { kind: "gone" };
  if (!info.isSymlink) return { kind: "plain" };
  let target: string;
  try {
    target = await Deno.readLink(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return { kind: "gone" };
    throw unreadable(link, `Could not read the link "${path}": ${osReason(err)}.`, err);
  }
  let st: Deno.FileInfo;
  try {
    st = await Deno.stat(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) {
      if (await lstatOrUndefined(path, link) === undefined) return { kind: "gone" };
      throw danglingError(link, target);
    }
    throw unreadable(
      link,
      `Could not follow "${path}" to "${target}": ${osReason(err)}.`,
      err,
    );
  }
  if (!st.isDirectory) {
    throw unreadable(link, `The link "${path}" points at "${target}", which is not a directory.`);
  }
  return { kind: "tablespace", target };
}

async function lstatOrUndefined(path: string, link: string): Promise<Deno.FileInfo | undefined> {
  try {
    return await Deno.lstat(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return undefined;
    throw unreadable(link, `Could not lstat "${path}": ${osReason(err)}.`, err);
  }
}

function unreadable(link: string, detail: string, cause?: unknown): UserError {
  return new UserError(`could not read tablespace "${link}"`, {
    detail,
    hint: READ_HINT + " A backup without the tablespace would not restore.",
    cause,
  });
}

function danglingError(link: string, target: string): UserError {
  return unreadable(link, `The link points at "${target}", which does not exist.`);
}

/**
 * Inside a tablespace WAL-E lists files, and a directory only when it holds no files (so
 * non-empty directories are recreated implicitly); the tablespace root itself is not listed.
 * Resolves to false when `path` vanished before it could be listed.
 */
async function walkTablespace(
  path: string,
  name: string,
  out: WalkEntry[],
  isRoot: boolean,
  place: Place,
): Promise<boolean> {
  const base = name.split("/").pop() ?? name;
  if (base === "pgsql_tmp") {
    out.push({ path, name });
    return true;
  }
  const listing = await listDir(path, place);
  if (listing === undefined) return false;
  if (!isRoot && listing.files.length === 0) out.push({ path, name });
  for (const f of listing.files) out.push({ path: `${path}/${f}`, name: `${name}/${f}` });
  for (const d of listing.dirs) {
    if (d === "lost+found") continue;
    await walkTablespace(`${path}/${d}`, `${name}/${d}`, out, false, place);
  }
  return true;
}
