/**
 * wal-e: continuous archiving for PostgreSQL, compatible with WAL-E 1.1.1.
 * Entry point: argv in, one command run, exit status out. The only place that exits.
 */
import { type Io, run } from "./src/cli/run.ts";
import { stderrSink } from "./src/log.ts";
import { enablePhases, phase, phaseTotals } from "./src/phases.ts";

function writeStdout(text: string): void {
  const bytes = new TextEncoder().encode(text);
  let off = 0;
  while (off < bytes.length) off += Deno.stdout.writeSync(bytes.subarray(off));
}

/**
 * V8 flags of every start of this program: the launcher of scripts/install, the binary of
 * scripts/compile (which embeds them), `deno task wal-e`, the benchmarks and tests, and this
 * file starting itself again (`selfProgram`).
 *
 * `--no-wasm-dynamic-tiering`: V8 compiles each function of the LZO codec with its optimizing
 * compiler, on a background thread, as soon as it first runs (`warmUp` in
 * src/codec/lzo_wasm.ts), instead of after ~13 MB of work in baseline code that runs ~3× slower:
 * a WAL call codes one 16 MiB segment, nearly all of it in baseline code otherwise (~4 ms more
 * per wal-push on our slowest VM).
 *
 * Every start that shares a module cache must pass the same flags: V8 rejects a code cache
 * written under other flags, and Deno does not write it again, so each start would compile all
 * its modules from source (~5 ms more per WAL call there).
 */
export const V8_FLAGS = "--no-wasm-dynamic-tiering";

/** How to start this program again: the compiled binary itself, or `deno run` of this file. */
export function selfProgram(): string[] {
  if (Deno.mainModule.includes("/deno-compile-")) return [Deno.execPath()];
  return [
    Deno.execPath(),
    "run",
    "--allow-all",
    "--quiet",
    `--v8-flags=${V8_FLAGS}`,
    "--config",
    new URL("./deno.json", import.meta.url).pathname,
    new URL(import.meta.url).pathname,
  ];
}

if (import.meta.main) {
  // The WAL benchmark's per-phase breakdown (src/phases.ts); a diagnostic, off by default.
  if (Deno.env.get("WALE_PHASE_TIMINGS") === "1") enablePhases();
  const io: Io = {
    stdout: writeStdout,
    stderr: stderrSink,
    // Computed when asked (only wal-fetch starts itself again): the URL parser's first use
    // costs a process ~0.3 ms.
    get selfProgram() {
      return selfProgram();
    },
    stderrIsTerminal: Deno.stderr.isTerminal(),
  };
  const status = await run(Deno.args, Deno.env.toObject(), io);
  phase("finish");
  const totals = phaseTotals();
  if (totals !== undefined) stderrSink(`wal-e-phases ${JSON.stringify(totals)}\n`);
  Deno.exit(status);
}
