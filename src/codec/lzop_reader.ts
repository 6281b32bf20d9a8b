/**
 * lzop decompression as a Web Stream: accepts whatever lzop 1.04 writes (WAL-E-COMPAT §4.1),
 * verifies the header checksum and every block checksum, decodes concatenated streams, and
 * fails with CorruptArchiveError on anything lzop would reject (truncation, garbage after
 * the end marker, bad checksums, malformed LZO1X data).
 *
 * Input chunks may split the stream anywhere: small fields collect in a JS scratch array,
 * block data goes straight into a wasm buffer. At most one block is held at a time.
 */
import { CorruptArchiveError } from "../errors.ts";
import {
  acquireBuffer,
  adler32,
  adler32Of,
  crc32,
  crc32Of,
  decompressBlock,
  describeLzoStatus,
  releaseBuffer,
  warmUp,
  type WasmBuffer,
} from "./lzo_wasm.ts";
import type { BlockChecksum } from "./lzo_worker.ts";
import {
  blockChecksumCount,
  F_ADLER32_C,
  F_ADLER32_D,
  F_CRC32_C,
  F_CRC32_D,
  F_H_CRC32,
  F_H_EXTRA_FIELD,
  type HeaderParse,
  LZOP_MAGIC,
  LZOP_MAX_BLOCK_SIZE,
  LZOP_SPLIT_MARKER,
  type LzopHeader,
  parseHeader,
} from "./lzop_format.ts";

/** Where the parser is; "fixed" phases collect a known number of bytes in the scratch. */
type Phase =
  | "magic"
  | "header"
  | "extraLength"
  | "extraData"
  | "extraChecksum"
  | "blockLength"
  | "blockCompressedLength"
  | "blockChecksums"
  | "blockData"
  | "afterEnd"
  | "zeros";

const MAGIC_LENGTH = LZOP_MAGIC.length;
/** Magic + the largest header (all optional fields, a 255-byte name, checksum). */
const SCRATCH_SIZE = 512;

// The decoder's compilation starts when this module loads (see `warmUp`).
warmUp("decode");

/** Where decoded blocks go: a stream's controller, or a direct consumer (`LzopDecoder`). */
interface Sink {
  enqueue(chunk: Uint8Array): void;
}

/** One block as framed, not yet decoded (for decoders that run elsewhere, e.g. workers). */
export interface RawLzopBlock {
  /** The block's stored data: the `clen` bytes the hook's `target` provided, filled. */
  data: Uint8Array;
  clen: number;
  ulen: number;
  /** The checksums the block header stores, in header order. */
  sums: BlockChecksum[];
  /** The CorruptArchiveError for a failure of this block, worded as the reader words it. */
  error(message: string, detail: string): CorruptArchiveError;
}

/** Receives each framed block instead of the reader decoding it. */
export interface RawBlockHook {
  /** Where the next block's `clen` stored bytes go (exactly `clen` bytes). */
  target(clen: number): Uint8Array;
  /** The block, complete. */
  block(block: RawLzopBlock): void;
}

class LzopReader implements Transformer<Uint8Array, Uint8Array> {
  #phase: Phase = "magic";
  readonly #scratch = new Uint8Array(SCRATCH_SIZE);
  readonly #scratchView = new DataView(this.#scratch.buffer);
  #have = 0;
  #want = MAGIC_LENGTH;
  /** Input bytes consumed so far, over all concatenated streams. */
  #pos = 0;
  #streamNo = 1;
  #streamStart = 0;
  #header: LzopHeader | undefined;
  #blockNo = 0;
  #blockStart = 0;
  #ulen = 0;
  #clen = 0;
  #extraLength = 0;
  /** Bytes of block data (or extra field) received into #input. */
  #fill = 0;
  #input: WasmBuffer | undefined;
  /**
   * Emit copies (streams: the consumer keeps chunks) or views of the codec's buffer, valid
   * only during the call (`LzopDecoder`: the consumer writes them out at once; 16 MiB of
   * copies per segment would only feed the garbage collector).
   */
  readonly #copy: boolean;
  /** When set, blocks are collected in JS arrays and handed to it undecoded. */
  readonly #hook: RawBlockHook | undefined;
  #raw: Uint8Array | undefined;

