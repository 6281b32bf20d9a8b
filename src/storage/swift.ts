/**
 * OpenStack Swift backend (`swift://container/path`, WAL-E-COMPAT §11.3), a client on `fetch`.
 * Authentication lives in swift_auth.ts (v1 tempauth, Keystone v2.0 and v3).
 *
 * Names (§3.3): logical key `X` under path prefix `P` is the object `/PX`: WAL-E handed the
 * URL path, leading slash included, to swiftclient, so its objects are `container//P...` and
 * it lists with prefix `/P`. Keys stay logical; only this file adds and strips the slash.
 *
 * Uploads: objects up to `SMALL_PUT` bytes (all WAL segments) are buffered and sent as one
 * PUT, retried, ETag checked against their MD5. Longer streams are sent as chunked PUTs
 * in bounded memory, never buffered: while more data may follow, bytes go to segment objects
 * `.wal-e-segments/PX/<upload id>/<n>` (same container, no leading slash, so invisible to
 * WAL-E's and our listings, which all start with `/`), each at most `max_file_size` (from
 * `/info`; Swift's default is 5 GiB) and each ETag checked. A stream that fits in one segment
 * is then copied server-side to `/PX` (a plain object, as WAL-E wrote); a longer one becomes
 * a Static Large Object whose manifest at `/PX` lists the segments with their ETags, which
 * Swift verifies again. Streamed PUTs cannot be replayed, so they are not retried. A large
 * put removes the key's older segments; a small put does not look for them (that would cost
 * every WAL push a listing), so they stay until the key is deleted.
 *
 * Deletes use the bulk middleware when `/info` offers it (a 200 answer carries the real
 * status in its JSON body), else one DELETE per object with `multipart-manifest=delete`;
 * segments of deleted keys are removed too. Every request has a timeout, and retries with
 * back-off on 5xx, 429, 498 and connection failures (retrying.ts); a 401 re-authenticates
 * once.
 */
import { createHash, type Hash } from "node:crypto";
import { ConfigError, isNotFound, ObjectNotFoundError, StoreError, WalEError } from "../errors.ts";
import { fetchNetworkError, isRetryableError } from "./errors_map.ts";
import type { StoreSettings } from "./open.ts";
import type { ParsedPrefix } from "./prefix.ts";
import {
  BlockReader,
  BufferPool,
  guardedStream,
  type RetryPolicy,
  retryPolicyFromEnv,
  withRetries,
} from "./retrying.ts";
import type { GetOptions, ObjectInfo, PutOptions, Store, StoreCapabilities } from "./store.ts";
import {
  authenticate,
  type SwiftAuthSettings,
  swiftAuthSettings,
  type SwiftSession,
} from "./swift_auth.ts";

/** Largest object buffered and sent in one retried PUT (a 16 MiB WAL segment plus lzop's). */
export const SMALL_PUT = 20 * 1024 * 1024;
/** Swift's default `max_file_size` (5 GiB + 2), used when `/info` is unavailable. */
const DEFAULT_MAX_FILE_SIZE = 5368709122;
/** The bulk middleware's default and ceiling per request. */
const BULK_DELETE_MAX = 10_000;
/** Where segments of large objects live, relative to the container (see module doc). */
export const SEGMENT_DIR = ".wal-e-segments/";
/**
 * Requests in flight per store: callers may start thousands of puts at once, and a Swift
 * proxy (and the memcached behind tempauth) refuses connections long before that.
 */
const MAX_IN_FLIGHT = 32;
/** Read size of streamed uploads. */
const STREAM_CHUNK = 256 * 1024;

/** What `/info` tells about the cluster. */
interface SwiftInfo {
  maxFileSize: number;
  /** Deletes per bulk request, undefined without the bulk middleware. */
  bulkDelete: number | undefined;
}

/** Everything a `SwiftStore` needs. */
export interface SwiftStoreOptions {
  container: string;
  pathPrefix: string;
  auth: SwiftAuthSettings;
  policy: RetryPolicy;
  /** Overrides `/info`'s max_file_size (`SWIFT_TEST_MAX_FILE_SIZE`). */
  maxFileSize?: number | undefined;
  /** Largest buffered single PUT; defaults to `SMALL_PUT`. */
  smallPut?: number | undefined;
}

