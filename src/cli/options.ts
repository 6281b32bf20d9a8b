/**
 * The option and configuration tables: every global option with its environment fallback and
 * help (WAL-E-COMPAT §2.2), and every environment variable the program reads, declared once
 * with its type, default, user, secrecy and help (§2.4, and ours). `program.ts` builds
 * commander and `--help` from them; `config.ts` resolves them once into typed settings; the
 * redactor takes its secrets from them; `test/cli/environment_table_test.ts` compares the
 * variables with a grep of the code. One module, because every command (the WAL commands
 * included) needs both at start-up.
 */
import { UsageError } from "../errors.ts";

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

/** Who reads a variable: every store, one backend, one command, or a subsystem. */
export type EnvScope =
  | "store"
  | "s3"
  | "wabs"
  | "swift"
  | "gpg"
  | "logging"
  | "wal-push"
  | "backup-push"
  | "postgres"
  | "diagnostics";

/** One environment variable. */
export interface EnvVariable {
  readonly name: string;
  /**
   * What the value is: `text` values are handed to their user as they are and validated there
   * (only when that backend is used, so a bad S3 variable never breaks a file:// store).
   */
  readonly type: "text" | "url" | "boolean" | "integer" | "seconds" | "list" | "path";
  readonly scope: EnvScope;
  /** The default, as text, when unset. */
  readonly default?: string;
  /** Read only from the environment and redacted from every log line. */
  readonly secret?: boolean;
  /** The command-line flag refused for this secret (it would show in `ps`). */
  readonly refusedFlag?: string;
  /**
   * Read by a library from the process environment, not by our code (documented for
   * operators; the table test checks we do not read it ourselves).
   */
  readonly readBy?: "aws-sdk";
  readonly help: string;
}

