/**
 * Encryption through the command line, interoperable with WAL-E's pipeline: wal-push with
 * WALE_GPG_KEY_ID writes gpg(lzop(segment)) that `gpg -d | lzop -d` reads back, and wal-fetch
 * decrypts it in-process; without a key, fetching an encrypted object is a clear error.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { dispose, gpg, makeRing } from "../support/gpg.ts";
import { assertBytes } from "../support/streams.ts";
import { runInProcess } from "../support/wal_e.ts";

Deno.test("wal-push encrypts as gpg -e -z 0 over lzop; gpg + lzop and wal-fetch read it back", async () => {
  const ring = await makeRing("cv25519");
  const dir = await Deno.makeTempDir({ prefix: "wal-e-enc-" });
  try {
    const seg = "000000010000000000000005";
    const data = new Uint8Array(3 << 20).map((_, i) => (i >> 7) ^ (i & 0x0f));
    await Deno.writeFile(join(dir, seg), data);
    const env = {
      WALE_FILE_PREFIX: `file://localhost${dir}/archive`,
      WALE_GPG_KEY_ID: ring.uid,
      WALE_GPG_PUBLIC_KEY_FILE: ring.pub,
      WALE_GPG_SECRET_KEY_FILE: ring.sec,
    };
    const push = await runInProcess(["wal-push", "-p1", join(dir, seg)], env);
    assert.equal(push.code, 0, push.stderr);
    const obj = await Deno.readFile(join(dir, "archive", "wal_005", `${seg}.lzo`));
    assert.notEqual(obj[0], 0x89, "not a plain lzop stream");
    const lzop = await gpg(ring.env, ["-d", "-q"], obj);
    assert.deepEqual(lzop.subarray(0, 4), new Uint8Array([0x89, 0x4c, 0x5a, 0x4f]));
    await Deno.writeFile(join(dir, "x.lzo"), lzop);
    const plain = await new Deno.Command("lzop", { args: ["-dc", join(dir, "x.lzo")] }).output();
    assertBytes(plain.stdout, data, "gpg -d | lzop -d");

    const dest = join(dir, "RECOVERYXLOG");
    const fetch = await runInProcess(["wal-fetch", "-p0", seg, dest], env);
    assert.equal(fetch.code, 0, fetch.stderr);
    assertBytes(await Deno.readFile(dest), data, "wal-fetch");

    const noKey = await runInProcess(["wal-fetch", "-p0", seg, join(dir, "other")], {
      WALE_FILE_PREFIX: env.WALE_FILE_PREFIX,
    });
    assert.equal(noKey.code, 126);
    assert.match(noKey.stderr, /MSG: object is encrypted but no GPG key is configured/);
    await assert.rejects(() => Deno.stat(join(dir, "other")), Deno.errors.NotFound);
  } finally {
    await dispose(ring);
    await Deno.remove(dir, { recursive: true });
  }
});
