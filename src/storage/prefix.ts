/**
 * Storage prefix URLs (WAL-E-COMPAT §3.1): the scheme picks the backend, the network location
 * names the bucket/container, the path (leading slashes removed, one trailing slash added) is
 * the path prefix every object name starts with.
 */
import { ConfigError } from "../errors.ts";

/** Backends WAL-E knows, by URL scheme. */
export const SCHEMES = ["s3", "wabs", "swift", "gs", "file"] as const;
export type Scheme = typeof SCHEMES[number];

/** A parsed prefix URL. */
export interface ParsedPrefix {
  scheme: Scheme;
  /** Bucket (S3, GCS) or container (WABS, Swift); the host part for `file://` (ignored). */
  storeName: string;
  /** Path prefix: `""` or `a/b/` (no leading slash, one trailing slash). */
  pathPrefix: string;
  /** The URL as given. */
  url: string;
}

const URL_RE = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#]*)([^?#]*)(\?[^#]*)?(#.*)?$/;

/** Parses a prefix URL; throws `ConfigError` for a bad scheme or shape. */
export function parsePrefix(url: string): ParsedPrefix {
  const m = URL_RE.exec(url);
  const scheme = m?.[1]?.toLowerCase();
  if (m === null || scheme === undefined || !(SCHEMES as readonly string[]).includes(scheme)) {
    throw new ConfigError("bad storage prefix URL scheme passed", {
      detail: `The prefix "${url}" does not start with one of ${
        SCHEMES.map((s) => `${s}://`).join(", ")
      }.`,
      hint: "Set WALE_S3_PREFIX, WALE_WABS_PREFIX, WALE_SWIFT_PREFIX, WALE_GS_PREFIX or " +
        "WALE_FILE_PREFIX to a URL such as s3://bucket/path or file:///var/backups/pg.",
    });
  }
  const storeName = m[2] ?? "";
  const path = m[3] ?? "";
  if (m[4] !== undefined || m[5] !== undefined) {
    throw new ConfigError("storage prefix must not contain a query or fragment", {
      detail: `The prefix "${url}" has "${(m[4] ?? "") + (m[5] ?? "")}" after its path.`,
    });
  }
  const stripped = path.replace(/^\/+/, "");
  if (stripped.includes("//")) {
    // §3.1: list prefixes with doubled slashes do not round-trip on object stores.
    throw new ConfigError('storage prefix path must not contain "//"', {
      detail: `The prefix "${url}" has an empty path segment.`,
    });
  }
  if (scheme !== "file" && storeName === "") {
    throw new ConfigError("storage prefix names no bucket or container", {
      detail: `The prefix "${url}" has nothing between "${scheme}://" and the path.`,
      hint: `Write it as ${scheme}://NAME/path.`,
    });
  }
  if (scheme === "file" && storeName !== "" && storeName.toLowerCase() !== "localhost") {
    // WAL-E ignored the host part, so file://tmp/x archived into /x: never what was meant.
    throw new ConfigError("file prefix names a host", {
      detail: `The prefix "${url}" has "${storeName}" where a file URL has its host; the ` +
        `path is "${path || "/"}".`,
      hint: `Write file:///${storeName}${path} (three slashes) or ` +
        `file://localhost/${storeName}${path}.`,
    });
  }
  const pathPrefix = stripped === "" || stripped.endsWith("/") ? stripped : `${stripped}/`;
  return { scheme: scheme as Scheme, storeName, pathPrefix, url };
}
