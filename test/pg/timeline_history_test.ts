import assert from "node:assert/strict";
import {
  historyFileName,
  historyFileTimeline,
  parseTimelineHistory,
} from "../../src/pg/timeline_history.ts";
import { CorruptArchiveError } from "../../src/errors.ts";

Deno.test("timeline history: PostgreSQL's lines, comments and blank lines", () => {
  const text = "# comment\n1\t0/5000000\tno recovery target specified\n\n" +
    "2\t1/A0000B8\tbefore 2026-01-01 00:00:00+00\n";
  assert.deepEqual(parseTimelineHistory(text, "x"), [
    { parentTimeline: 1, switchLsn: 0x5000000n, reason: "no recovery target specified" },
    { parentTimeline: 2, switchLsn: 0x1_0A0000B8n, reason: "before 2026-01-01 00:00:00+00" },
  ]);
  assert.deepEqual(parseTimelineHistory("", "x"), []);
});

Deno.test("timeline history: a malformed or out-of-order line is a CorruptArchiveError naming it", () => {
  for (const bad of ["x\t0/1\tr\n", "1\tnot-an-lsn\n", "2\t0/9000000\ta\n1\t0/5000000\tb\n"]) {
    assert.throws(
      () => parseTimelineHistory(bad, "s3://b/wal_005/00000003.history.lzo"),
      (e) => e instanceof CorruptArchiveError && /00000003\.history\.lzo/.test(e.detail ?? ""),
    );
  }
});

Deno.test("timeline history: file names", () => {
  assert.equal(historyFileName(2), "00000002.history");
  assert.equal(historyFileName(0x1a), "0000001A.history");
  assert.equal(historyFileTimeline("0000001A.history"), 0x1a);
  assert.equal(historyFileTimeline("000000010000000000000001"), undefined);
});
