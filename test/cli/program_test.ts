import assert from "node:assert/strict";
import { parseArgs } from "../../src/cli/program.ts";
import { UsageError } from "../../src/errors.ts";
import { runInProcess } from "../support/wal_e.ts";

function parse(argv: string[]) {
  const r = parseArgs(argv, () => {});
  if (r.kind !== "run") throw new Error(`expected a command, got ${r.kind}`);
  return r;
}

Deno.test("every WAL-E command parses with its options and defaults", () => {
  assert.deepEqual(parse(["version"]).invocation, { name: "version", input: {} });
  assert.deepEqual(parse(["backup-push", "/data"]).invocation.input, {
    clusterDirectory: "/data",
    poolSize: 4,
    readRateLimit: undefined,
    whileOffline: false,
    fastCheckpoint: false,
  });
  assert.deepEqual(
    parse([
      "backup-push",
      "--pool-size=2",
      "--cluster-read-rate-limit",
      "1000",
      "--while-offline",
      "/d",
    ])
      .invocation.input,
    {
      clusterDirectory: "/d",
      poolSize: 2,
      readRateLimit: 1000,
      whileOffline: true,
      fastCheckpoint: false,
    },
  );
  assert.deepEqual(
    parse(["backup-fetch", "--blind-restore", "/d", "LATEST", "--pool-size", "2"]).invocation.input,
    {
      clusterDirectory: "/d",
      backupName: "LATEST",
      poolSize: 2,
      blindRestore: true,
      restoreSpec: undefined,
    },
  );
  assert.deepEqual(
    parse(["backup-fetch", "--restore-spec", "s.json", "/d", "x"]).invocation.input,
    {
      clusterDirectory: "/d",
      backupName: "x",
      poolSize: 4,
      blindRestore: false,
      restoreSpec: "s.json",
    },
  );
  assert.deepEqual(parse(["backup-list"]).invocation.input, {
    query: undefined,
    detail: false,
    json: false,
  });
  assert.deepEqual(parse(["backup-list", "--detail", "LATEST", "--json"]).invocation.input, {
    query: "LATEST",
    detail: true,
    json: true,
  });
  assert.deepEqual(parse(["wal-push", "pg_wal/x"]).invocation.input, {
    segmentPath: "pg_wal/x",
    poolSize: 32,
  });
  assert.deepEqual(parse(["wal-push", "-p8", "pg_wal/x"]).invocation.input, {
    segmentPath: "pg_wal/x",
    poolSize: 8,
  });
  assert.deepEqual(parse(["wal-fetch", "A", "B"]).invocation.input, {
    segmentName: "A",
    destination: "B",
    prefetch: 8,
  });
  assert.deepEqual(parse(["wal-fetch", "-p0", "A", "B"]).invocation.input, {
    segmentName: "A",
    destination: "B",
    prefetch: 0,
  });
  assert.deepEqual(parse(["wal-prefetch", "/base", "S1"]).invocation.input, {
    baseDirectory: "/base",
    segmentNames: ["S1"],
  });
});

Deno.test("delete takes --confirm/--dry-run before its subcommand; --dry-run wins", () => {
  assert.deepEqual(parse(["delete", "--confirm", "retain", "5"]).invocation.input, {
    action: "retain",
    retain: 5,
    confirm: true,
  });
  assert.deepEqual(parse(["delete", "retain", "5"]).invocation.input, {
    action: "retain",
    retain: 5,
    confirm: false,
  });
  assert.deepEqual(parse(["delete", "--confirm", "--dry-run", "everything"]).invocation.input, {
    action: "everything",
    confirm: false,
  });
  assert.deepEqual(parse(["delete", "-n", "--confirm", "old-versions"]).invocation.input, {
    action: "old-versions",
    confirm: false,
  });
  assert.deepEqual(
    parse(["delete", "before", "base_000000010000000000000002_00000040"]).invocation.input,
    {
      action: "before",
      before: "base_000000010000000000000002_00000040",
      confirm: false,
    },
  );
  assert.throws(() => parse(["delete", "retain", "5", "--confirm"]), UsageError);
  assert.throws(() => parse(["delete", "retain", "0"]), UsageError);
  assert.throws(() => parse(["delete"]), UsageError);
});

Deno.test("global options parse before the subcommand only", () => {
  const r = parse([
    "--terse",
    "--file-prefix",
    "file:///x",
    "-k",
    "AKIA",
    "--gpg-key-id",
    "K",
    "version",
  ]);
  assert.equal(r.flags.terse, true);
  assert.equal(r.flags.filePrefix, "file:///x");
  assert.equal(r.flags.awsAccessKeyId, "AKIA");
  assert.equal(r.flags.gpgKeyId, "K");
  assert.throws(() => parse(["version", "--terse"]), UsageError);
});

