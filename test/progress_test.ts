/**
 * The progress reporter: a status line redrawn in place on a terminal, with log records kept
 * above it; interval INFO records off a terminal; a summary; nothing at all under --terse.
 */
import assert from "node:assert/strict";
import { Logger, StatusLine } from "../src/log.ts";
import { formatBytes, formatClock, Progress } from "../src/progress.ts";

const MiB = 1024 * 1024;

/** Terminal output with its erase-line sequence made visible as `<EL>`. */
function visible(text: string): string {
  return text.replaceAll("\x1b[K", "<EL>");
}

/** Resolves once `check` holds, polling; fails after `ms`. */
async function until(check: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("condition not reached");
    await new Promise((r) => setTimeout(r, 10));
  }
}

Deno.test("formatBytes uses binary units with three significant digits; formatClock m:ss", () => {
  assert.equal(formatBytes(0), "0 B");
  assert.equal(formatBytes(1023), "1023 B");
  assert.equal(formatBytes(1536), "1.50 KiB");
  assert.equal(formatBytes(12.34 * MiB), "12.3 MiB");
  assert.equal(formatBytes(345 * 1024 * MiB), "345 GiB");
  assert.equal(formatClock(0), "0:00");
  assert.equal(formatClock(61.4), "1:01");
  assert.equal(formatClock(3 * 3600 + 5 * 60 + 9), "3:05:09");
});

Deno.test("on a terminal the status line shows bytes, total, share, rate and ETA, records go above it", async () => {
  let out = "";
  const status = new StatusLine((t) => (out += t), () => 80);
  const log = new Logger("wal_e.test", { sink: status.sink, now: () => new Date(0), pid: 1 });
  let clock = 0;
  const p = new Progress({
    label: "backup-push",
    subject: "base backup upload",
    done: "read",
    total: 4 * MiB,
    log,
    output: { status, intervalMs: 10 },
    now: () => clock,
  });
  try {
    clock = 2000;
    p.add(MiB);
    await until(() => out.includes("\r\x1b[Kbackup-push  1.00 MiB / 4.00 MiB  25%"));
    // 1 MiB in 2 s: 512 KiB/s, 3 MiB left: 6 s.
    assert.match(
      visible(out),
      /\r<EL>backup-push {2}1\.00 MiB \/ 4\.00 MiB {2}25% {2}512 KiB\/s {2}ETA 0:06$/,
    );
    // A record erases the line, is written whole, and the line comes back under it.
    out = "";
    log.info({ msg: "something happened" });
    assert.match(
      visible(out),
      /^\r<EL>wal_e.test +INFO +MSG: something happened\n.*\nbackup-push {2}1\.00/s,
    );
  } finally {
    p.stop();
  }
  assert.ok(out.endsWith("\r\x1b[K"), "stop erases the status line");
});

Deno.test("off a terminal progress is an INFO record every interval, then a summary", async () => {
  const records: string[] = [];
  const log = new Logger("wal_e.test", { sink: (t) => records.push(t) });
  let clock = 0;
  const p = new Progress({
    label: "backup-fetch",
    subject: "base backup restore",
    done: "restored",
    total: 10 * MiB,
    log,
    output: { intervalMs: 20 },
    now: () => clock,
  });
  clock = 1000;
  p.add(5 * MiB);
  await until(() => records.length >= 2);
  p.add(5 * MiB);
  clock = 4000;
  p.summary(3);
  const progress = records.filter((r) => r.includes("MSG: base backup restore progress"));
  assert.ok(progress.length >= 2, records.join(""));
  assert.match(
    progress[0] ?? "",
    /DETAIL: 5\.00 MiB of 10\.0 MiB \(50%\) restored in 0:01, 5\.00 MiB\/s, about 0:01 left\./,
  );
  assert.match(progress[0] ?? "", /STRUCTURED: .* bytes=5242880 total_bytes=10485760/);
  const last = records.at(-1) ?? "";
  assert.match(
    last,
    /MSG: base backup restore finished\n +DETAIL: Restored 10\.0 MiB of file data from 3 volumes in 4\.00 s \(2\.50 MiB\/s\)\./,
  );
  assert.match(last, /bytes=10485760 seconds=4\.000 volumes=3/);
  assert.equal(records.some((r) => r.includes("\x1b")), false, "no terminal codes in a log");
  // Nothing more after the summary.
  const n = records.length;
  await new Promise((r) => setTimeout(r, 60));
  assert.equal(records.length, n);
});

Deno.test("the status line is cut to the terminal's width, so it never wraps", () => {
  let out = "";
  const status = new StatusLine((t) => (out += t), () => 20);
  status.show("backup-push  1.00 MiB / 4.00 MiB  25%");
  assert.equal(visible(out), "\r<EL>backup-push  1.00 M");
  out = "";
  status.sink("a record\n");
  assert.equal(visible(out), "\r<EL>a record\nbackup-push  1.00 M");
});

Deno.test("under --terse (INFO off) there is no status line, no record and no timer", async () => {
  let out = "";
  const status = new StatusLine((t) => (out += t));
  const log = new Logger("wal_e.test", { threshold: "WARNING", sink: status.sink });
  const p = new Progress({
    label: "backup-push",
    subject: "base backup upload",
    done: "read",
    log,
    output: { status, intervalMs: 5 },
  });
  assert.equal(p.stopped, true);
  p.add(MiB);
  await new Promise((r) => setTimeout(r, 300));
  p.summary(1);
  assert.equal(out, "");
});

Deno.test("taking back a failed attempt's bytes keeps the count of a retried volume right", () => {
  const log = new Logger("wal_e.test", { threshold: "WARNING", sink: () => {} });
  const p = new Progress({ label: "x", subject: "x", done: "restored", log });
  p.add(700);
  p.add(-700);
  p.add(1000);
  assert.equal(p.bytes, 1000);
});
