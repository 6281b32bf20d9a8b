/**
 * Azure Blob Storage backend (`wabs://container/path`, WAL-E-COMPAT §11.2) on
 * `@azure/storage-blob`. Object `X` under path prefix `P` is the block blob `PX`.
 *
 * Credentials: `WABS_ACCOUNT_NAME` (or `-a`) plus `WABS_ACCESS_KEY` (shared key, wins when
 * both are set) or `WABS_SAS_TOKEN`. `WALE_WABS_ENDPOINT` (our addition; WAL-E had none)
 * replaces `https://<account>.blob.core.windows.net` with any blob service URL, e.g.
 * Azurite's `http://127.0.0.1:10000/devstoreaccount1` or a sovereign cloud's endpoint.
 *
 * Uploads stream in 8 MiB blocks, at most 4 in flight (memory ≈ 5 blocks), each with a
 * transactional MD5 the service checks; the block list is committed with the whole object's
 * MD5 as its Content-MD5, so uncommitted blocks of an aborted put never become visible. Small
 * objects are one Put Blob whose service-computed MD5 must equal ours. WAL-E read whole blobs
 * into memory (§14.2 item 13); we stream both ways. Requests are retried by `withRetries`
 * (the SDK's own retry policy is off), each with a timeout.
 */
import {
  AnonymousCredential,
  BlobSASPermissions,
  BlobServiceClient,
  type ContainerClient,
  newPipeline,
  StorageSharedKeyCredential,
} from "@azure/storage-blob";
import { createHash } from "node:crypto";
import { ConfigError, isNotFound, StoreError } from "../errors.ts";
import { type ErrorContext, fetchNetworkError, mapAzureError } from "./errors_map.ts";
import type { StoreSettings } from "./open.ts";
import type { ParsedPrefix } from "./prefix.ts";
import { forEachPooled } from "../pool.ts";
import { BufferBudget } from "./blocks.ts";
import { type PartUpload, putInParts } from "./upload_engine.ts";
import { checkKey, checkKeyPrefix, nothingToSweep } from "./keys.ts";
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

/** Block size of staged uploads, and the largest object sent as one Put Blob. */
export const WABS_BLOCK_SIZE = 8 * 1024 * 1024;
/** Blocks uploading at once. */
export const WABS_QUEUE_SIZE = 4;
/** Block buffers all puts of one store may hold at once (128 MiB; see `BufferBudget`). */
const WABS_BUFFER_SLOTS = 16;
/** Listing page size (the service allows 5000; smaller pages keep memory and latency low). */
const LIST_PAGE = 1000;
/** Deletions in flight at once (Blob service deletes one blob per request, as WAL-E did). */
const DELETE_CONCURRENCY = 16;

