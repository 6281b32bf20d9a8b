/**
 * wal-e: continuous archiving for PostgreSQL, compatible with WAL-E 1.1.1.
 * Entry point: argv in, one command run, exit status out. The only place that exits.
 */
import { type Io, run } from "./src/cli/run.ts";
import { stderrSink } from "./src/log.ts";

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
  const io: Io = { stdout: writeStdout, stderr: stderrSink, selfProgram: selfProgram() };
  Deno.exit(await run(Deno.args, Deno.env.toObject(), io));
}
