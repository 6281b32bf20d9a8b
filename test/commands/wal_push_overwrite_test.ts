/**
 * wal-push never silently replaces an archived segment: identical content is success without
 * an upload, different content is refused (exit 1, the stored object untouched) unless
 * WALE_WAL_OVERWRITE is set, and a stored copy that no longer decodes is replaced with a warning.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { runInProcess } from "../support/wal_e.ts";

const SEG = "000000010000000000000007";

async function setUp(): Promise<{ dir: string; env: Record<string, string>; obj: string }> {
  const dir = await Deno.makeTempDir({ prefix: "wal-e-overwrite-" });
  await Deno.mkdir(join(dir, "pg_wal"));
  await Deno.writeFile(join(dir, "pg_wal", SEG), new Uint8Array(1 << 20).fill(7));
  return {
    dir,
    env: { WALE_FILE_PREFIX: `file://localhost${dir}/archive` },
    obj: join(dir, "archive", "wal_005", `${SEG}.lzo`),
  };
}

Deno.test("wal-push: the same segment again is success without an upload", async () => {
  const { dir, env, obj } = await setUp();
  try {
    const first = await runInProcess(["wal-push", "-p1", join(dir, "pg_wal", SEG)], env);
    assert.equal(first.code, 0, first.stderr);
    const before = await Deno.stat(obj);
    const again = await runInProcess(["wal-push", "-p1", join(dir, "pg_wal", SEG)], env);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /MSG: WAL file already archived with identical content/);
    // The file store finds the archived copy in its no-clobber put (after "begin archiving").
    assert.doesNotMatch(again.stderr, /completed archiving/);
    assert.equal((await Deno.stat(obj)).mtime?.getTime(), before.mtime?.getTime());
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("wal-push: different content under the same name is refused unless WALE_WAL_OVERWRITE=1", async () => {
  const { dir, env, obj } = await setUp();
  try {
    const path = join(dir, "pg_wal", SEG);
    assert.equal((await runInProcess(["wal-push", "-p1", path], env)).code, 0);
    const stored = await Deno.readFile(obj);
    // Another cluster's segment of the same name (a restored copy still archiving, say).
    await Deno.writeFile(path, new Uint8Array(1 << 20).fill(9));
    const refused = await runInProcess(["wal-push", "-p1", path], env);
    assert.equal(refused.code, 1, refused.stderr);
    assert.match(refused.stderr, /ERROR +MSG: refusing to overwrite an archived WAL file\n/);
    assert.match(refused.stderr, /holds different content/);
    assert.match(refused.stderr, /WALE_WAL_OVERWRITE=1/);
    assert.deepEqual(await Deno.readFile(obj), stored);
    // A shorter or longer file differs too.
    await Deno.writeFile(path, new Uint8Array(1 << 19).fill(7));
    assert.equal((await runInProcess(["wal-push", "-p1", path], env)).code, 1);
    await Deno.writeFile(path, new Uint8Array((1 << 20) + 1).fill(7));
    assert.equal((await runInProcess(["wal-push", "-p1", path], env)).code, 1);

    await Deno.writeFile(path, new Uint8Array(1 << 20).fill(9));
    const forced = await runInProcess(["wal-push", "-p1", path], {
      ...env,
      WALE_WAL_OVERWRITE: "1",
    });
    assert.equal(forced.code, 0, forced.stderr);
    assert.match(forced.stderr, /WARNING +MSG: overwriting an archived WAL file/);
    assert.notDeepEqual(await Deno.readFile(obj), stored);
    const back = join(dir, "back");
    const fetched = await runInProcess(["wal-fetch", "-p0", SEG, back], env);
    assert.equal(fetched.code, 0, fetched.stderr);
    assert.deepEqual(await Deno.readFile(back), await Deno.readFile(path));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("wal-push: a stored copy that no longer decodes is replaced, with a warning", async () => {
  const { dir, env, obj } = await setUp();
  try {
    const path = join(dir, "pg_wal", SEG);
    assert.equal((await runInProcess(["wal-push", "-p1", path], env)).code, 0);
    const bytes = await Deno.readFile(obj);
    bytes[bytes.length - 20] = (bytes[bytes.length - 20] ?? 0) ^ 0xff;
    await Deno.writeFile(obj, bytes);
    const r = await runInProcess(["wal-push", "-p1", path], env);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /WARNING +MSG: overwriting an archived WAL file/);
    assert.match(r.stderr, /no longer decodes/);
    const back = join(dir, "back");
    assert.equal((await runInProcess(["wal-fetch", "-p0", SEG, back], env)).code, 0);
    assert.deepEqual(await Deno.readFile(back), await Deno.readFile(path));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("WALE_LOG_DESTINATION=syslog: errors and warnings still reach stderr, with a word on syslog", async () => {
  const { dir, env } = await setUp();
  try {
    const syslogOnly = { ...env, WALE_LOG_DESTINATION: "syslog" };
    const failed = await runInProcess(
      ["wal-push", join(dir, "pg_wal", "000000010000000000000099")],
      syslogOnly,
    );
    assert.equal(failed.code, 1);
    assert.match(failed.stderr, /WARNING +MSG: syslog logging is not supported: logging to stderr/);
    assert.match(failed.stderr, /ERROR +MSG: could not find file for wal-push/);
    const ok = await runInProcess(["wal-push", "-p1", join(dir, "pg_wal", SEG)], syslogOnly);
    assert.equal(ok.code, 0, ok.stderr);
    assert.doesNotMatch(ok.stderr, /INFO/);
    // Unset, WAL-E's default "stderr,syslog": INFO on stderr and no syslog warning per call.
    const dflt = await runInProcess(["wal-push", "-p1", join(dir, "pg_wal", SEG)], env);
    assert.match(dflt.stderr, /INFO/);
    assert.doesNotMatch(dflt.stderr, /syslog/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
