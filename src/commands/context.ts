/** What every storage command receives besides its input: explicit dependencies, no globals. */
import type { Encoding } from "../archive/pipeline.ts";
import type { Logger } from "../log.ts";
import type { ProgressOutput } from "../progress.ts";
import type { Store } from "../storage/store.ts";

/** Dependencies of a command. */
export interface CommandDeps {
  store: Store;
  /** Root logger; commands derive WAL-E's logger names from it with `child`. */
  log: Logger;
  encoding: Encoding;
  /** Writes to standard output (backup-list table, JSON). */
  stdout: (text: string) => void;
  /**
   * The process environment, passed through for the PostgreSQL client (libpq's PG* variables,
   * read by src/pg as libpq would) and for child programs (pg_controldata). WAL-E's settings
   * never come from here: the CLI resolves them into typed settings (src/cli/config.ts).
   */
  env: Readonly<Record<string, string>>;
  /** How to start this program again with the same global options (for wal-prefetch). */
  selfCommand?: readonly string[] | undefined;
  /** Where backup-push and backup-fetch report progress (none when undefined). */
  progress?: ProgressOutput | undefined;
}
