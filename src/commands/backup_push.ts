/** backup-push (WAL-E-COMPAT §5): push a base backup. TODO(#4): not landed yet. */
import { NotSupportedError } from "../errors.ts";
import type { CommandDeps } from "./context.ts";

/** Input of backup-push. */
export interface BackupPushInput {
  clusterDirectory: string;
  poolSize: number;
  /** Bytes per second over the whole read, all partitions together. */
  readRateLimit: number | undefined;
  whileOffline: boolean;
}

/** Runs backup-push. */
export function backupPush(_input: BackupPushInput, _deps: CommandDeps): Promise<number> {
  return Promise.reject(
    new NotSupportedError("backup-push is not supported yet", {
      hint: "This build archives WAL only; base backups arrive in a later release.",
    }),
  );
}
