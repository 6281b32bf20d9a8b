/**
 * The WAL commands' command lines without commander. PostgreSQL starts wal-push and wal-fetch
 * once per 16 MiB segment, and loading commander (an npm package: Deno's npm resolver starts
 * with it) costs more than a quarter of such a call. This parser understands only the plain
 * shapes `archive_command` and `restore_command` use; on anything else — help, an unknown or
 * malformed option, a bad count of arguments — it answers `undefined` and commander parses the
 * line as before, so commander stays the one authority on syntax and on error messages.
 * `test/cli/fast_args_test.ts` checks that both agree wherever this one answers.
 */
import { GLOBAL_OPTIONS, type GlobalOptionSpec } from "./options.ts";
import type { GlobalFlags, Invocation } from "./invocation.ts";

/** What a fast parse produced (the same shape as commander's "run" result). */
export interface FastParse {
  invocation: Invocation;
  flags: GlobalFlags;
}

interface Spelling {
  spec: GlobalOptionSpec;
  takesValue: boolean;
}

/** `-k` / `--aws-access-key-id` → its spec, from the one option table. */
const SPELLINGS: ReadonlyMap<string, Spelling> = (() => {
  const m = new Map<string, Spelling>();
  for (const spec of GLOBAL_OPTIONS) {
    const takesValue = spec.flags.includes("<");
    for (const part of spec.flags.split(/[ ,]+/)) {
      if (part.startsWith("-")) m.set(part, { spec, takesValue });
    }
  }
  return m;
})();

const INT = /^[+-]?\d+$/;

/** Parses the WAL commands' argv, or returns undefined for commander to parse. */
export function fastParse(argv: readonly string[]): FastParse | undefined {
  const flags: Record<string, string | boolean> = {};
  let i = 0;
  for (; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (!arg.startsWith("-")) break;
    const eq = arg.indexOf("=");
    const name = arg.startsWith("--") && eq > 0 ? arg.slice(0, eq) : arg;
    const spelling = SPELLINGS.get(name);
    if (spelling === undefined) return undefined;
    if (!spelling.takesValue) {
      if (name !== arg) return undefined;
      flags[spelling.spec.key] = true;
      continue;
    }
    const value = name !== arg ? arg.slice(eq + 1) : argv[++i];
    if (value === undefined || value.startsWith("-")) return undefined;
    flags[spelling.spec.key] = value;
  }
  const command = argv[i];
  const rest = argv.slice(i + 1);
  const invocation = command === undefined ? undefined : commandInvocation(command, rest);
  return invocation === undefined ? undefined : { invocation, flags: flags as GlobalFlags };
}

function commandInvocation(command: string, args: readonly string[]): Invocation | undefined {
  switch (command) {
    case "version":
      return args.length === 0 ? { name: "version", input: {} } : undefined;
    case "wal-push": {
      const p = split(args, ["-p", "--pool-size"]);
      if (p === undefined || p.positional.length !== 1) return undefined;
      const poolSize = intOption(p.value, 32, 1);
      if (poolSize === undefined) return undefined;
      return {
        name: "wal-push",
        input: { segmentPath: p.positional[0] as string, poolSize },
      };
    }
    case "wal-fetch": {
      const p = split(args, ["-p", "--prefetch"]);
      if (p === undefined || p.positional.length !== 2) return undefined;
      const prefetch = intOption(p.value, 8, 0);
      if (prefetch === undefined) return undefined;
      return {
        name: "wal-fetch",
        input: {
          segmentName: p.positional[0] as string,
          destination: p.positional[1] as string,
          prefetch,
        },
      };
    }
    case "wal-prefetch": {
      if (args.length < 2 || args.some((a) => a.startsWith("-"))) return undefined;
      return {
        name: "wal-prefetch",
        input: { baseDirectory: args[0] as string, segmentNames: args.slice(1) },
      };
    }
    default:
      return undefined;
  }
}

/**
 * Splits a command's arguments into positionals and the value of its one integer option
 * (`-p N`, `-pN`, `--long N`, `--long=N`; the last one wins, as in commander).
 */
function split(
  args: readonly string[],
  spellings: readonly [string, string],
): { positional: string[]; value: string | undefined } | undefined {
  const positional: string[] = [];
  let value: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    if (!arg.startsWith("-")) {
      positional.push(arg);
      continue;
    }
    if (arg.startsWith(`${spellings[1]}=`)) {
      value = arg.slice(spellings[1].length + 1);
    } else if (arg.startsWith(spellings[0]) && arg.length > spellings[0].length) {
      value = arg.slice(spellings[0].length); // -p1, as archive_command lines often say
    } else if (arg === spellings[0] || arg === spellings[1]) {
      value = args[++i];
      if (value === undefined || value.startsWith("-")) return undefined;
    } else {
      return undefined;
    }
  }
  return { positional, value };
}

/** The option's integer, its default when absent; undefined (commander's error) when bad. */
function intOption(text: string | undefined, dflt: number, min: number): number | undefined {
  if (text === undefined) return dflt;
  if (!INT.test(text.trim())) return undefined;
  const n = Number.parseInt(text, 10);
  return n < min ? undefined : n;
}
