/**
 * Fast encryption of an OpenPGP SEIPD v1 body (RFC 4880 §5.13, what `gpg -e -z 0` writes):
 * a literal data packet and the SHA-1 modification detection code, encrypted with AES in
 * OpenPGP's CFB mode (zero IV, no resync), framed with partial body lengths so it streams.
 *
 * CFB encryption is sequential, but it equals CBC run over the plaintext: with the CBC IV set
 * to Y0 = E(0), CBC's outputs are Y_i = E(P_i ⊕ Y_{i-1}) = E(C_i), and CFB's ciphertext is
 * C_i = P_i ⊕ Y_{i-1}. So one native AES-CBC call per 256 KiB piece (Web Crypto, which runs it
 * off the main thread: the thread keeps feeding the codec workers meanwhile; Deno has no CFB)
 * and an XOR give the CFB ciphertext, instead of openpgp's pure-JS AES. A CBC run resumes from
 * its last output block, so pieces chain.
 */
import { createHash, type Hash } from "node:crypto";
import { xorInto } from "./pgp_cfb.ts";

const BLOCK = 16;
/** Partial body piece: 2^18 bytes (the first one must be at least 512). */
const PIECE_POWER = 18;
const PIECE = 1 << PIECE_POWER;
const TAG_SEIPD = 0xc0 | 18;
const TAG_LITERAL = 0xc0 | 11;

/** Key lengths of the AES session-key algorithms openpgp reports. */
export const AES_KEY_BYTES: Readonly<Record<string, number>> = {
  aes128: 16,
  aes192: 24,
  aes256: 32,
};

