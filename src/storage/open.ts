/**
 * Opens the Store a prefix URL names: one scheme → factory table. Backends that have not
 * landed yet fail loudly with NotSupportedError instead of doing anything silently.
 */
import { ConfigError, NotSupportedError } from "../errors.ts";
import { lazy } from "../lazy.ts";
import { LocalStore } from "./local.ts";
import { type ParsedPrefix, parsePrefix, type Scheme } from "./prefix.ts";
import type { WabsSettings } from "./azure.ts";
import type { RetrySettings } from "./retrying.ts";
import type { S3Settings } from "./s3_endpoint.ts";
import type { Store } from "./store.ts";
import type { SwiftSettings } from "./swift_auth.ts";

/**
 * Settings the backends need, typed per backend and resolved once by the CLI from the
 * configuration table (src/cli/options.ts): no backend reads the environment. A missing
 * group counts as all unset.
 */
export interface StoreSettings {
  retry?: RetrySettings | undefined;
  s3?: S3Settings | undefined;
  wabs?: WabsSettings | undefined;
  swift?: SwiftSettings | undefined;
}

type Factory = (prefix: ParsedPrefix, settings: StoreSettings) => Promise<Store>;

function notYet(name: string, issue: string): Factory {
  return (prefix) =>
    Promise.reject(
      new NotSupportedError(`the ${name} backend is not supported yet`, {
        detail:
          `The prefix "${prefix.url}" selects ${name}, which this build cannot use (${issue}).`,
        hint: "Use a file:// prefix for now, or a build that includes this backend.",
      }),
    );
}

const FACTORIES: Record<Scheme, Factory> = {
  file: (prefix) => Promise.resolve(new LocalStore(prefix.pathPrefix)),
  // Cloud SDKs load only when their scheme is used: archive_command runs once per segment
  // and must not pay for parsing the AWS and Azure SDKs on every local-store call.
  s3: async (prefix, settings) => (await lazy.s3()).openS3Store(prefix, settings),
  wabs: async (prefix, settings) => (await lazy.azure()).openWabsStore(prefix, settings),
  swift: async (prefix, settings) => (await lazy.swift()).openSwiftStore(prefix, settings),
  gs: notYet("Google Cloud Storage", "not planned"),
};

/** Parses `url` and opens its store. */
export function openStore(url: string | undefined, settings: StoreSettings): Promise<Store> {
  if (url === undefined) {
    return Promise.reject(
      new ConfigError("no storage prefix defined", {
        hint: "Either set one of the --file-prefix, --gs-prefix, --s3-prefix or --wabs-prefix " +
          "options or define one of the WALE_FILE_PREFIX, WALE_GS_PREFIX, WALE_S3_PREFIX, " +
          "WALE_SWIFT_PREFIX or WALE_WABS_PREFIX environment variables.",
      }),
    );
  }
  const prefix = parsePrefix(url);
  return FACTORIES[prefix.scheme](prefix, settings);
}
