/**
 * Fast encryption of an OpenPGP SEIPD v1 body (RFC 4880 §5.13, what `gpg -e -z 0` writes):
 * a literal data packet and the SHA-1 modification detection code, encrypted with AES in
 * OpenPGP's CFB mode (zero IV, no resync), framed with partial body lengths so it streams.
 *
 * CFB encryption is sequential, but it equals CBC run over the plaintext: with the CBC IV set
 * to Y0 = E(0), CBC's outputs are Y_i = E(P_i ⊕ Y_{i-1}) = E(C_i), and CFB's ciphertext is
 * C_i = P_i ⊕ Y_{i-1}. So one native `aes-*-cbc` call per chunk (node:crypto has no CFB in
 * Deno) and an XOR give the CFB ciphertext, instead of openpgp's pure-JS AES.
 */
import { Buffer } from "node:buffer";
import { createCipheriv, createHash, type Hash } from "node:crypto";
import { xorInto } from "./pgp_cfb.ts";

const BLOCK = 16;
/** Partial body piece: 2^18 bytes (the first one must be at least 512). */
const PIECE_POWER = 18;
const PIECE = 1 << PIECE_POWER;
const TAG_SEIPD = 0xc0 | 18;
const TAG_LITERAL = 0xc0 | 11;

/** Node cipher names (CBC) for the AES session-key algorithms openpgp reports. */
export const AES_CBC: Readonly<Record<string, string>> = {
  aes128: "aes-128-cbc",
  aes192: "aes-192-cbc",
  aes256: "aes-256-cbc",
};

/** A new-format definite body length. */
function definiteLength(n: number): Uint8Array {
  if (n < 192) return Uint8Array.of(n);
  if (n < 8384) return Uint8Array.of(((n - 192) >> 8) + 192, (n - 192) & 0xff);
  return Uint8Array.of(0xff, n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
}

/** OpenPGP CFB (zero IV, no resync) as CBC + XOR; `encrypt` takes whole blocks until the end. */
class CfbEncryptor {
  readonly #cbc: ReturnType<typeof createCipheriv>;
  /** E(C_{i-1}): the key stream for the next block. */
  #y: Uint8Array;

  constructor(cbcName: string, key: Uint8Array) {
    const ecb = createCipheriv(cbcName.replace("-cbc", "-ecb"), Buffer.from(key), null);
    ecb.setAutoPadding(false);
    const y0 = new Uint8Array(ecb.update(new Uint8Array(BLOCK)));
    this.#cbc = createCipheriv(cbcName, Buffer.from(key), Buffer.from(y0));
    this.#cbc.setAutoPadding(false);
    this.#y = y0;
  }

  /** Encrypts `plain` in place; only the last call may have a partial last block. */
  encrypt(plain: Uint8Array): void {
    const whole = plain.length - (plain.length % BLOCK);
    if (whole > 0) {
      const run = plain.subarray(0, whole);
      const y = new Uint8Array(this.#cbc.update(run));
      if (y.length !== whole) throw new Error("CBC returned a short output");
      const next = y.slice(whole - BLOCK);
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
  const cbcName = AES_CBC[options.algorithm];
  if (cbcName === undefined) throw new RangeError(`unsupported cipher ${options.algorithm}`);
  const cfb = new CfbEncryptor(cbcName, options.key);
  const sha1: Hash = createHash("sha1");
  let out: TransformStreamDefaultController<Uint8Array> | undefined;
  const seipd = new PartialPacket(TAG_SEIPD, (head, body) => {
    const piece = new Uint8Array(head.length + body.length);
    piece.set(head);
    piece.set(body, head.length);
    out?.enqueue(piece);
  });
  // Inner plaintext, encrypted a piece at a time (whole blocks until the end).
  const inner = new Uint8Array(PIECE);
  let innerFill = 0;
  const flushInner = (last: boolean): void => {
    const n = last ? innerFill : innerFill - (innerFill % BLOCK);
    const run = inner.subarray(0, n);
    cfb.encrypt(run);
    seipd.write(run);
    inner.copyWithin(0, n, innerFill);
    innerFill -= n;
  };
  const writeInner = (bytes: Uint8Array, hash = true): void => {
    if (hash) sha1.update(bytes);
    let off = 0;
    while (off < bytes.length) {
      const n = Math.min(PIECE - innerFill, bytes.length - off);
      inner.set(bytes.subarray(off, off + n), innerFill);
      innerFill += n;
      off += n;
      if (innerFill === PIECE) flushInner(false);
    }
  };
  const literal = new PartialPacket(TAG_LITERAL, (head, body) => {
    writeInner(head);
    writeInner(body);
  });
  const date = Math.floor((options.date ?? new Date()).getTime() / 1000);
  return plain.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      start(c) {
        out = c;
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
      transform(chunk, c) {
        out = c;
        literal.write(chunk);
      },
      flush(c) {
        out = c;
        literal.end();
        writeInner(Uint8Array.of(0xd3, 0x14)); // MDC packet header, hashed too
        writeInner(new Uint8Array(sha1.digest()), false);
        flushInner(true);
        seipd.end();
      },
    }),
  );
}
