// deno-lint-ignore-file require-await no-unused-vars
/** backup-verify --restore: the restore drill (a stub until it lands). */
import { UserError } from "../../errors.ts";
import type { CommandDeps } from "../context.ts";

export interface RestoreDrillInput {
  backupName: string;
  targetTime?: string | undefined;
  pgBin?: string | undefined;
}

export async function runRestoreDrill(
  input: RestoreDrillInput,
  deps: CommandDeps,
): Promise<number> {
  throw new UserError("the restore drill is not built yet");
}