/** Formats a time as Python's `str(datetime)` with UTC offset (WAL-E-COMPAT §2.9). */
export function pythonDatetimeUtc(d: Date): string {
  const iso = d.toISOString();
  const ms = iso.slice(20, 23);
  const frac = ms === "000" ? "" : `.${ms}000`;
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)}${frac}+00:00`;
}

/** Everything a `WabsStore` needs. */
export interface WabsStoreOptions {
  container: ContainerClient;
  containerName: string;
  pathPrefix: string;
  /** Blob service URL without credentials, for messages. */
  endpoint: string;
  policy: RetryPolicy;
  /** True when authenticated by shared key (downloads then sign a short read-only SAS). */
  sharedKey: boolean;
  blockSize?: number;
  queueSize?: number;
}

/** A Store over one Azure container and path prefix. */
export class WabsStore implements Store {
  readonly capabilities: StoreCapabilities = {
    atomicPut: true,
    deleteBatchSize: 1000,
    conditionalPut: false,
  };
  readonly pathPrefix: string;
  readonly #o: Required<WabsStoreOptions>;
  readonly #budget = new BufferBudget(WABS_BUFFER_SLOTS);

  constructor(options: WabsStoreOptions) {
    this.#o = { blockSize: WABS_BLOCK_SIZE, queueSize: WABS_QUEUE_SIZE, ...options };
    this.pathPrefix = options.pathPrefix;
  }

  url(key: string): string {
    return `wabs://${this.#o.containerName}/${this.pathPrefix}${key}`;
  }

  #ctx(op: string, key?: string, notFound = false): ErrorContext {
    return {
      op,
      url: key === undefined ? `wabs://${this.#o.containerName}/${this.pathPrefix}` : this.url(key),
      storeName: this.#o.containerName,
      endpoint: this.#o.endpoint,
      notFoundKey: notFound && key !== undefined ? this.url(key) : undefined,
    };
  }

  /** One request with retries; SDK errors are mapped before the retry decision. */
  #call<T>(
    op: (signal: AbortSignal) => Promise<T>,
    ctx: ErrorContext,
    signal?: AbortSignal,
  ): Promise<T> {
    return withRetries(
      async (s) => {
        try {
          return await op(s);
        } catch (err) {
          throw mapAzureError(err, ctx);
        }
      },
      this.#o.policy,
      { signal },
    );
  }

  #blob(key: string) {
    return this.#o.container.getBlockBlobClient(this.pathPrefix + key);
  }

  put(key: string, body: PutBody, options: PutOptions = {}): Promise<void> {
    const ctx = this.#ctx("PUT", key);
    const headers = { blobContentType: options.contentType ?? "application/octet-stream" };
    return putInParts(body, {
      key,
      options,
      partSize: this.#o.blockSize,
      queueSize: this.#o.queueSize,
      budget: this.#budget,
      url: this.url(key),
      single: async (block, signal) => {
        const md5 = createHash("md5").update(block).digest();
        const res = await this.#call(
          (s) =>
            this.#blob(key).upload(block, block.length, {
              abortSignal: s,
              blobHTTPHeaders: { ...headers, blobContentMD5: md5 },
            }),
          ctx,
          signal,
        );
        if (res.contentMD5 !== undefined && !equalBytes(res.contentMD5, md5)) {
          throw new StoreError("Azure stored different bytes than were sent", {
            detail: `PUT ${this.url(key)}: service MD5 differs from ours.`,
            retryable: true,
          });
        }
      },
      begin: () => Promise.resolve(this.#stagedUpload(key, headers, ctx)),
    });
  }

  /**
   * Blocks staged with transactional MD5s, committed as a list with the whole object's MD5;
   * the stored length is checked after. Nothing to abort: uncommitted blocks never show and
   * the service discards them.
   */
  #stagedUpload(
    key: string,
    headers: { blobContentType: string },
    ctx: ErrorContext,
  ): PartUpload {
    const blob = this.#blob(key);
    const whole = createHash("md5");
    const uploadId = crypto.randomUUID().replaceAll("-", "").slice(0, 16);
    const ids: string[] = [];
    let total = 0;
    return {
      part: (index, block, s) => {
        whole.update(block);
        const id = btoa(`${uploadId}-${String(index).padStart(6, "0")}`);
        ids.push(id);
        const md5 = createHash("md5").update(block).digest();
        return this.#call(
          (t) =>
            blob.stageBlock(id, block, block.length, {
              abortSignal: t,
              transactionalContentMD5: md5,
            }),
          ctx,
          s,
        ).then(() => {});
      },
      commit: async (bytes, signal) => {
        total = bytes;
        const digest = whole.digest();
        await this.#call(
          (s) =>
            blob.commitBlockList(ids, {
              abortSignal: s,
              blobHTTPHeaders: { ...headers, blobContentMD5: digest },
            }),
          ctx,
          signal,
        );
      },
      after: async () => {
        const props = await this.#call((s) => blob.getProperties({ abortSignal: s }), ctx);
        if (props.contentLength !== total) {
          throw new StoreError("Azure stored a different length than was sent", {
            detail: `${this.url(key)}: ${props.contentLength} bytes stored, ${total} sent.`,
            retryable: true,
          });
        }
      },
    };
  }

  /**
   * Downloads with Deno's fetch from a read URL (the SAS token's, or a 15-minute read-only
   * SAS signed locally with the shared key, fresh for every request so a resumption late in a
   * long download is not refused): measured under Deno, the SDK's Node HTTP client let a
   * 256 MiB download grow RSS by ~290 MiB, fetch streams it in constant memory. A broken body
   * resumes with a ranged request pinned by If-Match (resume.ts).
   */
  async get(key: string, options: GetOptions = {}): Promise<ReadableStream<Uint8Array>> {
    checkKey(key);
    return await resumableGet((from, s) => this.#open(key, from, s), {
      policy: this.#o.policy,
      label: this.url(key),
      signal: options.signal,
    });
  }

  /** One GET of `key` with retries up to the headers, whole or from a pinned offset. */
  async #open(
    key: string,
    from: ResumePoint | undefined,
    signal: AbortSignal | undefined,
  ): Promise<BodyAnswer> {
    const ctx = this.#ctx("GET", key, true);
    const blob = this.#blob(key);
    const headers: Record<string, string> = from === undefined
      ? {}
      : { Range: `bytes=${from.offset}-`, "If-Match": from.etag };
    // The per-attempt signal of #call aborts after the idle timeout, and would kill a long
    // body: the request gets its own controller, aborted only on timeout before the headers.
    const res = await this.#call(
      async (attemptSignal) => {
        const url = this.#o.sharedKey
          ? await blob.generateSasUrl({
            permissions: BlobSASPermissions.parse("r"),
            expiresOn: new Date(Date.now() + 15 * 60_000),
          })
          : blob.url;
        const ctl = new AbortController();
        const onAbort = () => ctl.abort(attemptSignal.reason);
        attemptSignal.addEventListener("abort", onAbort, { once: true });
        signal?.addEventListener("abort", () => ctl.abort(signal?.reason), { once: true });
        try {
          const r = await fetch(url, { signal: ctl.signal, headers });
          if (r.status === 412 && from !== undefined) {
            await r.body?.cancel().catch(() => {});
            throw objectChangedError(this.url(key));
          }
          if (!r.ok) {
            await r.body?.cancel().catch(() => {});
            throw Object.assign(new Error(`HTTP ${r.status} ${r.statusText}`), {
              name: "RestError",
              statusCode: r.status,
              code: r.headers.get("x-ms-error-code") ?? undefined,
            });
          }
          return r;
        } catch (err) {
          throw fetchNetworkError(err);
        } finally {
          attemptSignal.removeEventListener("abort", onAbort);
        }
      },
      ctx,
      signal,
    );
    if (res.body === null) throw new StoreError("Azure GET returned no body");
    return answerOf(res, res.body);
  }

  async exists(key: string): Promise<boolean> {
    checkKey(key);
    try {
      await this.#call((s) => this.#blob(key).getProperties({ abortSignal: s }), {
        ...this.#ctx("HEAD", key, true),
      });
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    checkKeyPrefix(prefix);
    let token: string | undefined;
    const ctx = this.#ctx("LIST", prefix);
    do {
      const page = await this.#call(async (s) => {
        const pages = this.#o.container
          .listBlobsFlat({ prefix: this.pathPrefix + prefix, abortSignal: s })
          .byPage({
            maxPageSize: LIST_PAGE,
            ...(token === undefined ? {} : { continuationToken: token }),
          });
        return (await pages.next()).value;
      }, ctx);
      for (const b of page?.segment.blobItems ?? []) {
        if (!b.name.startsWith(this.pathPrefix)) continue;
        const lastModified = b.properties.lastModified;
        yield {
          key: b.name.slice(this.pathPrefix.length),
          size: b.properties.contentLength ?? 0,
          lastModified,
          lastModifiedText: pythonDatetimeUtc(lastModified),
        };
      }
      token = page?.continuationToken === "" ? undefined : page?.continuationToken;
    } while (token !== undefined);
  }

  async deleteMany(keys: readonly string[]): Promise<void> {
    for (const k of keys) checkKey(k);
    await forEachPooled(keys, async (key) => {
      try {
        await this.#call(
          (s) => this.#blob(key).delete({ abortSignal: s }),
          this.#ctx("DELETE", key, true),
        );
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    }, { limit: DELETE_CONCURRENCY });
  }

  /**
   * Nothing to do, so 0: an interrupted put leaves only uncommitted blocks, which are not
   * listed as blobs (an `include=uncommittedblobs` listing shows only blobs that have no
   * committed version, without the blocks' ages) and which the service discards after 7 days.
   */
  sweepIncomplete(prefix: string, _olderThan: Date): Promise<number> {
    return nothingToSweep(prefix);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** Validates `WALE_WABS_ENDPOINT` (http/https URL, no credentials, query or fragment). */
export function parseWabsEndpoint(text: string): string {
  let u: URL;
  try {
    u = new URL(text.trim());
  } catch {
    u = new URL("invalid:");
  }
  const bad = (why: string) =>
    new ConfigError("invalid WALE_WABS_ENDPOINT", {
      detail: `WALE_WABS_ENDPOINT is "${text}": ${why}.`,
      hint: "Write it as the blob service URL, e.g. https://ACCOUNT.blob.core.windows.net or " +
        "http://127.0.0.1:10000/devstoreaccount1.",
    });
  if (u.protocol !== "http:" && u.protocol !== "https:") throw bad("not an http(s) URL");
  if (u.username !== "" || u.password !== "") throw bad("user info is not allowed");
  if (u.search !== "" || u.hash !== "") throw bad("a query or fragment is not allowed");
  return `${u.origin}${u.pathname.replace(/\/+$/, "")}`;
}

/** What the Azure backend is configured with, resolved by the CLI; validated at open. */
export interface WabsSettings {
  /** `-a`/`WABS_ACCOUNT_NAME`. */
  accountName?: string | undefined;
  /** `WABS_ACCESS_KEY`. */
  accessKey?: string | undefined;
  /** `WABS_SAS_TOKEN`. */
  sasToken?: string | undefined;
  /** `WALE_WABS_ENDPOINT`, unparsed (see `parseWabsEndpoint`). */
  endpoint?: string | undefined;
}

/** Builds the Azure client for `prefix` from the settings; see the module doc. */
export function openWabsStore(prefix: ParsedPrefix, settings: StoreSettings): Promise<Store> {
  try {
    const wabs = settings.wabs ?? {};
    const account = wabs.accountName;
    if (account === undefined || account === "") {
      throw new ConfigError("WABS account name is undefined", {
        hint: "Define the environment variable WABS_ACCOUNT_NAME or pass --wabs-account-name.",
      });
    }
    const key = wabs.accessKey ?? "";
    const sas = (wabs.sasToken ?? "").replace(/^\?/, "");
    if (key === "" && sas === "") {
      throw new ConfigError("WABS access credentials is required but not provided", {
        hint: "Define one of the WABS_ACCESS_KEY or WABS_SAS_TOKEN environment variables.",
      });
    }
    const endpointText = wabs.endpoint ?? "";
    const endpoint = endpointText.trim() === ""
      ? `https://${account}.blob.core.windows.net`
      : parseWabsEndpoint(endpointText);
    const policy = retryPolicyOf(settings.retry);
    const credential = key !== ""
      ? new StorageSharedKeyCredential(account, key)
      : new AnonymousCredential();
    const pipeline = newPipeline(credential, {
      retryOptions: { maxTries: 1 },
      keepAliveOptions: { enable: true },
    });
    const service = new BlobServiceClient(key !== "" ? endpoint : `${endpoint}?${sas}`, pipeline);
    return Promise.resolve(
      new WabsStore({
        container: service.getContainerClient(prefix.storeName),
        containerName: prefix.storeName,
        pathPrefix: prefix.pathPrefix,
        endpoint,
        policy,
        sharedKey: key !== "",
      }),
    );
  } catch (err) {
    return Promise.reject(err);
  }
}
