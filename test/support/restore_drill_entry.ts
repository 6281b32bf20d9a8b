/**
 * Test-only entry point: runs the restore drill module (`runRestoreDrill`) with real
 * dependencies built the way the CLI builds them: the store from WALE_FILE_PREFIX, the
 * logger on stderr, `selfCommand` = `deno run … main.ts`. The drill must not run as root, so
 * tests start this file as the `postgres` user (test/integration/restore_drill_test.ts).
 *
 * Usage: deno run --allow-all restore_drill_entry.ts BACKUP [--target-time T] [--pg-bin DIR]
 * Exit status: the drill's, 1 for one of our errors (printed MSG/DETAIL/HINT), 2 for a bug.
 */
import { runRestoreDrill } from "../../src/commands/backup_verify/restore_drill.ts";
import type { CommandDeps } from "../../src/commands/context.ts";
import { WalEError } from "../../src/errors.ts";
import { Logger, stderrSink } from "../../src/log.ts";
import { openStore } from "../../src/storage/open.ts";
import { settingsOf } from "./store_settings.ts";
import { WAL_E_CMD } from "./wal_e.ts";

function option(name: string): string | undefined {
  const i = Deno.args.indexOf(name);
  return i < 0 ? undefined : Deno.args[i + 1];
}

async function main(): Promise<number> {
  const env = Deno.env.toObject();
  const log = new Logger("wal_e.main", { sink: stderrSink });
  const store = await openStore(env["WALE_FILE_PREFIX"], settingsOf({ env }));
  const deps: CommandDeps = {
    store,
    log,
    encoding: {},
    stdout: (text) => void Deno.stdout.writeSync(new TextEncoder().encode(text)),
    env,
    selfCommand: WAL_E_CMD,
  };
  try {
    return await runRestoreDrill({
      backupName: Deno.args[0] ?? "LATEST",
      targetTime: option("--target-time"),
      pgBin: option("--pg-bin"),
    }, deps);
  } catch (err) {
    if (!(err instanceof WalEError)) {
      log.critical({
        msg: "unexpected error",
        detail: err instanceof Error ? err.stack : String(err),
      });
      return 2;
    }
    log.error({ msg: err.message, detail: err.detail, hint: err.hint });
    return 1;
  } finally {
    await store.close();
  }
}

if (import.meta.main) Deno.exit(await main());
