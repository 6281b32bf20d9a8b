/**
 * Secret redaction for every line we write to stderr. Under `restore_command` and
 * `archive_command` that text lands in the PostgreSQL log, which is read by far more people than
 * may read the store's keys; an SDK error may quote a request URL with its SAS signature, or a
 * header with a token. Two nets: the values of the secret variables we were given (and their
 * URL-encoded forms), and patterns of credentials that appear in URLs and headers whatever their
 * value (SAS `sig`, pre-signed S3 parameters, passwords in a URL's user part, auth tokens).
 */

const MASK = "<redacted>";

/** Query parameters and header-like fields that carry credentials, whatever their value. */
const PATTERNS: readonly [RegExp, string][] = [
  // SAS signature, S3 pre-signed parameters, generic token/password/secret parameters.
  [
    /([?&;](?:sig|signature|x-amz-signature|x-amz-credential|x-amz-security-token|token|password|secret|access_token)=)[^&\s"'<>]+/gi,
    `$1${MASK}`,
  ],
  // user:password@ in URLs.
  [/(\b[a-z][a-z0-9+.-]*:\/\/[^\s:/@"']+:)[^\s@/"']+@/gi, `$1${MASK}@`],
  // Authorization / token headers as SDKs and fetch print them.
  [
    /((?:authorization|x-auth-token|x-storage-token|x-subject-token|x-amz-security-token|x-ms-encryption-key)["']?\s*[:=]\s*["']?)[^\s"',}]+(?:\s+[^\s"',}]+)?/gi,
    `$1${MASK}`,
  ],
  // Swift tempauth tokens and Keystone Fernet tokens, wherever they are quoted.
  [/\bAUTH_tk[0-9a-f]{16,}\b/g, MASK],
  [/\bgAAAAA[A-Za-z0-9_-]{40,}/g, MASK],
];

/**
 * Every text a PATTERNS entry can match contains one of these (lower-cased): a line without
 * any skips the regular expressions, whose first use costs ~0.5 ms per process (compilation),
 * on every WAL call, for log lines that hold nothing to redact.
 */
const PATTERN_NEEDLES = [
  "sig",
  "credential",
  "token",
  "password",
  "secret",
  "@",
  "authorization",
  "encryption-key",
  "auth_tk",
  "gaaaaa",
];

/**
 * Turns text into text without `secrets` (the values of the variables the configuration table
 * marks secret: `secretValues` in src/cli/options.ts); identity when there is nothing to hide.
 */
export function secretRedactor(secrets: Iterable<string>): (text: string) => string {
  const values = new Set<string>();
  for (const secret of secrets) {
    const v = secret.trim();
    // Very short values would mask ordinary words; real secrets are long.
    if (v.length < 6) continue;
    values.add(v);
    values.add(encodeURIComponent(v));
    // A SAS token is a query string: its signature may appear decoded or re-encoded.
    for (const part of v.replace(/^\?/, "").split("&")) {
      const [k, val] = part.split("=", 2);
      if (k?.toLowerCase() === "sig" && val !== undefined && val.length >= 6) {
        values.add(val);
        try {
          values.add(decodeURIComponent(val));
        } catch { /* not encoded */ }
      }
    }
  }
  const literals = [...values].sort((a, b) => b.length - a.length);
  return (text: string): string => {
    let out = text;
    for (const v of literals) out = out.replaceAll(v, MASK);
    const lower = out.toLowerCase();
    if (!PATTERN_NEEDLES.some((n) => lower.includes(n))) return out;
    for (const [re, to] of PATTERNS) out = out.replace(re, to);
    return out;
  };
}
