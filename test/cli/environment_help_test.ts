/**
 * `wal-e --help` names every environment variable the code reads: the variable names are
 * collected from the string literals in src/ (a grep of the code), so a new variable without a
 * line of help fails here. Secrets are marked as such.
 */
import assert from "node:assert/strict";
import { SECRET_VARIABLES } from "../../src/cli/options.ts";
import { runInProcess } from "../support/wal_e.ts";

/** Test hooks of the Swift backend, read only by the test servers' harness. */
const TEST_HOOKS = /^SWIFT_TEST_/;
/** Names the grep finds that are not variables: a data directory's file. */
const NOT_VARIABLES = new Set(["PG_VERSION"]);

async function variablesInCode(): Promise<Set<string>> {
  const names = new Set<string>();
  const root = new URL("../../src/", import.meta.url).pathname;
  const walk = async (dir: string): Promise<void> => {
    for await (const e of Deno.readDir(dir)) {
      const path = `${dir}/${e.name}`;
      if (e.isDirectory) await walk(path);
      else if (e.name.endsWith(".ts")) {
        const text = await Deno.readTextFile(path);
        for (
          const m of text.matchAll(/"((?:WALE|AWS|WABS|SWIFT|PG)[A-Z0-9]*_[A-Z0-9_]+|PG[A-Z]+)"/g)
        ) {
          const name = m[1] ?? "";
          if (!TEST_HOOKS.test(name) && !NOT_VARIABLES.has(name)) names.add(name);
        }
      }
    }
  };
  await walk(root.replace(/\/$/, ""));
  return names;
}

Deno.test("--help lists every environment variable the code reads, and marks the secrets", async () => {
  const help = await runInProcess(["--help"], {});
  assert.equal(help.code, 0);
  const names = await variablesInCode();
  assert.ok(names.size > 30, `only ${names.size} names found: the grep is broken`);
  const missing = [...names].filter((n) => !new RegExp(`\\b${n}\\b`).test(help.stdout)).sort();
  assert.deepEqual(missing, [], `not in --help:\n${help.stdout}`);
  for (const secret of SECRET_VARIABLES) {
    assert.match(help.stdout, new RegExp(`\\b${secret}\\b[^\\n]*\\(secret\\)`), secret);
  }
});
