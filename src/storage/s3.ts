/**
 * Amazon S3 and S3-compatible backend (`s3://bucket/path`, WAL-E-COMPAT §11.1) on the AWS SDK
 * v3. Object `X` under path prefix `P` is the key `PX` (no leading slash, §3.3).
 *
 * Uploads stream through a fixed pool of 8 MiB part buffers (memory ≈ (queue + 1) × part
 * size whatever the object's size): an object that fits in one part (most WAL segments) is
 * one PutObject with Content-MD5 (as WAL-E sends), anything larger a multipart upload with up
 * to 4 parts in flight, each with Content-MD5. We drive the multipart calls ourselves rather
 * than through `@aws-sdk/lib-storage`: its `Upload` concatenates every part into a fresh
 * buffer, and under Deno that garbage pushed RSS past 250 MiB for a 256 MiB object.
 * Every multipart upload is verified before put resolves: HEAD must report our byte count
 * and the `md5-N` ETag computed from our parts (RGW 16 answers CompleteMultipartUpload with
 * an empty ETag: reference/rgw pitfall 1); an aborted or failed upload is aborted on the
 * server, so no object and no parts remain. Checksums are sent only "when required": the
 * SDK's default sends aws-chunked bodies that S3-compatible servers reject or store verbatim
 * (TOOLCHAIN.md).
 *
 * Variables (besides the credentials and region of s3_endpoint.ts): `WALE_S3_STORAGE_CLASS`
 * (default STANDARD, always sent), `WALE_S3_SSE` (default AES256 as WAL-E always sent;
 * `aws:kms`; `off` for servers that refuse SSE, e.g. Ceph RGW over plain HTTP with its default
 * `rgw crypt require ssl = true`), and the retry/timeout variables of retrying.ts.
 */
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type ServerSideEncryption,
  type StorageClass,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import { FetchHttpHandler } from "@smithy/fetch-http-handler";
import { createHash } from "node:crypto";
import { isNotFound, StoreError } from "../errors.ts";
import { type ErrorContext, errorFacts, fetchNetworkError, mapS3Error } from "./errors_map.ts";
import { checkKey, checkKeyPrefix } from "./keys.ts";
import type { StoreSettings } from "./open.ts";
import type { ParsedPrefix } from "./prefix.ts";
import { BufferBudget } from "./blocks.ts";
import { type PartUpload, putInParts } from "./upload_engine.ts";
import {
  answerFrom,
  type BodyAnswer,
  objectChangedError,
  resumableGet,
  type ResumePoint,
} from "./resume.ts";
import { type RetryPolicy, retryPolicyOf, SdkRetryStrategy } from "./retrying.ts";
import { s3Addressing, s3Credentials } from "./s3_endpoint.ts";
import type {
  GetOptions,
  ObjectInfo,
  PutBody,
  PutOptions,
  Store,
  StoreCapabilities,
} from "./store.ts";

/** Part size of multipart uploads, and the largest object sent as one PutObject. */
export const S3_PART_SIZE = 8 * 1024 * 1024;
/** Parts in flight at once during a multipart upload. */
export const S3_QUEUE_SIZE = 4;
/** Part buffers all puts of one store may hold at once (128 MiB; see `BufferBudget`). */
const S3_BUFFER_SLOTS = 16;
/** S3's limit of keys per DeleteObjects request. */
const DELETE_BATCH = 1000;

/** Everything an `S3Store` needs, resolved from the environment by `openS3Store`. */
export interface S3StoreOptions {
  /** Client for every request but GET (Node HTTP: sends buffered bodies without copies). */
  client: S3Client;
  /** Client for GET (Deno's fetch: streams response bodies without copies or read-ahead). */
  getClient: S3Client;
  /** Retries, and how long a download may stay silent (`idleTimeoutMs`). */
  policy: RetryPolicy;
  /** Bucket name as in the prefix URL (for `url()` and messages). */
  bucket: string;
  /** What requests pass as `Bucket` (a URL for the virtualhost convention). */
  bucketParam: string;
  pathPrefix: string;
  /** Endpoint for messages. */
  endpoint: string;
  /** `x-amz-server-side-encryption`, or undefined to send none. */
  sse: string | undefined;
  storageClass: string;
  partSize?: number;
  queueSize?: number;
}

/** A Store over one S3 bucket and path prefix. */
export class S3Store implements Store {
  readonly capabilities: StoreCapabilities = {
    atomicPut: true,
    deleteBatchSize: DELETE_BATCH,
    conditionalPut: false,
  };
  readonly pathPrefix: string;
  readonly #o: Required<S3StoreOptions>;
  readonly #budget = new BufferBudget(S3_BUFFER_SLOTS);

