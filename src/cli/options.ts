/**
 * The option table: every global option, its environment fallback and help, and the secrets
 * that are accepted only from the environment (WAL-E-COMPAT §2.2, §2.4). `program.ts` builds
 * commander from it; `config.ts` resolves it against the environment.
 */
import { UsageError } from "../errors.ts";

/** A global option (must precede the subcommand, as in WAL-E's argparse grammar). */
export interface GlobalOptionSpec {
  /** commander flag spelling. */
  flags: string;
  /** Property name commander gives the value. */
  key: GlobalKey;
  /** Environment variable used when the option is absent. */
  env?: string;
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
export const PREFIX_SOURCES: readonly ({ option: GlobalKey } | { env: string })[] = [
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

/** Secrets never accepted on the command line (they would show in `ps`), with their variable. */
export const SECRET_FLAGS: Readonly<Record<string, string>> = {
  "--aws-secret-access-key": "AWS_SECRET_ACCESS_KEY",
  "--aws-session-token": "AWS_SESSION_TOKEN",
  "--aws-security-token": "AWS_SECURITY_TOKEN",
  "--wabs-access-key": "WABS_ACCESS_KEY",
  "--wabs-sas-token": "WABS_SAS_TOKEN",
  "--swift-password": "SWIFT_PASSWORD",
  "--gpg-passphrase": "WALE_GPG_PASSPHRASE",
  "--password": "PGPASSWORD",
};

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

/**
 * Environment variables the tool reads, for `--help` (WAL-E-COMPAT §2.4, and ours). Secrets are
 * marked "(secret)": they are read only from the environment and redacted from every log line.
 * `test/cli/environment_help_test.ts` checks this text against the names in the code.
 */
export const ENVIRONMENT_HELP = `Environment:
  WALE_S3_PREFIX, WALE_WABS_PREFIX, WALE_SWIFT_PREFIX, WALE_GS_PREFIX, WALE_FILE_PREFIX
                        storage prefix URL (the URL scheme picks the backend)
  WALE_GPG_KEY_ID       encrypt/decrypt with this key (no gpg binary needed when
                        WALE_GPG_PUBLIC_KEY_FILE / WALE_GPG_SECRET_KEY_FILE name armored
                        key files)
  WALE_GPG_PASSPHRASE   unlocks a protected secret key (secret)
  WALE_LOG_DESTINATION  comma list of stderr, syslog (syslog is not supported: warnings
                        and errors always go to stderr)
  WALE_RETRIES          attempts per storage request (default 5; 0 or less: unlimited)
  WALE_REQUEST_TIMEOUT  seconds a storage request may stay silent (default 30)
  WALE_ARCHIVE_TIMEOUT  seconds backup-push waits for WAL archiving without progress before
                        it gives up naming the segment (default 60)
  WALE_PROGRESS_INTERVAL seconds between backup-push/backup-fetch progress records when
                        stderr is not a terminal (default 30; a terminal gets a live line)
  WALE_WAL_OVERWRITE    1: wal-push may replace an archived WAL file whose content differs
                        (refused by default; identical content is always success)
  WALE_PHASE_TIMINGS    1: print where one call's time went (benchmarks)
  AWS_ACCESS_KEY_ID, AWS_REGION, AWS_INSTANCE_PROFILE
                        S3 credentials and region
  AWS_SECRET_ACCESS_KEY (secret)
  AWS_SESSION_TOKEN     temporary credentials (secret; AWS_SECURITY_TOKEN (secret) too)
  WALE_S3_ENDPOINT      an S3-compatible endpoint, e.g. http+path://host:port
  WALE_S3_STORAGE_CLASS storage class of new objects
  WALE_S3_SSE           server-side encryption: AES256 (default), aws:kms or off
  WABS_ACCOUNT_NAME     Azure storage account
  WABS_ACCESS_KEY       Azure account key (secret)
  WABS_SAS_TOKEN        Azure SAS token instead of the key (secret)
  WALE_WABS_ENDPOINT    an Azure-compatible blob service URL
  SWIFT_AUTHURL, SWIFT_USER, SWIFT_TENANT, SWIFT_TENANT_ID, SWIFT_REGION,
  SWIFT_ENDPOINT_TYPE, SWIFT_AUTH_VERSION (1, 2 or 3)
                        OpenStack Swift
  SWIFT_PASSWORD        (secret)
  SWIFT_USER_ID, SWIFT_USER_DOMAIN_ID, SWIFT_USER_DOMAIN_NAME, SWIFT_DOMAIN_ID,
  SWIFT_DOMAIN_NAME, SWIFT_PROJECT_ID, SWIFT_PROJECT_NAME, SWIFT_PROJECT_DOMAIN_ID,
  SWIFT_PROJECT_DOMAIN_NAME
                        Keystone v3 scope
  PGHOST, PGPORT, PGUSER, PGDATABASE, PGPASSFILE (or ~/.pgpass)
                        PostgreSQL connection for backup-push and check
  PGPASSWORD            (secret)
Secrets are read only from the environment, never from the command line.`;
