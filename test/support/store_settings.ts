/**
 * Store settings for tests that open stores directly, built the way the CLI builds them:
 * from an environment map through the configuration table (src/cli/config.ts).
 */
import { storeSettingsFromEnv } from "../../src/cli/config.ts";
import type { S3Settings } from "../../src/storage/s3_endpoint.ts";
import type { StoreSettings } from "../../src/storage/open.ts";
import type { SwiftSettings } from "../../src/storage/swift_auth.ts";

/** An environment plus the global flags that feed the store settings. */
export interface TestStoreConfig {
  env: Readonly<Record<string, string>>;
  awsAccessKeyId?: string | undefined;
  awsInstanceProfile?: boolean;
  wabsAccountName?: string | undefined;
  /** Overrides `WALE_RETRIES` (as the CLI parses it). */
  retries?: number | undefined;
}

/** The settings the CLI would resolve from this environment and these flags. */
export function settingsOf(c: TestStoreConfig): StoreSettings {
  const flags = {
    ...(c.awsAccessKeyId === undefined ? {} : { awsAccessKeyId: c.awsAccessKeyId }),
    ...(c.awsInstanceProfile === undefined ? {} : { awsInstanceProfile: c.awsInstanceProfile }),
    ...(c.wabsAccountName === undefined ? {} : { wabsAccountName: c.wabsAccountName }),
  };
  const s = storeSettingsFromEnv(c.env, flags);
  return c.retries === undefined ? s : { ...s, retry: { ...s.retry, retries: c.retries } };
}

/** The S3 settings of `env` (and flags). */
export function s3Of(
  env: Readonly<Record<string, string>>,
  flags: Omit<TestStoreConfig, "env"> = {},
): S3Settings {
  return settingsOf({ env, ...flags }).s3 ?? {};
}

/** The Swift settings of `env`. */
export function swiftOf(env: Readonly<Record<string, string>>): SwiftSettings {
  return settingsOf({ env }).swift ?? {};
}
