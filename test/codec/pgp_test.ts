/**
 * OpenPGP interop with the real gpg binary, both ways, for RSA and Curve25519 keys; key files
 * and the keyring fallback; wrong keys and tampered data are typed errors.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { decryptStream, encryptStream, type PgpSettings } from "../../src/codec/pgp.ts";
import { ConfigError, CorruptArchiveError } from "../../src/errors.ts";
import { assertBytes, readAll, streamOf } from "../support/streams.ts";

interface Ring {
  home: string;
  env: Record<string, string>;
  pub: string;
  sec: string;
  uid: string;
}

/** Runs gpg; `input` goes through a temp file (gpg reads it as its file argument). */
async function gpg(
  env: Record<string, string>,
  args: string[],
  input?: Uint8Array,
): Promise<Uint8Array> {
  const file = input === undefined ? undefined : await Deno.makeTempFile();
  try {
    if (file !== undefined && input !== undefined) await Deno.writeFile(file, input);
    const out = await new Deno.Command("gpg", {
      args: [
        "--batch",
        "--no-tty",
        ...args,
        ...(file === undefined ? [] : ["--output", "-", file]),
      ],
      env,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (out.code !== 0) {
      throw new Error(`gpg ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
    }
    return out.stdout;
  } finally {
    if (file !== undefined) await Deno.remove(file);
  }
}

async function makeRing(kind: "rsa" | "cv25519"): Promise<Ring> {
  const home = await Deno.makeTempDir({ prefix: "wal-e-gpg-" });
  const env = { GNUPGHOME: home, PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin" };
  const uid = `Test ${kind} <${kind}@example.com>`;
  const [primary, sub] = kind === "rsa" ? ["rsa2048", "rsa2048"] : ["ed25519", "cv25519"];
  await gpg(env, ["--passphrase", "", "--quick-gen-key", uid, primary, "sign", "never"]);
  const fpr = new TextDecoder().decode(await gpg(env, ["--list-keys", "--with-colons", uid]))
    .split("\n").find((l) => l.startsWith("fpr:"))?.split(":")[9] ?? "";
  await gpg(env, ["--passphrase", "", "--quick-add-key", fpr, sub, "encr", "never"]);
  await Deno.writeFile(join(home, "pub.asc"), await gpg(env, ["--armor", "--export", fpr]));
  await Deno.writeFile(
    join(home, "sec.asc"),
    await gpg(env, ["--armor", "--export-secret-keys", fpr]),
  );
  return {
    home,
    env,
    pub: join(home, "pub.asc"),
    sec: join(home, "sec.asc"),
    uid: `${kind}@example.com`,
  };
}

/** Removes the ring; its gpg-agent notices its socket is gone and exits by itself. */
async function dispose(ring: Ring): Promise<void> {
  await Deno.remove(ring.home, { recursive: true });
}

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
