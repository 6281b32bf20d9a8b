/**
 * The HTTP side of the Swift backend: one container's requests on `fetch`, with a login
 * shared by concurrent callers, a timeout per attempt, bounded retries with back-off on 5xx,
 * 429, 498 and connection failures (retrying.ts), one re-authentication on 401 (tokens expire
 * during long backups), error mapping to our classes, the cluster's `/info`, and verified
 * PUTs of buffers. Names here are physical object names; the store (swift.ts) maps WAL-E's
 * keys onto them and lists and deletes.
 */
import { createHash, type Hash } from "node:crypto";
import { ConfigError, ObjectNotFoundError, StoreError, WalEError } from "../errors.ts";
import { fetchNetworkError, isRetryableError } from "./errors_map.ts";
import { type RetryPolicy, withRetries } from "./retrying.ts";
import { authenticate, type SwiftAuthSettings, type SwiftSession } from "./swift_auth.ts";

/** Swift's default `max_file_size` (5 GiB + 2), used when `/info` is unavailable. */
const DEFAULT_MAX_FILE_SIZE = 5368709122;
/** The SLO middleware's default `max_manifest_segments`. */
const DEFAULT_MAX_MANIFEST_SEGMENTS = 1000;
/** The bulk middleware's default and ceiling per request. */
export const BULK_DELETE_MAX = 10_000;
/**
 * Requests in flight per client: callers may start thousands of puts at once, and a Swift
 * proxy (and the memcached behind tempauth) refuses connections long before that.
 */
const MAX_IN_FLIGHT = 32;

/** What `/info` tells about the cluster. */
export interface SwiftInfo {
  maxFileSize: number;
  /** Entries one Static Large Object manifest may list. */
  maxManifestSegments: number;
  /** Deletes per bulk request, undefined without the bulk middleware. */
  bulkDelete: number | undefined;
}

/** Everything a `SwiftClient` needs. */
export interface SwiftClientOptions {
  container: string;
  auth: SwiftAuthSettings;
  policy: RetryPolicy;
  /** Overrides `/info`'s max_file_size (`SWIFT_TEST_MAX_FILE_SIZE`). */
  maxFileSize?: number | undefined;
  /** The URL of a key, for messages. */
  describe: (key: string) => string;
}

/** One request. */
export interface SendOptions {
  op: "GET" | "HEAD" | "PUT" | "POST" | "DELETE" | "LIST";
  /** Path below the storage URL, already encoded, e.g. `/c/%2Fpg%2Fx`. */
  path: string;
  query?: Record<string, string>;
  headers?: Record<string, string>;
  /** Held by the caller, so every attempt (retries, the re-login) can send it again. */
  body?: Uint8Array<ArrayBuffer> | string;
  /** Hashes a `Uint8Array` body as it is sent. */
  digest?: SendDigest;
  /** The logical key: a 404 then means "object not found". */
  notFoundKey?: string;
  /** A 404 is returned, not thrown (deletes). */
  allow404?: boolean;
  /**
   * The body is a long download: the attempt's timeout covers the request up to the headers
   * only (it would kill a long body); the caller watches the body for silence instead.
   */
  streamBody?: boolean;
  signal?: AbortSignal | undefined;
}

/** An HTTP answer that was not a success, shaped for `isRetryableError`. */
export class SwiftHttpError extends Error {
  constructor(readonly statusCode: number, message: string) {
    super(message);
    this.name = "SwiftHttpError";
  }
}

/** A counting semaphore. */
class Limiter {
  #free: number;
  readonly #waiting: (() => void)[] = [];
  constructor(n: number) {
    this.#free = n;
  }
  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#free > 0) this.#free--;
    else await new Promise<void>((resolve) => this.#waiting.push(resolve));
    try {
      return await fn();
    } finally {
      const next = this.#waiting.shift();
      if (next !== undefined) next();
      else this.#free++;
    }
  }
}

/** Encodes an object name for a URL path, keeping `/` (so `/pg/x` gives `c//pg/x`). */
function encodeName(name: string): string {
  return name.split("/").map(encodeURIComponent).join("/");
}

/** Requests against one Swift container. */
export class SwiftClient {
  readonly container: string;
  readonly #o: SwiftClientOptions;
  #session: Promise<SwiftSession> | undefined;
  #info: Promise<SwiftInfo> | undefined;
  readonly #limit = new Limiter(MAX_IN_FLIGHT);

  constructor(options: SwiftClientOptions) {
    this.#o = options;
    this.container = options.container;
  }

  /** URL path (below the storage URL) of the object `name`. */
  objectPath(name: string): string {
    return `/${encodeURIComponent(this.container)}/${encodeName(name)}`;
  }

