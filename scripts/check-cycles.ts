// deno-lint-ignore-file no-console -- a check reports on the console
/**
 * Fails when modules under src/ import each other in a cycle. Counted: static imports and
 * re-exports that bring values (`import type` and `export type` are erased, and dynamic
 * imports load later, so neither can make module evaluation order matter). Run by CI
 * (`.ci/run`) and `deno task check`.
 *
 *   deno run --allow-read scripts/check-cycles.ts [DIR]
 */
import { dirname, join, relative, resolve } from "node:path";

const root = resolve(Deno.args[0] ?? new URL("../src", import.meta.url).pathname);

/** Value imports of one module, as absolute paths of .ts files under `root`. */
function importsOf(file: string, text: string): string[] {
  const out: string[] = [];
  // `import ... from "x"`, `export ... from "x"`, `import "x"`; not `import type`/`export type`.
  const re = /^\s*(import|export)\s+(type\s+)?([^;]*?\bfrom\s+)?["']([^"']+)["']/gm;
  for (const m of text.matchAll(re)) {
    if (m[2] !== undefined) continue;
    const clause = m[3] ?? "";
    // `import { type A, type B } from` brings no value either.
    const names = /\{([^}]*)\}/.exec(clause)?.[1];
    if (
      names !== undefined && !/\*|^\s*\w+\s*,/.test(clause) &&
      names.split(",").map((n) => n.trim()).filter((n) => n !== "").every((n) =>
        n.startsWith("type ")
      )
    ) continue;
    const spec = m[4] ?? "";
    if (!spec.startsWith(".")) continue;
    const target = resolve(dirname(file), spec);
    if (target.startsWith(root) && target.endsWith(".ts")) out.push(target);
  }
  return out;
}

const graph = new Map<string, string[]>();
async function walk(dir: string): Promise<void> {
  for await (const e of Deno.readDir(dir)) {
    const path = join(dir, e.name);
    if (e.isDirectory) await walk(path);
    else if (e.name.endsWith(".ts")) {
      graph.set(path, importsOf(path, await Deno.readTextFile(path)));
    }
  }
}
await walk(root);

// Tarjan's strongly connected components: every component with more than one module (or a
// module importing itself) is a cycle.
let index = 0;
const indexOf = new Map<string, number>();
const low = new Map<string, number>();
const stack: string[] = [];
const onStack = new Set<string>();
const cycles: string[][] = [];
function visit(v: string): void {
  indexOf.set(v, index);
  low.set(v, index);
  index++;
  stack.push(v);
  onStack.add(v);
  for (const w of graph.get(v) ?? []) {
    if (!indexOf.has(w)) {
      visit(w);
      low.set(v, Math.min(low.get(v) ?? 0, low.get(w) ?? 0));
    } else if (onStack.has(w)) {
      low.set(v, Math.min(low.get(v) ?? 0, indexOf.get(w) ?? 0));
    }
  }
  if (low.get(v) === indexOf.get(v)) {
    const component: string[] = [];
    for (;;) {
      const w = stack.pop() as string;
      onStack.delete(w);
      component.push(w);
      if (w === v) break;
    }
    if (component.length > 1 || (graph.get(v) ?? []).includes(v)) cycles.push(component);
  }
}
for (const v of graph.keys()) if (!indexOf.has(v)) visit(v);

if (cycles.length === 0) {
  console.log(`check-cycles: ${graph.size} modules, no import cycle`);
} else {
  for (const c of cycles) {
    console.log(`import cycle: ${c.map((f) => relative(root, f)).sort().join(" <-> ")}`);
  }
  Deno.exit(1);
}
