/** backup-fetch (WAL-E-COMPAT §6): restore a base backup. TODO(#4): not landed yet. */
import { NotSupportedError } from "../errors.ts";
import type { CommandDeps } from "./context.ts";

/** Input of backup-fetch. */
export interface BackupFetchInput {
  clusterDirectory: string;
  backupName: string;
  poolSize: number;
  blindRestore: boolean;
  restoreSpec: string | undefined;
}

/** Runs backup-fetch. */
export function backupFetch(_input: BackupFetchInput, _deps: CommandDeps): Promise<number> {
  return Promise.reject(
    new NotSupportedError("backup-fetch is not supported yet", {
      hint: "This build archives WAL only; base backups arrive in a later release.",
    }),
  );
}
