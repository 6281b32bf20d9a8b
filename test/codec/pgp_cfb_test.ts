/**
 * The native CFB decryptor (pgp_cfb.ts) on a SEIPD v1 body built here block by block (OpenPGP
 * CFB with a zero IV, prefix, MDC): any chunking of the ciphertext, down to single bytes and
 * chunks that leave partial blocks behind, decrypts to the same plaintext, and a flipped byte
 * is caught by the MDC.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { createCipheriv, createHash } from "node:crypto";
import { decryptSeipdV1 } from "../../src/codec/pgp_cfb.ts";
import { CorruptArchiveError } from "../../src/errors.ts";
import { jagged, pattern, readAll } from "../support/streams.ts";

const KEY = pattern(16, 42);

/** The SEIPD v1 ciphertext of `data`: E(prefix ‖ data ‖ MDC) in OpenPGP's CFB mode. */
function seipd(data: Uint8Array): Uint8Array {
  const prefix = new Uint8Array(18);
  prefix.set(pattern(16, 7));
  prefix[16] = prefix[14] as number;
  prefix[17] = prefix[15] as number;
  const plain = new Uint8Array(18 + data.length + 22);
  plain.set(prefix);
  plain.set(data, 18);
  plain.set([0xd3, 0x14], 18 + data.length);
  const sha1 = createHash("sha1").update(plain.subarray(0, 18 + data.length + 2)).digest();
  plain.set(new Uint8Array(sha1), 18 + data.length + 2);
  const ecb = createCipheriv("aes-128-ecb", Buffer.from(KEY), null);
  ecb.setAutoPadding(false);
  const out = new Uint8Array(plain.length);
  let prev = new Uint8Array(16);
  for (let at = 0; at < plain.length; at += 16) {
    const ks = new Uint8Array(ecb.update(prev));
    const n = Math.min(16, plain.length - at);
    for (let i = 0; i < n; i++) out[at + i] = (plain[at + i] as number) ^ (ks[i] as number);
    prev = out.slice(at, at + 16);
  }
  return out;
}

Deno.test("CFB decryption gives the same plaintext however the ciphertext is chunked", async () => {
  for (const size of [0, 1, 5, 21, 22, 23, 100, 70_001, 300_000]) {
    const data = pattern(size, size + 1);
    const cipher = seipd(data);
    for (const max of [1, 3, 17, 40, 4096, 100_000]) {
      const got = await readAll(decryptSeipdV1(jagged(cipher, max, max), KEY, "aes-128-ecb"));
      assert.deepEqual(got, data, `size ${size}, chunks up to ${max}`);
    }
  }
});

Deno.test("CFB decryption: a flipped ciphertext byte fails the MDC check", async () => {
  const cipher = seipd(pattern(50_000, 3));
  cipher[30_000] = (cipher[30_000] as number) ^ 0x10;
  await assert.rejects(
    readAll(decryptSeipdV1(jagged(cipher, 5000, 5000), KEY, "aes-128-ecb")),
    (e: unknown) => e instanceof CorruptArchiveError && /integrity check failed/.test(e.message),
  );
});
