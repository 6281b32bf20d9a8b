/**
 * The body of a codec worker (a Web Worker started by `CodecPool`): compresses or decodes one
 * lzop block per request with its own instance of the WASM codec, and answers with the
 * result. Buffers travel transferred, never copied: a request's buffer comes back with the
 * answer so the caller can reuse it.
 *
 * `handleCodecRequest` is pure (no worker globals), so it is tested in the main isolate too;
 * the message handler is installed only when this module runs as a worker.
 */
import {
  acquireBuffer,
  adler32,
  compressBlock,
  compressBound,
  crc32,
  decompressBlock,
  describeLzoStatus,
  type WasmBuffer,
} from "./lzo_wasm.ts";
import { LZOP_BLOCK_SIZE } from "./lzop_format.ts";

/** Compress `buf[0..length)` as lzop blocks of 256 KiB (the last one shorter). */
export interface CompressRequest {
  op: "compress";
  id: number;
  buf: ArrayBuffer;
  length: number;
}

/** A checksum a block header stores, to be verified. */
export interface BlockChecksum {
  kind: "Adler-32" | "CRC-32";
  of: "compressed" | "uncompressed";
  value: number;
}

/** One block's framing: data length, plain length, stored checksums. */
export interface BlockFrame {
  /** Stored bytes (LZO1X data, or the plain bytes when `clen === ulen`). */
  clen: number;
  ulen: number;
  sums: BlockChecksum[];
}

/** Decode consecutive blocks whose data lie back to back in `buf`, into one array. */
export interface DecompressRequest {
  op: "decompress";
  id: number;
  buf: ArrayBuffer;
  blocks: BlockFrame[];
  /**
   * Where the plain bytes go (the blocks' total `ulen`), allocated by the caller: memory the
   * worker allocated and transferred is not counted by the receiving isolate, whose garbage
   * collector then lets hundreds of MiB of decoded chunks pile up.
   */
  out: ArrayBuffer;
}

export type CodecRequest = CompressRequest | DecompressRequest;

/** The answer to one request. */
export type CodecResponse =
  | {
    id: number;
    ok: true;
    /** compress: the framed block (lengths, Adler-32, data); decompress: the plain bytes. */
    out: ArrayBuffer;
    /** The request's buffer, handed back for reuse (undefined when `out` is that buffer). */
    buf: ArrayBuffer | undefined;
  }
  | { id: number; ok: false; message: string; detail: string; block: number };

const BLOCK_HEADER = 12;
/** Owner of this isolate's codec buffers: they live as long as the worker. */
const OWNER = {};
let input: WasmBuffer | undefined;
let output: WasmBuffer | undefined;

function fit(current: WasmBuffer | undefined, bytes: number): WasmBuffer {
  return current !== undefined && current.capacity >= bytes ? current : acquireBuffer(bytes, OWNER);
}

function compress(req: CompressRequest): CodecResponse {
  const count = Math.ceil(req.length / LZOP_BLOCK_SIZE);
  const room = BLOCK_HEADER + compressBound(LZOP_BLOCK_SIZE);
  input = fit(input, LZOP_BLOCK_SIZE);
  output = fit(output, count * room);
  // Each block framed in place in the output buffer, then one copy out.
  let at = 0;
  for (let i = 0; i < count; i++) {
    const off = i * LZOP_BLOCK_SIZE;
    const n = Math.min(LZOP_BLOCK_SIZE, req.length - off);
    const src = new Uint8Array(req.buf, off, n);
    input.bytes.set(src);
    const sum = adler32(input, 0, n);
    const clen = compressBlock(input, n, output, at + BLOCK_HEADER);
    const stored = clen >= n;
    const out = output.bytes;
    if (stored) out.set(src, at + BLOCK_HEADER);
    const view = new DataView(out.buffer, out.byteOffset + at, BLOCK_HEADER);
    view.setUint32(0, n);
    view.setUint32(4, stored ? n : clen);
    view.setUint32(8, sum);
    at += BLOCK_HEADER + (stored ? n : clen);
  }
  return { id: req.id, ok: true, out: output.bytes.slice(0, at).buffer, buf: req.buf };
}

