/**
 * WAL file names and LSN arithmetic: `TTTTTTTTLLLLLLLLSSSSSSSS` (timeline, log id, segment),
 * uppercase hex, as PostgreSQL names segments.
 */

/** A 24-hex WAL segment name. */
export const SEGMENT_RE = /^[0-9A-F]{24}$/;

/**
 * Every name PostgreSQL archives and asks back through `%f`: segments, `.partial` segments (a
 * promoted standby's last one), backup history files and timeline history files. Commands
 * check names against it before any store call, so a key never leaves its prefix.
 */
export const WAL_FILE_RE =
  /^(?:[0-9A-F]{24}(?:\.partial|\.[0-9A-F]{8}\.backup)?|[0-9A-F]{8}\.history)$/;

/** Default `wal_segment_size`. */
export const DEFAULT_SEGMENT_SIZE = 16 * 1024 * 1024;

/** Parts of a segment name. */
export interface SegmentName {
  timeline: number;
  /** Log id (high 32 bits of the segment's position). */
  log: number;
  /** Segment within the log id. */
  seg: number;
}

/** Parses a 24-hex segment name (or the segment part of `<SEG>.partial` etc.). */
export function parseSegmentName(name: string): SegmentName | undefined {
  const head = name.slice(0, 24);
  if (!SEGMENT_RE.test(head)) return undefined;
  return {
    timeline: Number.parseInt(head.slice(0, 8), 16),
    log: Number.parseInt(head.slice(8, 16), 16),
    seg: Number.parseInt(head.slice(16, 24), 16),
  };
}

function hex8(n: number): string {
  return n.toString(16).toUpperCase().padStart(8, "0");
}

/** Formats a segment name. */
export function formatSegmentName(s: SegmentName): string {
  return hex8(s.timeline) + hex8(s.log) + hex8(s.seg);
}

/**
 * The ordering key WAL-E uses for deletion (WAL-E-COMPAT §10.2): log id and segment as one
 * integer, timeline ignored.
 */
export function segmentNumber(name: string): bigint | undefined {
  const head = name.slice(0, 24);
  if (!SEGMENT_RE.test(head)) return undefined;
  return BigInt(`0x${head.slice(8)}`);
}

/** Segments per log id for a segment size (256 for 16 MiB). */
export function segmentsPerLogId(segmentSize: number): number {
  return Math.floor(0x1_0000_0000 / segmentSize);
}

/** The segment after `name` on the same timeline. */
export function nextSegmentName(name: string, segmentSize = DEFAULT_SEGMENT_SIZE): string {
  const s = parseSegmentName(name);
  if (s === undefined) throw new TypeError(`not a WAL segment name: "${name}"`);
  const per = segmentsPerLogId(segmentSize);
  const seg = s.seg + 1;
  return seg >= per
    ? formatSegmentName({ timeline: s.timeline, log: s.log + 1, seg: 0 })
    : formatSegmentName({ timeline: s.timeline, log: s.log, seg });
}

/** Parses an LSN `X/Y` into a bigint. */
export function parseLsn(lsn: string): bigint {
  const m = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(lsn.trim());
  if (m === null) throw new TypeError(`not an LSN: "${lsn}"`);
  return (BigInt(`0x${m[1]}`) << 32n) | BigInt(`0x${m[2]}`);
}

/**
 * `pg_walfile_name_offset(lsn)`: the file holding the byte before `lsn` when `lsn` is on a
 * segment boundary (PostgreSQL's XLByteToPrevSeg), and the byte offset of `lsn` in its segment.
 */
export function walFileNameOffset(
  lsn: bigint,
  timeline: number,
  segmentSize = DEFAULT_SEGMENT_SIZE,
): { fileName: string; offset: number } {
  const size = BigInt(segmentSize);
  const segNo = (lsn - 1n) / size;
  const per = BigInt(segmentsPerLogId(segmentSize));
  const fileName = formatSegmentName({
    timeline,
    log: Number(segNo / per),
    seg: Number(segNo % per),
  });
  return { fileName, offset: Number(lsn % size) };
}

/**
 * A segment's position as one contiguous count (log id × segments per log id + segment), so
 * the segment after index `i` is `i + 1` across log ids. Timeline not included.
 */
export function segmentIndex(s: SegmentName, segmentSize = DEFAULT_SEGMENT_SIZE): bigint {
  return BigInt(s.log) * BigInt(segmentsPerLogId(segmentSize)) + BigInt(s.seg);
}

/** The segment name at `index` (see segmentIndex) on `timeline`. */
export function segmentNameAt(
  timeline: number,
  index: bigint,
  segmentSize = DEFAULT_SEGMENT_SIZE,
): string {
  const per = BigInt(segmentsPerLogId(segmentSize));
  return formatSegmentName({ timeline, log: Number(index / per), seg: Number(index % per) });
}

/** Index (see segmentIndex) of the segment holding the byte at `lsn` (XLByteToSeg). */
export function segmentIndexOfLsn(lsn: bigint, segmentSize = DEFAULT_SEGMENT_SIZE): bigint {
  return lsn / BigInt(segmentSize);
}

/** `X/Y` text of an LSN, as PostgreSQL prints it. */
export function formatLsn(lsn: bigint): string {
  return `${(lsn >> 32n).toString(16).toUpperCase()}/${
    (lsn & 0xffff_ffffn).toString(16).toUpperCase()
  }`;
}
