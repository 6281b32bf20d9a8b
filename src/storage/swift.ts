/**
 * OpenStack Swift backend (`swift://container/path`, WAL-E-COMPAT §11.3), a client on `fetch`:
 * authentication in swift_auth.ts, requests (retries, re-login, errors, verified PUTs) in
 * swift_client.ts, Static Large Objects in swift_slo.ts; names, listings and deletes here.
 *
 * Names (§3.3): logical key `X` under path prefix `P` is the object `/PX`: WAL-E handed the
 * URL path, leading slash included, to swiftclient, so its objects are `container//P...` and
 * it lists with prefix `/P`. Keys stay logical; only this file adds and strips the slash.
 *
 * Uploads: a stream that fits one segment (`SEGMENT_SIZE`, 20 MiB, or the cluster's
 * `max_file_size` if smaller: every WAL segment) is buffered and sent as one plain PUT, as
 * WAL-E wrote it, its ETag checked against its MD5. A longer stream becomes a Static Large
 * Object (swift_slo.ts): buffered segments `.wal-e-segments/PX/<upload id>/<n>` (same
 * container, no leading slash, so invisible to WAL-E's and our listings, which all start with
 * `/`), then a manifest at `/PX`. WAL-E could not store an object over `max_file_size`; a
 * large object reads back through any Swift client (WAL-E's included) as one stream. Every
 * request has a known length, so every request can be retried and re-sent after a re-login:
 * a token that expires in the middle of a long backup costs one request, not the backup.
 * A large put removes the key's older segments once its manifest is stored; a small put does
 * not look for them (that would cost every WAL push a listing), so they stay until the key is
 * deleted.
 *
 * Deletes use the bulk middleware when `/info` offers it, else one DELETE per object;
 * segments and sub-manifests of deleted keys are removed too.
 */
import { ConfigError, isNotFound, StoreError } from "../errors.ts";
import type { StoreSettings } from "./open.ts";
import type { ParsedPrefix } from "./prefix.ts";
import { BufferBudget } from "./blocks.ts";
import { type PartUpload, putInParts } from "./upload_engine.ts";
import { checkKey, checkKeyPrefix } from "./keys.ts";
import {
  answerOf,
  type BodyAnswer,
  objectChangedError,
  resumableGet,
  type ResumePoint,
} from "./resume.ts";
import { type RetryPolicy, retryPolicyOf, withRetries } from "./retrying.ts";
import type {
  GetOptions,
  ObjectInfo,
  PutBody,
  PutOptions,
  Store,
  StoreCapabilities,
} from "./store.ts";
import { type SwiftAuthSettings, swiftAuthSettings } from "./swift_auth.ts";
import { BULK_DELETE_MAX, SwiftClient, SwiftHttpError } from "./swift_client.ts";
import { putManifest, segmentUploader, UPLOAD_CONCURRENCY } from "./swift_slo.ts";

/** Segment size of large objects, and the largest object sent in one PUT (a 16 MiB WAL
 * segment plus lzop's framing fits). */
export const SEGMENT_SIZE = 20 * 1024 * 1024;
/** Where segments of large objects live, relative to the container (see module doc). */
export const SEGMENT_DIR = ".wal-e-segments/";
/** Segment buffers all puts of one store may hold at once (160 MiB; see `BufferBudget`). */
export const BUFFER_SLOTS = 8;

/** Everything a `SwiftStore` needs. */
export interface SwiftStoreOptions {
  container: string;
  pathPrefix: string;
  auth: SwiftAuthSettings;
  policy: RetryPolicy;
  /** Overrides `/info`'s max_file_size (`SWIFT_TEST_MAX_FILE_SIZE`). */
  maxFileSize?: number | undefined;
  /** Segment size; defaults to `SEGMENT_SIZE` (never above max_file_size). */
  segmentSize?: number | undefined;
  /** Segment buffers all puts may hold at once; defaults to `BUFFER_SLOTS`. */
  bufferSlots?: number | undefined;
}

/** A Store over one Swift container and path prefix. */
export class SwiftStore implements Store {
  readonly capabilities: StoreCapabilities = {
    atomicPut: true,
    deleteBatchSize: BULK_DELETE_MAX,
    conditionalPut: false,
  };
  readonly pathPrefix: string;
  readonly #o: SwiftStoreOptions;
  readonly #client: SwiftClient;
  readonly #budget: BufferBudget;

