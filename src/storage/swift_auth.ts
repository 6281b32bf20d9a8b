/**
 * OpenStack Swift authentication (WAL-E-COMPAT §2.4, §11.3): the settings WAL-E passed to
 * python-swiftclient's `Connection`, and the three ways to turn them into a storage URL and a
 * token: tempauth-style v1 headers, Keystone v2.0 tokens scoped to a tenant, and Keystone v3
 * password auth scoped to a project. Keystone answers with a service catalog; the endpoint is
 * chosen as python-swiftclient does: service type `object-store`, then `SWIFT_REGION`, then
 * `SWIFT_ENDPOINT_TYPE` (default `publicURL`).
 */
import { ConfigError, StoreError } from "../errors.ts";
import { fetchNetworkError } from "./errors_map.ts";

/** The Swift settings WAL-E read from the environment (§2.4); no value is required up front. */
export interface SwiftAuthSettings {
  authUrl: string;
  user: string;
  key: string;
  /** `1`, `2` (WAL-E's default) or `3`. */
  authVersion: "1" | "2" | "3";
  tenantName?: string | undefined;
  tenantId?: string | undefined;
  region?: string | undefined;
  /** `publicURL` (default), `internalURL` or `adminURL`. */
  endpointType: string;
  userId?: string | undefined;
  userDomainId?: string | undefined;
  userDomainName?: string | undefined;
  projectId?: string | undefined;
  projectName?: string | undefined;
  projectDomainId?: string | undefined;
  projectDomainName?: string | undefined;
  domainId?: string | undefined;
  domainName?: string | undefined;
}

/** What authentication yields: where the account lives and the token to use there. */
export interface SwiftSession {
  storageUrl: string;
  token: string;
}

/**
 * The SWIFT_* variables as the operator wrote them, resolved by the CLI from the configuration
 * table (src/cli/options.ts); `swiftAuthSettings` validates them when a Swift store opens.
 */
export type SwiftSettings =
  & { [K in Exclude<keyof SwiftAuthSettings, "key">]?: string | undefined }
  & {
    /** `SWIFT_PASSWORD` (`SwiftAuthSettings.key`). */
    password?: string | undefined;
    /** `SWIFT_TEST_MAX_FILE_SIZE`, a test hook (swift.ts). */
    testMaxFileSize?: string | undefined;
  };

function opt(v: string | undefined): string | undefined {
  return v === undefined || v === "" ? undefined : v;
}

/** Validates the Swift settings; throws `ConfigError` for missing or invalid ones. */
export function swiftAuthSettings(s: SwiftSettings): SwiftAuthSettings {
  const given: Record<string, string | undefined> = {
    SWIFT_AUTHURL: opt(s.authUrl),
    SWIFT_USER: opt(s.user) ?? opt(s.userId),
    SWIFT_PASSWORD: opt(s.password),
  };
  const missing = Object.keys(given).filter((n) => given[n] === undefined);
  if (missing.length > 0) {
    // WAL-E passed missing values on as None and failed later; we fail at once and clearly.
    throw new ConfigError(`Swift credentials are incomplete: ${missing.join(", ")} not set`, {
      hint: "Define SWIFT_AUTHURL, SWIFT_USER and SWIFT_PASSWORD (the password only in the " +
        "environment).",
    });
  }
  const version = (opt(s.authVersion) ?? "2").replace(/^v/i, "");
  const authVersion = version === "1" || version === "1.0"
    ? "1"
    : version === "2" || version === "2.0"
    ? "2"
    : version === "3"
    ? "3"
    : undefined;
  if (authVersion === undefined) {
    throw new ConfigError("invalid SWIFT_AUTH_VERSION", {
      detail: `SWIFT_AUTH_VERSION is "${s.authVersion}".`,
      hint: "Set SWIFT_AUTH_VERSION to 1, 2 or 3.",
    });
  }
  return {
    authUrl: opt(s.authUrl) ?? "",
    user: opt(s.user) ?? "",
    key: opt(s.password) ?? "",
    authVersion,
    tenantName: opt(s.tenantName),
    tenantId: opt(s.tenantId),
    region: opt(s.region),
    endpointType: opt(s.endpointType) ?? "publicURL",
    userId: opt(s.userId),
    userDomainId: opt(s.userDomainId),
    userDomainName: opt(s.userDomainName),
    projectId: opt(s.projectId),
    projectName: opt(s.projectName),
    projectDomainId: opt(s.projectDomainId),
    projectDomainName: opt(s.projectDomainName),
    domainId: opt(s.domainId),
    domainName: opt(s.domainName),
  };
}

/**
 * The Keystone URL to post to: a version-less auth URL (`http://host:5000`) gets `/v2.0` or
 * `/v3` appended, as python-swiftclient's Keystone session discovery ends up doing.
 */
