/**
 * What the WAL folder (`wal_005/`) holds, from one listing: segments by timeline with their
 * modification times, and the timeline history files (read and parsed: they are a few bytes).
 * Segments themselves are never downloaded.
 */
import { historyFileTimeline, parseTimelineHistory } from "../pg/timeline_history.ts";
import { DEFAULT_SEGMENT_SIZE, parseSegmentName, segmentIndex } from "../pg/wal_name.ts";
import type { Store } from "../storage/store.ts";
import { type Encoding, openDecompressed } from "./pipeline.ts";
import { WAL_DIR } from "./keys.ts";
import type { ArchivedSegment, WalInventory } from "./wal_chain.ts";

const SEGMENT_KEY_RE = /^([0-9A-F]{24})\.lzo$/;

/** Lists `wal_005/` and reads its history files. */
export async function readWalInventory(
  store: Store,
  encoding: Encoding,
  segmentSize = DEFAULT_SEGMENT_SIZE,
): Promise<WalInventory> {
  const segments = new Map<number, Map<bigint, ArchivedSegment>>();
  const historyKeys = new Map<number, string>();
  for await (const obj of store.list(WAL_DIR)) {
    const base = obj.key.slice(WAL_DIR.length);
    const seg = SEGMENT_KEY_RE.exec(base)?.[1];
    const parsed = seg === undefined ? undefined : parseSegmentName(seg);
    if (seg !== undefined && parsed !== undefined) {
      let byIndex = segments.get(parsed.timeline);
      if (byIndex === undefined) segments.set(parsed.timeline, byIndex = new Map());
      const index = segmentIndex(parsed, segmentSize);
      byIndex.set(index, {
        name: seg,
        timeline: parsed.timeline,
        index,
        lastModified: obj.lastModified,
      });
      continue;
    }
    const tli = base.endsWith(".lzo") ? historyFileTimeline(base.slice(0, -4)) : undefined;
    if (tli !== undefined) historyKeys.set(tli, obj.key);
  }
  const histories = new Map<number, ReturnType<typeof parseTimelineHistory>>();
  for (const [tli, key] of historyKeys) {
    const text = await new Response(await openDecompressed(store, key, { encoding })).text();
    histories.set(tli, parseTimelineHistory(text, store.url(key)));
  }
  return { segments, histories };
}
