/** The WAL chain analysis on hand-made inventories: gaps, consistency, windows, timelines. */
import assert from "node:assert/strict";
import {
  analyseWalChain,
  type ArchivedSegment,
  type BackupWal,
  type WalInventory,
} from "../../src/archive/wal_chain.ts";
import { parseSegmentName, segmentIndex, segmentNameAt } from "../../src/pg/wal_name.ts";
import type { TimelineHistoryEntry } from "../../src/pg/timeline_history.ts";

const T0 = Date.parse("2026-01-01T00:00:00Z");

/** An inventory holding segment indexes `[timeline, from, to]` (inclusive), one minute apart. */
function inventory(
  runs: [number, number, number][],
  histories: [number, TimelineHistoryEntry[]][] = [],
): WalInventory {
  const segments = new Map<number, Map<bigint, ArchivedSegment>>();
  for (const [tli, from, to] of runs) {
    for (let i = from; i <= to; i++) {
      const name = segmentNameAt(tli, BigInt(i));
      const byIndex = segments.get(tli) ?? new Map<bigint, ArchivedSegment>();
      segments.set(tli, byIndex);
      byIndex.set(BigInt(i), {
        name,
        timeline: tli,
        index: BigInt(i),
        lastModified: new Date(T0 + i * 60_000),
      });
    }
  }
  return { segments, histories: new Map(histories) };
}

function backup(tli: number, start: number, stop: number, finishedMinute: number): BackupWal {
  const s = segmentNameAt(tli, BigInt(start));
  return {
    name: `base_${s}_00000040`,
    startSegment: s,
    startOffset: "00000040",
    stopSegment: segmentNameAt(tli, BigInt(stop)),
    finishedAt: new Date(T0 + finishedMinute * 60_000),
  };
}

Deno.test("wal chain: a clean archive is consistent with a window to the newest segment", () => {
  const r = analyseWalChain(inventory([[1, 1, 9]]), [backup(1, 3, 4, 5)]);
  const v = r.newestBackup;
  assert.ok(v?.consistent);
  assert.deepEqual(r.gaps, []);
  assert.equal(v.window?.fromSegment, "000000010000000000000004");
  assert.equal(v.window?.toSegment, "000000010000000000000009");
  assert.equal(v.window?.toTime.toISOString(), "2026-01-01T00:09:00.000Z");
  assert.equal(v.window?.fromTime.toISOString(), "2026-01-01T00:05:00.000Z");
});

Deno.test("wal chain: a deleted segment is a gap and the window ends before it", () => {
  const r = analyseWalChain(inventory([[1, 1, 5], [1, 7, 9]]), [backup(1, 3, 4, 5)]);
  assert.deepEqual(r.gaps, [{
    first: "000000010000000000000006",
    last: "000000010000000000000006",
    count: 1,
  }]);
  assert.equal(r.newestBackup?.window?.toSegment, "000000010000000000000005");
  assert.equal(r.newestBackup?.newest?.name, "000000010000000000000009");
});

Deno.test("wal chain: a segment missing between start and stop makes the backup inconsistent", () => {
  const r = analyseWalChain(inventory([[1, 1, 3], [1, 5, 9]]), [
    backup(1, 1, 1, 1),
    backup(1, 3, 4, 5),
  ]);
  assert.equal(r.backups[0]?.consistent, true);
  assert.equal(r.newestBackup?.consistent, false);
  assert.equal(r.newestBackup?.window, undefined);
  assert.deepEqual(r.newestBackup?.missingForConsistency.map((m) => m.first), [
    "000000010000000000000004",
  ]);
  // A stop not archived yet is missing too.
  const notYet = analyseWalChain(inventory([[1, 1, 3]]), [backup(1, 3, 4, 5)]);
  assert.equal(notYet.newestBackup?.consistent, false);
});

Deno.test("wal chain: segment numbering crosses a log id without a gap", () => {
  const r = analyseWalChain(inventory([[1, 0xfd, 0x102]]), [backup(1, 0xfd, 0xfe, 1)]);
  assert.deepEqual(r.gaps, []);
  assert.equal(r.newestBackup?.window?.toSegment, "000000010000000100000002");
  assert.equal(
    segmentIndex(parseSegmentName("000000010000000100000000") ?? { timeline: 0, log: 0, seg: 0 }),
    0x100n,
  );
});

Deno.test("wal chain: a switch to timeline 2 is followed through its history file", () => {
  // Timeline 2 branched in segment 6 (0/6000100); timeline 1 went on to 9 (off the path).
  const inv = inventory([[1, 1, 9], [2, 6, 8]], [[2, [
    { parentTimeline: 1, switchLsn: 0x6000100n, reason: "r" },
  ]]]);
  const r = analyseWalChain(inv, [backup(1, 3, 4, 5)]);
  const v = r.newestBackup;
  assert.deepEqual(v?.timelinePath, [1, 2]);
  assert.deepEqual(r.gaps, []);
  assert.equal(v?.window?.toSegment, "000000020000000000000008");
  assert.equal(r.timelines[1]?.parent, 1);
  // Without timeline 2's segment 6 the chain breaks there, even though timeline 1 has its own.
  inv.segments.get(2)?.delete(6n);
  const broken = analyseWalChain(inv, [backup(1, 3, 4, 5)]);
  assert.equal(broken.gaps[0]?.first, "000000020000000000000006");
  assert.equal(broken.newestBackup?.window?.toSegment, "000000010000000000000005");
});

Deno.test("wal chain: a backup taken after the switch point stays on its own timeline", () => {
  const inv = inventory([[1, 1, 9], [2, 6, 8]], [[2, [
    { parentTimeline: 1, switchLsn: 0x6000100n, reason: "r" },
  ]]]);
  // Started on timeline 1 at segment 7, after timeline 2 branched at 6: timeline 2 is not its future.
  const r = analyseWalChain(inv, [backup(1, 7, 7, 8)]);
  assert.deepEqual(r.newestBackup?.timelinePath, [1]);
  assert.equal(r.newestBackup?.window?.toSegment, "000000010000000000000009");
});

Deno.test("wal chain: a timeline without its history file is reported and not followed", () => {
  const r = analyseWalChain(inventory([[1, 1, 5], [2, 6, 8]]), [backup(1, 3, 4, 5)]);
  assert.equal(r.timelines.find((t) => t.timeline === 2)?.historyPresent, false);
  assert.deepEqual(r.newestBackup?.timelinePath, [1]);
  assert.equal(r.newestBackup?.window?.toSegment, "000000010000000000000005");
});
