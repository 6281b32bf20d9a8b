/** The restore drill's reading of the server log: progress, quoted lines, plain-words reasons. */
import assert from "node:assert/strict";
import {
  diagnose,
  type FailureContext,
  RecoveryLog,
} from "../../../src/commands/backup_verify/recovery_log.ts";

const CONTEXT: FailureContext = {
  backupName: "base_000000010000000000000002_00000028",
  startSegment: "000000010000000000000002",
  stopSegment: "000000010000000000000004",
  targetTime: "2026-12-05T12:00:00+00:00",
};

Deno.test("RecoveryLog follows recovery to promotion across chunk boundaries", () => {
  const log = new RecoveryLog();
  const text = [
    "LOG:  starting archive recovery",
    'LOG:  restored log file "000000010000000000000002" from archive',
    "wal_e.blobstore INFO     MSG: completed download and decompression",
    "        STRUCTURED: time=2026-12-05T12:00:00.000000-00 pid=1",
    'LOG:  restored log file "000000010000000000000003" from archive',
    "LOG:  consistent recovery state reached at 0/3000100",
    "LOG:  recovery stopping before commit of transaction 745, time 2026-12-05 12:00:01+00",
    "LOG:  redo done at 0/3000200 system usage: CPU: user: 0.00 s",
    "LOG:  selected new timeline ID: 2",
    "LOG:  archive recovery complete",
    "LOG:  database system is ready to accept connections",
    "",
  ].join("\n");
  // Fed in pieces that split lines.
  for (let i = 0; i < text.length; i += 37) log.feed(text.slice(i, i + 37));
  assert.deepEqual(log.progress, {
    restoredFiles: 2,
    lastRestored: "000000010000000000000003",
    consistentAt: "0/3000100",
    stoppedAt: "before commit of transaction 745, time 2026-12-05 12:00:01+00",
    redoDoneAt: "0/3000200",
    newTimeline: 2,
    ready: true,
  });
});

Deno.test("RecoveryLog quotes server errors and our ERROR records, not INFO or PostgreSQL's recovery.signal advice", () => {
  const log = new RecoveryLog();
  log.feed(
    [
      "LOG:  starting archive recovery",
      "wal_e.blobstore INFO     MSG: could no longer locate object while performing wal restore",
      "        HINT: This can be normal",
      "wal_e.main   ERROR    MSG: not an lzop stream",
      "        DETAIL: The input does not start with the lzop signature.",
      "        STRUCTURED: time=2026-12-05T12:00:00.000000-00 pid=1",
      'FATAL:  could not restore file "000000010000000000000003" from archive: command not executable',
      "LOG:  startup process (PID 12) exited with exit code 1",
      "FATAL:  could not locate required checkpoint record",
      'HINT:  If you are restoring from a backup, touch "/x/recovery.signal" and add options.',
      "LOG:  database system is shut down",
    ].join("\n") + "\n",
  );
  assert.deepEqual(log.relevantLines(), [
    "wal_e.main ERROR MSG: not an lzop stream",
    "  DETAIL: The input does not start with the lzop signature.",
    'FATAL:  could not restore file "000000010000000000000003" from archive: command not executable',
    "FATAL:  could not locate required checkpoint record",
  ]);
});

Deno.test("RecoveryLog quotes the last lines when nothing is an error", () => {
  const log = new RecoveryLog();
  log.feed("LOG:  a\nLOG:  b\nLOG:  c");
  assert.deepEqual(log.relevantLines(2), ["LOG:  b", "LOG:  c"]);
});

Deno.test("diagnose names each failure an archive can cause", () => {
  const cases: [string, string, RegExp][] = [
    [
      'FATAL:  could not restore file "000000010000000000000003" from archive: x',
      "wal-fetch failed during recovery (fetching 000000010000000000000003)",
      /same restore_command would fail/,
    ],
    [
      "FATAL:  could not locate required checkpoint record",
      "the WAL where the backup starts is not in the archive",
      /^Segment 000000010000000000000002, where base_0+10+2_00000028 starts/,
    ],
    [
      "FATAL:  WAL ends before end of online backup",
      "the archive ends before the backup is consistent",
      /from 000000010000000000000002 to 000000010000000000000004 is missing/,
    ],
    [
      "FATAL:  WAL ends before consistent recovery point",
      "the archive ends before the backup is consistent",
      /wal-verify/,
    ],
    [
      "FATAL:  recovery ended before configured recovery target was reached",
      "the archive ends before the target time",
      /stops before 2026-12-05T12:00:00\+00:00/,
    ],
    [
      "FATAL:  requested recovery stop point is before consistent recovery point",
      "the target time is before the backup is consistent",
      /pick a backup that finished before the target time/,
    ],
    [
      "PANIC:  something else",
      "the restored cluster stopped before recovery finished",
      /server log lines above/,
    ],
  ];
  for (const [line, reason, hint] of cases) {
    const d = diagnose([line], CONTEXT);
    assert.equal(d.reason, reason, line);
    assert.match(d.hint, hint, line);
  }
});
