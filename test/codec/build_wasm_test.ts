/** The committed wasm/lzo1x.wasm is exactly what scripts/build-wasm makes from wasm/*.c. */
import assert from "node:assert/strict";
import { findBinary, runProgram } from "../support/lzop_fixtures.ts";

Deno.test("scripts/build-wasm --check rebuilds wasm/lzo1x.wasm byte for byte", async () => {
  findBinary("clang", "the wasm build needs clang and lld: apt-get install clang lld");
  const script = new URL("../../scripts/build-wasm", import.meta.url).pathname;
  const r = await runProgram("bash", [script, "--check"]);
  assert.equal(r.code, 0, `build-wasm --check failed (exit ${r.code}):\n${r.stderr}`);
});