export function keystoneBase(authUrl: string, version: "2" | "3"): string {
  const base = authUrl.replace(/\/+$/, "");
  if (/\/v\d+(\.\d+)?$/.test(base)) return base;
  return `${base}/${version === "2" ? "v2.0" : "v3"}`;
}

/** One catalog endpoint, normalised across v2 and v3. */
export interface CatalogEndpoint {
  region: string | undefined;
  /** `publicURL`, `internalURL`, `adminURL` → URL. */
  urls: Record<string, string>;
}

/**
 * Picks the storage URL from `object-store` endpoints: region (when set) first, then the
 * endpoint type. Without a region the first endpoint offering the type wins (swiftclient).
 */
export function pickEndpoint(
  endpoints: readonly CatalogEndpoint[],
  region: string | undefined,
  endpointType: string,
): string {
  if (endpoints.length === 0) {
    throw new ConfigError("the Keystone catalog has no object-store (Swift) endpoint", {
      hint: "Check SWIFT_AUTHURL and that the project has Swift access.",
    });
  }
  const inRegion = region === undefined ? endpoints : endpoints.filter((e) => e.region === region);
  if (inRegion.length === 0) {
    const known = [...new Set(endpoints.map((e) => e.region ?? "(none)"))].join(", ");
    throw new ConfigError(`the Keystone catalog has no Swift endpoint in region "${region}"`, {
      detail: `Regions with an object-store endpoint: ${known}.`,
      hint: "Set SWIFT_REGION to one of them.",
    });
  }
  for (const e of inRegion) {
    const url = e.urls[endpointType];
    if (url !== undefined) return url;
  }
  throw new ConfigError(`the Keystone catalog has no Swift endpoint of type "${endpointType}"`, {
    detail: `Types offered${region === undefined ? "" : ` in "${region}"`}: ${
      [...new Set(inRegion.flatMap((e) => Object.keys(e.urls)))].join(", ")
    }.`,
    hint: "Set SWIFT_ENDPOINT_TYPE to publicURL, internalURL or adminURL.",
  });
}

type Json = Record<string, unknown>;

function obj(v: unknown): Json {
  return typeof v === "object" && v !== null && !Array.isArray(v) ? v as Json : {};
}

