/**
 * Streams longer than one segment go to Swift as a Static Large Object: the bytes are cut
 * into segments of a fixed size, each held in a pooled buffer and PUT with a known length
 * (so a retry or a re-login after an expired token can send it again), a few at a time; then
 * a manifest at the object's name lists them with their sizes and ETags. Swift checks every
 * entry against the stored segment and, through the `Etag` we send, the whole list: the object
 * appears, complete and verified, only when the manifest is stored. Memory stays at
 * (uploads in flight + 1) × segment size whatever the stream's length.
 *
 * A manifest may list `max_manifest_segments` entries (1000 by default); longer lists are
 * folded into sub-manifests, which Swift accepts as segments of a manifest (nested SLO).
 *
 * Segment names (module doc of swift.ts): `.wal-e-segments/PX/<upload id>/<8-digit index>`,
 * sub-manifests `.../<upload id>/m<level>-<8-digit index>`.
 */
import { createHash } from "node:crypto";
import { type SwiftClient, verifyEtag } from "./swift_client.ts";

/**
 * Segments PUT at the same time by one upload (one more buffer is being filled). On the
 * 2-core bench machine, where Swift's own processes take over a core, 3 × 20 MiB did best:
 * 0.70–0.76× curl's speed as a 3-round median (single runs up to 0.92), 170 MiB peak RSS;
 * 2 in flight was slower, 64 MiB segments were no faster and passed 200 MiB.
 */
export const UPLOAD_CONCURRENCY = 3;

/** One entry of a manifest: a segment or a sub-manifest. */
export interface SloEntry {
  name: string;
  /** The segment's MD5, or a sub-manifest's SLO ETag (see `sloEtag`). */
  etag: string;
  size: number;
}

/**
 * The part callback of a large upload: part `index` becomes the segment `<dir><index>`, and
 * `entries` lists the segments in order (an entry's ETag is filled once its PUT answers). On
 * failure the segments already stored are left for the caller to delete.
 */
export function segmentUploader(
  client: SwiftClient,
  dir: string,
  key: string,
): {
  part: (index: number, data: Uint8Array, signal: AbortSignal) => Promise<void>;
  entries: SloEntry[];
} {
  const entries: SloEntry[] = [];
  const part = async (index: number, data: Uint8Array, signal: AbortSignal) => {
    const name = `${dir}${String(index).padStart(8, "0")}`;
    const entry: SloEntry = { name, etag: "", size: data.length };
    entries.push(entry);
    entry.etag = await client.putBuffer(
      client.objectPath(entry.name),
      data as Uint8Array<ArrayBuffer>,
      { contentType: "application/octet-stream", key, signal },
    );
  };
  return { part, entries };
}

/** Swift's ETag of a Static Large Object: the MD5 of its entries' ETags, concatenated. */
export function sloEtag(entries: readonly SloEntry[]): string {
  const h = createHash("md5");
  for (const e of entries) h.update(e.etag);
  return h.digest("hex");
}

/**
 * Stores the manifest listing `entries` at the physical name `name`, folding the list into
 * sub-manifests under `dir` first while it is longer than `maxEntries`.
 */
export async function putManifest(
  client: SwiftClient,
  name: string,
  entries: readonly SloEntry[],
  o: {
    dir: string;
    maxEntries: number;
    contentType: string;
    key: string;
    url: string;
    signal: AbortSignal | undefined;
  },
): Promise<void> {
  let list = entries;
  for (let level = 1; list.length > o.maxEntries; level++) {
    const folded: SloEntry[] = [];
    for (let i = 0; i < list.length; i += o.maxEntries) {
      const part = list.slice(i, i + o.maxEntries);
      const sub = `${o.dir}m${level}-${String(folded.length).padStart(8, "0")}`;
      await putOneManifest(client, sub, part, { ...o, contentType: "application/octet-stream" });
      folded.push({ name: sub, etag: sloEtag(part), size: part.reduce((s, e) => s + e.size, 0) });
    }
    list = folded;
  }
  await putOneManifest(client, name, list, o);
}

async function putOneManifest(
  client: SwiftClient,
  name: string,
  entries: readonly SloEntry[],
  o: { contentType: string; key: string; url: string; signal: AbortSignal | undefined },
): Promise<void> {
  const etag = sloEtag(entries);
  const res = await client.send({
    op: "PUT",
    path: client.objectPath(name),
    query: { "multipart-manifest": "put" },
    // Swift refuses the manifest (422) unless the entries it found give this ETag.
    headers: { "Content-Type": o.contentType, "Etag": etag },
    body: JSON.stringify(
      entries.map((e) => ({
        path: `/${client.container}/${e.name}`,
        etag: e.etag,
        size_bytes: e.size,
      })),
    ),
    notFoundKey: o.key,
    signal: o.signal,
  });
  await res.body?.cancel();
  verifyEtag(res, etag, o.url);
}