  constructor(options: S3StoreOptions) {
    this.#o = { partSize: S3_PART_SIZE, queueSize: S3_QUEUE_SIZE, ...options };
    this.pathPrefix = options.pathPrefix;
  }

  url(key: string): string {
    return `s3://${this.#o.bucket}/${this.pathPrefix}${key}`;
  }

  #ctx(op: string, key?: string, notFound = false): ErrorContext {
    return {
      op,
      url: key === undefined ? `s3://${this.#o.bucket}/${this.pathPrefix}` : this.url(key),
      storeName: this.#o.bucket,
      endpoint: this.#o.endpoint,
      notFoundKey: notFound && key !== undefined ? this.url(key) : undefined,
    };
  }

  #common(key: string, contentType: string | undefined) {
    return {
      Bucket: this.#o.bucketParam,
      Key: this.pathPrefix + key,
      ContentType: contentType ?? "application/octet-stream",
      StorageClass: this.#o.storageClass as StorageClass,
      ...(this.#o.sse === undefined
        ? {}
        : { ServerSideEncryption: this.#o.sse as ServerSideEncryption }),
    };
  }

  put(key: string, body: PutBody, options: PutOptions = {}): Promise<void> {
    return putInParts(body, {
      key,
      options,
      partSize: this.#o.partSize,
      queueSize: this.#o.queueSize,
      budget: this.#budget,
      url: this.url(key),
      single: (data, signal) => this.#putSingle(key, data, options.contentType, signal),
      begin: (signal) => this.#beginMultipart(key, options.contentType, signal),
      // SDK errors carry $metadata; anything else (the source's own failure) passes unchanged.
      mapError: (err) =>
        typeof err === "object" && err !== null && "$metadata" in err
          ? mapS3Error(err, this.#ctx("PUT", key))
          : err,
    });
  }

  async #putSingle(
    key: string,
    data: Uint8Array,
    contentType: string | undefined,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    const md5 = createHash("md5").update(data).digest();
    const res = await this.#o.client.send(
      new PutObjectCommand({
        ...this.#common(key, contentType),
        Body: data,
        ContentLength: data.length,
        ContentMD5: md5.toString("base64"),
      }),
      sendOptions(signal),
    );
    // The server checked Content-MD5; an MD5-shaped ETag must match as well.
    const etag = unquote(res.ETag);
    if (/^[0-9a-f]{32}$/.test(etag) && etag !== md5.toString("hex")) {
      throw new StoreError("S3 stored different bytes than were sent", {
        detail: `PUT ${this.url(key)}: ETag "${etag}", expected "${md5.toString("hex")}".`,
        retryable: true,
      });
    }
  }

  /** The multipart upload's requests: parts with Content-MD5, complete, abort, verify. */
  async #beginMultipart(
    key: string,
    contentType: string | undefined,
    signal: AbortSignal | undefined,
  ): Promise<PartUpload> {
    const { client, partSize } = this.#o;
    const Bucket = this.#o.bucketParam;
    const Key = this.pathPrefix + key;
    const UploadId = await this.#createUpload(key, contentType, signal);
    const digests = new PartDigests(partSize);
    const done: { PartNumber: number; ETag: string }[] = [];
    return {
      part: async (index, data, s) => {
        const md5 = digests.addPart(data);
        const r = await client.send(
          new UploadPartCommand({
            Bucket,
            Key,
            UploadId,
            PartNumber: index + 1,
            Body: data,
            ContentLength: data.length,
            ContentMD5: md5.toString("base64"),
          }),
          sendOptions(s),
        );
        done.push({ PartNumber: index + 1, ETag: r.ETag ?? "" });
      },
      commit: async (_total, s) => {
        done.sort((a, b) => a.PartNumber - b.PartNumber);
        await client.send(
          new CompleteMultipartUploadCommand({
            Bucket,
            Key,
            UploadId,
            MultipartUpload: { Parts: done },
          }),
          sendOptions(s),
        );
      },
      abort: () => this.#abortUpload(Key, UploadId),
      after: () => this.#verify(key, digests),
    };
  }

  /**
   * CreateMultipartUpload, leaving no upload of ours behind when a reply is lost: the server
   * may have created an upload whose id we never learnt (the connection broke after the
   * request went out, and the create was retried or gave up). The key's open uploads are
   * listed before and after (two small requests per multipart put, i.e. per 8 MiB or more);
   * any upload of the key that appeared in between and is not the one we use is aborted. An upload another
   * process started for the same key in that window would be aborted too: that put then
   * fails and is retried by its caller; nothing is lost. If the first listing fails, such
   * leftovers wait for `sweepIncomplete`.
   */
  async #createUpload(
    key: string,
    contentType: string | undefined,
    signal: AbortSignal | undefined,
  ): Promise<string> {
    const Key = this.pathPrefix + key;
    const before = await this.#uploadIds(Key).catch(() => undefined);
    let created;
    try {
      created = await this.#o.client.send(
        new CreateMultipartUploadCommand(this.#common(key, contentType)),
        sendOptions(signal),
      );
    } catch (err) {
      await this.#abortNew(Key, before, undefined);
      throw err;
    }
    const id = created.UploadId;
    // Always checked: a retry below the SDK (the HTTP client resending on a connection that
    // broke) does not show in $metadata.attempts.
    await this.#abortNew(Key, before, id);
    if (id === undefined) throw new StoreError("S3 returned no multipart upload id");
    return id;
  }

  /** Ids of the open multipart uploads of exactly `Key` (physical name). */
  async #uploadIds(Key: string): Promise<Set<string>> {
    const ids = new Set<string>();
    for await (const u of this.#uploads(Key)) if (u.Key === Key) ids.add(u.UploadId);
    return ids;
  }

  /** Aborts uploads of `Key` not in `before` and other than `keep`. Best effort. */
  async #abortNew(
    Key: string,
    before: Set<string> | undefined,
    keep: string | undefined,
  ): Promise<void> {
    if (before === undefined) return;
    try {
      for (const id of await this.#uploadIds(Key)) {
        if (!before.has(id) && id !== keep) await this.#abortUpload(Key, id);
      }
    } catch { /* sweepIncomplete removes what this could not */ }
  }

  /** Aborts one multipart upload; one that is already gone counts as aborted. */
  async #abortUpload(Key: string, UploadId: string): Promise<void> {
    try {
      await this.#o.client.send(
        new AbortMultipartUploadCommand({ Bucket: this.#o.bucketParam, Key, UploadId }),
      );
    } catch (err) {
      if (errorFacts(err).status !== 404) throw err;
    }
  }

  /** Open multipart uploads whose physical key starts with `prefix`, paging hidden. */
  async *#uploads(
    prefix: string,
  ): AsyncIterable<{ Key: string; UploadId: string; Initiated: Date | undefined }> {
    let keyMarker: string | undefined;
    let idMarker: string | undefined;
    for (;;) {
      const page = await this.#o.client.send(
        new ListMultipartUploadsCommand({
          Bucket: this.#o.bucketParam,
          Prefix: prefix,
          KeyMarker: keyMarker,
          UploadIdMarker: idMarker,
        }),
      );
      for (const u of page.Uploads ?? []) {
        if (u.Key === undefined || u.UploadId === undefined) continue;
        yield { Key: u.Key, UploadId: u.UploadId, Initiated: u.Initiated };
      }
      if (page.IsTruncated !== true) return;
      keyMarker = page.NextKeyMarker;
      idMarker = page.NextUploadIdMarker;
      if (keyMarker === undefined && idMarker === undefined) return;
    }
  }

  /**
   * Aborts the multipart uploads under `prefix` initiated before `olderThan`: what killed
   * puts left. Completed objects are not uploads, so they are never touched.
   */
  async sweepIncomplete(prefix: string, olderThan: Date): Promise<number> {
    checkKeyPrefix(prefix);
    let removed = 0;
    try {
      const doomed: { Key: string; UploadId: string }[] = [];
      for await (const u of this.#uploads(this.pathPrefix + prefix)) {
        // An upload without a date cannot be shown to be old: keep it.
        if (u.Initiated !== undefined && u.Initiated.getTime() < olderThan.getTime()) {
          doomed.push(u);
        }
      }
      for (const u of doomed) {
        await this.#abortUpload(u.Key, u.UploadId);
        removed++;
      }
    } catch (err) {
      throw mapS3Error(err, this.#ctx("ABORT", prefix));
    }
    return removed;
  }

  /** HEAD the completed object: our byte count and the md5-of-part-md5s ETag. */
  async #verify(key: string, parts: PartDigests): Promise<void> {
    const head = await this.#o.client.send(
      new HeadObjectCommand({ Bucket: this.#o.bucketParam, Key: this.pathPrefix + key }),
    );
    const etag = unquote(head.ETag);
    const want = parts.etag();
    const sizeOk = head.ContentLength === parts.total;
    const etagOk = !/^[0-9a-f]{32}-\d+$/.test(etag) || etag === want;
    if (!sizeOk || !etagOk) {
      throw new StoreError("S3 multipart upload stored different bytes than were sent", {
        detail: `${this.url(key)}: ${head.ContentLength} bytes with ETag "${etag}", expected ` +
          `${parts.total} bytes with ETag "${want}".`,
        retryable: true,
      });
    }
  }

  async get(key: string, options: GetOptions = {}): Promise<ReadableStream<Uint8Array>> {
    checkKey(key);
    return await resumableGet((from, s) => this.#open(key, from, s), {
      policy: this.#o.policy,
      label: this.url(key),
      signal: options.signal,
    });
  }

  /** One GET of `key`, whole or (`from`) a range pinned to the ETag seen first. */
  async #open(
    key: string,
    from: ResumePoint | undefined,
    signal: AbortSignal | undefined,
  ): Promise<BodyAnswer> {
    try {
      const res = await this.#o.getClient.send(
        new GetObjectCommand({
          Bucket: this.#o.bucketParam,
          Key: this.pathPrefix + key,
          ...(from === undefined ? {} : { Range: `bytes=${from.offset}-`, IfMatch: from.etag }),
        }),
        sendOptions(signal),
      );
      const body = res.Body as unknown as ReadableStream<Uint8Array> | undefined;
      if (body === undefined) throw new StoreError("S3 GET returned no body");
      return answerFrom(
        body,
        res.$metadata.httpStatusCode ?? 200,
        res.ContentLength,
        res.ContentRange,
        res.ETag,
      );
    } catch (err) {
      if (from !== undefined && errorFacts(err).status === 412) {
        throw objectChangedError(this.url(key));
      }
      throw mapS3Error(fetchNetworkError(err), this.#ctx("GET", key, true));
    }
  }

  async exists(key: string): Promise<boolean> {
    checkKey(key);
    try {
      await this.#o.client.send(
        new HeadObjectCommand({ Bucket: this.#o.bucketParam, Key: this.pathPrefix + key }),
      );
      return true;
    } catch (err) {
      const mapped = mapS3Error(err, this.#ctx("HEAD", key, true));
      if (isNotFound(mapped)) return false;
      throw mapped;
    }
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    checkKeyPrefix(prefix);
    let token: string | undefined;
    do {
      let page;
      try {
        page = await this.#o.client.send(
          new ListObjectsV2Command({
            Bucket: this.#o.bucketParam,
            Prefix: this.pathPrefix + prefix,
            ContinuationToken: token,
          }),
        );
      } catch (err) {
        throw mapS3Error(err, this.#ctx("LIST", prefix));
      }
      for (const o of page.Contents ?? []) {
        if (o.Key === undefined || !o.Key.startsWith(this.pathPrefix)) continue;
        const lastModified = o.LastModified ?? new Date(0);
        yield {
          key: o.Key.slice(this.pathPrefix.length),
          size: o.Size ?? 0,
          lastModified,
          // S3's listing text, e.g. 2014-04-30T23:02:38.000Z (WAL-E-COMPAT §2.9).
          lastModifiedText: lastModified.toISOString(),
        };
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
  }

  async deleteMany(keys: readonly string[]): Promise<void> {
    for (const k of keys) checkKey(k);
    for (let i = 0; i < keys.length; i += DELETE_BATCH) {
      const batch = keys.slice(i, i + DELETE_BATCH);
      let res;
      try {
        res = await this.#o.client.send(
          new DeleteObjectsCommand({
            Bucket: this.#o.bucketParam,
            Delete: { Objects: batch.map((k) => ({ Key: this.pathPrefix + k })), Quiet: true },
          }),
        );
      } catch (err) {
        throw mapS3Error(err, this.#ctx("DELETE", batch[0]));
      }
      const failed = (res.Errors ?? []).filter((e) => e.Code !== "NoSuchKey");
      if (failed.length > 0) {
        const first = failed[0];
        throw mapS3Error(
          Object.assign(new Error(first?.Message ?? ""), {
            name: first?.Code ?? "DeleteFailed",
            Code: first?.Code,
            $metadata: { httpStatusCode: first?.Code === "AccessDenied" ? 403 : undefined },
          }),
          this.#ctx("DELETE", (first?.Key ?? "").slice(this.pathPrefix.length)),
        );
      }
    }
  }

  close(): Promise<void> {
    this.#o.client.destroy();
    this.#o.getClient.destroy();
    return Promise.resolve();
  }
}

/** MD5 of each part, to predict S3's multipart ETag `md5(concat(part md5s))-N`. */
class PartDigests {
  readonly #digests: Buffer[] = [];
  total = 0;

  constructor(readonly partSize: number) {}

  /** Records one part; returns its MD5 (for Content-MD5). */
  addPart(data: Uint8Array): Buffer {
    const d = createHash("md5").update(data).digest();
    this.#digests.push(d);
    this.total += data.length;
    return d;
  }

  etag(): string {
    const h = createHash("md5");
    for (const d of this.#digests) h.update(d);
    return `${h.digest("hex")}-${this.#digests.length}`;
  }
}

function sendOptions(signal: AbortSignal | undefined): { abortSignal?: AbortSignal } {
  return signal === undefined ? {} : { abortSignal: signal };
}

function unquote(etag: string | undefined): string {
  return (etag ?? "").replaceAll('"', "").toLowerCase();
}

/** `WALE_S3_SSE`: AES256 (default, as WAL-E), aws:kms, or off/none/false/0 to send nothing. */
export function s3Sse(text: string | undefined): string | undefined {
  const v = (text ?? "").trim();
  if (v === "") return "AES256";
  if (/^(off|none|false|0)$/i.test(v)) return undefined;
  if (v === "AES256" || v === "aws:kms") return v;
  throw new StoreError("invalid value for WALE_S3_SSE", {
    detail: `WALE_S3_SSE is "${v}".`,
    hint: "Use AES256 (the default), aws:kms, or off.",
  });
}

/** Builds the S3 client for `prefix` from the settings; see the module doc. */
export async function openS3Store(prefix: ParsedPrefix, settings: StoreSettings): Promise<Store> {
  const s3 = settings.s3 ?? {};
  const addr = s3Addressing(s3, prefix.storeName);
  const sse = s3Sse(s3.sse);
  const policy: RetryPolicy = retryPolicyOf(settings.retry);
  const credentials = await s3Credentials(s3, policy);
  const config = {
    region: addr.region,
    ...(addr.endpoint === undefined ? {} : { endpoint: addr.endpoint }),
    forcePathStyle: addr.forcePathStyle,
    bucketEndpoint: addr.bucketEndpoint,
    followRegionRedirects: addr.followRegionRedirects,
    credentials,
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
    retryStrategy: new SdkRetryStrategy(policy),
    ...(Number.isFinite(policy.attempts) ? { maxAttempts: policy.attempts } : {}),
  } as const;
  // Two transports, chosen by measurement under Deno (256 MiB each way, RSS growth): Node's
  // http sends our pooled part buffers as they are, where fetch copied every body (+240
  // MiB); fetch hands response chunks over as they arrive, where Node's http copied each one
  // (+130..285 MiB). socketTimeout bounds inactivity in either direction (the SDK's
  // requestTimeout only bounds the wait for headers, and only warns by default).
  const client = new S3Client({
    ...config,
    requestHandler: {
      connectionTimeout: policy.connectTimeoutMs,
      socketTimeout: policy.idleTimeoutMs,
    },
  });
  // Bodies are protected by Content-MD5, which the server checks: signing them again as
  // SHA-256 (SigV4's default payload hash) would cost a second pass over every byte.
  client.middlewareStack.add(
    (next) => (args) => {
      const req = args.request as { headers?: Record<string, string>; body?: unknown };
      if (req.body instanceof Uint8Array && req.headers !== undefined) {
        req.headers["x-amz-content-sha256"] = "UNSIGNED-PAYLOAD";
      }
      return next(args);
    },
    { step: "build", name: "walEUnsignedPayload" },
  );
  const getClient = new S3Client({
    ...config,
    retryStrategy: new SdkRetryStrategy(policy, { fetchTransport: true }),
    requestHandler: new FetchHttpHandler({ requestTimeout: policy.idleTimeoutMs }),
  });
  return new S3Store({
    client,
    getClient,
    policy,
    bucket: prefix.storeName,
    bucketParam: addr.bucketParam,
    pathPrefix: prefix.pathPrefix,
    endpoint: addr.endpoint ?? `s3.${addr.region}.amazonaws.com`,
    sse,
    storageClass: (s3.storageClass ?? "").trim() || "STANDARD",
  });
}
