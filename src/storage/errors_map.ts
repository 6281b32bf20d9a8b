/**
 * SDK errors → our error classes, by service error code and HTTP status only: Ceph RGW sends
 * empty `<Message/>` elements, so message text is useless (reference/rgw/README.md,
 * pitfall 2). The original error is kept as `cause`. Also the retry classification (which
 * failures may succeed when tried again) that retrying.ts applies.
 */
import { ConfigError, describe, ObjectNotFoundError, StoreError, WalEError } from "../errors.ts";

/** Facts about any thrown value that retry and error mapping decisions use. */
export interface ErrorFacts {
  /** HTTP status when the server answered. */
  status: number | undefined;
  /** Service error code (`SignatureDoesNotMatch`, `BlobNotFound`) or system code (`ECONNRESET`). */
  code: string | undefined;
  /** The error's name (SDK exception class name). */
  name: string | undefined;
}

function field(obj: unknown, key: string): unknown {
  return typeof obj === "object" && obj !== null
    ? (obj as Record<string, unknown>)[key]
    : undefined;
}

/** Extracts status/code/name from SDK, Node and our own errors (following one `cause`). */
export function errorFacts(err: unknown): ErrorFacts {
  const meta = field(err, "$metadata");
  const status = field(meta, "httpStatusCode") ?? field(err, "statusCode") ??
    field(err, "status");
  const code = field(err, "Code") ?? field(err, "code") ?? field(field(err, "cause"), "code");
  const name = field(err, "name");
  return {
    status: typeof status === "number" ? status : undefined,
    code: typeof code === "string" && code !== "" ? code : undefined,
    name: typeof name === "string" ? name : undefined,
  };
}

const THROTTLING = new Set([
  "Throttling",
  "ThrottlingException",
  "ThrottledException",
  "RequestThrottledException",
  "TooManyRequestsException",
  "RequestLimitExceeded",
  "SlowDown",
  "ServerBusy",
  "OperationTimedOut",
  "RequestTimeout",
  "RequestTimeoutException",
  "InternalError",
]);

const CONNECTION = new Set([
  "ECONNRESET",
  "ECONNREFUSED",
  "ECONNABORTED",
  "EPIPE",
  "ETIMEDOUT",
  "ESOCKETTIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENETDOWN",
  "EAI_AGAIN",
  "ENOTFOUND",
  "UND_ERR_SOCKET",
  "REQUEST_SEND_ERROR",
  "TimeoutError",
]);

/**
 * Whether trying again may help: throttling (429, SlowDown, ServerBusy), 5xx (not 501/505),
 * connection failures and timeouts. Never for 4xx auth/permission answers, never for our own
 * configuration or not-found errors, never for an abort the caller asked for.
 */
export function isRetryableError(err: unknown): boolean {
  if (err instanceof StoreError) return err.retryable;
  if (err instanceof WalEError) return false;
  const { status, code, name } = errorFacts(err);
  if (name === "AbortError" && !(code !== undefined && CONNECTION.has(code))) return false;
  if (status === 401 || status === 403 || status === 404) return false;
  if (status === 429 || status === 408) return true;
  if (status !== undefined && status >= 500) return status !== 501 && status !== 505;
  if (
    (code !== undefined && THROTTLING.has(code)) || (name !== undefined && THROTTLING.has(name))
  ) {
    return true;
  }
  if (status !== undefined) return false;
  return (code !== undefined && CONNECTION.has(code)) ||
    (name !== undefined && CONNECTION.has(name));
}

/**
 * Deno's fetch reports every network failure (refused, reset, DNS) as a bare `TypeError`
 * ("fetch failed") with no code; the detail is in `cause`. Only fetch transports call this,
 * where a TypeError with no HTTP status can only be such a failure: it becomes an error with
 * code `REQUEST_SEND_ERROR` (retryable), keeping the SDK's `$metadata`.
 */
