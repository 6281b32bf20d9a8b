/** Test harness: throwaway GnuPG homes with RSA or Curve25519 keys, and gpg runs. */
import { join } from "node:path";

/** A GnuPG home with one key pair, exported to armored files. */
export interface Ring {
  home: string;
  env: Record<string, string>;
  pub: string;
  sec: string;
  uid: string;
}

/** Runs gpg; `input` goes through a temp file (gpg reads it as its file argument). */
export async function gpg(
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

export async function makeRing(kind: "rsa" | "cv25519"): Promise<Ring> {
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
export async function dispose(ring: Ring): Promise<void> {
  await Deno.remove(ring.home, { recursive: true });
}