Deno.test("usage errors are UsageErrors with exit code 2", () => {
  for (
    const argv of [
      ["nope"],
      ["wal-push"],
      ["wal-push", "a", "b"],
      ["wal-push", "-p", "x", "a"],
      ["wal-push", "--pool-size", "0", "a"],
      ["backup-push", "--bogus", "/d"],
      ["--aws-instance-profile", "-k", "AK", "version"],
    ]
  ) {
    assert.throws(
      () => parseArgs(argv, () => {}),
      (e: unknown) => e instanceof UsageError,
      argv.join(" "),
    );
  }
});

Deno.test("secrets on the command line are refused, naming the variable to use", () => {
  for (
    const [flag, env] of [
      ["--aws-secret-access-key=x", "AWS_SECRET_ACCESS_KEY"],
      ["--wabs-access-key", "WABS_ACCESS_KEY"],
      ["--swift-password", "SWIFT_PASSWORD"],
    ]
  ) {
    assert.throws(
      () => parseArgs([flag ?? "", "x", "version"], () => {}),
      (e: unknown) =>
        e instanceof UsageError && e.hint !== undefined && e.hint.includes(env ?? "?"),
    );
  }
});

Deno.test("--help prints usage on stdout and exits 0, for the program and each command", async () => {
  for (
    const argv of [["--help"], ["wal-push", "--help"], ["delete", "--help"], [
      "delete",
      "retain",
      "-h",
    ]]
  ) {
    const r = await runInProcess(argv, {});
    assert.equal(r.code, 0);
    assert.match(r.stdout, /Usage: wal-e/);
    assert.equal(r.stderr, "");
  }
  const top = await runInProcess(["--help"], {});
  assert.match(top.stdout, /WALE_S3_PREFIX/);
  for (
    const c of [
      "backup-push",
      "backup-fetch",
      "backup-list",
      "wal-push",
      "wal-fetch",
      "wal-prefetch",
      "delete",
      "version",
    ]
  ) {
    assert.match(top.stdout, new RegExp(c));
  }
});

Deno.test("usage errors print one line and a hint, no stack trace, exit 2", async () => {
  const r = await runInProcess(["wal-push", "--bogus", "x"], {});
  assert.equal(r.code, 2);
  assert.equal(
    r.stderr,
    `wal-e: error: unknown option '--bogus'\nHINT: Run "wal-e --help" or "wal-e COMMAND --help" for usage.\n`,
  );
});

Deno.test("no subcommand exits 127 with a prefix and 1 without", async () => {
  const withPrefix = await runInProcess([], { WALE_FILE_PREFIX: "file:///tmp/x" });
  assert.equal(withPrefix.code, 127);
  const without = await runInProcess([], {});
  assert.equal(without.code, 1);
  assert.match(without.stderr, /MSG: no storage prefix defined/);
});

Deno.test("version prints 1.1.1 and needs no prefix", async () => {
  const r = await runInProcess(["version"], {});
  assert.deepEqual(r, { code: 0, stdout: "1.1.1\n", stderr: "" });
});

Deno.test("backends that have not landed fail with a clear not-supported error", async () => {
  const r = await runInProcess(["wal-fetch", "-p0", "A", "/tmp/nonexistent/x"], {
    WALE_GS_PREFIX: "gs://bucket/p",
  });
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /MSG: the Google Cloud Storage backend is not supported yet/);
  const g = await runInProcess(["backup-list"], {
    WALE_FILE_PREFIX: "file:///tmp/x",
    WALE_GPG_KEY_ID: "K",
  });
  assert.equal(g.code, 0, "backup-list reads only plain objects");
});

Deno.test("a bad prefix scheme is a user error (exit 1)", async () => {
  const r = await runInProcess(["backup-list"], { WALE_S3_PREFIX: "ftp://x/y" });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /MSG: bad storage prefix URL scheme passed/);
});

Deno.test("an unknown command gets argparse's 'invalid choice' wording, as from WAL-E (exit 2)", async () => {
  const { runInProcess } = await import("../support/wal_e.ts");
  const r = await runInProcess(["--file-prefix", "file:///tmp/x", "bogus"], {});
  assert.equal(r.code, 2);
  assert.match(
    r.stderr,
    /^wal-e: error: argument subcommand: invalid choice: 'bogus' \(choose from 'version', 'backup-push', .*'delete'.*\)\n/,
  );
  // Too many arguments for a known command keep commander's words.
  const extra = await runInProcess(["wal-push", "a", "b"], {});
  assert.equal(extra.code, 2);
  assert.match(extra.stderr, /too many arguments for 'wal-push'/);
});