export function fetchNetworkError(err: unknown): unknown {
  if (!(err instanceof TypeError) || errorFacts(err).status !== undefined) return err;
  const reason = err.cause instanceof Error ? err.cause.message : err.message;
  return Object.assign(new Error(reason), {
    code: "REQUEST_SEND_ERROR",
    cause: err,
    $metadata: (err as { $metadata?: unknown }).$metadata ?? {},
  });
}

/** What the failing request was about, for messages. */
export interface ErrorContext {
  /** The operation, e.g. `PUT`, `GET`, `LIST`, `DELETE`. */
  op: string;
  /** URL of the object or prefix concerned (`s3://bucket/key`). */
  url: string;
  /** Bucket or container name. */
  storeName: string;
  /** Endpoint the client talks to, for connection errors. */
  endpoint: string;
  /** The object key when a 404 means "object not found" (GET/HEAD). */
  notFoundKey?: string | undefined;
}

function facts(err: unknown): string {
  const f = errorFacts(err);
  const parts = [
    f.status === undefined ? undefined : `HTTP ${f.status}`,
    f.code ?? f.name,
  ].filter((x) => x !== undefined);
  // Azure appends "RequestId:…" and "Time:…" lines: keep messages to one line.
  const msg = describe(err).split("\n")[0]?.trim() ?? "";
  const useful = msg !== "" && msg !== "UnknownError" && !parts.includes(msg);
  return parts.join(" ") + (useful ? `: ${msg}` : "");
}

function attemptsNote(err: unknown): string {
  const meta = (err as { $metadata?: { attempts?: number } } | null)?.$metadata;
  const n = typeof meta === "object" && meta !== null ? meta.attempts : undefined;
  return typeof n === "number" && n > 1 ? ` after ${n} attempts` : "";
}

/** Maps an AWS SDK v3 error from an S3 request. */
export function mapS3Error(err: unknown, ctx: ErrorContext): WalEError {
  if (err instanceof WalEError) return err;
  const { status, code, name } = errorFacts(err);
  const c = code ?? name ?? "";
  const detail = `${ctx.op} ${ctx.url} failed (${facts(err)}).`;
  switch (c) {
    case "SignatureDoesNotMatch":
      return new ConfigError("S3 rejected the request signature: check AWS_SECRET_ACCESS_KEY", {
        detail,
        hint: "AWS_SECRET_ACCESS_KEY does not belong to the access key in use.",
        cause: err,
      });
    case "InvalidAccessKeyId":
      return new ConfigError(
        "S3 does not know the access key: check AWS_ACCESS_KEY_ID (or --aws-access-key-id)",
        { detail, cause: err },
      );
    case "ExpiredToken":
    case "InvalidToken":
    case "TokenRefreshRequired":
      return new ConfigError(
        "S3 rejected the session token: check AWS_SESSION_TOKEN / AWS_SECURITY_TOKEN",
        { detail, hint: "Temporary credentials expire; fetch fresh ones.", cause: err },
      );
    case "RequestTimeTooSkewed":
      return new ConfigError("S3 rejected the request time: the system clock is wrong", {
        detail,
        hint: "Synchronise this host's clock (NTP).",
        cause: err,
      });
    case "NoSuchBucket":
      return new ConfigError(`S3 bucket "${ctx.storeName}" does not exist: check WALE_S3_PREFIX`, {
        detail,
        hint: "Create the bucket or fix the bucket name in the prefix URL.",
        cause: err,
      });
    case "PermanentRedirect":
    case "AuthorizationHeaderMalformed":
    case "IllegalLocationConstraintException":
      return new ConfigError("S3 bucket is in another region: check AWS_REGION", {
        detail,
        cause: err,
      });
    case "NoSuchKey":
      return new ObjectNotFoundError(ctx.notFoundKey ?? ctx.url, { cause: err });
  }
  if (status === 404 && ctx.notFoundKey !== undefined) {
    return new ObjectNotFoundError(ctx.notFoundKey, { cause: err });
  }
  if (status === 403 || c === "AccessDenied") {
    // A HEAD's 403 has no body, so a wrong secret and a missing permission look alike here.
    return new ConfigError(
      "S3 denied access: check the credentials (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY) " +
        "and the bucket policy",
      {
        detail,
        hint: "The key needs s3:ListBucket on the bucket and s3:GetObject/PutObject/" +
          "DeleteObject under the prefix.",
        cause: err,
      },
    );
  }
  if (status === 401) {
    return new ConfigError("S3 authentication failed: check AWS_ACCESS_KEY_ID", {
      detail,
      cause: err,
    });
  }
  return storeError("S3", err, ctx, detail);
}

