/**
 * Every lazily loaded module loads, has its typed loader, and is handed to `deno compile` by
 * scripts/compile (which cannot see computed imports by itself).
 */
import assert from "node:assert/strict";
import { lazy, LAZY_MODULES, WORKER_MODULES } from "../src/lazy.ts";

Deno.test("lazy modules: one loader per listed module, and each loads", async () => {
  assert.equal(Object.keys(lazy).length, LAZY_MODULES.length);
  for (const load of Object.values(lazy)) {
    const mod = await load();
    assert.ok(Object.keys(mod).length > 0);
  }
});

Deno.test("lazy modules: scripts/compile lists them for --include, read from src/lazy.ts", async () => {
  const out = await new Deno.Command("bash", {
    args: [
      "-c",
      "deno eval --quiet 'import { LAZY_MODULES } from \"./src/lazy.ts\"; for (const m of LAZY_MODULES) console.log(m);'",
    ],
    cwd: new URL("../", import.meta.url).pathname,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  assert.deepEqual(new TextDecoder().decode(out.stdout).trim().split("\n"), [...LAZY_MODULES]);
  const script = await Deno.readTextFile(new URL("../scripts/compile", import.meta.url));
  assert.ok(script.includes("LAZY_MODULES") && script.includes('--include "src/$m"'));
});

Deno.test("worker modules: each exists and scripts/compile embeds them", async () => {
  for (const m of WORKER_MODULES) {
    await Deno.stat(new URL(`../src/${m}`, import.meta.url));
  }
  const script = await Deno.readTextFile(new URL("../scripts/compile", import.meta.url));
  assert.ok(script.includes("WORKER_MODULES"));
});
