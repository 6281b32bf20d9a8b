/**
 * Fast decryption of an OpenPGP SEIPD v1 body (RFC 4880 §5.13): AES in OpenPGP's CFB mode with
 * a zero IV, then the SHA-1 modification detection code. openpgp's own CFB runs a pure-JS AES
 * under Deno (~20 MB/s); CFB *decryption* needs only the block cipher's forward direction over
 * the ciphertext shifted by one block, so it runs as one native `aes-*-ecb` call per chunk
 * (PERFORMANCE.md). The MDC is checked at the end: a mismatch errors the stream, so consumers
 * publish output only after the stream ended cleanly (they write to a temp file and rename).
 */
import { Buffer } from "node:buffer";
import { createCipheriv, createHash } from "node:crypto";
import { CorruptArchiveError } from "../errors.ts";

const BLOCK = 16;
/** The MDC packet that ends the plaintext: tag byte 0xD3, length 0x14, SHA-1 (20 bytes). */
const MDC_LENGTH = 22;

/** Node cipher names for the AES session-key algorithms openpgp reports. */
export const AES_ECB: Readonly<Record<string, string>> = {
  aes128: "aes-128-ecb",
  aes192: "aes-192-ecb",
  aes256: "aes-256-ecb",
};

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b;
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** `dst[i] ^= src[i]` for the length of `dst`, a word at a time where both are aligned. */
export function xorInto(dst: Uint8Array, src: Uint8Array): void {
  let i = 0;
  if (dst.byteOffset % 4 === 0 && src.byteOffset % 4 === 0) {
    const words = dst.length >>> 2;
    const d = new Uint32Array(dst.buffer, dst.byteOffset, words);
    const k = new Uint32Array(src.buffer, src.byteOffset, words);
    for (let w = 0; w < words; w++) d[w] = (d[w] ?? 0) ^ (k[w] ?? 0);
    i = words << 2;
  }
  for (; i < dst.length; i++) dst[i] = (dst[i] ?? 0) ^ (src[i] ?? 0);
}

/**
 * Decrypts the SEIPD v1 ciphertext with `sessionKey` and returns the inner packet stream
 * (prefix and MDC removed). `cipherName` is a value of `AES_ECB`.
 */
export function decryptSeipdV1(
  ciphertext: ReadableStream<Uint8Array>,
  sessionKey: Uint8Array,
  cipherName: string,
): ReadableStream<Uint8Array> {
  const ecb = createCipheriv(cipherName, Buffer.from(sessionKey), null);
  ecb.setAutoPadding(false);
  const sha1 = createHash("sha1");
  let prev: Uint8Array = new Uint8Array(BLOCK); // C[-1] = the zero IV
  const pending = new Uint8Array(BLOCK); // ciphertext not yet a whole block
  let pendingLength = 0;
  let prefix: Uint8Array | undefined = new Uint8Array(0); // until BLOCK + 2 bytes are seen
  let tail: Uint8Array = new Uint8Array(0); // plaintext held back: may be the MDC
  /**
   * Reused input of the ECB call (it reads it at once): the previous cipher block, then the
   * chunk's cipher blocks, whose copy there is word-aligned for the XOR.
   */
  let scratch = new Uint8Array(0);

  /**
   * XORs `cipher` (whole blocks) with E(previous cipher blocks): CFB decryption. The result is
   * the fresh key-stream array, XORed in place: one allocation per chunk, for the output.
   */
  const decryptBlocks = (cipher: Uint8Array): Uint8Array => {
    const n = cipher.length;
    if (scratch.length < n + BLOCK) scratch = new Uint8Array(Math.max(n + BLOCK, 64 * 1024));
    scratch.set(prev);
    scratch.set(cipher, BLOCK);
    const ks = ecb.update(scratch.subarray(0, n));
    const plain = new Uint8Array(ks.buffer, ks.byteOffset, ks.length);
    if (plain.length !== n) throw new Error("AES-ECB returned a short key stream");
    xorInto(plain, scratch.subarray(BLOCK, BLOCK + n));
    prev = scratch.slice(n, n + BLOCK);
    return plain;
  };

  /** Hashes and forwards plaintext, keeping the last MDC_LENGTH bytes back. */
  const emit = (plain: Uint8Array, c: TransformStreamDefaultController<Uint8Array>): void => {
    let data = plain;
    if (prefix !== undefined) {
      const p = concat(prefix, data);
      if (p.length < BLOCK + 2) {
        prefix = p;
        return;
      }
      if (p[BLOCK] !== p[BLOCK - 2] || p[BLOCK + 1] !== p[BLOCK - 1]) {
        throw new CorruptArchiveError("OpenPGP session key check failed", {
          detail: "The decrypted prefix does not repeat its last two bytes.",
        });
      }
      sha1.update(p.subarray(0, BLOCK + 2));
      prefix = undefined;
      data = p.subarray(BLOCK + 2);
    }
    if (data.length < MDC_LENGTH) {
      // Rare (tiny chunks): join with what is held back.
      const all = concat(tail, data);
      const cut = Math.max(0, all.length - MDC_LENGTH);
      if (cut > 0) {
        const out = all.slice(0, cut);
        sha1.update(out);
        c.enqueue(out);
      }
      tail = all.slice(cut);
      return;
    }
    // What was held back goes out now, then all of `data` but its last MDC_LENGTH bytes (a
    // view: `data` is ours), which are held back in turn.
    if (tail.length > 0) {
      sha1.update(tail);
      c.enqueue(tail);
    }
    const cut = data.length - MDC_LENGTH;
    if (cut > 0) {
      const out = data.subarray(0, cut);
      sha1.update(out);
      c.enqueue(out);
    }
    tail = data.slice(cut);
  };

  return ciphertext.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, c) {
        let data = chunk;
        if (pendingLength > 0) {
          // Complete the partial block first: the rest is decrypted in place of a copy.
          const k = Math.min(BLOCK - pendingLength, data.length);
          pending.set(data.subarray(0, k), pendingLength);
          pendingLength += k;
          data = data.subarray(k);
          if (pendingLength < BLOCK) return;
          emit(decryptBlocks(pending), c);
          pendingLength = 0;
        }
        const whole = data.length - (data.length % BLOCK);
        if (whole > 0) emit(decryptBlocks(data.subarray(0, whole)), c);
        pending.set(data.subarray(whole));
        pendingLength = data.length - whole;
      },
      flush(c) {
        if (pendingLength > 0) {
          const ks = new Uint8Array(ecb.update(prev));
          emit(pending.slice(0, pendingLength).map((b, i) => b ^ (ks[i] ?? 0)), c);
        }
        if (
          prefix !== undefined || tail.length !== MDC_LENGTH || tail[0] !== 0xd3 || tail[1] !== 0x14
        ) {
          throw new CorruptArchiveError("encrypted object lacks its integrity check (MDC)", {
            detail: "The decrypted data does not end with a modification detection code packet.",
          });
        }
        sha1.update(tail.subarray(0, 2));
        const digest = new Uint8Array(sha1.digest());
        if (!digest.every((b, i) => b === tail[2 + i])) {
          throw new CorruptArchiveError("Modification detected: OpenPGP integrity check failed", {
            detail: "The SHA-1 modification detection code does not match the decrypted data.",
          });
        }
      },
    }),
  );
}
