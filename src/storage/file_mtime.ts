/**
 * File modification times to the nanosecond, for the file store's listings: backup-list prints
 * WAL-E's `datetime.utcfromtimestamp(os.path.getmtime(path)).isoformat()` (WAL-E-COMPAT §2.9,
 * §11.5), microseconds included. `Deno.stat` has milliseconds only, and `node:fs`'s
 * `{ bigint: true }` `mtimeNs` under Deno is those milliseconds × 10^6, so this asks the C
 * library's `statx(2)` through FFI, one call per file and no process. Loaded lazily (only
 * listings need it); where there is no glibc `statx` (another libc, no FFI permission) it
 * answers undefined and the caller keeps Deno's milliseconds.
 */

/** `statx(dirfd, path, flags, mask, buf)`. */
type StatxFn = (
  dirfd: number,
  path: Uint8Array,
  flags: number,
  mask: number,
  buf: Uint8Array,
) => number;

const AT_FDCWD = -100;
const STATX_MTIME = 0x40;
/** `struct statx` is 256 bytes on every architecture; `stx_mtime` starts at byte 112. */
const STATX_SIZE = 256;
const MTIME_OFFSET = 112;

let statx: StatxFn | null | undefined;
const encoder = new TextEncoder();

function load(): StatxFn | null {
  try {
    const lib = Deno.dlopen(
      "libc.so.6",
      {
        statx: { parameters: ["i32", "buffer", "i32", "u32", "buffer"], result: "i32" },
      } as const,
    );
    return (dirfd, path, flags, mask, buf) => lib.symbols.statx(dirfd, path, flags, mask, buf);
  } catch {
    return null;
  }
}

/** A modification time as whole seconds and nanoseconds (both as the kernel keeps them). */
export interface PreciseTime {
  seconds: number;
  nanoseconds: number;
}

/**
 * The modification time of `path` (symlinks followed, as `stat`), or undefined when it cannot
 * be had to the nanosecond here (the caller then uses `Deno.stat`, which also reports errors).
 */
export function preciseMtime(path: string): PreciseTime | undefined {
  statx ??= load();
  if (statx === null) return undefined;
  const buf = new Uint8Array(STATX_SIZE);
  if (statx(AT_FDCWD, encoder.encode(`${path}\0`), 0, STATX_MTIME, buf) !== 0) return undefined;
  const view = new DataView(buf.buffer);
  if ((view.getUint32(0, true) & STATX_MTIME) === 0) return undefined; // stx_mask
  return {
    seconds: Number(view.getBigInt64(MTIME_OFFSET, true)),
    nanoseconds: view.getUint32(MTIME_OFFSET + 8, true),
  };
}

/**
 * WAL-E's text for a file's time: Python's `st_mtime` float (`sec + nsec * 1e-9`) rounded
 * half-to-even to microseconds by `utcfromtimestamp`, then `isoformat()` (no zone; no fraction
 * when the microseconds are zero). Done with the same double arithmetic, so it matches to the
 * last digit.
 */
export function pythonIsoUtcPrecise(t: PreciseTime): string {
  const d = t.seconds + t.nanoseconds * 1e-9;
  let whole = Math.trunc(d);
  let micros = roundHalfEven((d - whole) * 1e6);
  if (micros >= 1e6) {
    micros -= 1e6;
    whole += 1;
  } else if (micros < 0) {
    micros += 1e6;
    whole -= 1;
  }
  const base = new Date(whole * 1000).toISOString().slice(0, 19);
  return micros === 0 ? base : `${base}.${String(micros).padStart(6, "0")}`;
}

function roundHalfEven(x: number): number {
  const r = Math.round(x);
  // Math.round takes .5 up; Python takes it to the even neighbour.
  return Math.abs(x - Math.trunc(x)) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}
