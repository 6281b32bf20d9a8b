/**
 * OpenPGP encryption of archive objects, in-process with `npm:openpgp` (WAL-E-COMPAT §4.3, §9):
 * what WAL-E's `gpg -e -z 0 -r KEY` wrote and `gpg -d` read, without a gpg binary.
 *
 * Keys come from armored files named by WALE_GPG_PUBLIC_KEY_FILE (push) and
 * WALE_GPG_SECRET_KEY_FILE + WALE_GPG_PASSPHRASE (fetch), or, when those are unset and a `gpg`
 * binary is on PATH, from the user's keyring by key id as WAL-E did. Decryption streams; the
 * integrity check (MDC) at the end fails the stream, so callers must publish output only after
 * the stream ended cleanly (the pipeline's consumers write to a temp file and rename).
 */
import * as openpgp from "openpgp";
import { ConfigError, CorruptArchiveError } from "../errors.ts";
import { mapStreamErrors } from "../streams.ts";
import { AES_ECB, decryptSeipdV1 } from "./pgp_cfb.ts";
import { openLiteralData } from "./pgp_literal.ts";
import { AES_KEY_BYTES, encryptSeipdV1 } from "./pgp_encrypt.ts";

/** Where keys come from (resolved by the CLI from the environment). */
export interface PgpSettings {
  /** WALE_GPG_KEY_ID / --gpg-key-id: recipient for encryption. */
  keyId: string;
  publicKeyFile?: string | undefined;
  secretKeyFile?: string | undefined;
  passphrase?: string | undefined;
  /** Environment for the gpg fallback (GNUPGHOME, HOME, PATH). */
  env?: Readonly<Record<string, string>> | undefined;
}