interface SendOptions {
  op: string;
  /** Path below the storage URL, already encoded, e.g. `/c/%2Fpg%2Fx`. */
  path: string;
  query?: Record<string, string>;
  headers?: Record<string, string>;
  body?: Uint8Array<ArrayBuffer> | string;
  /** The logical key: a 404 then means "object not found". */
  notFoundKey?: string;
  /** A 404 is returned, not thrown (deletes). */
  allow404?: boolean;
  /**
   * The body is a long download: the attempt's timeout covers the request up to the headers
   * only (it would kill a long body); `guardedStream` watches the body for silence instead.
   */
  streamBody?: boolean;
  signal?: AbortSignal | undefined;
}

/** An HTTP answer that was not a success, shaped for `isRetryableError`. */
class SwiftHttpError extends Error {
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

/** A Store over one Swift container and path prefix. */
export class SwiftStore implements Store {
  readonly capabilities: StoreCapabilities = { atomicPut: true, deleteBatchSize: BULK_DELETE_MAX };
  readonly pathPrefix: string;
  readonly #o: SwiftStoreOptions;
  #session: Promise<SwiftSession> | undefined;
  #info: Promise<SwiftInfo> | undefined;
  readonly #limit = new Limiter(MAX_IN_FLIGHT);

  constructor(options: SwiftStoreOptions) {
    this.#o = options;
    this.pathPrefix = options.pathPrefix;
  }

  url(key: string): string {
    return `swift://${this.#o.container}/${this.pathPrefix}${key}`;
  }

  /** Physical name of `key` (§3.3: leading slash). */
  #name(key: string): string {
    return `/${this.pathPrefix}${key}`;
  }