function decompress(req: DecompressRequest): CodecResponse {
  const plain = new Uint8Array(req.out);
  let from = 0;
  let to = 0;
  for (let i = 0; i < req.blocks.length; i++) {
    const b = req.blocks[i] as BlockFrame;
    const failure = decodeBlock(new Uint8Array(req.buf, from, b.clen), b, plain.subarray(to));
    if (failure !== undefined) return { id: req.id, ok: false, ...failure, block: i };
    from += b.clen;
    to += b.ulen;
  }
  return { id: req.id, ok: true, out: req.out, buf: req.buf };
}

/** Decodes one block into `into`; a failure's text, or undefined. */
function decodeBlock(
  src: Uint8Array,
  req: BlockFrame,
  into: Uint8Array,
): { message: string; detail: string } | undefined {
  const { clen, ulen } = req;
  const compressed = clen < ulen;
  input = fit(input, Math.max(clen, LZOP_BLOCK_SIZE));
  input.bytes.set(src);
  const failed = (message: string, detail: string) => ({ message, detail });
  for (const s of req.sums) {
    if (s.of !== "compressed") continue;
    const actual = s.kind === "CRC-32" ? crc32(input, 0, clen) : adler32(input, 0, clen);
    if (actual !== s.value) return failed("lzop block checksum mismatch", mismatch(s, actual));
  }
  let data = input;
  if (compressed) {
    output = fit(output, Math.max(ulen, LZOP_BLOCK_SIZE));
    data = output;
    const n = decompressBlock(input, clen, output);
    if (n < 0) {
      return failed(
        "corrupt lzo data in lzop block",
        `The LZO1X decoder reports: ${describeLzoStatus(n)}.`,
      );
    }
    if (n !== ulen) {
      return failed("lzop block length mismatch", `It decodes to ${n} bytes, not ${ulen}.`);
    }
  }
  for (const s of req.sums) {
    if (s.of !== "uncompressed") continue;
    const actual = s.kind === "CRC-32" ? crc32(data, 0, ulen) : adler32(data, 0, ulen);
    if (actual !== s.value) return failed("lzop block checksum mismatch", mismatch(s, actual));
  }
  into.set(data.bytes.subarray(0, ulen));
  return undefined;
}

function mismatch(s: BlockChecksum, actual: number): string {
  return `${s.kind} of the ${s.of} data is ${hex(actual)}, the block header says ${hex(s.value)}.`;
}

function hex(n: number): string {
  return `0x${n.toString(16).padStart(8, "0")}`;
}

/** Runs one request (compress or decompress) and returns its answer. */
export function handleCodecRequest(req: CodecRequest): CodecResponse {
  switch (req.op) {
    case "compress":
      return compress(req);
    case "decompress":
      return decompress(req);
  }
}

/** The transferable buffers of an answer. */
function transfers(res: CodecResponse): ArrayBuffer[] {
  if (!res.ok) return [];
  return res.buf === undefined || res.buf === res.out ? [res.out] : [res.out, res.buf];
}

interface WorkerScope {
  onmessage: ((e: MessageEvent<CodecRequest>) => void) | null;
  postMessage(message: unknown, transfer: Transferable[]): void;
}

// Installed only inside a worker: the main isolate has no DedicatedWorkerGlobalScope.
if ("DedicatedWorkerGlobalScope" in globalThis) {
  const scope = globalThis as unknown as WorkerScope;
  scope.onmessage = (e: MessageEvent<CodecRequest>): void => {
    const req = e.data;
    let res: CodecResponse;
    try {
      res = handleCodecRequest(req);
    } catch (err) {
      res = {
        id: req.id,
        ok: false,
        message: "codec worker failed",
        detail: err instanceof Error ? err.message : String(err),
        block: 0,
      };
    }
    scope.postMessage(res, transfers(res));
  };
}
