/**
 * backup-fetch, tablespace handling (WAL-E-COMPAT §6.1 steps 4–5, §14.1 #291/#354): decide the
 * target directory, create directories and tablespace symlinks from a restore spec, verify the
 * symlinks, and make `tablespace_map` agree with the links after extraction.
 */
import { join, resolve } from "node:path";
import type { RestoreSpec, TablespaceSpec } from "../../archive/sentinel.ts";
import { UserError } from "../../errors.ts";

/** The resolved plan of a restore. */
export interface RestorePlan {
  /** Absolute directory the backup is extracted into. */
  base: string;
  /** Tablespace OIDs of the (merged) spec. */
  tablespaces: string[];
  /** The merged spec. */
  spec: RestoreSpec;
}

function tsEntry(spec: RestoreSpec, oid: string): TablespaceSpec | undefined {
  const v = spec[oid];
  if (v === undefined || typeof v !== "object" || Array.isArray(v)) return undefined;
  return typeof v.loc === "string" && typeof v.link === "string" ? v : undefined;
}

async function statOrUndefined(path: string, follow: boolean): Promise<Deno.FileInfo | undefined> {
  try {
    return follow ? await Deno.stat(path) : await Deno.lstat(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound || err instanceof Deno.errors.NotADirectory) {
      return undefined;
    }
    throw err;
  }
}

/** Reads and parses a `--restore-spec FILE` (§6.1). */
async function readSpecFile(path: string): Promise<RestoreSpec> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) {
      // WAL-E printed a literal "%s" here (§14.2 item 9); we print the path.
      throw new UserError("Restore specification does not exist", {
        detail: `File not found: ${path}`,
      });
    }
    throw err;
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new UserError("restore specification is not valid JSON", {
      detail: `The file "${path}": ${err instanceof Error ? err.message : String(err)}.`,
      cause: err,
    });
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new UserError("restore specification is not a JSON object", {
      detail: `File "${path}".`,
    });
  }
  return value as RestoreSpec;
}

/**
 * Builds the plan. Without `restoreSpec` the target is `clusterDir` and nothing is created.
 * `SOURCE` keeps the sentinel's spec including its base_prefix (WAL-E's behaviour). A FILE is
 * merged over the sentinel's spec (shallow), but — deviation for wal-e #291 — the target is
 * `clusterDir` unless the file itself sets `base_prefix`.
 */
export async function planRestore(
  clusterDir: string,
  sentinelSpec: RestoreSpec,
  restoreSpec: string | undefined,
): Promise<RestorePlan> {
  if (restoreSpec === undefined) {
    return { base: clusterDir, tablespaces: sentinelSpec.tablespaces ?? [], spec: sentinelSpec };
  }
  let spec: RestoreSpec;
  let base: string;
  if (restoreSpec === "SOURCE") {
    spec = { ...sentinelSpec };
    base = spec.base_prefix ? resolve(spec.base_prefix) : clusterDir;
  } else {
    const file = await readSpecFile(restoreSpec);
    spec = { ...sentinelSpec, ...file };
    base = typeof file.base_prefix === "string" && file.base_prefix !== ""
      ? resolve(file.base_prefix)
      : clusterDir;
  }
  spec.base_prefix = `${base}/`;
  // WAL-E crashed on a spec without "tablespaces" (§14.2 item 4); we take it as none.
  const tablespaces = Array.isArray(spec.tablespaces) ? spec.tablespaces.map(String) : [];
  return { base, tablespaces, spec };
}

/**
 * Creates the directories and symlinks a restore spec describes (§6.1 "Creating paths");
 * appends each path it created to `made` (so a failed restore can remove them again).
 */
export async function createSpecPaths(plan: RestorePlan, made: string[]): Promise<void> {
  await mkdirIfMissing(plan.base, made);
  await mkdirIfMissing(join(plan.base, "pg_tblspc"), made);
  for (const oid of plan.tablespaces) {
    const ts = tsEntry(plan.spec, oid);
    if (ts === undefined) {
      throw new UserError("restore specification lacks a tablespace entry", {
        detail: `Tablespace "${oid}" is listed but has no {"loc", "link"} object.`,
      });
    }
    const loc = ts.loc.replace(/\/+$/, "") || "/";
    await mkdirIfMissing(loc, made);
    const link = join(plan.base, ts.link);
    const existing = await statOrUndefined(link, false);
    if (existing?.isSymlink === true && (await Deno.readLink(link)).replace(/\/+$/, "") === loc) {
      continue; // already made (a re-run)
    }
    if (existing !== undefined) {
      throw new UserError("cannot create a tablespace symlink", {
        detail: `The path "${link}" already exists.`,
        hint: "Restore into an empty directory.",
      });
    }
    await Deno.symlink(loc, link);
    made.push(link);
  }
}

async function mkdirIfMissing(path: string, made: string[]): Promise<void> {
  const st = await statOrUndefined(path, true);
  if (st?.isDirectory === true) return;
  // A single mkdir: the parent must exist, as with WAL-E.
  await Deno.mkdir(path, { mode: 0o700 });
  made.push(path);
}

/**
 * Unless blind: every `pg_tblspc/<oid>` of the plan must be a symlink resolving to a
 * directory, else WAL-E's error (§6.1 step 5).
 */
export async function verifyTablespaceLinks(plan: RestorePlan): Promise<void> {
  const missing: string[] = [];
  for (const oid of plan.tablespaces) {
    const link = join(plan.base, "pg_tblspc", oid);
    const l = await statOrUndefined(link, false);
    const t = await statOrUndefined(link, true);
    if (l?.isSymlink !== true || t?.isDirectory !== true) missing.push(oid);
  }
  if (missing.length > 0) {
    throw new UserError("Symlinks for some tablespaces not found or created.", {
      detail: `Tablespace(s) without a symlink to a directory in ` +
        `"${join(plan.base, "pg_tblspc")}": ${missing.join(", ")}.`,
      hint: "Create the symlinks, pass --restore-spec, or use --blind-restore.",
    });
  }
}

/**
 * Makes `tablespace_map` (`<oid> <path>` lines) agree with what the restore left in
 * `pg_tblspc` (fix for wal-e #354): a symlink's entry gets the link's target; an entry whose
 * `pg_tblspc/<oid>` is a real directory (blind restore) is dropped, since PostgreSQL would
 * otherwise try to replace that directory with a link to the source host's path. Returns
 * whether the file changed; a missing map is left alone. `path` is where the map is (its
 * pending name until the restore is complete).
 */
export async function rewriteTablespaceMap(
  base: string,
  path = join(base, "tablespace_map"),
): Promise<boolean> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
  const out: string[] = [];
  for (const line of text.split("\n")) {
    const m = /^(\d+) (.*)$/.exec(line);
    if (m === null) {
      if (line !== "") out.push(line);
      continue;
    }
    const oid = m[1] ?? "";
    const link = join(base, "pg_tblspc", oid);
    const st = await statOrUndefined(link, false);
    if (st?.isSymlink === true) out.push(`${oid} ${escapeMapPath(await Deno.readLink(link))}`);
    else if (st?.isDirectory === true) continue;
    else out.push(line);
  }
  const next = out.length === 0 ? "" : out.join("\n") + "\n";
  if (next === text) return false;
  const st = await Deno.stat(path);
  await Deno.writeTextFile(path, next, { mode: st.mode ?? 0o600 });
  return true;
}

/** PostgreSQL escapes `\`, newlines and CRs in tablespace_map paths with a backslash. */
function escapeMapPath(p: string): string {
  return p.replace(/\/+$/, "").replace(/([\\\n\r])/g, "\\$1");
}