/** The configuration table, in `--help` order. */
export const ENVIRONMENT = [
  // Every command that uses a store.
  { name: "WALE_S3_PREFIX", type: "url", scope: "store", help: "storage prefix s3://bucket/path" },
  {
    name: "WALE_WABS_PREFIX",
    type: "url",
    scope: "store",
    help: "storage prefix wabs://container/path",
  },
  {
    name: "WALE_SWIFT_PREFIX",
    type: "url",
    scope: "store",
    help: "storage prefix swift://container/path",
  },
  {
    name: "WALE_GS_PREFIX",
    type: "url",
    scope: "store",
    help: "storage prefix gs://bucket/path (not supported by this build)",
  },
  {
    name: "WALE_FILE_PREFIX",
    type: "url",
    scope: "store",
    help: "storage prefix file:///path (the first prefix set, options first, is used; the " +
      "URL scheme picks the backend)",
  },
  {
    name: "WALE_RETRIES",
    type: "integer",
    scope: "store",
    default: "5",
    help: "attempts per storage request (0 or less: unlimited)",
  },
  {
    name: "WALE_REQUEST_TIMEOUT",
    type: "seconds",
    scope: "store",
    default: "30",
    help: "seconds a storage request may stay silent",
  },
  // Logging and commands.
  {
    name: "WALE_LOG_DESTINATION",
    type: "list",
    scope: "logging",
    default: "stderr,syslog",
    help: "comma list of stderr, syslog (syslog is not supported: warnings and errors " +
      "always go to stderr)",
  },
  {
    name: "WALE_WAL_OVERWRITE",
    type: "boolean",
    scope: "wal-push",
    default: "0",
    help: "1: wal-push may replace an archived WAL file whose content differs (identical " +
      "content is always success)",
  },
  {
    name: "WALE_ARCHIVE_TIMEOUT",
    type: "seconds",
    scope: "backup-push",
    default: "60",
    help: "seconds backup-push waits for WAL archiving without progress before it gives up " +
      "naming the segment",
  },
  {
    name: "WALE_PROGRESS_INTERVAL",
    type: "seconds",
    scope: "backup-push",
    default: "30",
    help: "seconds between backup-push/backup-fetch progress records when stderr is not a " +
      "terminal (a terminal gets a live line)",
  },
  {
    name: "WALE_PHASE_TIMINGS",
    type: "boolean",
    scope: "diagnostics",
    default: "0",
    help: "1: print where one call's time went (benchmarks)",
  },
  // Encryption.
  {
    name: "WALE_GPG_KEY_ID",
    type: "text",
    scope: "gpg",
    help: "encrypt uploads to this key and decrypt downloads (or --gpg-key-id)",
  },
  {
    name: "WALE_GPG_PUBLIC_KEY_FILE",
    type: "path",
    scope: "gpg",
    help: "armored public key file for encryption (else gpg's keyring)",
  },
  {
    name: "WALE_GPG_SECRET_KEY_FILE",
    type: "path",
    scope: "gpg",
    help: "armored secret key file for decryption (else gpg's keyring)",
  },
  {
    name: "WALE_GPG_PASSPHRASE",
    type: "text",
    scope: "gpg",
    secret: true,
    refusedFlag: "--gpg-passphrase",
    help: "unlocks a protected secret key",
  },
  // S3.
  {
    name: "AWS_ACCESS_KEY_ID",
    type: "text",
    scope: "s3",
    help: "S3 access key id (or -k/--aws-access-key-id)",
  },
  {
    name: "AWS_SECRET_ACCESS_KEY",
    type: "text",
    scope: "s3",
    secret: true,
    refusedFlag: "--aws-secret-access-key",
    help: "S3 secret key",
  },
  {
    name: "AWS_SESSION_TOKEN",
    type: "text",
    scope: "s3",
    secret: true,
    refusedFlag: "--aws-session-token",
    help: "temporary credentials' token",
  },
  {
    name: "AWS_SECURITY_TOKEN",
    type: "text",
    scope: "s3",
    secret: true,
    refusedFlag: "--aws-security-token",
    help: "WAL-E's name for AWS_SESSION_TOKEN (used when that is unset)",
  },
  {
    name: "AWS_INSTANCE_PROFILE",
    type: "boolean",
    scope: "s3",
    default: "0",
    help: "1: use the EC2 instance profile's credentials (or --aws-instance-profile)",
  },
  {
    name: "AWS_REGION",
    type: "text",
    scope: "s3",
    help: "the bucket's region (required without WALE_S3_ENDPOINT; else us-east-1)",
  },
  {
    name: "WALE_S3_ENDPOINT",
    type: "text",
    scope: "s3",
    help: "an S3-compatible endpoint, e.g. http+path://host:port",
  },
  {
    name: "WALE_S3_STORAGE_CLASS",
    type: "text",
    scope: "s3",
    default: "STANDARD",
    help: "storage class of new objects",
  },
  {
    name: "WALE_S3_SSE",
    type: "text",
    scope: "s3",
    default: "AES256",
    help: "server-side encryption: AES256, aws:kms or off",
  },
  {
    name: "AWS_PROFILE",
    type: "text",
    scope: "s3",
    readBy: "aws-sdk",
    help: "shared-config profile, when no key is given (the AWS SDK's default chain)",
  },
  {
    name: "AWS_WEB_IDENTITY_TOKEN_FILE",
    type: "path",
    scope: "s3",
    readBy: "aws-sdk",
    help: "web identity token (Kubernetes service accounts), with AWS_ROLE_ARN",
  },
  {
    name: "AWS_ROLE_ARN",
    type: "text",
    scope: "s3",
    readBy: "aws-sdk",
    help: "role assumed with the web identity token",
  },
  {
    name: "AWS_EC2_METADATA_SERVICE_ENDPOINT",
    type: "url",
    scope: "s3",
    readBy: "aws-sdk",
    help: "where the instance metadata service answers",
  },
  // Azure.
  {
    name: "WABS_ACCOUNT_NAME",
    type: "text",
    scope: "wabs",
    help: "Azure storage account (or -a/--wabs-account-name)",
  },
  {
    name: "WABS_ACCESS_KEY",
    type: "text",
    scope: "wabs",
    secret: true,
    refusedFlag: "--wabs-access-key",
    help: "Azure account key",
  },
  {
    name: "WABS_SAS_TOKEN",
    type: "text",
    scope: "wabs",
    secret: true,
    refusedFlag: "--wabs-sas-token",
    help: "Azure SAS token instead of the key",
  },
  {
    name: "WALE_WABS_ENDPOINT",
    type: "url",
    scope: "wabs",
    help: "an Azure-compatible blob service URL",
  },
  // Swift.
  { name: "SWIFT_AUTHURL", type: "url", scope: "swift", help: "authentication URL" },
  { name: "SWIFT_USER", type: "text", scope: "swift", help: "user name" },
  {
    name: "SWIFT_PASSWORD",
    type: "text",
    scope: "swift",
    secret: true,
    refusedFlag: "--swift-password",
    help: "password",
  },
  { name: "SWIFT_AUTH_VERSION", type: "text", scope: "swift", default: "2", help: "1, 2 or 3" },
  { name: "SWIFT_TENANT", type: "text", scope: "swift", help: "Keystone v2 tenant name" },
  { name: "SWIFT_TENANT_ID", type: "text", scope: "swift", help: "Keystone v2 tenant id" },
  { name: "SWIFT_REGION", type: "text", scope: "swift", help: "catalog region" },
  {
    name: "SWIFT_ENDPOINT_TYPE",
    type: "text",
    scope: "swift",
    default: "publicURL",
    help: "publicURL, internalURL or adminURL",
  },
  { name: "SWIFT_USER_ID", type: "text", scope: "swift", help: "Keystone v3 user id" },
  { name: "SWIFT_USER_DOMAIN_ID", type: "text", scope: "swift", help: "Keystone v3 scope" },
  { name: "SWIFT_USER_DOMAIN_NAME", type: "text", scope: "swift", help: "Keystone v3 scope" },
  { name: "SWIFT_DOMAIN_ID", type: "text", scope: "swift", help: "Keystone v3 scope" },
  { name: "SWIFT_DOMAIN_NAME", type: "text", scope: "swift", help: "Keystone v3 scope" },
  { name: "SWIFT_PROJECT_ID", type: "text", scope: "swift", help: "Keystone v3 scope" },
  { name: "SWIFT_PROJECT_NAME", type: "text", scope: "swift", help: "Keystone v3 scope" },
  { name: "SWIFT_PROJECT_DOMAIN_ID", type: "text", scope: "swift", help: "Keystone v3 scope" },
  { name: "SWIFT_PROJECT_DOMAIN_NAME", type: "text", scope: "swift", help: "Keystone v3 scope" },
  {
    name: "SWIFT_TEST_MAX_FILE_SIZE",
    type: "integer",
    scope: "swift",
    help: "test hook: the cluster's max_file_size in bytes, instead of /info's",
  },
  // PostgreSQL's client variables: the environment is passed to the PostgreSQL client as an
  // env map (src/pg/backup_api.ts reads these as libpq would).
  { name: "PGHOST", type: "text", scope: "postgres", help: "server host or socket directory" },
  { name: "PGPORT", type: "integer", scope: "postgres", default: "5432", help: "server port" },
  { name: "PGUSER", type: "text", scope: "postgres", help: "user (else USER, LOGNAME)" },
  { name: "PGDATABASE", type: "text", scope: "postgres", default: "postgres", help: "database" },
  {
    name: "PGPASSWORD",
    type: "text",
    scope: "postgres",
    secret: true,
    refusedFlag: "--password",
    help: "password (or a password file)",
  },
  {
    name: "PGPASSFILE",
    type: "path",
    scope: "postgres",
    help: "password file (default ~/.pgpass, with HOME)",
  },
  { name: "HOME", type: "path", scope: "postgres", help: "home directory, for ~/.pgpass" },
  { name: "USER", type: "text", scope: "postgres", help: "default PostgreSQL user" },
  { name: "LOGNAME", type: "text", scope: "postgres", help: "default user when USER is unset" },
] as const satisfies readonly EnvVariable[];

/** The name of a declared variable: reading any other name does not type-check. */
export type EnvName = (typeof ENVIRONMENT)[number]["name"];

/** Names of the secret variables. */
export const SECRET_VARIABLES: readonly EnvName[] = ENVIRONMENT
  .filter((v: EnvVariable) => v.secret === true)
  .map((v) => v.name);

/** Secret flags refused on the command line → the variable to use instead. */
export const SECRET_FLAGS: Readonly<Record<string, EnvName>> = Object.fromEntries(
  ENVIRONMENT.flatMap((v: EnvVariable & { name: EnvName }) =>
    v.refusedFlag === undefined ? [] : [[v.refusedFlag, v.name]]
  ),
);

/** The values of the secret variables set in `env`, for the redactor. */
export function secretValues(env: Readonly<Record<string, string>>): string[] {
  return SECRET_VARIABLES.flatMap((n) => env[n] === undefined ? [] : [env[n] as string]);
}
