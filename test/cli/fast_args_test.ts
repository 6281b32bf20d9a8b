/**
 * The commander-free parser of the WAL commands agrees with commander wherever it answers, and
 * leaves to commander every line it does not fully understand (help, errors, other commands).
 */
import assert from "node:assert/strict";
import { fastParse } from "../../src/cli/fast_args.ts";
import { parseArgs } from "../../src/cli/program.ts";

const SEG = "000000010000000000000002";

/** Lines the fast parser must take, as archive_command / restore_command write them. */
const TAKEN: string[][] = [
  ["wal-push", "pg_wal/" + SEG],
  ["wal-push", "-p", "1", "pg_wal/" + SEG],
  ["wal-push", "pg_wal/" + SEG, "--pool-size", "8"],
  ["wal-push", "--pool-size=4", "pg_wal/" + SEG],
  ["wal-push", "-p", "2", "-p", "3", "x"],
  ["wal-push", "-p1", "x"],
  ["wal-fetch", "-p0", SEG, "d"],
  ["wal-fetch", "-p16", SEG, "d"],
  ["wal-fetch", SEG, "pg_wal/RECOVERYXLOG"],
  ["wal-fetch", "-p", "0", SEG, "pg_wal/RECOVERYXLOG"],
  ["wal-fetch", "--prefetch=16", SEG, "dest"],
  ["wal-fetch", SEG, "dest", "--prefetch", "3"],
  ["wal-prefetch", "/var/lib/pg/pg_wal", SEG, "000000010000000000000003"],
  ["version"],
  ["--terse", "wal-push", "x"],
  ["--s3-prefix", "s3://b/p", "-k", "AKIA", "wal-fetch", SEG, "d"],
  ["--file-prefix=file:///var/backups/pg", "--gpg-key-id", "ABCD", "wal-push", "x"],
  ["--aws-instance-profile", "--wabs-prefix", "wabs://c/p", "-a", "acct", "wal-fetch", SEG, "d"],
  ["--gs-prefix", "gs://b/p", "--gs-access-key-id", "x", "version"],
];

/** Lines it must leave to commander. */
const LEFT: string[][] = [
  [],
  ["--help"],
  ["wal-push", "--help"],
  ["wal-fetch", "-h", SEG, "d"],
  ["wal-push"],
  ["wal-push", "a", "b"],
  ["wal-push", "-p", "0", "x"],
  ["wal-push", "-p0", "x"],
  ["wal-push", "-px", "x"],
  ["wal-push", "-p", "x", "seg"],
  ["wal-push", "-p"],
  ["wal-push", "--", "x"],
  ["wal-fetch", SEG],
  ["wal-fetch", "-p", "-1", SEG, "d"],
  ["wal-fetch", "--bogus", SEG, "d"],
  ["wal-prefetch", "dir"],
  ["version", "extra"],
  ["--terse=1", "version"],
  ["-kAKIA", "version"],
  ["--s3-prefix", "--terse", "version"],
  ["--unknown", "version"],
  ["backup-list"],
  ["backup-push", "/data"],
  ["delete", "retain", "2"],
  ["bogus-command"],
];

function normalized(flags: object): Record<string, unknown> {
  return Object.fromEntries(Object.entries(flags).filter(([, v]) => v !== undefined));
}

Deno.test("fast WAL parser: the same invocation and flags as commander for every line it takes", () => {
  for (const argv of TAKEN) {
    const fast = fastParse(argv);
    assert.ok(fast !== undefined, `not taken: ${argv.join(" ")}`);
    const slow = parseArgs(argv, () => {});
    assert.equal(slow.kind, "run", argv.join(" "));
    if (slow.kind !== "run") continue;
    assert.deepEqual(fast.invocation, slow.invocation, argv.join(" "));
    assert.deepEqual(normalized(fast.flags), normalized(slow.flags), argv.join(" "));
  }
});

Deno.test("fast WAL parser: help, errors and the other commands are left to commander", () => {
  for (const argv of LEFT) {
    assert.equal(fastParse(argv), undefined, argv.join(" "));
  }
});
