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

/** How to start this program again: the compiled binary itself, or `deno run` of this file. */
function selfProgram(): string[] {
  if (Deno.mainModule.includes("/deno-compile-")) return [Deno.execPath()];
  return [
    Deno.execPath(),
    "run",
    "--allow-all",
    "--quiet",
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
