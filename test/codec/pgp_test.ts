/**
 * OpenPGP interop with the real gpg binary, both ways, for RSA and Curve25519 keys; key files
 * and the keyring fallback; wrong keys and tampered data are typed errors.
 */
import assert from "node:assert/strict";
import { decryptStream, encryptStream, type PgpSettings } from "../../src/codec/pgp.ts";
import { ConfigError, CorruptArchiveError } from "../../src/errors.ts";
import { dispose, gpg, makeRing } from "../support/gpg.ts";
import { assertBytes, readAll, streamOf } from "../support/streams.ts";

function data(size: number): Uint8Array {
  return new Uint8Array(size).map((_, i) => (i * 31 + (i >> 9)) & 0xff);
}

for (const kind of ["rsa", "cv25519"] as const) {
  Deno.test(`pgp (${kind}): what we encrypt, gpg -d decrypts; what gpg -e -z 0 encrypts, we decrypt`, async () => {
    const ring = await makeRing(kind);
    try {
      const plain = data(1_500_000);
      const settings: PgpSettings = {
        keyId: ring.uid,
        publicKeyFile: ring.pub,
        secretKeyFile: ring.sec,
      };
      const ours = await readAll(await encryptStream(streamOf(plain), settings));
      assert.ok(ours[0] !== undefined && (ours[0] & 0x80) !== 0, "binary OpenPGP");
      assertBytes(await gpg(ring.env, ["-d", "-q"], ours), plain);

      const theirs = await gpg(ring.env, [
        "-e",
        "-z",
        "0",
        "--trust-model",
        "always",
        "-r",
        ring.uid,
      ], plain);
      assertBytes(await readAll(await decryptStream(streamOf(theirs), settings, "x")), plain);
    } finally {
      await dispose(ring);
    }
  });
}

Deno.test("pgp: without key files, keys come from the gpg keyring by key id", async () => {
  const ring = await makeRing("rsa");
  try {
    const plain = data(200_000);
    const viaRing: PgpSettings = { keyId: ring.uid, env: ring.env };
    const enc = await readAll(await encryptStream(streamOf(plain), viaRing));
    assertBytes(await gpg(ring.env, ["-d", "-q"], enc), plain);
    assertBytes(await readAll(await decryptStream(streamOf(enc), viaRing, "x")), plain);
  } finally {
    await dispose(ring);
  }
});

Deno.test("pgp: gpg's compressed messages (zlib, zip, bzip2) decrypt too; tampering anywhere is caught", async () => {
  const ring = await makeRing("rsa");
  try {
    const plain = data(700_000);
    const settings: PgpSettings = {
      keyId: ring.uid,
      publicKeyFile: ring.pub,
      secretKeyFile: ring.sec,
    };
    for (const extra of [["-z", "6"], ["--compress-algo", "zip"], ["--compress-algo", "bzip2"]]) {
      const enc = await gpg(
        ring.env,
        ["-e", ...extra, "--trust-model", "always", "-r", ring.uid],
        plain,
      );
      assertBytes(
        await readAll(await decryptStream(streamOf(enc), settings, "x")),
        plain,
        extra.join(" "),
      );
    }
    const enc = await gpg(
      ring.env,
      ["-e", "-z", "0", "--trust-model", "always", "-r", ring.uid],
      plain,
    );
    for (const at of [400, 600, 5_000, 100_000, enc.length - 30, enc.length - 1]) {
      const bad = enc.slice();
      bad[at] = (bad[at] ?? 0) ^ 0x40;
      await assert.rejects(
        async () => await readAll(await decryptStream(streamOf(bad), settings, "x")),
        (e: unknown) => e instanceof CorruptArchiveError || e instanceof ConfigError,
        `flip at ${at}`,
      );
    }
    await assert.rejects(
      async () =>
        await readAll(await decryptStream(streamOf(enc.slice(0, enc.length - 10)), settings, "x")),
      (e: unknown) => e instanceof CorruptArchiveError || e instanceof ConfigError,
      "truncated",
    );
  } finally {
    await dispose(ring);
  }
});

Deno.test("pgp: a wrong key is a ConfigError and tampered ciphertext a CorruptArchiveError", async () => {
  const a = await makeRing("cv25519");
  const b = await makeRing("rsa");
  try {
    const plain = data(300_000);
    const enc = await readAll(
      await encryptStream(streamOf(plain), { keyId: a.uid, publicKeyFile: a.pub }),
    );
    await assert.rejects(
      async () =>
        await readAll(
          await decryptStream(streamOf(enc), { keyId: b.uid, secretKeyFile: b.sec }, "x"),
        ),
      ConfigError,
    );
    const bad = enc.slice();
    bad[bad.length - 40] = (bad[bad.length - 40] ?? 0) ^ 0x01;
    await assert.rejects(
      async () =>
        await readAll(
          await decryptStream(streamOf(bad), { keyId: a.uid, secretKeyFile: a.sec }, "x"),
        ),
      CorruptArchiveError,
    );
    await assert.rejects(
      () =>
        encryptStream(streamOf(plain), {
          keyId: "nobody@example.com",
          publicKeyFile: a.pub,
          env: a.env,
        }),
      ConfigError,
    );
  } finally {
    await dispose(a);
    await dispose(b);
  }
});