  /** One authentication attempt, shared by concurrent callers (their retries repeat it). */
  #login(signal: AbortSignal): Promise<SwiftSession> {
    const session = this.#session ?? authenticate(this.#o.auth, signal).catch((err: unknown) => {
      if (this.#session === session) this.#session = undefined;
      throw err;
    });
    this.#session = session;
    return session;
  }

  /** Drops the token, so the next request logs in again (a refusal send() cannot see). */
  forgetSession(): void {
    this.#session = undefined;
  }

  /** One request with retries, a timeout per attempt and one re-authentication on 401. */
  send(o: SendOptions): Promise<Response> {
    let reauthed = false;
    return withRetries(
      (signal) =>
        this.#limit.run(async () => {
          for (;;) {
            const pending = this.#login(signal);
            const session = await pending;
            const url = new URL(session.storageUrl.replace(/\/+$/, "") + o.path);
            for (const [k, v] of Object.entries(o.query ?? {})) url.searchParams.set(k, v);
            const ctl = new AbortController();
            const onAbort = () => ctl.abort(signal.reason);
            signal.addEventListener("abort", onAbort, { once: true });
            o.signal?.addEventListener("abort", () => ctl.abort(o.signal?.reason), { once: true });
            let res: Response;
            try {
              res = await fetch(url, {
                method: o.op === "LIST" ? "GET" : o.op,
                headers: { ...o.headers, "X-Auth-Token": session.token },
                body: requestBody(o.body, o.digest),
                signal: ctl.signal,
              });
            } catch (err) {
              if (signal.aborted) throw err;
              throw this.map(fetchNetworkError(err), o);
            } finally {
              if (o.streamBody === true) signal.removeEventListener("abort", onAbort);
            }
            if (res.status === 401 && !reauthed) {
              // The token expired or was revoked: log in again once, never in a loop. Bodies
              // are buffered, so the request is simply sent again. (Only this session is
              // dropped: a concurrent request may already have logged in afresh.)
              await res.body?.cancel();
              reauthed = true;
              if (this.#session === pending) this.#session = undefined;
              continue;
            }
            if (res.ok || (res.status === 404 && o.allow404 === true)) return res;
            const text = await res.text().catch(() => "");
            throw this.map(new SwiftHttpError(res.status, text.replace(/<[^>]*>/g, " ")), o);
          }
        }),
      this.#o.policy,
      { signal: o.signal, isRetryable: retryable },
    );
  }

  /** Error translation: HTTP status → our classes, with the SWIFT_* variable to check. */
  map(err: unknown, o: SendOptions): WalEError {
    if (err instanceof WalEError) return err;
    const where = `${o.op} ${this.#o.describe(o.notFoundKey ?? "")}`;
    if (!(err instanceof SwiftHttpError)) {
      return new StoreError(`cannot reach the Swift endpoint`, {
        detail: `${where}: ${(err as Error).message}.`,
        hint: "Check that the Swift proxy named by the auth catalog is up.",
        cause: err,
        retryable: isRetryableError(err),
      });
    }
    const status = err.statusCode;
    const msg = err.message.replace(/\s+/g, " ").trim().slice(0, 200);
    const detail = `${where} answered HTTP ${status}${msg === "" ? "" : `: ${msg}`}.`;
    // A 404 names the object only on reads; a PUT or listing gets one for a missing container.
    if (status === 404 && o.notFoundKey !== undefined && (o.op === "GET" || o.op === "HEAD")) {
      return new ObjectNotFoundError(this.#o.describe(o.notFoundKey), { cause: err });
    }
    if (status === 404) {
      return new ConfigError(`Swift container "${this.container}" does not exist`, {
        detail,
        hint: "Create the container or fix its name in WALE_SWIFT_PREFIX.",
        cause: err,
      });
    }
    if (status === 401) {
      return new ConfigError("Swift rejected the token: check SWIFT_USER and SWIFT_PASSWORD", {
        detail,
        cause: err,
      });
    }
    if (status === 403) {
      return new ConfigError("Swift denied access to the container: check the account's roles", {
        detail,
        cause: err,
      });
    }
    if (status === 413) {
      return new StoreError("object too large for Swift", {
        detail,
        hint: "The cluster's max_file_size is lower than it announced in /info.",
        cause: err,
      });
    }
    return new StoreError(`Swift ${o.op} failed with HTTP ${status}`, {
      detail,
      cause: err,
      retryable: retryable(err),
    });
  }

  /** `/info` (cached); a cluster without it gets Swift's defaults and per-object deletes. */
  info(): Promise<SwiftInfo> {
    this.#info ??= (async () => {
      let info: Record<string, Record<string, unknown>> = {};
      try {
        const res = await withRetries(
          async (signal) => {
            const session = await this.#login(signal);
            return await fetch(new URL("/info", session.storageUrl), { signal });
          },
          this.#o.policy,
          { isRetryable: (e) => retryable(e) || isRetryableError(fetchNetworkError(e)) },
        );
        if (res.ok) info = await res.json();
        else await res.body?.cancel();
      } catch (err) {
        if (err instanceof WalEError) throw err;
        // /info is optional (it can be disabled): keep the defaults.
      }
      const positive = (v: unknown, fallback: number) => {
        const n = Number(v);
        return Number.isFinite(n) && n > 0 ? n : fallback;
      };
      return {
        maxFileSize: this.#o.maxFileSize ??
          positive(info["swift"]?.["max_file_size"], DEFAULT_MAX_FILE_SIZE),
        maxManifestSegments: positive(
          info["slo"]?.["max_manifest_segments"],
          DEFAULT_MAX_MANIFEST_SEGMENTS,
        ),
        bulkDelete: info["bulk_delete"] === undefined ? undefined : Math.min(
          BULK_DELETE_MAX,
          positive(info["bulk_delete"]["max_deletes_per_request"], BULK_DELETE_MAX),
        ),
      };
    })().catch((err: unknown) => {
      this.#info = undefined;
      throw err;
    });
    return this.#info;
  }

  /**
   * PUTs `data` as the object at `path` and returns its MD5 (hex), which the answer's ETag
   * must equal. The MD5 is computed while the bytes go out (see `SendDigest`).
   */
  async putBuffer(
    path: string,
    data: Uint8Array<ArrayBuffer>,
    o: { contentType: string; key: string; signal: AbortSignal | undefined },
  ): Promise<string> {
    const digest = new SendDigest(data);
    const res = await this.send({
      op: "PUT",
      path,
      headers: { "Content-Type": o.contentType },
      body: data,
      digest,
      notFoundKey: o.key,
      signal: o.signal,
    });
    await res.body?.cancel();
    const md5 = digest.hex();
    verifyEtag(res, md5, this.#o.describe(o.key));
    return md5;
  }
}

