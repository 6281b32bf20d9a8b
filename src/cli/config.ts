/**
 * Resolves global flags and the environment into one frozen `Config`, once. Only `src/cli/`
 * reads the environment; everything below gets values as parameters.
 */
import { ConfigError, UsageError } from "../errors.ts";
import type { GlobalFlags } from "./invocation.ts";
import { PREFIX_SOURCES } from "./options.ts";

/** Everything a command may need from flags and environment. */
export interface Config {
  /** Storage prefix URL, or undefined when none is configured. */
  prefixUrl: string | undefined;
  /** Which flag or variable the prefix came from (for messages). */
  prefixSource: string | undefined;
  terse: boolean;
  gpgKeyId: string | undefined;
  /**
   * Attempts per storage request (`WALE_RETRIES`, ≤ 0 = unlimited); undefined when unset, so
   * each backend applies its own default (WAL-E's 100 would stall archive_command for hours).
   */
  retries: number | undefined;
  /** `WALE_LOG_DESTINATION` lists stderr (default): INFO records go there too. */
  logToStderr: boolean;
  /**
   * `WALE_LOG_DESTINATION` was set and names syslog, which we do not implement: the CLI says so
   * in a WARNING (errors and warnings always go to stderr).
   */
  syslogRequested: boolean;
  /** `WALE_WAL_OVERWRITE`: wal-push may replace an archived copy with different content. */
  walOverwrite: boolean;
  /** `WALE_ARCHIVE_TIMEOUT`: seconds backup-push's archiving wait may go without progress. */
  archiveTimeoutSeconds: number | undefined;
  /** `WALE_PROGRESS_INTERVAL`: seconds between backup progress records off a terminal. */
  progressIntervalSeconds: number | undefined;
  awsAccessKeyId: string | undefined;
  awsInstanceProfile: boolean;
  wabsAccountName: string | undefined;
  /** The whole environment snapshot, for backends (AWS_*, WABS_*, SWIFT_*, PG*). */
  env: Readonly<Record<string, string>>;
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
  let prefixUrl: string | undefined;
  let prefixSource: string | undefined;
  for (const src of PREFIX_SOURCES) {
    const value = "option" in src
      ? nonEmpty(flags[src.option] as string | undefined)
      : nonEmpty(env[src.env]);
    if (value !== undefined) {
      prefixUrl = value;
      prefixSource = "option" in src ? `--${kebab(src.option)}` : src.env;
      break;
    }
  }
  const dest = logDestinations(env["WALE_LOG_DESTINATION"]);
  const retriesText = env["WALE_RETRIES"];
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
    parseBoolEnv("AWS_INSTANCE_PROFILE", env["AWS_INSTANCE_PROFILE"]);
  if (instanceProfile && flags.awsAccessKeyId !== undefined) {
    throw new UsageError(
      "argument --aws-instance-profile: not allowed with argument -k/--aws-access-key-id",
    );
  }
  return Object.freeze({
    prefixUrl,
    prefixSource,
    terse: flags.terse === true,
    gpgKeyId: nonEmpty(flags.gpgKeyId) ?? nonEmpty(env["WALE_GPG_KEY_ID"]),
    retries,
    logToStderr: dest.includes("stderr"),
    syslogRequested: env["WALE_LOG_DESTINATION"] !== undefined && dest.includes("syslog"),
    walOverwrite: parseBoolEnv("WALE_WAL_OVERWRITE", env["WALE_WAL_OVERWRITE"]),
    archiveTimeoutSeconds: positiveSeconds("WALE_ARCHIVE_TIMEOUT", env["WALE_ARCHIVE_TIMEOUT"]),
    progressIntervalSeconds: positiveSeconds(
      "WALE_PROGRESS_INTERVAL",
      env["WALE_PROGRESS_INTERVAL"],
    ),
    awsAccessKeyId: flags.awsAccessKeyId ?? nonEmpty(env["AWS_ACCESS_KEY_ID"]),
    awsInstanceProfile: instanceProfile,
    wabsAccountName: flags.wabsAccountName ?? nonEmpty(env["WABS_ACCOUNT_NAME"]),
    env: Object.freeze({ ...env }),
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