function arr(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

function str(v: unknown): string | undefined {
  return typeof v === "string" && v !== "" ? v : undefined;
}

/** v2.0 `serviceCatalog` → object-store endpoints. */
export function catalogV2(access: unknown): CatalogEndpoint[] {
  return arr(obj(access)["serviceCatalog"])
    .filter((s) => obj(s)["type"] === "object-store")
    .flatMap((s) => arr(obj(s)["endpoints"]))
    .map((e) => {
      const o = obj(e);
      const urls: Record<string, string> = {};
      for (const [k, v] of Object.entries(o)) {
        if (k.endsWith("URL") && typeof v === "string") urls[k] = v;
      }
      return { region: str(o["region"]), urls };
    });
}

/** v3 `catalog` → object-store endpoints (interface `public` ↔ `publicURL`). */
export function catalogV3(token: unknown): CatalogEndpoint[] {
  return arr(obj(token)["catalog"])
    .filter((s) => obj(s)["type"] === "object-store")
    .flatMap((s) => arr(obj(s)["endpoints"]))
    .map((e) => {
      const o = obj(e);
      const url = str(o["url"]);
      const iface = str(o["interface"]);
      return {
        region: str(o["region_id"]) ?? str(o["region"]),
        urls: url !== undefined && iface !== undefined ? { [`${iface}URL`]: url } : {},
      };
    });
}

/** The v2.0 token request; `user` of the form `tenant:user` names the tenant (swiftclient). */
export function v2Request(s: SwiftAuthSettings): Json {
  let user = s.user;
  let tenantName = s.tenantName;
  if (tenantName === undefined && s.tenantId === undefined && user.includes(":")) {
    [tenantName, user] = [user.slice(0, user.indexOf(":")), user.slice(user.indexOf(":") + 1)];
  }
  return {
    auth: {
      passwordCredentials: { username: user, password: s.key },
      ...(s.tenantId !== undefined
        ? { tenantId: s.tenantId }
        : tenantName !== undefined
        ? { tenantName }
        : {}),
    },
  };
}

function domain(id: string | undefined, name: string | undefined): Json {
  // Keystone needs a domain with a name; "default" is the one every deployment has.
  return id !== undefined ? { id } : name !== undefined ? { name } : { id: "default" };
}

/** The v3 password request, scoped to a project (or a domain when only a domain is given). */
export function v3Request(s: SwiftAuthSettings): Json {
  const user = s.userId !== undefined
    ? { id: s.userId, password: s.key }
    : { name: s.user, domain: domain(s.userDomainId, s.userDomainName), password: s.key };
  const projectId = s.projectId ?? s.tenantId;
  const projectName = s.projectName ?? s.tenantName;
  const scope = projectId !== undefined
    ? { project: { id: projectId } }
    : projectName !== undefined
    ? { project: { name: projectName, domain: domain(s.projectDomainId, s.projectDomainName) } }
    : s.domainId !== undefined || s.domainName !== undefined
    ? { domain: domain(s.domainId, s.domainName) }
    : undefined;
  return {
    auth: {
      identity: { methods: ["password"], password: { user } },
      ...(scope === undefined ? {} : { scope }),
    },
  };
}

function authFailed(s: SwiftAuthSettings, status: number, body: string): ConfigError {
  const names = s.authVersion === "1"
    ? "SWIFT_USER and SWIFT_PASSWORD"
    : s.authVersion === "2"
    ? "SWIFT_USER, SWIFT_PASSWORD and SWIFT_TENANT"
    : "SWIFT_USER, SWIFT_PASSWORD and the SWIFT_PROJECT_*/SWIFT_*_DOMAIN_* variables";
  return new ConfigError(`Swift authentication failed: check ${names}`, {
    detail: `Auth v${s.authVersion} at ${s.authUrl} answered HTTP ${status}` +
      `${body === "" ? "" : `: ${body.replace(/\s+/g, " ").slice(0, 200)}`}.`,
  });
}

/**
 * Authenticates once (no retries here: the caller wraps this in `withRetries`). Network
 * failures and 5xx come back as retryable `StoreError`s; bad credentials, a missing tenant
 * or catalog entry as `ConfigError`.
 */
export async function authenticate(
  s: SwiftAuthSettings,
  signal: AbortSignal,
): Promise<SwiftSession> {
  let url: string;
  let init: RequestInit;
  if (s.authVersion === "1") {
    url = s.authUrl;
    init = { method: "GET", headers: { "X-Auth-User": s.user, "X-Auth-Key": s.key } };
  } else {
    const base = keystoneBase(s.authUrl, s.authVersion);
    url = s.authVersion === "2" ? `${base}/tokens` : `${base}/auth/tokens`;
    init = {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(s.authVersion === "2" ? v2Request(s) : v3Request(s)),
    };
  }
  let res: Response;
  try {
    res = await fetch(url, { ...init, signal });
  } catch (err) {
    if (signal.aborted) throw err;
    throw new StoreError(`cannot reach the Swift auth endpoint ${s.authUrl}`, {
      detail: `Auth v${s.authVersion}: ${(fetchNetworkError(err) as Error).message}.`,
      hint: "Check SWIFT_AUTHURL and that the server is up.",
      cause: err,
      retryable: true,
    });
  }
  const text = await res.text();
  if (!res.ok) {
    if (res.status >= 500 || res.status === 429) {
      throw new StoreError(`Swift auth endpoint failed with HTTP ${res.status}`, {
        detail: `Auth v${s.authVersion} at ${s.authUrl}.`,
        retryable: true,
      });
    }
    if (res.status === 404 && s.authVersion !== "1") {
      throw new ConfigError(`Swift auth URL has no Keystone v${s.authVersion} API`, {
        detail: `POST ${url} answered HTTP 404.`,
        hint: "Check SWIFT_AUTHURL and SWIFT_AUTH_VERSION (Keystone 13+ has no v2.0 API).",
      });
    }
    throw authFailed(s, res.status, text);
  }
  if (s.authVersion === "1") {
    const storageUrl = res.headers.get("x-storage-url");
    const token = res.headers.get("x-auth-token") ?? res.headers.get("x-storage-token");
    if (storageUrl === null || token === null) {
      throw new ConfigError("Swift v1 auth answered without X-Storage-Url / X-Auth-Token", {
        detail: `GET ${url} answered HTTP ${res.status}.`,
        hint: "Check SWIFT_AUTHURL and SWIFT_AUTH_VERSION.",
      });
    }
    return { storageUrl, token };
  }
  let body: Json;
  try {
    body = obj(JSON.parse(text));
  } catch {
    body = {};
  }
  if (s.authVersion === "2") {
    const access = obj(body["access"]);
    const token = str(obj(access["token"])["id"]);
    if (token === undefined) {
      throw new ConfigError("Keystone v2.0 answered without a token", { detail: `POST ${url}.` });
    }
    return { token, storageUrl: pickEndpoint(catalogV2(access), s.region, s.endpointType) };
  }
  const token = res.headers.get("x-subject-token");
  if (token === null) {
    throw new ConfigError("Keystone v3 answered without X-Subject-Token", {
      detail: `POST ${url}.`,
    });
  }
  return {
    token,
    storageUrl: pickEndpoint(catalogV3(body["token"]), s.region, s.endpointType),
  };
}
