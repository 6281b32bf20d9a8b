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

Deno.test("V8 flags: scripts/v8-flags reads them out of main.ts for the shell scripts", async () => {
  assert.match(V8_FLAGS, /^--[a-z0-9-]+(,--[a-z0-9-]+)*$/);
  const run = (args: string[]) =>
    new Deno.Command("bash", { args: ["scripts/v8-flags", ...args], cwd: ROOT.pathname }).output();
  const out = await run([]);
  assert.ok(out.success);
  assert.equal(new TextDecoder().decode(out.stdout), `${V8_FLAGS}\n`);
  const none = await run(["deno.json"]);
  assert.equal(none.success, false, "a file without the V8_FLAGS line is an error");
});

Deno.test("V8 flags: main.ts starts itself again with them (wal-prefetch, the restore drill)", () => {
  assert.ok(selfProgram().includes(FLAG), selfProgram().join(" "));
});

Deno.test("V8 flags: scripts/compile, scripts/install, deno task wal-e and the tests pass them", async () => {
  const compile = await Deno.readTextFile(new URL("scripts/compile", ROOT));
  assert.ok(
    compile.includes("v8_flags=$(bash scripts/v8-flags)"),
    "scripts/compile reads V8_FLAGS",
  );
  assert.match(compile, /deno compile [^\n]*--v8-flags="\$v8_flags"/);
  const install = await Deno.readTextFile(new URL("scripts/install", ROOT));
  assert.ok(
    install.includes('v8_flags=$(bash "$REPO/scripts/v8-flags" "$app/main.ts")'),
    "scripts/install reads V8_FLAGS of the installed copy",
  );
  assert.match(install, /--cached-only --v8-flags="\$v8_flags" --config "\$app\/deno.json"/);
  assert.match(install, /exec '\$DENO_BIN' run [^\n]*--v8-flags='\$v8_flags'/);
  const tasks = JSON.parse(await Deno.readTextFile(new URL("deno.json", ROOT))).tasks;
  assert.ok(String(tasks["wal-e"]).includes(FLAG), tasks["wal-e"]);
  assert.ok(WAL_E_CMD.includes(FLAG));
});