/** Bodies longer than this go out as a stream of views on the caller's buffer. */
const STREAM_BODY_OVER = 1024 * 1024;

/**
 * A fresh body for one attempt. Deno's fetch copies a `Uint8Array` body whole into the
 * runtime, and those copies (20 MiB per segment in flight) pushed a 1 GiB upload past 380 MiB
 * of RSS; a stream of 1 MiB views copies one view at a time (~45 MiB, and faster).
 */
function requestBody(
  body: Uint8Array<ArrayBuffer> | string | undefined,
  digest: SendDigest | undefined,
): BodyInit | null {
  if (body === undefined) return null;
  if (typeof body === "string" || body.length <= STREAM_BODY_OVER) return body;
  let off = 0;
  return new ReadableStream<Uint8Array>({
    pull(c) {
      if (off >= body.length) return c.close();
      const view = body.subarray(off, off + STREAM_BODY_OVER);
      digest?.sent(off, view);
      c.enqueue(view);
      off += view.length;
    },
  }, { highWaterMark: 0 });
}

/**
 * The MD5 of a buffer, hashed chunk by chunk as the first attempt sends it, so hashing
 * overlaps the network instead of delaying the request (1 GiB of MD5 is ~1.7 s here). A
 * resent attempt only extends the hashed prefix; `hex()` hashes whatever was never sent.
 */
export class SendDigest {
  readonly #data: Uint8Array;
  readonly #hash: Hash = createHash("md5");
  #hashed = 0;
  #hex: string | undefined;

  constructor(data: Uint8Array) {
    this.#data = data;
  }

  /** `chunk` (at `offset` of the buffer) is going out. */
  sent(offset: number, chunk: Uint8Array): void {
    if (offset !== this.#hashed || this.#hex !== undefined) return;
    this.#hash.update(chunk);
    this.#hashed += chunk.length;
  }

  hex(): string {
    if (this.#hex === undefined) {
      this.#hash.update(this.#data.subarray(this.#hashed));
      this.#hex = this.#hash.digest("hex");
    }
    return this.#hex;
  }
}

/** Swift's throttling answers (498 from the ratelimit middleware) are retryable too. */
function retryable(err: unknown): boolean {
  if (err instanceof StoreError) return err.retryable;
  if (err instanceof SwiftHttpError && err.statusCode === 498) return true;
  return isRetryableError(err);
}

/** Fails unless the answer's ETag is `md5` (hex; Swift may quote it). */
export function verifyEtag(res: Response, md5: string, url: string): void {
  const etag = (res.headers.get("etag") ?? "").replace(/"/g, "").toLowerCase();
  if (etag !== md5) {
    throw new StoreError("Swift stored different bytes than were sent", {
      detail: `PUT ${url}: ETag "${etag}", expected "${md5}".`,
      retryable: true,
    });
  }
}