/** Maps an `@azure/storage-blob` error (a `RestError` with `code` and `statusCode`). */
export function mapAzureError(err: unknown, ctx: ErrorContext): WalEError {
  if (err instanceof WalEError) return err;
  const { status, code, name } = errorFacts(err);
  const c = code ?? name ?? "";
  const detail = `${ctx.op} ${ctx.url} failed (${facts(err)}).`;
  switch (c) {
    case "AuthenticationFailed":
    case "InvalidAuthenticationInfo":
      return new ConfigError(
        "Azure rejected the credentials: check WABS_ACCESS_KEY (or WABS_SAS_TOKEN)",
        { detail, hint: "The key or SAS token does not belong to WABS_ACCOUNT_NAME.", cause: err },
      );
    case "AuthorizationFailure": // Azurite's answer to a wrong key; Azure's to a denied SAS/IP
      return new ConfigError(
        "Azure refused the request: check WABS_ACCESS_KEY (or WABS_SAS_TOKEN and its permissions)",
        { detail, cause: err },
      );
    case "AuthorizationPermissionMismatch":
    case "AuthorizationResourceTypeMismatch":
    case "AuthorizationServiceMismatch":
    case "AuthorizationProtocolMismatch":
    case "AuthorizationSourceIPMismatch":
    case "InsufficientAccountPermissions":
      return new ConfigError("Azure denied access: check WABS_SAS_TOKEN's permissions", {
        detail,
        hint: "The token needs read, write, list and delete on the container.",
        cause: err,
      });
    case "ContainerNotFound":
      return new ConfigError(
        `Azure container "${ctx.storeName}" does not exist: check WALE_WABS_PREFIX`,
        { detail, hint: "Create the container or fix its name in the prefix URL.", cause: err },
      );
    case "AccountNotFound":
    case "ResourceNotFound":
      if (ctx.notFoundKey === undefined || c === "AccountNotFound") {
        return new ConfigError("Azure storage account not found: check WABS_ACCOUNT_NAME", {
          detail,
          cause: err,
        });
      }
      break;
    case "BlobNotFound":
      return new ObjectNotFoundError(ctx.notFoundKey ?? ctx.url, { cause: err });
  }
  if (status === 404 && ctx.notFoundKey !== undefined) {
    return new ObjectNotFoundError(ctx.notFoundKey, { cause: err });
  }
  if (status === 401 || status === 403) {
    return new ConfigError(
      "Azure rejected the credentials: check WABS_ACCESS_KEY (or WABS_SAS_TOKEN)",
      { detail, cause: err },
    );
  }
  return storeError("Azure", err, ctx, detail);
}

function storeError(service: string, err: unknown, ctx: ErrorContext, detail: string): StoreError {
  const { status } = errorFacts(err);
  const retryable = isRetryableError(err);
  if (status === undefined && retryable) {
    return new StoreError(
      `cannot reach the ${service} endpoint ${ctx.endpoint}${attemptsNote(err)}`,
      {
        detail,
        hint: service === "S3"
          ? "Check WALE_S3_ENDPOINT (or AWS_REGION) and that the server is up."
          : "Check WALE_WABS_ENDPOINT (or WABS_ACCOUNT_NAME) and that the service is up.",
        cause: err,
        retryable,
      },
    );
  }
  return new StoreError(`${service} ${ctx.op} failed${attemptsNote(err)}`, {
    detail,
    cause: err,
    retryable,
  });
}