/** A new-format definite body length. */
function definiteLength(n: number): Uint8Array {
  if (n < 192) return Uint8Array.of(n);
  if (n < 8384) return Uint8Array.of(((n - 192) >> 8) + 192, (n - 192) & 0xff);
  return Uint8Array.of(0xff, n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
}

/** OpenPGP CFB (zero IV, no resync) as CBC + XOR; `encrypt` takes whole blocks until the end. */
class CfbEncryptor {
  readonly #key: CryptoKey;
  /** E(C_{i-1}): the key stream for the next block. */
  #y: Uint8Array<ArrayBuffer>;

  private constructor(key: CryptoKey, y0: Uint8Array<ArrayBuffer>) {
    this.#key = key;
    this.#y = y0;
  }

  static async create(raw: Uint8Array): Promise<CfbEncryptor> {
    const key = await crypto.subtle.importKey("raw", raw.slice(), "AES-CBC", false, ["encrypt"]);
    const zero = new Uint8Array(BLOCK);
    const first = await crypto.subtle.encrypt({ name: "AES-CBC", iv: zero }, key, zero);
    return new CfbEncryptor(key, new Uint8Array(first, 0, BLOCK).slice());
  }

  /** Encrypts `plain` in place; only the last call may have a partial last block. */
  async encrypt(plain: Uint8Array<ArrayBuffer>): Promise<void> {
    const whole = plain.length - (plain.length % BLOCK);
    if (whole > 0) {
      const run = plain.subarray(0, whole);
      // Web Crypto pads: the output has one more block, which is ignored.
      const y = new Uint8Array(
        await crypto.subtle.encrypt({ name: "AES-CBC", iv: this.#y }, this.#key, run),
      );
      if (y.length < whole) throw new Error("AES-CBC returned a short output");
      const next = y.slice(whole - BLOCK, whole);
      // C_1 = P_1 ⊕ Y_0, C_i = P_i ⊕ Y_{i-1}: the key stream is Y shifted by one block.
      xorInto(run.subarray(0, BLOCK), this.#y);
      xorInto(run.subarray(BLOCK), y);
      this.#y = next;
    }
    if (whole < plain.length) xorInto(plain.subarray(whole), this.#y);
  }
}

/**
 * Collects a packet's body into PIECE-sized pieces, each emitted with its partial length (the
 * first also with the packet tag); `emit` gets views of one reused buffer and must copy them.
 */
class PartialPacket {
  readonly #buf = new Uint8Array(PIECE);
  #fill = 0;
  #first: Uint8Array | undefined;
  readonly #emit: (head: Uint8Array, body: Uint8Array) => void;

  constructor(tag: number, emit: (head: Uint8Array, body: Uint8Array) => void) {
    this.#first = Uint8Array.of(tag);
    this.#emit = emit;
  }

  write(bytes: Uint8Array): void {
    let off = 0;
    while (off < bytes.length) {
      const n = Math.min(PIECE - this.#fill, bytes.length - off);
      this.#buf.set(bytes.subarray(off, off + n), this.#fill);
      this.#fill += n;
      off += n;
      if (this.#fill === PIECE) {
        this.#out(Uint8Array.of(0xe0 + PIECE_POWER), this.#buf);
        this.#fill = 0;
      }
    }
  }

  /** Emits the last piece with a definite length (possibly 0). */
  end(): void {
    const rest = this.#buf.subarray(0, this.#fill);
    this.#out(definiteLength(rest.length), rest);
  }

  #out(length: Uint8Array, body: Uint8Array): void {
    const head = this.#first === undefined ? length : Uint8Array.of(...this.#first, ...length);
    this.#first = undefined;
    this.#emit(head, body);
  }
}

/**
 * Encrypts `plain` as the SEIPD v1 packet gpg writes for `gpg -e -z 0` with session key `key`
 * (`algorithm`: aes128, aes192 or aes256), preceded by `pkesk` (the packets carrying the
 * session key to the recipients). Output chunks are fresh arrays.
 */
export function encryptSeipdV1(
  plain: ReadableStream<Uint8Array>,
  options: { key: Uint8Array; algorithm: string; pkesk: Uint8Array; date?: Date },
): ReadableStream<Uint8Array> {
  if (AES_KEY_BYTES[options.algorithm] !== options.key.length) {
    throw new RangeError(`unsupported cipher ${options.algorithm}`);
  }
  let cfb: CfbEncryptor | undefined;
  const sha1: Hash = createHash("sha1");
  let out: TransformStreamDefaultController<Uint8Array> | undefined;
  const seipd = new PartialPacket(TAG_SEIPD, (head, body) => {
    const piece = new Uint8Array(head.length + body.length);
    piece.set(head);
    piece.set(body, head.length);
    out?.enqueue(piece);
  });
  // Inner plaintext in PIECE-sized arrays; full ones wait in `ready` to be encrypted.
  let inner = new Uint8Array(PIECE);
  let innerFill = 0;
  const ready: Uint8Array<ArrayBuffer>[] = [];
  const writeInner = (bytes: Uint8Array, hash = true): void => {
    if (hash) sha1.update(bytes);
    let off = 0;
    while (off < bytes.length) {
      const n = Math.min(PIECE - innerFill, bytes.length - off);
      inner.set(bytes.subarray(off, off + n), innerFill);
      innerFill += n;
      off += n;
      if (innerFill === PIECE) {
        ready.push(inner);
        inner = new Uint8Array(PIECE);
        innerFill = 0;
      }
    }
  };
  /** Encrypts the full pieces in order and writes them into the SEIPD packet. */
  const encryptReady = async (): Promise<void> => {
    for (let piece = ready.shift(); piece !== undefined; piece = ready.shift()) {
      await (cfb as CfbEncryptor).encrypt(piece);
      seipd.write(piece);
    }
  };
  const literal = new PartialPacket(TAG_LITERAL, (head, body) => {
    writeInner(head);
    writeInner(body);
  });
  const date = Math.floor((options.date ?? new Date()).getTime() / 1000);
  return plain.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      async start(c) {
        out = c;
        cfb = await CfbEncryptor.create(options.key);
        c.enqueue(options.pkesk.slice());
        seipd.write(Uint8Array.of(1)); // SEIPD version 1
        const prefix = crypto.getRandomValues(new Uint8Array(BLOCK + 2));
        prefix[BLOCK] = prefix[BLOCK - 2] as number;
        prefix[BLOCK + 1] = prefix[BLOCK - 1] as number;
        writeInner(prefix);
        // Literal data: binary, no file name, the date (as gpg and openpgp write it).
        literal.write(
          Uint8Array.of(
            0x62,
            0,
            date >>> 24,
            (date >>> 16) & 0xff,
            (date >>> 8) & 0xff,
            date & 0xff,
          ),
        );
      },
      async transform(chunk, c) {
        out = c;
        literal.write(chunk);
        await encryptReady();
      },
      async flush(c) {
        out = c;
        literal.end();
        writeInner(Uint8Array.of(0xd3, 0x14)); // MDC packet header, hashed too
        writeInner(new Uint8Array(sha1.digest()), false);
        await encryptReady();
        const last = inner.subarray(0, innerFill);
        await (cfb as CfbEncryptor).encrypt(last);
        seipd.write(last);
        seipd.end();
      },
    }),
  );
}