  #objectPath(name: string): string {
    return `/${encodeURIComponent(this.#o.container)}/${encodeName(name)}`;
  }

  /** One authentication attempt, shared by concurrent callers (their retries repeat it). */
  #login(signal: AbortSignal): Promise<SwiftSession> {
    this.#session ??= authenticate(this.#o.auth, signal).catch((err: unknown) => {
      this.#session = undefined;
      throw err;
    });
    return this.#session;
  }

  /** One request with retries, a timeout per attempt and one re-authentication on 401. */
  #send(o: SendOptions): Promise<Response> {
    let reauthed = false;
    return withRetries(
      (signal) =>
        this.#limit.run(async () => {
          for (;;) {
            const session = await this.#login(signal);
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
                body: o.body ?? null,
                signal: ctl.signal,
              });
            } catch (err) {
              if (signal.aborted) throw err;
              throw this.#map(fetchNetworkError(err), o);
            } finally {
              if (o.streamBody === true) signal.removeEventListener("abort", onAbort);
            }
            if (res.status === 401 && !reauthed) {
              // A token may expire or be revoked: log in again once, never in a loop.
              await res.body?.cancel();
              reauthed = true;
              this.#session = undefined;
              continue;
            }
            if (res.ok || (res.status === 404 && o.allow404 === true)) return res;
            const text = await res.text().catch(() => "");
            throw this.#map(new SwiftHttpError(res.status, text.replace(/<[^>]*>/g, " ")), o);
          }
        }),
      this.#o.policy,
      { signal: o.signal, isRetryable: retryable },
    );
  }

  /** Error translation: HTTP status → our classes, with the SWIFT_* variable to check. */
  #map(err: unknown, o: SendOptions): WalEError {
    if (err instanceof WalEError) return err;
    const where = `${o.op} ${this.url(o.notFoundKey ?? "")}`;
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
      return new ObjectNotFoundError(this.url(o.notFoundKey), { cause: err });
    }
    if (status === 404) {
      return new ConfigError(`Swift container "${this.#o.container}" does not exist`, {
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
  #capabilities(): Promise<SwiftInfo> {
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
      const max = Number(info["swift"]?.["max_file_size"]);
      const bulk = Number(info["bulk_delete"]?.["max_deletes_per_request"]);
      return {
        maxFileSize: this.#o.maxFileSize ??
          (Number.isFinite(max) && max > 0 ? max : DEFAULT_MAX_FILE_SIZE),
        bulkDelete: info["bulk_delete"] === undefined
          ? undefined
          : Math.min(BULK_DELETE_MAX, Number.isFinite(bulk) && bulk > 0 ? bulk : BULK_DELETE_MAX),
      };
    })().catch((err: unknown) => {
      this.#info = undefined;
      throw err;
    });
    return this.#info;
  }

  async put(
    key: string,
    body: ReadableStream<Uint8Array>,
    options: PutOptions = {},
  ): Promise<void> {
    const info = await this.#capabilities();
    const blocks = new BlockReader(body);
    const signal = options.signal;
    const onAbort = () => void blocks.cancel(signal?.reason);
    signal?.addEventListener("abort", onAbort, { once: true });
    const contentType = options.contentType ?? "application/octet-stream";
    const segments: { name: string; etag: string; size: number }[] = [];
    const uploadId = crypto.randomUUID().replaceAll("-", "").slice(0, 16);
    const segDir = `${SEGMENT_DIR}${this.pathPrefix}${key}/`;
    let committed = false;
    try {
      const small = Math.min(this.#o.smallPut ?? SMALL_PUT, info.maxFileSize);
      const pool = new BufferPool(small, 1);
      const { buf, n, single } = await blocks.firstPart(pool, signal);
      if (single) {
        checkSize(n, options.size, this.url(key));
        const data = new Uint8Array(buf.buffer as ArrayBuffer, buf.byteOffset, n);
        const md5 = createHash("md5").update(data).digest("hex");
        const res = await this.#send({
          op: "PUT",
          path: this.#objectPath(this.#name(key)),
          headers: { "Content-Type": contentType },
          body: data,
          notFoundKey: key,
          signal,
        });
        verifyEtag(res, md5, this.url(key));
        return;
      }
      // Longer than one buffer: stream into segments of at most max_file_size.
      let head: Uint8Array | undefined = buf.subarray(0, n);
      for (let index = 0;; index++) {
        const name = `${segDir}${uploadId}/${String(index).padStart(8, "0")}`;
        const seg = await this.#streamPut(name, head, blocks, info.maxFileSize, key, signal);
        head = undefined;
        segments.push({ name, ...seg });
        if (seg.size < info.maxFileSize || await blocks.atEnd(signal)) break;
      }
      checkSize(blocks.total, options.size, this.url(key));
      const first = segments[0];
      if (segments.length === 1 && first !== undefined) {
        // Fits in one object: make it a plain object, as WAL-E wrote (server-side copy).
        const res = await this.#send({
          op: "PUT",
          path: this.#objectPath(this.#name(key)),
          headers: {
            "X-Copy-From": `/${encodeURIComponent(this.#o.container)}/${encodeName(first.name)}`,
            "Content-Type": contentType,
            "Content-Length": "0",
          },
          notFoundKey: key,
          signal,
        });
        verifyEtag(res, first.etag, this.url(key));
      } else {
        const manifest = JSON.stringify(
          segments.map((s) => ({
            path: `/${this.#o.container}/${s.name}`,
            etag: s.etag,
            size_bytes: s.size,
          })),
        );
        await this.#send({
          op: "PUT",
          path: this.#objectPath(this.#name(key)),
          query: { "multipart-manifest": "put" },
          headers: { "Content-Type": contentType },
          body: manifest,
          notFoundKey: key,
          signal,
        });
        // Swift checked every segment's ETag and size against the manifest.
      }
      committed = true;
      // Segments of earlier versions of this key, and of a one-segment copy, are garbage now.
      // (Only `<upload id>/<n>` right below segDir: deeper names belong to keys below this one.)
      // Best effort: the object is stored; a failure here only leaves garbage behind.
      const keep = segments.length === 1 ? "" : `${segDir}${uploadId}/`;
      await this.#deleteSegments(
        segDir,
        (n) =>
          n.slice(segDir.length).split("/").length === 2 && (keep === "" || !n.startsWith(keep)),
      ).catch(() => {});
    } catch (err) {
      await blocks.cancel(err);
      if (segments.length > 0 && !committed) {
        await this.#deleteSegments(`${segDir}${uploadId}/`, () => true).catch(() => {});
      }
      throw err;
    } finally {
      signal?.removeEventListener("abort", onAbort);
    }
  }

  /**
   * One chunked PUT of `head` plus up to `limit` bytes in all from `blocks`, in bounded memory
   * (one chunk at a time); the answer's ETag must be the MD5 of what was sent. The request
   * aborts when no byte moves for the idle timeout.
   */
  async #streamPut(
    name: string,
    head: Uint8Array | undefined,
    blocks: BlockReader,
    limit: number,
    key: string,
    signal: AbortSignal | undefined,
  ): Promise<{ etag: string; size: number }> {
    const session = await withRetries((s) => this.#login(s), this.#o.policy, {
      signal,
      isRetryable: retryable,
    });
    const md5: Hash = createHash("md5");
    let sent = 0;
    const ctl = new AbortController();
    const idle = this.#o.policy.idleTimeoutMs;
    let timer = setTimeout(() => ctl.abort(new DOMException("idle", "TimeoutError")), idle);
    const touch = () => {
      clearTimeout(timer);
      timer = setTimeout(() => ctl.abort(new DOMException("idle", "TimeoutError")), idle);
    };
    let pending = head;
    const stream = new ReadableStream<Uint8Array>({
      pull: async (c) => {
        touch();
        let chunk: Uint8Array;
        if (pending !== undefined) {
          chunk = pending.slice(0, limit);
          pending = undefined;
        } else {
          const want = Math.min(STREAM_CHUNK, limit - sent);
          if (want <= 0) return c.close();
          const got = await blocks.fill(new Uint8Array(want), signal);
          if (got.n === 0) return c.close();
          chunk = got.buf.subarray(0, got.n);
        }
        md5.update(chunk);
        sent += chunk.length;
        c.enqueue(chunk);
      },
    }, { highWaterMark: 0 });
    const all = signal === undefined ? ctl.signal : AbortSignal.any([signal, ctl.signal]);
    const o: SendOptions = { op: "PUT", path: this.#objectPath(name), notFoundKey: key };
    try {
      let res: Response;
      try {
        res = await fetch(
          new URL(session.storageUrl.replace(/\/+$/, "") + this.#objectPath(name)),
          {
            method: "PUT",
            headers: {
              "X-Auth-Token": session.token,
              "Content-Type": "application/octet-stream",
            },
            body: stream,
            signal: all,
          },
        );
      } catch (err) {
        if (signal?.aborted) throw signal.reason;
        if (ctl.signal.aborted) {
          throw new StoreError("Swift upload stalled", {
            detail: `No progress for ${idle / 1000} s on ${this.url(key)} after ${sent} bytes.`,
            retryable: true,
            cause: err,
          });
        }
        throw this.#map(fetchNetworkError(err), o);
      }
      if (res.status === 401) this.#session = undefined;
      if (!res.ok) {
        const text = await res.text().catch(() => "");
        throw this.#map(new SwiftHttpError(res.status, text.replace(/<[^>]*>/g, " ")), o);
      }
      await res.body?.cancel();
      const digest = md5.digest("hex");
      verifyEtag(res, digest, this.url(key));
      return { etag: digest, size: sent };
    } finally {
      clearTimeout(timer);
    }
  }

  async get(key: string, options: GetOptions = {}): Promise<ReadableStream<Uint8Array>> {
    const o: SendOptions = {
      op: "GET",
      path: this.#objectPath(this.#name(key)),
      notFoundKey: key,
      streamBody: true,
      signal: options.signal,
    };
    const res = await this.#send(o);
    if (res.body === null) throw new StoreError("Swift GET returned no body");
    const length = res.headers.get("content-length");
    return guardedStream(res.body, {
      expectedLength: length === null ? undefined : Number(length),
      idleTimeoutMs: this.#o.policy.idleTimeoutMs,
      label: this.url(key),
      mapError: (err) => err instanceof WalEError ? err : this.#map(fetchNetworkError(err), o),
    });
  }

  async exists(key: string): Promise<boolean> {
    try {
      const res = await this.#send({
        op: "HEAD",
        path: this.#objectPath(this.#name(key)),
        notFoundKey: key,
      });
      await res.body?.cancel();
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }

  /** Raw listing of physical names under `prefix`, paging with `marker` until an empty page. */
  async *#listRaw(prefix: string): AsyncGenerator<Record<string, unknown>> {
    let marker = "";
    for (;;) {
      const res = await this.#send({
        op: "LIST",
        path: `/${encodeURIComponent(this.#o.container)}`,
        query: { format: "json", prefix, ...(marker === "" ? {} : { marker }) },
        headers: { Accept: "application/json" },
      });
      const page = res.status === 204 ? [] : await res.json() as Record<string, unknown>[];
      if (page.length === 0) return;
      for (const item of page) yield item;
      marker = String(page[page.length - 1]?.["name"] ?? "");
    }
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    const strip = this.#name("");
    for await (const item of this.#listRaw(this.#name(prefix))) {
      const name = String(item["name"]);
      if (!name.startsWith(strip)) continue;
      // §2.9: backup-list prints Swift's last_modified verbatim (no zone; it is UTC).
      const text = String(item["last_modified"] ?? "");
      yield {
        key: name.slice(strip.length),
        size: Number(item["bytes"] ?? 0),
        lastModified: new Date(`${text.slice(0, 23)}Z`),
        lastModifiedText: text,
      };
    }
  }

  async deleteMany(keys: readonly string[]): Promise<void> {
    if (keys.length === 0) return;
    await this.#deleteNames(keys.map((k) => this.#name(k)));
    // Segments of large objects among them (the bulk middleware leaves them behind).
    const dir = `${SEGMENT_DIR}${this.pathPrefix}`;
    const gone = new Set(keys);
    await this.#deleteSegments(dir, (n) => {
      const parts = n.slice(dir.length).split("/");
      return gone.has(parts.slice(0, -2).join("/"));
    });
  }

  /** Deletes segment objects under `dir` whose names pass `pick`. */
  async #deleteSegments(dir: string, pick: (name: string) => boolean): Promise<void> {
    const names: string[] = [];
    for await (const item of this.#listRaw(dir)) {
      const name = String(item["name"]);
      if (pick(name)) names.push(name);
    }
    if (names.length > 0) await this.#deleteNames(names);
  }

  /** Deletes physical names: bulk when offered, else one by one; 404 is success. */
  async #deleteNames(names: readonly string[]): Promise<void> {
    const info = await this.#capabilities();
    if (info.bulkDelete === undefined) {
      for (const name of names) {
        const res = await this.#send({
          op: "DELETE",
          path: this.#objectPath(name),
          query: { "multipart-manifest": "delete" },
          allow404: true,
        });
        await res.body?.cancel();
      }
      return;
    }
    const c = encodeURIComponent(this.#o.container);
    for (let i = 0; i < names.length; i += info.bulkDelete) {
      const batch = names.slice(i, i + info.bulkDelete);
      const res = await this.#send({
        op: "POST",
        path: "",
        query: { "bulk-delete": "true" },
        headers: { Accept: "application/json", "Content-Type": "text/plain" },
        body: batch.map((n) => `/${c}/${encodeURIComponent(n)}`).join("\n") + "\n",
      });
      // The middleware answers 200 and puts the real outcome in the body (e.g. a 413 for an
      // over-long list, or per-object errors).
      const out = await res.json() as Record<string, unknown>;
      const status = String(out["Response Status"] ?? "");
      const errors = Array.isArray(out["Errors"]) ? out["Errors"] as unknown[] : [];
      if (!status.startsWith("200") || errors.length > 0) {
        const code = Number.parseInt(status, 10);
        throw new StoreError("Swift bulk delete failed", {
          detail: `Response Status "${status}", ${errors.length} errors` +
            `${errors.length > 0 ? ` (first: ${JSON.stringify(errors[0])})` : ""}: ` +
            `${String(out["Response Body"] ?? "").trim()}`,
          retryable: code >= 500 || errors.length > 0,
        });
      }
    }
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** Swift's throttling answers (498 from the ratelimit middleware) are retryable too. */
function retryable(err: unknown): boolean {
  if (err instanceof StoreError) return err.retryable;
  if (err instanceof SwiftHttpError && err.statusCode === 498) return true;
  return isRetryableError(err);
}

