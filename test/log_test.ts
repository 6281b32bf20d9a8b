import assert from "node:assert/strict";
import { formatLogTime, formatRecord, Logger } from "../src/log.ts";

const T = new Date(Date.UTC(2026, 10, 25, 1, 6, 43, 132));

Deno.test("log records use WAL-E's MSG/DETAIL/HINT/STRUCTURED layout (COMPAT §2.8)", () => {
  const text = formatRecord(
    "wal_e.worker.upload",
    "INFO",
    {
      msg: "completed archiving to a file",
      detail: 'Archiving to "file://localhost/a/wal_005/X.lzo" complete at 595246KiB/s.',
      structured: {
        state: "complete",
        seg: "X",
        action: "push-wal",
        rate: 595246,
        prefix: "a/",
        key: "k",
      },
    },
    T,
    25126,
  );
  assert.equal(
    text,
    "wal_e.worker.upload INFO     MSG: completed archiving to a file\n" +
      '        DETAIL: Archiving to "file://localhost/a/wal_005/X.lzo" complete at 595246KiB/s.\n' +
      "        STRUCTURED: time=2026-11-25T01:06:43.132000-00 pid=25126 action=push-wal key=k " +
      "prefix=a/ rate=595246 seg=X state=complete",
  );
  assert.equal(
    formatRecord(
      "wal_e.main",
      "INFO",
      { msg: "starting WAL-E", detail: 'The subcommand is "backup-push".' },
      T,
      7,
    ),
    'wal_e.main   INFO     MSG: starting WAL-E\n        DETAIL: The subcommand is "backup-push".\n' +
      "        STRUCTURED: time=2026-11-25T01:06:43.132000-00 pid=7",
  );
  assert.equal(formatLogTime(T), "2026-11-25T01:06:43.132000-00");
});

Deno.test("log times are toISOString's UTC fields across leap days, century rules and eras", () => {
  const samples = [
    0,
    -1,
    Date.UTC(2000, 1, 29, 23, 59, 59, 999),
    Date.UTC(1900, 2, 1),
    Date.UTC(2100, 1, 28, 12),
    Date.UTC(2024, 11, 31, 23, 59, 59, 5),
    Date.UTC(1969, 11, 31, 23, 59, 59, 999),
  ];
  // And a day-by-day walk over 1968..2105 at a moving time of day.
  for (let day = -731; day < 49_000; day++) {
    samples.push(day * 86_400_000 + ((day * 7919) % 86_400_000));
  }
  for (const ms of samples) {
    const iso = new Date(ms).toISOString();
    assert.equal(formatLogTime(new Date(ms)), `${iso.slice(0, 23)}000-00`, iso);
  }
});

Deno.test("--terse drops records below WARNING", () => {
  const out: string[] = [];
  const log = new Logger("wal_e.main", { threshold: "WARNING", sink: (t) => out.push(t) });
  log.info({ msg: "hidden" });
  log.child("x").info({ msg: "hidden too" });
  log.warning({ msg: "shown", hint: "h" });
  assert.equal(out.length, 1);
  assert.match(
    out[0] ?? "",
    /^wal_e\.main {3}WARNING {2}MSG: shown\n {8}HINT: h\n {8}STRUCTURED: /,
  );
});