  constructor(copy = true, hook?: RawBlockHook) {
    this.#copy = copy;
    this.#hook = hook;
  }
  #output: WasmBuffer | undefined;

  transform(chunk: Uint8Array, controller: Sink): void {
    try {
      this.#consume(chunk, controller);
    } catch (err) {
      this.#release();
      throw err;
    }
  }

  flush(): void {
    try {
      if (this.#phase === "afterEnd" || this.#phase === "zeros") return;
      if (this.#pos === 0) {
        throw new CorruptArchiveError("not an lzop stream", { detail: "The input is empty." });
      }
      if (this.#phase === "magic" && this.#streamNo === 1 && !this.#magicPrefixMatches()) {
        throw this.#notLzop();
      }
      throw this.#error("truncated lzop stream", `The input ends ${this.#where()}.`);
    } finally {
      this.#release();
    }
  }

  cancel(): void {
    this.#release();
  }

  #consume(chunk: Uint8Array, controller: Sink): void {
    let off = 0;
    while (off < chunk.length) {
      switch (this.#phase) {
        case "blockData":
        case "extraData": {
          const target = this.#phase === "blockData" ? this.#clen : this.#extraLength;
          const into = this.#phase === "blockData" && this.#raw !== undefined
            ? this.#raw
            : (this.#input as WasmBuffer).bytes;
          const n = Math.min(target - this.#fill, chunk.length - off);
          into.set(chunk.subarray(off, off + n), this.#fill);
          this.#fill += n;
          off += n;
          this.#pos += n;
          if (this.#fill === target) this.#dataComplete(controller);
          break;
        }
        case "afterEnd": {
          const b = chunk[off] as number;
          if (b === 0) {
            this.#phase = "zeros";
          } else if (b === LZOP_MAGIC[0]) {
            this.#startStream();
          } else {
            throw this.#garbage(b, this.#pos);
          }
          break;
        }
        case "zeros": {
          // Padding after the end marker; anything else is garbage.
          for (; off < chunk.length; off++, this.#pos++) {
            if (chunk[off] !== 0) throw this.#garbage(chunk[off] as number, this.#pos);
          }
          break;
        }
        default: {
          const n = Math.min(this.#want - this.#have, chunk.length - off);
          this.#scratch.set(chunk.subarray(off, off + n), this.#have);
          this.#have += n;
          off += n;
          this.#pos += n;
          if (this.#have === this.#want) this.#fieldComplete(controller);
        }
      }
    }
  }

  /** Expect `want` bytes in the scratch for `phase` (starting afresh unless `keep`). */
  #expect(phase: Phase, want: number, keep = false): void {
    this.#phase = phase;
    this.#want = want;
    if (!keep) this.#have = 0;
  }

  #u32(at: number): number {
    return this.#scratchView.getUint32(at);
  }

  #fieldComplete(controller: Sink): void {
    switch (this.#phase) {
      case "magic":
        if (!this.#magicPrefixMatches()) {
          if (this.#streamNo === 1) throw this.#notLzop();
          throw this.#garbage(this.#scratch[0] as number, this.#streamStart);
        }
        this.#expect("header", MAGIC_LENGTH + 2, true);
        return;
      case "header":
        return this.#headerBytes();
      case "extraLength":
        this.#extraLength = this.#u32(0);
        if (this.#extraLength > LZOP_MAX_BLOCK_SIZE) {
          throw this.#error(
            "lzop header extra field too large",
            `It declares ${this.#extraLength} bytes.`,
          );
        }
        this.#input = this.#fit(this.#input, this.#extraLength);
        this.#fill = 0;
        if (this.#extraLength === 0) this.#expect("extraChecksum", 4);
        else this.#expect("extraData", 0);
        return;
      case "extraChecksum":
        return this.#checkExtraField();
      case "blockLength":
        return this.#blockLength();
      case "blockCompressedLength":
        return this.#blockCompressedLength(controller);
      case "blockChecksums":
        return this.#startData(controller);
      default:
        throw new Error(`lzop reader: unexpected phase ${this.#phase}`);
    }
  }

  #headerBytes(): void {
    let parsed: HeaderParse;
    try {
      parsed = parseHeader(this.#scratch.subarray(MAGIC_LENGTH, this.#have));
    } catch (err) {
      if (!(err instanceof CorruptArchiveError)) throw err;
      throw this.#error(err.message, err.detail ?? "");
    }
    if (!parsed.done) {
      this.#expect("header", MAGIC_LENGTH + parsed.need, true);
      return;
    }
    this.#header = parsed.header;
    this.#blockNo = 0;
    if ((parsed.header.flags & F_H_EXTRA_FIELD) !== 0) this.#expect("extraLength", 4);
    else this.#expect("blockLength", 4);
  }

  #checkExtraField(): void {
    const useCrc = ((this.#header as LzopHeader).flags & F_H_CRC32) !== 0;
    const input = this.#input as WasmBuffer;
    // The checksum covers the length word and the field's bytes.
    const length = this.#scratch.slice(0, 4);
    new DataView(length.buffer).setUint32(0, this.#extraLength);
    const actual = useCrc
      ? crc32(input, 0, this.#extraLength, crc32Of(length))
      : adler32(input, 0, this.#extraLength, adler32Of(length));
    if (actual !== this.#u32(0)) {
      throw this.#error(
        "lzop header extra field checksum mismatch",
        `Stored ${hex(this.#u32(0))}, computed ${hex(actual)}.`,
      );
    }
    this.#expect("blockLength", 4);
  }

  #blockLength(): void {
    this.#blockStart = this.#pos - 4;
    this.#ulen = this.#u32(0);
    if (this.#ulen === 0) {
      this.#phase = "afterEnd";
      return;
    }
    this.#blockNo++;
    if (this.#ulen === LZOP_SPLIT_MARKER) {
      throw this.#error("unsupported lzop split file", "The block length is 0xffffffff.");
    }
    if (this.#ulen > LZOP_MAX_BLOCK_SIZE) {
      throw this.#error("lzop block too large", `It declares ${this.#ulen} uncompressed bytes.`);
    }
    this.#expect("blockCompressedLength", 4);
  }

  #blockCompressedLength(controller: Sink): void {
    this.#clen = this.#u32(0);
    if (this.#clen > this.#ulen) {
      throw this.#error(
        "lzop block larger compressed than uncompressed",
        `It declares ${this.#clen} compressed and ${this.#ulen} uncompressed bytes.`,
      );
    }
    const flags = (this.#header as LzopHeader).flags;
    const sums = blockChecksumCount(flags, this.#clen < this.#ulen);
    if (sums > 0) this.#expect("blockChecksums", 4 * sums);
    else this.#startData(controller);
  }

  #startData(controller: Sink): void {
    // Checksums stay in the scratch (#have = 4 per word) until the data is complete.
    if (this.#hook !== undefined) this.#raw = this.#hook.target(this.#clen);
    else this.#input = this.#fit(this.#input, this.#clen);
    this.#fill = 0;
    this.#phase = "blockData";
    if (this.#clen === 0) this.#dataComplete(controller);
  }

  #dataComplete(controller: Sink): void {
    if (this.#phase === "extraData") {
      this.#expect("extraChecksum", 4);
      return;
    }
    if (this.#raw !== undefined) return this.#handOver();
    const flags = (this.#header as LzopHeader).flags;
    const input = this.#input as WasmBuffer;
    const compressed = this.#clen < this.#ulen;
    let word = 0;
    const expected = (): number => this.#u32(4 * word++);
    const dSums: Array<[string, number]> = [];
    if ((flags & F_ADLER32_D) !== 0) dSums.push(["Adler-32", expected()]);
    if ((flags & F_CRC32_D) !== 0) dSums.push(["CRC-32", expected()]);
    if (compressed && (flags & F_ADLER32_C) !== 0) {
      this.#verify("compressed", "Adler-32", expected(), adler32(input, 0, this.#clen));
    }
    if (compressed && (flags & F_CRC32_C) !== 0) {
      this.#verify("compressed", "CRC-32", expected(), crc32(input, 0, this.#clen));
    }
    let data = input;
    if (compressed) {
      data = this.#output = this.#fit(this.#output, this.#ulen);
      const n = decompressBlock(input, this.#clen, data);
      if (n < 0) {
        throw this.#error(
          "corrupt lzo data in lzop block",
          `The LZO1X decoder reports: ${describeLzoStatus(n)}.`,
        );
      }
      if (n !== this.#ulen) {
        throw this.#error(
          "lzop block length mismatch",
          `It decodes to ${n} bytes, not ${this.#ulen}.`,
        );
      }
    }
    for (const [kind, value] of dSums) {
      const actual = kind === "CRC-32" ? crc32(data, 0, this.#ulen) : adler32(data, 0, this.#ulen);
      this.#verify("uncompressed", kind, value, actual);
    }
    controller.enqueue(
      this.#copy ? data.bytes.slice(0, this.#ulen) : data.bytes.subarray(0, this.#ulen),
    );
    this.#expect("blockLength", 4);
  }

  /** Hands the collected block to the hook, with its checksums and its error wording. */
  #handOver(): void {
    const flags = (this.#header as LzopHeader).flags;
    const compressed = this.#clen < this.#ulen;
    const sums: BlockChecksum[] = [];
    let word = 0;
    const add = (kind: BlockChecksum["kind"], of: BlockChecksum["of"]): void => {
      sums.push({ kind, of, value: this.#u32(4 * word++) });
    };
    if ((flags & F_ADLER32_D) !== 0) add("Adler-32", "uncompressed");
    if ((flags & F_CRC32_D) !== 0) add("CRC-32", "uncompressed");
    if (compressed && (flags & F_ADLER32_C) !== 0) add("Adler-32", "compressed");
    if (compressed && (flags & F_CRC32_C) !== 0) add("CRC-32", "compressed");
    const where = `Block ${this.#blockNo} of stream ${this.#streamNo} starts at offset ` +
      `${this.#blockStart} (ulen ${this.#ulen}, clen ${this.#clen})`;
    const data = this.#raw as Uint8Array;
    this.#raw = undefined;
    (this.#hook as RawBlockHook).block({
      data,
      clen: this.#clen,
      ulen: this.#ulen,
      sums,
      error: (message, detail) =>
        new CorruptArchiveError(message, { detail: `${detail} ${where}.` }),
    });
    this.#expect("blockLength", 4);
  }

  #verify(of: string, kind: string, stored: number, actual: number): void {
    if (stored !== actual) {
      throw this.#error(
        "lzop block checksum mismatch",
        `${kind} of the ${of} data is ${hex(actual)}, the block header says ${hex(stored)}.`,
      );
    }
  }

  /** `current` if it holds `bytes`, else a bigger pooled buffer (the old one goes back). */
  #fit(current: WasmBuffer | undefined, bytes: number): WasmBuffer {
    if (current !== undefined && current.capacity >= bytes) return current;
    const bigger = acquireBuffer(bytes, this); // may throw: nothing changed yet
    if (current !== undefined) releaseBuffer(current);
    return bigger;
  }

  #release(): void {
    if (this.#input !== undefined) releaseBuffer(this.#input);
    if (this.#output !== undefined) releaseBuffer(this.#output);
    this.#input = undefined;
    this.#output = undefined;
  }

  #startStream(): void {
    this.#streamNo++;
    this.#streamStart = this.#pos;
    this.#header = undefined;
    this.#expect("magic", MAGIC_LENGTH);
  }

  #magicPrefixMatches(): boolean {
    const n = Math.min(this.#have, MAGIC_LENGTH);
    for (let i = 0; i < n; i++) if (this.#scratch[i] !== LZOP_MAGIC[i]) return false;
    return true;
  }

  #notLzop(): CorruptArchiveError {
    return new CorruptArchiveError("not an lzop stream", {
      detail: "The input does not start with the lzop signature 89 4c 5a 4f 00 0d 0a 1a 0a.",
    });
  }

  #garbage(b: number, at: number): CorruptArchiveError {
    const which = this.#phase === "magic" ? this.#streamNo - 1 : this.#streamNo;
    return new CorruptArchiveError("trailing garbage after lzop stream", {
      detail: `Byte ${hex(b, 2)} at offset ${at} follows the end of lzop stream ${which}.`,
    });
  }

  #where(): string {
    const stream = this.#streamNo > 1 ? ` of stream ${this.#streamNo}` : "";
    if (this.#phase === "magic" || this.#phase === "header" || this.#phase.startsWith("extra")) {
      return `inside the header${stream} (offset ${this.#pos})`;
    }
    if (this.#phase === "blockLength" && this.#have === 0) {
      return `after block ${this.#blockNo}${stream} at offset ${this.#pos}, before the end marker`;
    }
    return `inside block ${this.#blockNo}${stream} at offset ${this.#pos}`;
  }

  #error(message: string, detail: string): CorruptArchiveError {
    const inBlock = this.#phase.startsWith("block") && this.#blockNo > 0;
    const at = inBlock
      ? `Block ${this.#blockNo} of stream ${this.#streamNo} starts at offset ${this.#blockStart}`
      : `Stream ${this.#streamNo} starts at offset ${this.#streamStart}`;
    const sizes = inBlock ? ` (ulen ${this.#ulen}, clen ${this.#clen})` : "";
    return new CorruptArchiveError(message, { detail: `${detail} ${at}${sizes}.` });
  }
}

function hex(n: number, width = 8): string {
  return `0x${n.toString(16).padStart(width, "0")}`;
}

/**
 * A stream that decodes lzop input (one or more concatenated lzop streams, optionally followed
 * by zero bytes) to the original bytes, one output chunk per block (fresh arrays). Errors the
 * stream with CorruptArchiveError on truncated, corrupt or unsupported input.
 */
export function createLzopReader(): TransformStream<Uint8Array, Uint8Array> {
  return new TransformStream(new LzopReader());
}

/**
 * The same decoder without a stream, for callers that consume blocks synchronously (wal-fetch
 * writes each block to its file as it is decoded): `write` each input chunk, then `end`.
 * Each decoded block is handed to `emit` as a view that is valid only during that call;
 * errors are CorruptArchiveError, as from `createLzopReader`.
 */
export class LzopDecoder {
  readonly #reader = new LzopReader(false);
  readonly #sink: Sink;

  constructor(emit: (block: Uint8Array) => void) {
    this.#sink = { enqueue: emit };
  }

  write(chunk: Uint8Array): void {
    this.#reader.transform(chunk, this.#sink);
  }

  /** Checks that the input ended where a stream may end; releases the codec buffers. */
  end(): void {
    this.#reader.flush();
  }

  /** Releases the codec buffers after a failure elsewhere. */
  abandon(): void {
    this.#reader.cancel();
  }
}

/**
 * The lzop stream parser without the decoding: `write` input chunks, and each block is handed
 * to `hook` as framed (header checks, framing and truncation errors are the reader's own);
 * `end` checks the input ended where a stream may end. Used to decode blocks on workers.
 */
export class LzopFramer {
  readonly #reader: LzopReader;
  readonly #sink: Sink = {
    enqueue: () => {
      throw new Error("lzop framer: a block was decoded in place");
    },
  };

  constructor(hook: RawBlockHook) {
    this.#reader = new LzopReader(true, hook);
  }

  write(chunk: Uint8Array): void {
    this.#reader.transform(chunk, this.#sink);
  }

  end(): void {
    this.#reader.flush();
  }

  abandon(): void {
    this.#reader.cancel();
  }
}

/** Decodes a whole lzop stream held in memory (built on `createLzopReader`). */
export async function lzopDecompress(data: Uint8Array): Promise<Uint8Array> {
  const plain = ReadableStream.from([data]).pipeThrough(createLzopReader());
  return new Uint8Array(await new Response(plain).arrayBuffer());
}
