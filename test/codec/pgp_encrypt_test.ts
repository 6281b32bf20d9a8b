/**
 * The native CFB encryptor (CBC + XOR, pgp_encrypt.ts): its SEIPD v1 output is decrypted by
 * the real gpg and by our own decryptor, for sizes around every boundary it has (the AES
 * block, the 256 KiB partial-length piece) and chunks that split them anywhere.
 */
import assert from "node:assert/strict";
import { decryptStream, encryptStream, type PgpSettings } from "../../src/codec/pgp.ts";
import { dispose, gpg, makeRing } from "../support/gpg.ts";
import { assertBytes, readAll } from "../support/streams.ts";

function data(size: number): Uint8Array {
  return new Uint8Array(size).map((_, i) => (i * 131 + (i >> 7)) & 0xff);
}

/** `bytes` as a stream of chunks of varying odd sizes. */
function chunked(bytes: Uint8Array): ReadableStream<Uint8Array> {
  const sizes = [1, 7, 4093, 65_536, 300_001];
  let at = 0;
  let i = 0;
  return new ReadableStream({
    pull(c) {
      if (at >= bytes.length) return c.close();
      const n = sizes[i++ % sizes.length] as number;
      c.enqueue(bytes.slice(at, at + n));
      at += n;
    },
  });
}

const PIECE = 1 << 18;
const SIZES = [0, 1, 15, 16, 17, 200, PIECE - 25, PIECE - 24, PIECE, PIECE + 1, 3 * PIECE + 7];

Deno.test("native CFB encryption: gpg -d and our decryptor read it back, at every boundary", async () => {
  const ring = await makeRing("rsa");
  try {
    const settings: PgpSettings = {
      keyId: ring.uid,
      publicKeyFile: ring.pub,
      secretKeyFile: ring.sec,
    };
    for (const size of SIZES) {
      const plain = data(size);
      const ours = await readAll(await encryptStream(chunked(plain), settings));
      // A public-key packet first, then the SEIPD packet (tag 18, new format, version 1).
      assert.equal(ours[0], 0xc1, `size ${size}: PKESK first`);
      assert.ok(ours.includes(0xd2), `size ${size}: SEIPD packet`);
      assertBytes(await gpg(ring.env, ["-d", "-q"], ours), plain);
      const back = await readAll(await decryptStream(chunked(ours), settings, `size ${size}`));
      assertBytes(back, plain);
    }
  } finally {
    await dispose(ring);
  }
});

Deno.test("native CFB encryption: each message has a fresh session key and prefix", async () => {
  const ring = await makeRing("cv25519");
  try {
    const settings: PgpSettings = { keyId: ring.uid, publicKeyFile: ring.pub };
    const plain = data(1000);
    const a = await readAll(await encryptStream(chunked(plain), settings));
    const b = await readAll(await encryptStream(chunked(plain), settings));
    assert.equal(a.length, b.length);
    assert.notDeepEqual(a.slice(-1000), b.slice(-1000));
  } finally {
    await dispose(ring);
  }
});
