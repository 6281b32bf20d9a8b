/**
 * Resolves global flags and the environment into one frozen `Config`, once, through the
 * configuration table (options.ts): every variable is read here by its declared name and
 * handed down as typed settings. Only `src/cli/` reads the environment; the exceptions are
 * documented on `Config.processEnv`.
 */
import type { PgpSettings } from "../codec/pgp.ts";
import { ConfigError, UsageError } from "../errors.ts";
import type { StoreSettings } from "../storage/open.ts";
import type { GlobalFlags } from "./invocation.ts";
import { type EnvName, PREFIX_SOURCES } from "./options.ts";

/** Everything a command may need from flags and environment. */
export interface Config {
  /** Storage prefix URL, or undefined when none is configured. */
  prefixUrl: string | undefined;
  /** Which flag or variable the prefix came from (for messages). */
  prefixSource: string | undefined;
  terse: boolean;
  /** Encryption keys (`WALE_GPG_*`), or undefined without a key id. */
  gpg: Omit<PgpSettings, "env"> | undefined;
  /** `WALE_LOG_DESTINATION` lists stderr (default): INFO records go there too. */
  logToStderr: boolean;
  /**
   * `WALE_LOG_DESTINATION` (its text) when set and naming syslog, which we do not implement:
   * the CLI says so in a WARNING (errors and warnings always go to stderr).
   */
  syslogRequested: string | undefined;
  /** `WALE_WAL_OVERWRITE`: wal-push may replace an archived copy with different content. */
  walOverwrite: boolean;
  /** `WALE_ARCHIVE_TIMEOUT`: seconds backup-push's archiving wait may go without progress. */
  archiveTimeoutSeconds: number | undefined;
  /** `WALE_PROGRESS_INTERVAL`: seconds between backup progress records off a terminal. */
  progressIntervalSeconds: number | undefined;
  /** Typed settings of every backend (S3, Azure, Swift) and of retries. */
  store: StoreSettings;
  /**
   * The process environment, passed through untouched to what runs as a client of something
   * else: the PostgreSQL client (src/pg/backup_api.ts reads the libpq variables PG*, HOME,
   * USER, LOGNAME from it, as libpq would, and they are declared in the table) and child
   * programs (pg_controldata, gpg), which need PATH, HOME, GNUPGHOME and the like. No WAL-E
   * setting is read from it.
   */
  processEnv: Readonly<Record<string, string>>;
}

/** Reads declared variables only: `read("X")` does not type-check unless X is in the table. */
type Reader = (name: EnvName) => string | undefined;

function readerOf(env: Readonly<Record<string, string>>): Reader {
  return (name) => env[name];
}

/** WAL-E's boolean variables: unset, "", 0, false → off; 1, true → on (§2.2). */
export function parseBoolEnv(name: string, value: string | undefined): boolean {
  const v = (value ?? "").trim().toLowerCase();
  if (v === "" || v === "0" || v === "false") return false;
  if (v === "1" || v === "true") return true;
  throw new ConfigError(`invalid value for ${name}`, {
    detail: `${name} is "${value}".`,
    hint: `Set ${name} to 1/true or 0/false.`,
  });
}

function nonEmpty(v: string | undefined): string | undefined {
  return v === undefined || v === "" ? undefined : v;
}

/** Builds the Config; throws ConfigError/UsageError for invalid values. */
export function resolveConfig(flags: GlobalFlags, env: Readonly<Record<string, string>>): Config {
  const read = readerOf(env);
  let prefixUrl: string | undefined;
  let prefixSource: string | undefined;
  for (const src of PREFIX_SOURCES) {
    const value = "option" in src
      ? nonEmpty(flags[src.option] as string | undefined)
      : nonEmpty(read(src.env));
    if (value !== undefined) {
      prefixUrl = value;
      prefixSource = "option" in src ? `--${kebab(src.option)}` : src.env;
      break;
    }
  }
  const destText = read("WALE_LOG_DESTINATION");
  const dest = logDestinations(destText);
  const store = storeSettings(read, flags);
  const keyId = nonEmpty(flags.gpgKeyId) ?? nonEmpty(read("WALE_GPG_KEY_ID"));
  return Object.freeze({
    prefixUrl,
    prefixSource,
    terse: flags.terse === true,
    gpg: keyId === undefined ? undefined : {
      keyId,
      publicKeyFile: read("WALE_GPG_PUBLIC_KEY_FILE") || undefined,
      secretKeyFile: read("WALE_GPG_SECRET_KEY_FILE") || undefined,
      passphrase: read("WALE_GPG_PASSPHRASE") || undefined,
    },
    logToStderr: dest.includes("stderr"),
    syslogRequested: destText !== undefined && dest.includes("syslog") ? destText : undefined,
    walOverwrite: parseBoolEnv("WALE_WAL_OVERWRITE", read("WALE_WAL_OVERWRITE")),
    archiveTimeoutSeconds: positiveSeconds("WALE_ARCHIVE_TIMEOUT", read("WALE_ARCHIVE_TIMEOUT")),
    progressIntervalSeconds: positiveSeconds(
      "WALE_PROGRESS_INTERVAL",
      read("WALE_PROGRESS_INTERVAL"),
    ),
    store,
    processEnv: Object.freeze({ ...env }),
  });
}

