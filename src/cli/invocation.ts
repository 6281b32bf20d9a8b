/** The typed result of parsing argv: which command to run with which input. */
import type { BackupFetchInput } from "../commands/backup_fetch.ts";
import type { BackupListInput } from "../commands/backup_list.ts";
import type { BackupPushInput } from "../commands/backup_push.ts";
import type { BackupVerifyInput } from "../commands/backup_verify.ts";
import type { CheckInput } from "../commands/check.ts";
import type { DeleteInput } from "../commands/delete.ts";
import type { WalFetchInput } from "../commands/wal_fetch.ts";
import type { WalPrefetchInput } from "../commands/wal_prefetch.ts";
import type { WalPushInput } from "../commands/wal_push.ts";
import type { WalVerifyInput } from "../commands/wal_verify.ts";

/** One command and its input. */
export type Invocation =
  | { name: "version"; input: Record<string, never> }
  | { name: "backup-push"; input: BackupPushInput }
  | { name: "backup-fetch"; input: BackupFetchInput }
  | { name: "backup-list"; input: BackupListInput }
  | { name: "wal-push"; input: WalPushInput }
  | { name: "wal-fetch"; input: WalFetchInput }
  | { name: "wal-prefetch"; input: WalPrefetchInput }
  | { name: "delete"; input: DeleteInput }
  | { name: "wal-verify"; input: WalVerifyInput }
  | { name: "check"; input: CheckInput }
  | { name: "backup-verify"; input: BackupVerifyInput };

/** Global options as commander reports them (before the environment is consulted). */
export interface GlobalFlags {
  awsAccessKeyId?: string;
  awsInstanceProfile?: boolean;
  gsAccessKeyId?: string;
  wabsAccountName?: string;
  s3Prefix?: string;
  wabsPrefix?: string;
  gsPrefix?: string;
  filePrefix?: string;
  gpgKeyId?: string;
  terse?: boolean;
}