  constructor(options: SwiftStoreOptions) {
    this.#o = options;
    this.pathPrefix = options.pathPrefix;
    this.#budget = new BufferBudget(options.bufferSlots ?? BUFFER_SLOTS);
    this.#client = new SwiftClient({
      container: options.container,
      auth: options.auth,
      policy: options.policy,
      maxFileSize: options.maxFileSize,
      describe: (key) => this.url(key),
    });
  }

  url(key: string): string {
    return `swift://${this.#o.container}/${this.pathPrefix}${key}`;
  }

  /** Physical name of `key` (§3.3: leading slash). */
  #name(key: string): string {
    return `/${this.pathPrefix}${key}`;
  }

  put(key: string, body: PutBody, options: PutOptions = {}): Promise<void> {
    const client = this.#client;
    const contentType = options.contentType ?? "application/octet-stream";
    const signal = options.signal;
    return putInParts(body, {
      key,
      options,
      partSize: async () =>
        Math.min(this.#o.segmentSize ?? SEGMENT_SIZE, (await client.info()).maxFileSize),
      queueSize: UPLOAD_CONCURRENCY,
      budget: this.#budget,
      url: this.url(key),
      single: async (data) => {
        await client.putBuffer(client.objectPath(this.#name(key)), data, {
          contentType,
          key,
          signal,
        });
      },
      begin: () => Promise.resolve(this.#largeUpload(key, contentType, signal)),
    });
  }

  /**
   * A Static Large Object: segments under a fresh upload directory, then the manifest; a
   * failed upload's segments are deleted, and once the manifest is stored, the segments of
   * the key's earlier versions.
   */
  #largeUpload(key: string, contentType: string, signal: AbortSignal | undefined): PartUpload {
    const client = this.#client;
    const segDir = `${SEGMENT_DIR}${this.pathPrefix}${key}/`;
    const uploadDir = `${segDir}${crypto.randomUUID().replaceAll("-", "").slice(0, 16)}/`;
    const segments = segmentUploader(client, uploadDir, key);
    return {
      part: segments.part,
      commit: async () => {
        await putManifest(client, this.#name(key), segments.entries, {
          dir: uploadDir,
          maxEntries: (await client.info()).maxManifestSegments,
          contentType,
          key,
          url: this.url(key),
          signal,
        });
      },
      abort: () => this.#deleteSegments(uploadDir, () => true),
      // Segments of earlier versions of this key are garbage now (only `<upload id>/<n>`
      // right below segDir: deeper names belong to keys below this one). Best effort: the
      // object is stored; a failure here only leaves garbage behind.
      after: () =>
        this.#deleteSegments(
          segDir,
          (name) =>
            name.slice(segDir.length).split("/").length === 2 && !name.startsWith(uploadDir),
        ).catch(() => {}),
    };
  }

  async get(key: string, options: GetOptions = {}): Promise<ReadableStream<Uint8Array>> {
    checkKey(key);
    return await resumableGet((from, s) => this.#open(key, from, s), {
      policy: this.#o.policy,
      label: this.url(key),
      signal: options.signal,
    });
  }

  /**
   * One GET of `key` (retried up to the headers), whole or from a pinned offset: Swift
   * answers ranges and If-Match on Static Large Objects too, against the large object's ETag.
   */
  async #open(
    key: string,
    from: ResumePoint | undefined,
    signal: AbortSignal | undefined,
  ): Promise<BodyAnswer> {
    let res: Response;
    try {
      res = await this.#client.send({
        op: "GET",
        path: this.#client.objectPath(this.#name(key)),
        notFoundKey: key,
        streamBody: true,
        signal,
        ...(from === undefined
          ? {}
          : { headers: { Range: `bytes=${from.offset}-`, "If-Match": from.etag } }),
      });
    } catch (err) {
      const cause = err instanceof Error ? err.cause : undefined;
      if (from !== undefined && cause instanceof SwiftHttpError && cause.statusCode === 412) {
        throw objectChangedError(this.url(key));
      }
      throw err;
    }
    if (res.body === null) throw new StoreError("Swift GET returned no body");
    return answerOf(res, res.body);
  }

  async exists(key: string): Promise<boolean> {
    checkKey(key);
    try {
      const res = await this.#client.send({
        op: "HEAD",
        path: this.#client.objectPath(this.#name(key)),
        notFoundKey: key,
      });
      await res.body?.cancel();
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    checkKeyPrefix(prefix);
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
    for (const k of keys) checkKey(k);
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

  /**
   * Removes the segments of interrupted large puts under `prefix`: an upload's segment
   * directory (`.wal-e-segments/PX/<upload id>/`) whose newest entry is older than
   * `olderThan` and that the key's manifest does not use (no object at the key, a plain
   * object there, or a manifest listing another upload's segments). Returns the number of
   * such uploads removed. A complete object's segments are its manifest's, never removed.
   */
  async sweepIncomplete(prefix: string, olderThan: Date): Promise<number> {
    checkKeyPrefix(prefix);
    const dir = `${SEGMENT_DIR}${this.pathPrefix}`;
    const uploads = new Map<string, { key: string; names: string[]; newest: number }>();
    for await (const item of this.#listRaw(dir + prefix)) {
      const name = String(item["name"]);
      const parts = name.slice(dir.length).split("/");
      if (parts.length < 3) continue;
      const upload = name.slice(0, name.lastIndexOf("/") + 1);
      const u = uploads.get(upload) ??
        { key: parts.slice(0, -2).join("/"), names: [], newest: -Infinity };
      u.names.push(name);
      // Listing times are UTC without a zone; an unreadable one counts as new (kept).
      const t = Date.parse(`${String(item["last_modified"] ?? "").slice(0, 23)}Z`);
      u.newest = Math.max(u.newest, Number.isNaN(t) ? Infinity : t);
      uploads.set(upload, u);
    }
    const used = new Map<string, Set<string>>();
    let removed = 0;
    for (const [upload, u] of uploads) {
      if (!(u.newest < olderThan.getTime())) continue;
      let dirs = used.get(u.key);
      if (dirs === undefined) {
        dirs = await this.#manifestDirs(u.key);
        used.set(u.key, dirs);
      }
      if (dirs.has(upload)) continue;
      await this.#deleteNames(u.names);
      removed++;
    }
    return removed;
  }

  /** The segment directories the object at `key` uses: none unless it is a large object. */
  async #manifestDirs(key: string): Promise<Set<string>> {
    const path = this.#client.objectPath(this.#name(key));
    const head = await this.#client.send({ op: "HEAD", path, allow404: true });
    await head.body?.cancel();
    const dirs = new Set<string>();
    if (head.status === 404) return dirs;
    if ((head.headers.get("x-static-large-object") ?? "").toLowerCase() !== "true") return dirs;
    const res = await this.#client.send({
      op: "GET",
      path,
      query: { "multipart-manifest": "get" },
      headers: { Accept: "application/json" },
    });
    const entries = await res.json() as Record<string, unknown>[];
    const container = `/${this.#o.container}/`;
    for (const e of entries) {
      const name = String(e["name"] ?? "");
      const segment = name.startsWith(container) ? name.slice(container.length) : name;
      dirs.add(segment.slice(0, segment.lastIndexOf("/") + 1));
    }
    return dirs;
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

  /** Physical names (with listing fields) under `prefix`, paging with `marker` to an empty page. */
  async *#listRaw(prefix: string): AsyncGenerator<Record<string, unknown>> {
    let marker = "";
    for (;;) {
      const res = await this.#client.send({
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

  /** Deletes physical names: bulk when offered, else one by one; 404 is success. */
  async #deleteNames(names: readonly string[]): Promise<void> {
    const info = await this.#client.info();
    if (info.bulkDelete === undefined) {
      for (const name of names) {
        const res = await this.#client.send({
          op: "DELETE",
          path: this.#client.objectPath(name),
          query: { "multipart-manifest": "delete" },
          allow404: true,
        });
        await res.body?.cancel();
      }
      return;
    }
    const c = encodeURIComponent(this.#o.container);
    for (let i = 0; i < names.length; i += info.bulkDelete) {
      const body = names.slice(i, i + info.bulkDelete).map((n) =>
        `/${c}/${encodeURIComponent(n)}`
      ).join("\n") + "\n";
      // Per-object failures come back in a 200 answer, so send()'s retries and re-login do
      // not see them: retried here (deleting again is harmless, a 404 counts as done).
      await withRetries(
        () =>
          this.#bulkDelete(body),
        this.#o.policy,
        {
          isRetryable: (e) => e instanceof StoreError && e.retryable,
        },
      );
    }
  }

  /** One bulk-delete request; its sub-requests refused for an expired token log in again. */
  async #bulkDelete(body: string): Promise<void> {
    for (let relogged = false;; relogged = true) {
      const res = await this.#client.send({
        op: "POST",
        path: "",
        query: { "bulk-delete": "true" },
        headers: { Accept: "application/json", "Content-Type": "text/plain" },
        body,
      });
      // The middleware answers 200 and puts the real outcome in the body (e.g. a 413 for an
      // over-long list, or per-object errors).
      const out = await res.json() as Record<string, unknown>;
      const status = String(out["Response Status"] ?? "");
      const errors = Array.isArray(out["Errors"]) ? out["Errors"] as unknown[] : [];
      if (status.startsWith("200") && errors.length === 0) return;
      const unauthorized = status.startsWith("401") ||
        errors.some((e) => Array.isArray(e) && String(e[1]).startsWith("401"));
      if (unauthorized && !relogged) {
        this.#client.forgetSession();
        continue;
      }
      const code = Number.parseInt(status, 10);
      throw new StoreError("Swift bulk delete failed", {
        detail: `Response Status "${status}", ${errors.length} errors` +
          `${errors.length > 0 ? ` (first: ${JSON.stringify(errors[0])})` : ""}: ` +
          `${String(out["Response Body"] ?? "").trim()}`,
        retryable: !unauthorized && (code >= 500 || errors.length > 0),
      });
    }
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** Builds the Swift store for `prefix` from the Swift settings (§2.4, §11.3). */
export function openSwiftStore(prefix: ParsedPrefix, settings: StoreSettings): Promise<Store> {
  try {
    const swift = settings.swift ?? {};
    const auth = swiftAuthSettings(swift);
    const raw = swift.testMaxFileSize;
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
        policy: retryPolicyOf(settings.retry),
        maxFileSize,
      }),
    );
  } catch (err) {
    return Promise.reject(err);
  }
}