/**
 * The backends' settings from `env` and the global flags that feed them (`-k`, `-a`,
 * `--aws-instance-profile`). Exported for tests that open stores directly.
 */
export function storeSettingsFromEnv(
  env: Readonly<Record<string, string>>,
  flags: GlobalFlags = {},
): StoreSettings {
  return storeSettings(readerOf(env), flags);
}

function storeSettings(read: Reader, flags: GlobalFlags): StoreSettings {
  const retriesText = read("WALE_RETRIES");
  let retries: number | undefined;
  if (retriesText !== undefined && retriesText !== "") {
    if (!/^-?\d+$/.test(retriesText.trim())) {
      throw new ConfigError("invalid value for WALE_RETRIES", {
        detail: `WALE_RETRIES is "${retriesText}".`,
        hint: "Set WALE_RETRIES to an integer (0 or less means unlimited).",
      });
    }
    retries = Number.parseInt(retriesText, 10);
  }
  const instanceProfile = flags.awsInstanceProfile === true ||
    parseBoolEnv("AWS_INSTANCE_PROFILE", read("AWS_INSTANCE_PROFILE"));
  if (instanceProfile && flags.awsAccessKeyId !== undefined) {
    throw new UsageError(
      "argument --aws-instance-profile: not allowed with argument -k/--aws-access-key-id",
    );
  }
  return Object.freeze({
    retry: { retries, requestTimeout: read("WALE_REQUEST_TIMEOUT") },
    s3: {
      accessKeyId: flags.awsAccessKeyId ?? nonEmpty(read("AWS_ACCESS_KEY_ID")),
      secretAccessKey: read("AWS_SECRET_ACCESS_KEY"),
      sessionToken: nonEmpty(read("AWS_SESSION_TOKEN")?.trim()) ??
        nonEmpty(read("AWS_SECURITY_TOKEN")?.trim()),
      instanceProfile,
      region: read("AWS_REGION"),
      endpoint: read("WALE_S3_ENDPOINT"),
      storageClass: read("WALE_S3_STORAGE_CLASS"),
      sse: read("WALE_S3_SSE"),
    },
    wabs: {
      accountName: flags.wabsAccountName ?? nonEmpty(read("WABS_ACCOUNT_NAME")),
      accessKey: read("WABS_ACCESS_KEY"),
      sasToken: read("WABS_SAS_TOKEN"),
      endpoint: read("WALE_WABS_ENDPOINT"),
    },
    swift: {
      authUrl: read("SWIFT_AUTHURL"),
      user: read("SWIFT_USER"),
      password: read("SWIFT_PASSWORD"),
      authVersion: read("SWIFT_AUTH_VERSION"),
      tenantName: read("SWIFT_TENANT"),
      tenantId: read("SWIFT_TENANT_ID"),
      region: read("SWIFT_REGION"),
      endpointType: read("SWIFT_ENDPOINT_TYPE"),
      userId: read("SWIFT_USER_ID"),
      userDomainId: read("SWIFT_USER_DOMAIN_ID"),
      userDomainName: read("SWIFT_USER_DOMAIN_NAME"),
      projectId: read("SWIFT_PROJECT_ID"),
      projectName: read("SWIFT_PROJECT_NAME"),
      projectDomainId: read("SWIFT_PROJECT_DOMAIN_ID"),
      projectDomainName: read("SWIFT_PROJECT_DOMAIN_NAME"),
      domainId: read("SWIFT_DOMAIN_ID"),
      domainName: read("SWIFT_DOMAIN_NAME"),
      testMaxFileSize: read("SWIFT_TEST_MAX_FILE_SIZE"),
    },
  });
}

/** A positive number of seconds, or undefined when unset. */
function positiveSeconds(name: string, value: string | undefined): number | undefined {
  if (value === undefined || value.trim() === "") return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) {
    throw new ConfigError(`invalid value for ${name}`, {
      detail: `${name} is "${value}".`,
      hint: `Set ${name} to a positive number of seconds.`,
    });
  }
  return n;
}

/** WAL-E's `WALE_LOG_DESTINATION`: a comma list of `stderr` and `syslog` (default both). */
function logDestinations(value: string | undefined): string[] {
  const dest = (value ?? "stderr,syslog").split(",").map((s) => s.trim().toLowerCase())
    .filter((s) => s !== "");
  const bad = dest.filter((d) => d !== "stderr" && d !== "syslog");
  if (bad.length > 0 || dest.length === 0) {
    throw new ConfigError("invalid value for WALE_LOG_DESTINATION", {
      detail: `WALE_LOG_DESTINATION is "${value}".`,
      hint: "Set WALE_LOG_DESTINATION to stderr (syslog is accepted but not implemented: " +
        "its records go to stderr).",
    });
  }
  return dest;
}

function kebab(s: string): string {
  return s.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}
