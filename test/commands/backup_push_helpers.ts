/**
 * Shared by the backup-push failure tests: running the tool as the cluster's owner (not root,
 * so file permissions really deny), looking into a file store, and checking that a failure
 * reads as one clear error record.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { AS_ROOT, type Output, sh } from "../support/postgres.ts";
import { REPO, WAL_E_CMD } from "../support/wal_e.ts";

/**
 * Runs the tool through main.ts as the `postgres` OS user when the tests run as root (root
 * ignores permission bits), else as the current user.
 */
export function runWalEAsOwner(args: string[], env: Record<string, string>): Promise<Output> {
  const denoDir = Deno.env.get("DENO_DIR");
  return sh([...WAL_E_CMD, ...args], {
    env: {
      NO_COLOR: "1",
      PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
      ...(denoDir === undefined ? {} : { DENO_DIR: Deno.realPathSync(denoDir) }),
      ...env,
    },
    cwd: REPO,
    check: false,
    asPostgres: AS_ROOT,
  });
}

/** Everything under `dir` (relative paths), [] when it does not exist. */
export async function listTree(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string, rel: string): Promise<void> => {
    let entries: Deno.DirEntry[];
    try {
      entries = await Array.fromAsync(Deno.readDir(d));
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) return;
      throw err;
    }
    for (const e of entries) {
      const r = rel === "" ? e.name : `${rel}/${e.name}`;
      out.push(r);
      if (e.isDirectory) await walk(join(d, e.name), r);
    }
  };
  await walk(dir, "");
  return out.sort();
}

/**
 * The run failed with `code` and exactly one ERROR/CRITICAL record whose MSG matches `msg`;
 * no stack trace, no "bug" report.
 */
export function assertOneError(r: Output, code: number, msg: RegExp): void {
  const text = `exit ${r.code}\n${r.stderr}`;
  assert.equal(r.code, code, text);
  const errors = r.stderr.split("\n").filter((l) => / (ERROR|CRITICAL) +MSG: /.test(l));
  assert.equal(errors.length, 1, text);
  assert.match(errors[0] ?? "", msg, text);
  assert.doesNotMatch(r.stderr, /This is a bug in wal-e|^\s+at .*:\d+:\d+\)?$|Traceback/m, text);
}

/** The DETAIL line of the (single) ERROR record. */
export function errorDetail(r: Output): string {
  const lines = r.stderr.split("\n");
  const i = lines.findIndex((l) => / (ERROR|CRITICAL) +MSG: /.test(l));
  const next = lines[i + 1] ?? "";
  return /^\s+DETAIL: /.test(next) ? next.trim() : "";
}
