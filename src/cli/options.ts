/**
 * The option table: every global option, its environment fallback and help (WAL-E-COMPAT
 * §2.2); the refusal of secrets on the command line (the secrets are marked in the
 * configuration table, environment.ts). `program.ts` builds commander from it; `config.ts`
 * resolves it against the environment.
 */
import { UsageError } from "../errors.ts";
import { type EnvName, SECRET_FLAGS } from "./environment.ts";

/** A global option (must precede the subcommand, as in WAL-E's argparse grammar). */
export interface GlobalOptionSpec {
  /** commander flag spelling. */
  flags: string;
  /** Property name commander gives the value. */
  key: GlobalKey;
  /** Environment variable used when the option is absent. */
  env?: EnvName;
  help: string;
}

export type GlobalKey =
  | "awsAccessKeyId"
  | "awsInstanceProfile"
  | "gsAccessKeyId"
  | "wabsAccountName"
  | "s3Prefix"
  | "wabsPrefix"
  | "gsPrefix"
  | "filePrefix"
  | "gpgKeyId"
  | "terse";

export const GLOBAL_OPTIONS: readonly GlobalOptionSpec[] = [
  {
    flags: "-k, --aws-access-key-id <AWS_ACCESS_KEY_ID>",
    key: "awsAccessKeyId",
    env: "AWS_ACCESS_KEY_ID",
    help: "public AWS access key; the secret is read only from AWS_SECRET_ACCESS_KEY",
  },
  {
    flags: "--aws-instance-profile",
    key: "awsInstanceProfile",
    env: "AWS_INSTANCE_PROFILE",
    help: "use the EC2 instance profile's credentials (or AWS_INSTANCE_PROFILE=1)",
  },
  {
    flags: "--gs-access-key-id <GS_ACCESS_KEY_ID>",
    key: "gsAccessKeyId",
    help: "accepted for compatibility and ignored (GCS uses application default credentials)",
  },
  {
    flags: "-a, --wabs-account-name <WABS_ACCOUNT_NAME>",
    key: "wabsAccountName",
    env: "WABS_ACCOUNT_NAME",
    help: "Azure storage account name; the key is read only from WABS_ACCESS_KEY " +
      "(or WABS_SAS_TOKEN)",
  },
  {
    flags: "--s3-prefix <URL>",
    key: "s3Prefix",
    help: "storage prefix such as s3://bucket/path (or WALE_S3_PREFIX)",
  },
  {
    flags: "--wabs-prefix <URL>",
    key: "wabsPrefix",
    help: "storage prefix such as wabs://container/path (or WALE_WABS_PREFIX)",
  },
  {
    flags: "--gs-prefix <URL>",
    key: "gsPrefix",
    help: "storage prefix such as gs://bucket/path (or WALE_GS_PREFIX)",
  },
  {
    flags: "--file-prefix <URL>",
    key: "filePrefix",
    help: "storage prefix such as file:///var/backups/pg (or WALE_FILE_PREFIX)",
  },
  {
    flags: "--gpg-key-id <KEY_ID>",
    key: "gpgKeyId",
    env: "WALE_GPG_KEY_ID",
    help: "encrypt uploads to this GPG key and decrypt downloads (or WALE_GPG_KEY_ID)",
  },
  {
    flags: "--terse",
    key: "terse",
    help: "only log messages of level WARNING and above",
  },
];

/**
 * Where the first non-empty prefix comes from, in WAL-E's order (§2.2): options first, then
 * variables. The URL scheme, not the variable's name, picks the backend.
 */
export const PREFIX_SOURCES: readonly ({ option: GlobalKey } | { env: EnvName })[] = [
  { option: "filePrefix" },
  { option: "gsPrefix" },
  { option: "s3Prefix" },
  { option: "wabsPrefix" },
  { env: "WALE_FILE_PREFIX" },
  { env: "WALE_GS_PREFIX" },
  { env: "WALE_S3_PREFIX" },
  { env: "WALE_SWIFT_PREFIX" },
  { env: "WALE_WABS_PREFIX" },
];

/** Refuses secrets on argv before commander sees them (they would be visible in `ps`). */
export function refuseSecrets(argv: readonly string[]): void {
  for (const arg of argv) {
    const flag = arg.split("=")[0] ?? arg;
    const env = SECRET_FLAGS[flag];
    if (env !== undefined) {
      throw new UsageError(`secrets are not accepted on the command line: ${flag}`, {
        detail: "Command lines are visible to every user of the host (ps, /proc).",
        hint: `Set ${env} in the environment (for example with envdir) instead.`,
      });
    }
  }
}
