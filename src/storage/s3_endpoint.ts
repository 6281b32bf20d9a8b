/**
 * S3 connection settings: `WALE_S3_ENDPOINT` parsing, the region/addressing rules and the
 * credential sources (WAL-E-COMPAT §11.1, §2.2).
 *
 * Syntax: `<http|https>+<path|subdomain|virtualhost>://<host>[:<port>]`. User info, a path
 * (even a lone `/`), a query or a fragment are user errors, as in WAL-E.
 *
 * Region: without an endpoint `AWS_REGION` is required ("must define one of AWS_REGION or
 * WALE_S3_ENDPOINT"); unlike WAL-E we follow S3's region redirects, so a bucket in another
 * region still works. With an endpoint any region signs (S3-compatible servers accept any
 * SigV4 scope): `AWS_REGION` when set, else `us-east-1`.
 *
 * Credentials, first match wins: `--aws-instance-profile`/`AWS_INSTANCE_PROFILE` (IMDSv2,
 * falling back to v1; `AWS_EC2_METADATA_SERVICE_ENDPOINT` moves it); a static key
 * (`-k`/`AWS_ACCESS_KEY_ID` + `AWS_SECRET_ACCESS_KEY`, session token from
 * `AWS_SESSION_TOKEN` or WAL-E's `AWS_SECURITY_TOKEN`); else the SDK's default chain (web
 * identity for Kubernetes service accounts, SSO, shared profiles, container/instance metadata).
 * They are resolved once at open, so a missing credential is a one-line ConfigError at once.
 */
import { fromInstanceMetadata, fromNodeProviderChain } from "@aws-sdk/credential-providers";
import { ConfigError } from "../errors.ts";

/**
 * What the S3 backend is configured with, resolved by the CLI from the configuration table
 * (src/cli/options.ts). Values are as the operator wrote them; this module and s3.ts
 * validate them when an S3 store opens.
 */
export interface S3Settings {
  /** `-k`/`AWS_ACCESS_KEY_ID`. */
  accessKeyId?: string | undefined;
  /** `AWS_SECRET_ACCESS_KEY`. */
  secretAccessKey?: string | undefined;
  /** `AWS_SESSION_TOKEN`, else WAL-E's `AWS_SECURITY_TOKEN`. */
  sessionToken?: string | undefined;
  /** `--aws-instance-profile`/`AWS_INSTANCE_PROFILE`. */
  instanceProfile?: boolean | undefined;
  /** `AWS_REGION`. */
  region?: string | undefined;
  /** `WALE_S3_ENDPOINT`, unparsed (see `parseS3Endpoint`). */
  endpoint?: string | undefined;
  /** `WALE_S3_STORAGE_CLASS`. */
  storageClass?: string | undefined;
  /** `WALE_S3_SSE`, unparsed (see `s3Sse` in s3.ts). */
  sse?: string | undefined;
}

/** A parsed `WALE_S3_ENDPOINT`. */
export interface S3Endpoint {
  protocol: "http" | "https";
  /** `path`: host/bucket/key; `subdomain`: bucket.host/key; `virtualhost`: the bucket is the host. */
  convention: "path" | "subdomain" | "virtualhost";
  /** Host name, IPv4 address, or bracketed IPv6 address. */
  host: string;
  port: number | undefined;
}

const ENDPOINT_RE = /^([A-Za-z]+)\+([A-Za-z]+):\/\/([^/?#]*)(.*)$/;
const HOST_RE = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?)$/;

function endpointError(text: string, why: string): ConfigError {
  return new ConfigError("invalid WALE_S3_ENDPOINT", {
    detail: `WALE_S3_ENDPOINT is "${text}": ${why}.`,
    hint: "Write it as http+path://HOST:PORT (or https+, and path, subdomain or virtualhost).",
  });
}

/** Parses WAL-E's endpoint syntax; throws `ConfigError` naming the variable when malformed. */
export function parseS3Endpoint(text: string): S3Endpoint {
  const m = ENDPOINT_RE.exec(text.trim());
  if (m === null) throw endpointError(text, "expected PROTOCOL+CONVENTION://HOST[:PORT]");
  const protocol = (m[1] ?? "").toLowerCase();
  const convention = (m[2] ?? "").toLowerCase();
  const authority = m[3] ?? "";
  const rest = m[4] ?? "";
  if (protocol !== "http" && protocol !== "https") {
    throw endpointError(text, `protocol "${m[1]}" is not http or https`);
  }
  if (convention !== "path" && convention !== "subdomain" && convention !== "virtualhost") {
    throw endpointError(text, `convention "${m[2]}" is not path, subdomain or virtualhost`);
  }
  if (rest !== "") throw endpointError(text, `unexpected path, query or fragment "${rest}"`);
  if (authority.includes("@")) throw endpointError(text, "user info is not allowed");
  const hp = /^(\[[^\]]*\]|[^:]*)(?::(\d*))?$/.exec(authority);
  const host = hp?.[1] ?? "";
  if (hp === null || !HOST_RE.test(host)) throw endpointError(text, `bad host "${authority}"`);
  let port: number | undefined;
  if (hp[2] !== undefined) {
    port = Number(hp[2]);
    if (hp[2] === "" || !Number.isInteger(port) || port < 1 || port > 65535) {
      throw endpointError(text, `bad port "${hp[2]}"`);
    }
  }
  return { protocol, convention, host, port };
}

