/** backup-verify's command line: its options and defaults, and what it refuses. */
import assert from "node:assert/strict";
import { parseArgs } from "../../src/cli/program.ts";
import { UsageError } from "../../src/errors.ts";

function input(argv: string[]): unknown {
  const r = parseArgs(argv, () => {});
  if (r.kind !== "run") throw new Error(`expected a command, got ${r.kind}`);
  assert.equal(r.invocation.name, "backup-verify");
  return r.invocation.input;
}

Deno.test("backup-verify parses NAME|LATEST, --json, --pool-size and the restore drill's options", () => {
  assert.deepEqual(input(["backup-verify", "LATEST"]), {
    backupName: "LATEST",
    json: false,
    poolSize: 4,
    restore: false,
    targetTime: undefined,
    pgBin: undefined,
  });
  assert.deepEqual(
    input([
      "backup-verify",
      "--json",
      "-p",
      "2",
      "--restore",
      "--target-time",
      "2026-12-05 12:00:00+00",
      "--pg-bin",
      "/usr/lib/postgresql/15/bin",
      "base_000000010000000000000002_00000040",
    ]),
    {
      backupName: "base_000000010000000000000002_00000040",
      json: true,
      poolSize: 2,
      restore: true,
      targetTime: "2026-12-05 12:00:00+00",
      pgBin: "/usr/lib/postgresql/15/bin",
    },
  );
});

Deno.test("backup-verify refuses a missing name, a pool of 0 and drill options without --restore", () => {
  for (
    const argv of [
      ["backup-verify"],
      ["backup-verify", "-p", "0", "LATEST"],
      ["backup-verify", "--target-time", "2026-12-05 12:00:00+00", "LATEST"],
      ["backup-verify", "--pg-bin", "/usr/bin", "LATEST"],
    ]
  ) {
    assert.throws(() => parseArgs(argv, () => {}), UsageError, argv.join(" "));
  }
});

Deno.test("--help lists backup-verify", () => {
  let text = "";
  const r = parseArgs(["--help"], (t) => (text += t));
  assert.equal(r.kind, "shown");
  assert.match(text, /backup-verify \[options\] <BACKUP_NAME>/);
  text = "";
  parseArgs(["backup-verify", "--help"], (t) => (text += t));
  for (const o of ["--json", "--pool-size", "--restore", "--target-time", "--pg-bin"]) {
    assert.ok(text.includes(o), o);
  }
});
