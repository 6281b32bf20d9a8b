/**
 * check (ours; WAL-E had none): can this environment archive? Run it with the environment
 * archive_command uses (e.g. `envdir /etc/wal-e.d/env wal-e check` as postgres). Probes the
 * store (write, read back, list, delete) and, unless --no-postgres, the cluster libpq's
 * variables point at (archive_mode, archive_command, pg_stat_archiver). One line per finding
 * on stdout; any FAIL makes it exit 1 (a UserError).
 */
import { UserError } from "../errors.ts";
import type { CommandDeps } from "./context.ts";
import { findingLine } from "./check/finding.ts";
import { postgresFindings } from "./check/postgres_findings.ts";
import { probeStore } from "./check/store_probe.ts";

/** Input of check. */
export interface CheckInput {
  /** Also check the PostgreSQL cluster (false with --no-postgres). */
  postgres: boolean;
}

/** Runs check; resolves to the exit status. */
export async function check(input: CheckInput, deps: CommandDeps): Promise<number> {
  const findings = await probeStore(deps.store);
  if (input.postgres) findings.push(...await postgresFindings(deps.env));
  for (const f of findings) deps.stdout(findingLine(f));
  const failed = findings.filter((f) => f.status === "FAIL");
  if (failed.length > 0) {
    throw new UserError(`check found ${failed.length} problem${failed.length === 1 ? "" : "s"}`, {
      detail: failed.map((f) => `${f.area}: ${f.text.split(":")[0]}`).join(", ") + ".",
      hint: "Fix the FAIL lines above, then run check again with the same environment.",
    });
  }
  return 0;
}
