/**
 * The WAL commands on bad input, run through main.ts as PostgreSQL runs them: every mistake is
 * one MSG/DETAIL/HINT with the right exit status, never a stack trace, and a bad segment name
 * never becomes a store request.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { AS_ROOT, makeSharedTempDir, type Output, sh } from "../support/postgres.ts";
import { runWalE, WAL_E_CMD } from "../support/wal_e.ts";

const SEG = "000000010000000000000002";

/** No stack trace, no "bug" banner: what every case below must hold. */
export function assertNoStackTrace(r: Output): void {
  assert.doesNotMatch(r.stderr, /bug in wal-e|\n\s+at |Error: |Uncaught/, r.stderr);
  assert.match(r.stderr, /(ERROR|CRITICAL) +MSG: |wal-e: error: /, r.stderr);
}

async function withArchive(
  fn: (dir: string, env: Record<string, string>) => Promise<void>,
): Promise<void> {
  const dir = await makeSharedTempDir("wal-e-bad-input-");
  try {
    await Deno.mkdir(join(dir, "archive"));
    await fn(dir, { WALE_FILE_PREFIX: `file://localhost${dir}/archive` });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("wal-push: a directory, a non-WAL name or a prefix through a regular file are clear errors (exit 1)", async () => {
  await withArchive(async (dir, env) => {
    await Deno.mkdir(join(dir, SEG));
    const ofDir = await runWalE(["wal-push", join(dir, SEG)], env);
    assert.equal(ofDir.code, 1);
    assertNoStackTrace(ofDir);
    assert.match(ofDir.stderr, /MSG: wal-push needs a WAL file, not a directory/);

    await Deno.writeTextFile(join(dir, "postgresql.conf"), "x");
    const notWal = await runWalE(["wal-push", join(dir, "postgresql.conf")], env);
    assert.equal(notWal.code, 1);
    assertNoStackTrace(notWal);
    assert.match(notWal.stderr, /is not a WAL file name/);

    await Deno.mkdir(join(dir, "seg"));
    await Deno.writeFile(join(dir, "seg", SEG), new Uint8Array(1024));
    await Deno.writeTextFile(join(dir, "plainfile"), "x");
    const throughFile = await runWalE(["wal-push", "-p1", join(dir, "seg", SEG)], {
      WALE_FILE_PREFIX: `file://localhost${dir}/plainfile/pg`,
    });
    assert.equal(throughFile.code, 1);
    assertNoStackTrace(throughFile);
    assert.match(throughFile.stderr, /MSG: a path in the storage prefix is not a directory/);
  });
});

Deno.test(
  `wal-push: an unreadable file is a clear error (exit 1)${
    AS_ROOT ? ", run as the postgres user" : ""
  }`,
  async () => {
    await withArchive(async (dir, env) => {
      const seg = join(dir, SEG);
      await Deno.writeFile(seg, new Uint8Array(4096));
      await Deno.chmod(seg, 0o000);
      // root reads anything: run the tool as postgres, who owns the archive but not the file.
      if (AS_ROOT) {
        await sh(["chown", "-R", "postgres", join(dir, "archive")], { asPostgres: false });
      }
      const r = await sh([...WAL_E_CMD, "wal-push", "-p1", seg], {
        env: {
          ...env,
          NO_COLOR: "1",
          DENO_DIR: Deno.realPathSync(Deno.env.get("DENO_DIR") ?? "."),
        },
        check: false,
      });
      assert.equal(r.code, 1, r.stderr);
      assertNoStackTrace(r);
      assert.match(r.stderr, /MSG: could not read file for wal-push\n/);
      assert.match(r.stderr, /DETAIL: Permission denied/);
    });
  },
);

Deno.test("wal-fetch: names that are not WAL files, and swapped %f/%p, fail with 126 before any store call", async () => {
  await withArchive(async (dir, env) => {
    await Deno.mkdir(join(dir, "pg_wal"));
    for (
      const [name, dest, hint] of [
        ["../../x", join(dir, "pg_wal", "RECOVERYXLOG"), /Use restore_command/],
        ["/etc/passwd", join(dir, "pg_wal", "RECOVERYXLOG"), /Use restore_command/],
        [`${SEG}/../x`, join(dir, "pg_wal", "RECOVERYXLOG"), /Use restore_command/],
        // restore_command = 'wal-e wal-fetch "%p" "%f"'
        ["pg_wal/RECOVERYXLOG", SEG, /arguments look swapped/],
        [join(dir, "pg_wal", "RECOVERYHISTORY"), "00000002.history", /arguments look swapped/],
      ] as [string, string, RegExp][]
    ) {
      const r = await runWalE(["wal-fetch", name, dest], env, { cwd: dir });
      assert.equal(r.code, 126, `${name}: ${r.stderr}`);
      assertNoStackTrace(r);
      assert.match(r.stderr, /MSG: invalid WAL file name/);
      assert.match(r.stderr, hint);
    }
  });
});

Deno.test("wal-fetch: a missing destination directory, or a destination that is a directory, fail with 126", async () => {
  await withArchive(async (dir, env) => {
    const missingDir = await runWalE(["wal-fetch", SEG, join(dir, "nope", "RECOVERYXLOG")], env);
    assert.equal(missingDir.code, 126, missingDir.stderr);
    assertNoStackTrace(missingDir);
    assert.match(missingDir.stderr, /MSG: the directory of the WAL destination is not usable/);

    // A destination that is a directory is found when the restored segment is renamed onto
    // it (the usual destination does not exist, and a failing stat costs every call ~1 ms);
    // the downloaded copy is not left behind.
    await Deno.mkdir(join(dir, "src"));
    await Deno.writeFile(join(dir, "src", SEG), new Uint8Array(1 << 20).fill(7));
    assert.equal((await runWalE(["wal-push", "-p1", join(dir, "src", SEG)], env)).code, 0);
    await Deno.mkdir(join(dir, "pg_wal"));
    const ontoDir = await runWalE(["wal-fetch", "--prefetch", "0", SEG, join(dir, "pg_wal")], env);
    assert.equal(ontoDir.code, 126, ontoDir.stderr);
    assertNoStackTrace(ontoDir);
    assert.match(ontoDir.stderr, /MSG: the WAL destination is a directory/);
    assert.deepEqual((await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name).sort(), [
      "archive",
      "pg_wal",
      "src",
    ]);
  });
});

Deno.test("wal-prefetch: bad segment names and a missing base directory are clear errors", async () => {
  await withArchive(async (dir, env) => {
    const bad = await runWalE(["wal-prefetch", dir, "../../etc"], env);
    assert.equal(bad.code, 1);
    assertNoStackTrace(bad);
    const noBase = await runWalE(["wal-prefetch", join(dir, "nope"), SEG], env);
    assert.equal(noBase.code, 1);
    assertNoStackTrace(noBase);
  });
});

Deno.test("file prefix with a host part (file://tmp/x) is refused, not taken as /x", async () => {
  const r = await runWalE(["backup-list"], { WALE_FILE_PREFIX: "file://tmp/x" });
  assert.equal(r.code, 1);
  assertNoStackTrace(r);
  assert.match(r.stderr, /MSG: file prefix names a host/);
  assert.match(r.stderr, /HINT: Write file:\/\/\/tmp\/x \(three slashes\)/);
});
