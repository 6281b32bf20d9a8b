/**
 * The configuration table (src/cli/options.ts) against a grep of the code: every variable
 * the code reads is declared, every declared variable is read (or documented as read by a
 * library), only src/cli reads WAL-E's settings (the PostgreSQL client's variables excepted,
 * as documented on Config.processEnv), and the redactor and the refused flags take their
 * secrets from the table.
 */
import assert from "node:assert/strict";
import {
  ENVIRONMENT,
  type EnvVariable,
  refuseSecrets,
  SECRET_FLAGS,
  SECRET_VARIABLES,
  secretValues,
} from "../../src/cli/options.ts";
import { UsageError } from "../../src/errors.ts";
import { secretRedactor } from "../../src/redact.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const TABLE: readonly EnvVariable[] = ENVIRONMENT;

/** Every way the code reads a variable by name. */
const READS: readonly RegExp[] = [
  /\benv\[\s*"([A-Z][A-Z0-9_]*)"\s*\]/g, // env["X"] on a passed-down map
  /\bDeno\.env\.get\(\s*"([A-Z][A-Z0-9_]*)"\s*\)/g, // the process environment
  /\bprocess\.env(?:\.|\[")([A-Z][A-Z0-9_]*)/g, // Node style
  /\bread\(\s*"([A-Z][A-Z0-9_]*)"\s*\)/g, // config.ts's table reader
  /\{\s*env:\s*"([A-Z][A-Z0-9_]*)"\s*\}/g, // options.ts PREFIX_SOURCES, read through the reader
];

/** The text without comments (doc comments quote variable names and reads). */
function code(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");
}

async function sources(): Promise<{ path: string; text: string }[]> {
  const out: { path: string; text: string }[] = [
    { path: "main.ts", text: code(await Deno.readTextFile(`${ROOT}main.ts`)) },
  ];
  const walk = async (dir: string): Promise<void> => {
    for await (const e of Deno.readDir(`${ROOT}${dir}`)) {
      const path = `${dir}/${e.name}`;
      if (e.isDirectory) await walk(path);
      else if (e.name.endsWith(".ts")) {
        out.push({ path, text: code(await Deno.readTextFile(`${ROOT}${path}`)) });
      }
    }
  };
  await walk("src");
  return out;
}

/** Variable → files that read it. */
async function readsInCode(): Promise<Map<string, Set<string>>> {
  const reads = new Map<string, Set<string>>();
  for (const { path, text } of await sources()) {
    for (const re of READS) {
      for (const m of text.matchAll(re)) {
        const name = m[1] ?? "";
        reads.set(name, (reads.get(name) ?? new Set()).add(path));
      }
    }
  }
  return reads;
}

Deno.test("environment table: every variable the code reads is declared, and every one declared is read", async () => {
  const reads = await readsInCode();
  assert.ok(reads.size > 40, `only ${reads.size} reads found: the grep is broken`);
  const declared = new Map(TABLE.map((v) => [v.name, v]));
  const undeclared = [...reads.keys()].filter((n) => !declared.has(n)).sort();
  assert.deepEqual(undeclared, [], "read by the code but not in the table of src/cli/options.ts");
  const unread = TABLE.filter((v) => v.readBy === undefined && !reads.has(v.name))
    .map((v) => v.name);
  assert.deepEqual(unread, [], "declared but never read");
  const libraryReadsOurs = TABLE.filter((v) => v.readBy !== undefined && reads.has(v.name))
    .map((v) => v.name);
  assert.deepEqual(libraryReadsOurs, [], "declared as read by a library, but read by our code");
  assert.equal(declared.size, TABLE.length, "a variable is declared twice");
});

Deno.test("environment table: only src/cli reads settings; the PostgreSQL client's variables pass through", async () => {
  const scopes = new Map(TABLE.map((v) => [v.name, v.scope]));
  const misplaced: string[] = [];
  for (const [name, files] of await readsInCode()) {
    for (const file of files) {
      const ok = file.startsWith("src/cli/") ||
        (file === "main.ts" && scopes.get(name) === "diagnostics") ||
        scopes.get(name) === "postgres";
      if (!ok) misplaced.push(`${name} in ${file}`);
    }
  }
  assert.deepEqual(misplaced, []);
  // The process environment itself is read only by main.ts.
  for (const { path, text } of await sources()) {
    if (path === "main.ts") continue;
    assert.doesNotMatch(text, /\bDeno\.env\b|\bprocess\.env\b/, path);
  }
});

Deno.test("environment table: secrets are redacted and refused on the command line", () => {
  assert.deepEqual(
    [...SECRET_VARIABLES].sort(),
    [
      "AWS_SECRET_ACCESS_KEY",
      "AWS_SECURITY_TOKEN",
      "AWS_SESSION_TOKEN",
      "PGPASSWORD",
      "SWIFT_PASSWORD",
      "WABS_ACCESS_KEY",
      "WABS_SAS_TOKEN",
      "WALE_GPG_PASSPHRASE",
    ],
  );
  const env = Object.fromEntries(TABLE.map((v) => [v.name, `value-of-${v.name}`]));
  const out = secretRedactor(secretValues(env))(TABLE.map((v) => env[v.name]).join(" "));
  for (const v of TABLE) {
    assert.equal(out.includes(`value-of-${v.name}`), v.secret !== true, v.name);
  }
  for (const name of SECRET_VARIABLES) {
    const flag = Object.keys(SECRET_FLAGS).find((f) => SECRET_FLAGS[f] === name);
    assert.ok(flag !== undefined, `${name} has no refused flag`);
    assert.throws(() => refuseSecrets([`${flag}=x`]), UsageError);
  }
});
