/**
 * The put of the cloud backends (S3, Azure, Swift), written once: the stream is cut into
 * parts held in a pooled set of buffers; an object that fits in one part goes as one request,
 * anything longer as a multipart upload (S3 parts, Azure blocks, Swift segments) with a few
 * parts in flight, then a commit that makes the object visible. The declared size is checked
 * before anything becomes visible, the source is cancelled on failure or abort, and a started
 * upload that did not commit is cleaned up. A backend supplies only its requests (`UploadPlan`).
 */
import { StoreError } from "../errors.ts";
import { BlockReader, type BufferBudget, BufferPool, sendBlocks } from "./blocks.ts";
import { checkPutKey } from "./keys.ts";
import { isChunked, type PutBody, type PutOptions } from "./store.ts";

/** One multipart upload of a backend, from `UploadPlan.begin`. */
export interface PartUpload {
  /**
   * Sends part `index` (0-based). Calls come in stream order (a backend may hash parts as
   * they come) and run concurrently; `data` is only valid until the promise settles.
   */
  part(index: number, data: Uint8Array, signal: AbortSignal): Promise<void>;
  /** Makes the object of the `total` bytes sent visible. */
  commit(total: number, signal: AbortSignal | undefined): Promise<void>;
  /** Removes what the upload left when it failed before commit. Best effort: errors ignored. */
  abort?(): Promise<void>;
  /** After commit: verification or clean-up. A failure fails the put but aborts nothing. */
  after?(): Promise<void>;
}

/** What a backend gives `putInParts` for one put. */
export interface UploadPlan {
  /** The logical key, checked (`checkPutKey`) before anything is read or sent. */
  key: string;
  /** The put's options: declared size, signal (the content type is the backend's business). */
  options: PutOptions;
  /**
   * Bytes per part, and the largest object sent by `single`; a function is called after the
   * key check (e.g. to ask the server for its limits).
   */
  partSize: number | (() => Promise<number>);
  /** Parts in flight at once (one more buffer is being filled meanwhile). */
  queueSize: number;
  /** The store's bound on buffers across all its puts. */
  budget: BufferBudget;
  /** The object's URL, for messages. */
  url: string;
  /** Sends an object that fits in one part, in one request. */
  single(data: Uint8Array<ArrayBuffer>, signal: AbortSignal | undefined): Promise<void>;
  /** Starts a multipart upload (e.g. S3's CreateMultipartUpload). */
  begin(signal: AbortSignal | undefined): Promise<PartUpload>;
  /** Translates a failure before it is thrown (e.g. SDK errors to ours); identity by default. */
  mapError?(err: unknown): unknown;
}

/**
 * Uploads `body` as the plan says. Memory is (queue size + 1) × part size whatever the
 * object's size: every byte is copied once into a pooled buffer and the source's chunks are
 * never kept. Resolves once the object is stored (and verified, when the plan's `after` does).
 */
export async function putInParts(body: PutBody, plan: UploadPlan): Promise<void> {
  await checkPutKey(plan.key, body);
  const partSize = typeof plan.partSize === "number" ? plan.partSize : await plan.partSize();
  const options = plan.options;
  const blocks = new BlockReader(
    body instanceof Uint8Array ? ReadableStream.from([body]) : isChunked(body)
      // Copied: a chunk is valid only until the next is taken, and a stream may read ahead.
      ? ReadableStream.from(copies(body.chunks))
      : body,
  );
  const signal = options.signal;
  const onAbort = () => void blocks.cancel(signal?.reason);
  signal?.addEventListener("abort", onAbort, { once: true });
  const pool = new BufferPool(partSize, plan.queueSize + 1, plan.budget);
  let upload: PartUpload | undefined;
  let committed = false;
  try {
    const { buf, n, single } = await blocks.firstPart(pool, signal);
    if (single) {
      checkSize(n, options.size, plan.url);
      await plan.single(new Uint8Array(buf.buffer as ArrayBuffer, buf.byteOffset, n), signal);
      return;
    }
    const started = await plan.begin(signal);
    upload = started;
    await sendBlocks(blocks, pool, buf.subarray(0, n), (i, d, s) => started.part(i, d, s), signal);
    checkSize(blocks.total, options.size, plan.url);
    await started.commit(blocks.total, signal);
    committed = true;
    await started.after?.();
  } catch (err) {
    await blocks.cancel(err);
    // Outside the aborted signal: parts must not linger (billing, space).
    if (upload?.abort !== undefined && !committed) await upload.abort().catch(() => {});
    throw plan.mapError === undefined ? err : plan.mapError(err);
  } finally {
    pool.close();
    signal?.removeEventListener("abort", onAbort);
  }
}

/** Refuses a source whose length differs from the one declared in `PutOptions.size`. */
export function checkSize(actual: number, declared: number | undefined, url: string): void {
  if (declared !== undefined && declared !== actual) {
    throw new StoreError("upload source had an unexpected length", {
      detail: `${url}: ${actual} bytes read, ${declared} declared.`,
    });
  }
}

/** Each chunk copied as it is taken (a `ChunkedBody`'s chunks are reused by their producer). */
function* copies(chunks: Iterable<Uint8Array>): Generator<Uint8Array> {
  for (const c of chunks) yield c.slice();
}
