/**
 * The exit-status table, pinned for every command, and applied as a user meets it: a mistake
 * found before the command runs (a bad variable, a bad command line) still gets that command's
 * status, so wal-fetch never answers 1 ("end of archive") for anything but a missing segment.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { EXIT_TABLE } from "../../src/cli/exit_codes.ts";
import { runInProcess } from "../support/wal_e.ts";

const WALE = {
  usage: 2,
  config: 1,
  "not-found": 1,
  corrupt: 1,
  store: 1,
  unsupported: 1,
  user: 1,
  environment: 1,
  bug: 2,
};
const RESTORE = {
  usage: 126,
  config: 126,
  "not-found": 1,
  corrupt: 126,
  store: 126,
  unsupported: 126,
  user: 126,
  environment: 126,
  bug: 126,
};

Deno.test("exit table: every command's status for every kind of failure is pinned", () => {
  assert.deepEqual(EXIT_TABLE, {
    none: WALE,
    version: WALE,
    "backup-push": WALE,
    "backup-fetch": WALE,
    "backup-list": WALE,
    "wal-push": WALE,
    "wal-fetch": RESTORE,
    "wal-prefetch": WALE,
    delete: WALE,
    "wal-verify": WALE,
    check: WALE,
    "backup-verify": WALE,
  });
});

const SEG = "000000010000000000000002";

/** Every command, with arguments that would otherwise be valid. */
function commands(dir: string): [string, string[]][] {
  return [
    ["backup-push", ["backup-push", join(dir, "pgdata")]],
    ["backup-fetch", ["backup-fetch", join(dir, "restore"), "LATEST"]],
    ["backup-list", ["backup-list"]],
    ["wal-push", ["wal-push", join(dir, SEG)]],
    ["wal-fetch", ["wal-fetch", SEG, join(dir, "RECOVERYXLOG")]],
    ["wal-prefetch", ["wal-prefetch", dir, SEG]],
    ["delete", ["delete", "retain", "1"]],
    ["wal-verify", ["wal-verify"]],
    ["check", ["check", "--no-postgres"]],
    ["backup-verify", ["backup-verify", "LATEST"]],
  ];
}

const BAD_ENVIRONMENTS: Record<string, string>[] = [
  { WALE_RETRIES: "abc" },
  { AWS_INSTANCE_PROFILE: "maybe" },
  { WALE_LOG_DESTINATION: "journal" },
  { WALE_WAL_OVERWRITE: "perhaps" },
];

Deno.test("exit codes: a bad variable gets each command's configuration status (wal-fetch 126)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "wal-e-exit-" });
  try {
    for (const bad of BAD_ENVIRONMENTS) {
      for (const prefix of [`file://localhost${dir}/archive`, "s3://bucket/pg"]) {
        const env = { WALE_FILE_PREFIX: "", WALE_S3_PREFIX: prefix, ...bad };
        for (const [name, argv] of commands(dir)) {
          const r = await runInProcess(argv, env);
          const want = EXIT_TABLE[name as keyof typeof EXIT_TABLE].config;
          assert.equal(r.code, want, `${name} ${JSON.stringify(bad)} ${prefix}: ${r.stderr}`);
          assert.match(r.stderr, /ERROR +MSG: invalid value for [A-Z_]+\n/, r.stderr);
          assert.doesNotMatch(r.stderr, /bug in wal-e|\n +at /);
        }
      }
    }
    // version needs no configuration and answers whatever the environment holds.
    const v = await runInProcess(["version"], { WALE_RETRIES: "abc" });
    assert.equal(v.code, 0, v.stderr);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("exit codes: a bad command line is 2, but 126 for wal-fetch (a broken restore_command must stop recovery)", async () => {
  const env = { WALE_FILE_PREFIX: "file:///nonexistent/archive" };
  for (
    const [argv, want] of [
      [["wal-fetch", SEG], 126],
      [["wal-fetch", "--prefetch", "x", SEG, "dest"], 126],
      [["wal-fetch", SEG, "a", "b"], 126],
      [["wal-push"], 2],
      [["backup-list", "--bogus"], 2],
      [["delete", "retain", "0"], 2],
      [["backup-push"], 2],
    ] as [string[], number][]
  ) {
    const r = await runInProcess(argv, env);
    assert.equal(r.code, want, `${argv.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, /^wal-e: error: /, r.stderr);
  }
});

Deno.test("exit codes: wal-fetch answers 1 only for a segment missing from a usable store", async () => {
  const dir = await Deno.makeTempDir({ prefix: "wal-e-exit-" });
  try {
    const dest = join(dir, "RECOVERYXLOG");
    // The prefix directory is missing (an unmounted archive): not the end of the archive.
    const env = { WALE_FILE_PREFIX: `file://localhost${dir}/archive` };
    const missingRoot = await runInProcess(["wal-fetch", "-p0", SEG, dest], env);
    assert.equal(missingRoot.code, 126, missingRoot.stderr);
    assert.match(missingRoot.stderr, /MSG: the storage prefix directory does not exist\n/);
    // Once the directory is there, a missing segment is the normal end of the archive.
    await Deno.mkdir(join(dir, "archive"));
    const missing = await runInProcess(["wal-fetch", "-p0", SEG, dest], env);
    assert.equal(missing.code, 1, missing.stderr);
    // A corrupt object is not "missing".
    await Deno.mkdir(join(dir, "archive", "wal_005"));
    await Deno.writeTextFile(join(dir, "archive", "wal_005", `${SEG}.lzo`), "garbage");
    const corrupt = await runInProcess(["wal-fetch", "-p0", SEG, dest], env);
    assert.equal(corrupt.code, 126, corrupt.stderr);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