/** How the SDK client must address one bucket. */
export interface S3Addressing {
  region: string;
  /** Endpoint URL override, or undefined for AWS's own endpoints. */
  endpoint: string | undefined;
  forcePathStyle: boolean;
  /** True when the `Bucket` parameter is itself an endpoint URL (virtualhost convention). */
  bucketEndpoint: boolean;
  /** What to pass as `Bucket` in requests. */
  bucketParam: string;
  /** Follow 301/400 region redirects (AWS only). */
  followRegionRedirects: boolean;
}

/** Region and addressing for `bucket` from `AWS_REGION` and `WALE_S3_ENDPOINT`. */
export function s3Addressing(settings: S3Settings, bucket: string): S3Addressing {
  const region = nonEmpty(settings.region);
  const endpointText = nonEmpty(settings.endpoint);
  if (endpointText === undefined) {
    if (region === undefined) {
      throw new ConfigError("must define one of AWS_REGION or WALE_S3_ENDPOINT", {
        hint: "Set AWS_REGION to the bucket's region (e.g. us-east-1), or WALE_S3_ENDPOINT " +
          "for an S3-compatible server (e.g. https+path://s3.example.com).",
      });
    }
    return {
      region,
      endpoint: undefined,
      forcePathStyle: false,
      bucketEndpoint: false,
      bucketParam: bucket,
      followRegionRedirects: true,
    };
  }
  const ep = parseS3Endpoint(endpointText);
  const port = ep.port === undefined ? "" : `:${ep.port}`;
  const base = {
    region: region ?? "us-east-1",
    followRegionRedirects: false,
  };
  switch (ep.convention) {
    case "path":
      return {
        ...base,
        endpoint: `${ep.protocol}://${ep.host}${port}`,
        forcePathStyle: true,
        bucketEndpoint: false,
        bucketParam: bucket,
      };
    case "subdomain":
      return {
        ...base,
        endpoint: `${ep.protocol}://${ep.host}${port}`,
        forcePathStyle: false,
        bucketEndpoint: false,
        bucketParam: bucket,
      };
    case "virtualhost": {
      // The bucket name is the host name (a CNAME); the endpoint's host is not used.
      const url = `${ep.protocol}://${bucket}${port}`;
      return {
        ...base,
        endpoint: url,
        forcePathStyle: false,
        bucketEndpoint: true,
        bucketParam: url,
      };
    }
  }
}

function nonEmpty(v: string | undefined): string | undefined {
  return v === undefined || v.trim() === "" ? undefined : v.trim();
}

/** Credentials as the SDK takes them. */
export interface S3Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  expiration?: Date;
}

/** A function the SDK calls for (possibly refreshed) credentials. */
export type S3CredentialProvider = () => Promise<S3Credentials>;

const ACCESS_KEY_HINT = "Define the environment variable AWS_ACCESS_KEY_ID (or pass " +
  "--aws-access-key-id), use --aws-instance-profile, or configure an AWS profile, SSO or " +
  "web identity.";

/** Resolves the credential source (see the module doc) and fetches credentials once. */
export async function s3Credentials(
  settings: S3Settings,
  timeouts: { connectTimeoutMs: number },
): Promise<S3Credentials | S3CredentialProvider> {
  if (settings.instanceProfile === true) {
    const provider = memoize(fromInstanceMetadata({
      timeout: Math.min(timeouts.connectTimeoutMs, 2_000),
      maxRetries: 2,
    }));
    try {
      await provider();
    } catch (err) {
      throw new ConfigError("could not get credentials from the instance metadata service", {
        detail: `--aws-instance-profile / AWS_INSTANCE_PROFILE is on: ${describeErr(err)}.`,
        hint: "Check that this host has an instance profile (IAM role) and that the metadata " +
          "service is reachable (AWS_EC2_METADATA_SERVICE_ENDPOINT moves it).",
        cause: err,
      });
    }
    return provider;
  }
  const keyId = nonEmpty(settings.accessKeyId);
  const secret = nonEmpty(settings.secretAccessKey);
  const token = nonEmpty(settings.sessionToken);
  if (keyId !== undefined) {
    if (secret === undefined) {
      throw new ConfigError("AWS Secret Key credential is required but not provided", {
        hint: "Define the environment variable AWS_SECRET_ACCESS_KEY.",
      });
    }
    return token === undefined
      ? { accessKeyId: keyId, secretAccessKey: secret }
      : { accessKeyId: keyId, secretAccessKey: secret, sessionToken: token };
  }
  if (secret !== undefined) {
    throw new ConfigError("AWS Access Key credential is required but not provided", {
      hint: ACCESS_KEY_HINT,
    });
  }
  const chain = memoize(fromNodeProviderChain());
  try {
    await chain();
  } catch (err) {
    throw new ConfigError("AWS Access Key credential is required but not provided", {
      detail: `No credential source of the AWS SDK's default chain applies: ${describeErr(err)}.`,
      hint: ACCESS_KEY_HINT,
      cause: err,
    });
  }
  return chain;
}

/** Caches credentials until five minutes before they expire. */
function memoize(provider: () => Promise<S3Credentials>): S3CredentialProvider {
  let cached: Promise<S3Credentials> | undefined;
  return () => {
    if (cached === undefined) {
      cached = provider();
      cached.catch(() => (cached = undefined));
      return cached;
    }
    return cached.then((c) => {
      if (c.expiration !== undefined && c.expiration.getTime() - Date.now() < 300_000) {
        cached = undefined;
        return provider();
      }
      return c;
    });
  };
}

function describeErr(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
