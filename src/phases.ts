/**
 * Where one command's time goes, for `deno task bench wal`'s per-phase breakdown. Off unless
 * `main.ts` enables it (`WALE_PHASE_TIMINGS=1`); then each `phase(name)` closes the span since
 * the previous mark, `phaseTime(name, ms)` adds time measured inside a loop (reads between
 * codec calls), and `main.ts` prints the totals as one `wal-e-phases {json}` line on stderr.
 * When off, every call is one branch.
 */

let last: number | undefined;
const totals = new Map<string, number>();

/** Starts recording; the span before this call (runtime start, module loading) is `modules`. */
export function enablePhases(): void {
  last = performance.now();
  totals.set("modules", last);
}

/** True when recording (callers skip their own clock reads otherwise). */
export function phasesEnabled(): boolean {
  return last !== undefined;
}

/** Closes the span since the previous mark as `name`. */
export function phase(name: string): void {
  if (last === undefined) return;
  const now = performance.now();
  totals.set(name, (totals.get(name) ?? 0) + now - last);
  last = now;
}

/**
 * Moves `ms` measured inside the current span to `name` (e.g. file reads inside the encoding
 * loop), so the span's own name keeps only the rest.
 */
export function phaseTime(name: string, ms: number): void {
  if (last === undefined) return;
  totals.set(name, (totals.get(name) ?? 0) + ms);
  last += ms;
}

/** The totals in ms, rounded to 0.1, in the order first recorded; undefined when off. */
export function phaseTotals(): Record<string, number> | undefined {
  if (last === undefined) return undefined;
  return Object.fromEntries([...totals].map(([k, v]) => [k, Math.round(v * 10) / 10]));
}