async function gpgExport(
  args: string[],
  settings: PgpSettings,
  stdin?: string,
): Promise<Uint8Array> {
  let out: Deno.CommandOutput;
  try {
    const child = new Deno.Command("gpg", {
      args: ["--batch", "--no-tty", ...args],
      ...(settings.env === undefined ? {} : { env: { ...settings.env }, clearEnv: true }),
      stdin: stdin === undefined ? "null" : "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    if (stdin !== undefined) {
      const w = child.stdin.getWriter();
      await w.write(new TextEncoder().encode(stdin + "\n"));
      await w.close();
    }
    out = await child.output();
  } catch (err) {
    throw new ConfigError("no GPG key material available", {
      detail: `Neither a key file variable is set nor can gpg be run (${String(err)}).`,
      hint: "Set WALE_GPG_PUBLIC_KEY_FILE (push) and WALE_GPG_SECRET_KEY_FILE (fetch) to " +
        "armored key files, or install gpg with the key in its keyring.",
    });
  }
  if (out.code !== 0 || out.stdout.length === 0) {
    throw new ConfigError(`GPG key "${settings.keyId}" not found in the gpg keyring`, {
      detail: new TextDecoder().decode(out.stderr).trim() || "gpg exported nothing.",
      hint: "Import the key (gpg --import) or set WALE_GPG_PUBLIC_KEY_FILE / " +
        "WALE_GPG_SECRET_KEY_FILE.",
    });
  }
  return out.stdout;
}

async function readKeyFile(path: string, what: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (err) {
    throw new ConfigError(`cannot read the GPG ${what} key file`, {
      detail: `"${path}": ${err instanceof Error ? err.message : String(err)}`,
    });
  }
}

/** Whether a key matches a WAL-E style key id (fingerprint, long/short id, or user id text). */
function matches(key: openpgp.Key, id: string): boolean {
  const want = id.replace(/^0x/i, "").replace(/\s+/g, "").toUpperCase();
  const ids = [key, ...key.getSubkeys()].flatMap((k) => [
    k.getFingerprint().toUpperCase(),
    k.getKeyID().toHex().toUpperCase(),
  ]);
  if (ids.some((x) => x.endsWith(want))) return true;
  return key.getUserIDs().some((u) => u.toLowerCase().includes(id.toLowerCase()));
}

const publicCache = new Map<string, Promise<openpgp.Key[]>>();
const secretCache = new Map<string, Promise<openpgp.PrivateKey[]>>();

/** The recipient keys for encryption. */
export function encryptionKeys(settings: PgpSettings): Promise<openpgp.Key[]> {
  const cacheKey = `${settings.keyId}\0${settings.publicKeyFile ?? ""}`;
  let p = publicCache.get(cacheKey);
  if (p === undefined) {
    p = (async () => {
      const keys = settings.publicKeyFile !== undefined
        ? await openpgp.readKeys({
          armoredKeys: await readKeyFile(settings.publicKeyFile, "public"),
        })
        : await openpgp.readKeys({
          binaryKeys: await gpgExport(["--export", settings.keyId], settings),
        });
      // Strict: encrypting to a key other than the configured one could make archives
      // that the operator's secret key cannot open.
      const chosen = keys.filter((k) => matches(k, settings.keyId));
      if (chosen.length === 0) {
        throw new ConfigError(`no public key matches GPG key id "${settings.keyId}"`, {
          detail: `The key file holds ${keys.length} keys, none with that id.`,
        });
      }
      return chosen;
    })();
    publicCache.set(cacheKey, p);
  }
  return p;
}

/** The secret keys for decryption, unlocked with the passphrase when protected. */
export function decryptionKeys(settings: PgpSettings): Promise<openpgp.PrivateKey[]> {
  const cacheKey = `${settings.keyId}\0${settings.secretKeyFile ?? ""}`;
  let p = secretCache.get(cacheKey);
  if (p === undefined) {
    p = (async () => {
      const keys = settings.secretKeyFile !== undefined
        ? await openpgp.readPrivateKeys({
          armoredKeys: await readKeyFile(settings.secretKeyFile, "secret"),
        })
        : await openpgp.readPrivateKeys({
          binaryKeys: await gpgExport(
            settings.passphrase === undefined ? ["--export-secret-keys", settings.keyId] : [
              "--pinentry-mode",
              "loopback",
              "--passphrase-fd",
              "0",
              "--export-secret-keys",
              settings.keyId,
            ],
            settings,
            settings.passphrase,
          ),
        });
      return await Promise.all(keys.map(async (k) => {
        if (k.isDecrypted()) return k;
        if (settings.passphrase === undefined) {
          throw new ConfigError("the GPG secret key is protected by a passphrase", {
            hint: "Set WALE_GPG_PASSPHRASE in the environment.",
          });
        }
        try {
          return await openpgp.decryptKey({ privateKey: k, passphrase: settings.passphrase });
        } catch (err) {
          throw new ConfigError("wrong passphrase for the GPG secret key", { cause: err });
        }
      }));
    })();
    secretCache.set(cacheKey, p);
  }
  return p;
}

/**
 * Encrypts a stream as `gpg -e -z 0` does: binary, no compression, SEIPD v1 with MDC. With an
 * AES session key (what every key gpg makes prefers) the data is encrypted by native AES
 * (pgp_encrypt.ts); openpgp only wraps the session key for the recipients.
 */
export async function encryptStream(
  plain: ReadableStream<Uint8Array>,
  settings: PgpSettings,
): Promise<ReadableStream<Uint8Array>> {
  const keys = await encryptionKeys(settings);
  try {
    const session = await openpgp.generateSessionKey({ encryptionKeys: keys });
    if (AES_KEY_BYTES[session.algorithm] === session.data.length) {
      const pkesk = await openpgp.encryptSessionKey({
        data: session.data,
        algorithm: session.algorithm,
        encryptionKeys: keys,
        format: "binary",
      });
      return encryptSeipdV1(plain, { key: session.data, algorithm: session.algorithm, pkesk });
    }
  } catch (err) {
    await plain.cancel().catch(() => {});
    throw cannotEncrypt(err, settings);
  }
  const message = await openpgp.createMessage({ binary: plain, format: "binary" });
  let out: unknown;
  try {
    out = await openpgp.encrypt({
      message,
      encryptionKeys: keys,
      format: "binary",
      config: { preferredCompressionAlgorithm: openpgp.enums.compression.uncompressed },
    });
  } catch (err) {
    await plain.cancel().catch(() => {});
    throw cannotEncrypt(err, settings);
  }
  return out as ReadableStream<Uint8Array>;
}

function cannotEncrypt(err: unknown, settings: PgpSettings): ConfigError {
  return new ConfigError(`cannot encrypt to GPG key "${settings.keyId}"`, {
    detail: err instanceof Error ? err.message : String(err),
    hint: "Use a key with a valid (unexpired, unrevoked) encryption subkey.",
    cause: err,
  });
}

/** Translates openpgp's decryption failures into our typed errors. */
function decryptError(err: unknown, what: string): Error {
  const text = err instanceof Error ? err.message : String(err);
  if (/session key|no decryption key|decryption key|not a valid|private key/i.test(text)) {
    return new ConfigError("cannot decrypt: no matching GPG secret key", {
      detail: `${what}: ${text}`,
      hint:
        "Check WALE_GPG_SECRET_KEY_FILE (or the gpg keyring) holds the key it was encrypted to.",
      cause: err,
    });
  }
  return new CorruptArchiveError("encrypted object failed to decrypt or its integrity check", {
    detail: `${what}: ${text}`,
    cause: err,
  });
}

/** Decrypts a binary OpenPGP stream; errors (wrong key, tampering) surface from the stream. */
export async function decryptStream(
  cipher: ReadableStream<Uint8Array>,
  settings: PgpSettings,
  what: string,
): Promise<ReadableStream<Uint8Array>> {
  const keys = await decryptionKeys(settings);
  let data: ReadableStream<Uint8Array>;
  try {
    const message = await openpgp.readMessage({ binaryMessage: cipher });
    data = await fastDecrypt(message, keys) ?? (await openpgp.decrypt({
      message,
      decryptionKeys: keys,
      format: "binary",
      // Streams plaintext before the MDC is checked; the final check still errors the stream.
      config: { allowUnauthenticatedStream: true },
    })).data as ReadableStream<Uint8Array>;
  } catch (err) {
    throw decryptError(err, what);
  }
  return mapStreamErrors(data, (err) => decryptError(err, what));
}

/** The parts of openpgp's SEIPD packet object the fast path reads (not in its typings). */
interface SeipdPacket {
  version: number;
  encrypted: ReadableStream<Uint8Array>;
}

/**
 * The native-AES path (see pgp_cfb.ts) for SEIPD v1 with an AES session key, which is what
 * gpg and we write; undefined for anything else, left to openpgp.
 */
async function fastDecrypt(
  message: openpgp.Message<ReadableStream<Uint8Array>>,
  keys: openpgp.PrivateKey[],
): Promise<ReadableStream<Uint8Array> | undefined> {
  const seipd = message.packets.filterByTag(
    openpgp.enums.packet.symEncryptedIntegrityProtectedData,
  )[0] as unknown as SeipdPacket | undefined;
  if (seipd?.version !== 1) return undefined;
  const [sessionKey] = await openpgp.decryptSessionKeys({ message, decryptionKeys: keys });
  const algorithm = sessionKey?.algorithm;
  const cipherName = typeof algorithm === "string" ? AES_ECB[algorithm] : undefined;
  if (sessionKey === undefined || cipherName === undefined) return undefined;
  const inner = await openLiteralData(decryptSeipdV1(seipd.encrypted, sessionKey.data, cipherName));
  if ("data" in inner) return inner.data;
  // A compressed inner packet (gpg without -z 0): openpgp unwraps it from our decrypted bytes.
  const packets = await openpgp.readMessage({ binaryMessage: inner.fallback });
  const unwrapped =
    (packets as unknown as { unwrapCompressed(): openpgp.Message<ReadableStream<Uint8Array>> })
      .unwrapCompressed();
  const literal = unwrapped.getLiteralData();
  if (literal === null) throw new Error("no literal data in the decrypted message");
  return literal as ReadableStream<Uint8Array>;
}
