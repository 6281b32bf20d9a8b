/**
 * backup-push, pre-flight: is the given directory a PostgreSQL data directory at all?
 *
 * Checked before any connection is made and before anything is written to the store, so a
 * wrong path (a typo, the parent of the data directory, a mount point that is not mounted)
 * can neither start a backup on the server nor leave objects behind, let alone become LATEST
 * with a tree that restores to nothing usable. The two files every cluster has since 8.x are
 * the test: `PG_VERSION` and `global/pg_control` (what `pg_ctl` and `pg_controldata` read).
 */
import { resolve } from "node:path";
import { describe, UserError } from "../../errors.ts";

/** Files that make a directory a data directory, relative to it. */
export const DATA_DIR_MARKERS = ["PG_VERSION", "global/pg_control"] as const;

const HINT = "Give the cluster's data directory (SHOW data_directory; e.g. " +
  "/var/lib/postgresql/15/main), as the user that owns it.";

/**
 * The absolute data directory for `given`, after checking it is one.
 *
 * A relative path is resolved against the current working directory (a deliberate deviation:
 * WAL-E required an absolute path and crashed with exit 2 after uploading
 * `extended_version.txt`, WAL-E-COMPAT §2.3/§5.5). The resolved path is what the sentinel
 * records as `base_prefix` and what every error names, so nothing depends on the cwd later.
 *
 * Throws a UserError (exit 1) naming the path when the directory is missing, is not a
 * directory, cannot be read, or lacks one of `DATA_DIR_MARKERS`.
 */
export async function checkDataDirectory(given: string): Promise<string> {
  const dir = resolve(given);
  const info = await statOrUndefined(dir, "data directory");
  if (info === undefined) {
    throw new UserError(`the data directory "${dir}" does not exist`, {
      detail: given === dir ? undefined : `"${given}" was resolved against "${Deno.cwd()}".`,
      hint: HINT,
    });
  }
  if (!info.isDirectory) {
    throw new UserError(`"${dir}" is not a directory`, {
      detail: "backup-push needs the cluster's data directory.",
      hint: HINT,
    });
  }
  for (const marker of DATA_DIR_MARKERS) {
    const path = `${dir.replace(/\/+$/, "")}/${marker}`;
    const st = await statOrUndefined(path, "data directory");
    if (st === undefined || !st.isFile) {
      throw new UserError(`"${dir}" is not a PostgreSQL data directory`, {
        detail: st === undefined
          ? `The file "${path}" does not exist.`
          : `"${path}" is not a regular file.`,
        hint: HINT,
      });
    }
  }
  return dir;
}

/** `stat`, undefined when the path does not exist; other failures become a UserError. */
async function statOrUndefined(path: string, what: string): Promise<Deno.FileInfo | undefined> {
  try {
    return await Deno.stat(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return undefined;
    throw new UserError(`could not read the ${what}`, {
      detail: `stat "${path}": ${describe(err)}`,
      hint: HINT,
      cause: err,
    });
  }
}
