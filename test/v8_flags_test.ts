/**
 * Every start of the program passes the V8 flags of main.ts (`V8_FLAGS`): V8 rejects a code
 * cache written under other flags and Deno does not write it again, so one start without them
 * would leave every later start compiling its modules from source. The installed launcher is
 * checked by test/install_test.ts (it needs root).
 */
import assert from "node:assert/strict";
import { selfProgram, V8_FLAGS } from "../main.ts";
import { WAL_E_CMD } from "./support/wal_e.ts";

const FLAG = `--v8-flags=${V8_FLAGS}`;
const ROOT = new URL("../", import.meta.url);
/** How the shell scripts read V8_FLAGS out of main.ts. */
const SED = `sed -n 's/^export const V8_FLAGS = "\\(.*\\)";$/\\1/p'`;

Deno.test("V8 flags: main.ts declares them on one line the scripts can read", async () => {
  assert.match(V8_FLAGS, /^--[a-z0-9-]+(,--[a-z0-9-]+)*$/);
  const out = await new Deno.Command("sh", {
    args: ["-c", `${SED} main.ts`],
    cwd: ROOT.pathname,
  }).output();
  assert.equal(new TextDecoder().decode(out.stdout).trim(), V8_FLAGS);
});

Deno.test("V8 flags: main.ts starts itself again with them (wal-prefetch, the restore drill)", () => {
  assert.ok(selfProgram().includes(FLAG), selfProgram().join(" "));
});

Deno.test("V8 flags: scripts/compile, scripts/install, deno task wal-e and the tests pass them", async () => {
  const compile = await Deno.readTextFile(new URL("scripts/compile", ROOT));
  assert.ok(compile.includes(SED), "scripts/compile reads V8_FLAGS");
  assert.match(compile, /deno compile [^\n]*--v8-flags="\$v8_flags"/);
  const install = await Deno.readTextFile(new URL("scripts/install", ROOT));
  assert.ok(install.includes(SED), "scripts/install reads V8_FLAGS");
  assert.match(install, /--cached-only --v8-flags="\$v8_flags" --config "\$app\/deno.json"/);
  assert.match(install, /exec '\$DENO_BIN' run [^\n]*--v8-flags='\$v8_flags'/);
  const tasks = JSON.parse(await Deno.readTextFile(new URL("deno.json", ROOT))).tasks;
  assert.ok(String(tasks["wal-e"]).includes(FLAG), tasks["wal-e"]);
  assert.ok(WAL_E_CMD.includes(FLAG));
});