function verifyEtag(res: Response, md5: string, url: string): void {
  const etag = (res.headers.get("etag") ?? "").replace(/"/g, "").toLowerCase();
  if (etag !== md5) {
    throw new StoreError("Swift stored different bytes than were sent", {
      detail: `PUT ${url}: ETag "${etag}", MD5 of the data "${md5}".`,
      retryable: true,
    });
  }
}

function checkSize(actual: number, declared: number | undefined, url: string): void {
  if (declared !== undefined && declared !== actual) {
    throw new StoreError("upload source had an unexpected length", {
      detail: `${url}: ${actual} bytes read, ${declared} declared.`,
    });
  }
}

/** Builds the Swift store for `prefix` from the SWIFT_* variables (§2.4, §11.3). */
export function openSwiftStore(prefix: ParsedPrefix, settings: StoreSettings): Promise<Store> {
  try {
    const env = settings.env;
    const auth = swiftAuthSettings(env);
    const raw = env["SWIFT_TEST_MAX_FILE_SIZE"];
    let maxFileSize: number | undefined;
    if (raw !== undefined && raw !== "") {
      maxFileSize = Number(raw);
      if (!Number.isSafeInteger(maxFileSize) || maxFileSize <= 0) {
        throw new ConfigError("invalid SWIFT_TEST_MAX_FILE_SIZE", {
          detail: `SWIFT_TEST_MAX_FILE_SIZE is "${raw}".`,
          hint: "Set it to a positive number of bytes, or unset it.",
        });
      }
    }
    return Promise.resolve(
      new SwiftStore({
        container: prefix.storeName,
        pathPrefix: prefix.pathPrefix,
        auth,
        policy: retryPolicyFromEnv(env, settings.retries),
        maxFileSize,
      }),
    );
  } catch (err) {
    return Promise.reject(err);
  }
}
