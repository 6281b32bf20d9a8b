/**
 * scripts/install, the README's database-host install: the launcher runs as postgres from a
 * clean environment, and the module cache it uses was warmed for the installed copy's own paths
 * (the postgres user cannot write that cache, so a cache warmed for another path means every
 * WAL call transpiles all its modules again, ~10× the start-up cost).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { AS_ROOT, makeSharedTempDir, sh } from "./support/postgres.ts";
import { V8_FLAGS } from "../main.ts";

const REPO = new URL("../", import.meta.url).pathname;

/** Every `.ts` file under `dir`, relative to it. */
function tsFiles(dir: string, rel = ""): string[] {
  const out: string[] = [];
  for (const e of Deno.readDirSync(join(dir, rel))) {
    const r = rel === "" ? e.name : `${rel}/${e.name}`;
    if (e.isDirectory) out.push(...tsFiles(dir, r));
    else if (e.name.endsWith(".ts")) out.push(r);
  }
  return out;
}

Deno.test({
  name: "install (needs root): the launcher runs as postgres and every module is pre-transpiled " +
    "at the installed path",
  ignore: !AS_ROOT,
  fn: async () => {
    const tmp = await makeSharedTempDir("wal-e-install-");
    const home = join(tmp, "lib");
    const bin = join(tmp, "bin");
    try {
      const out = await sh(["bash", join(REPO, "scripts/install")], {
        asPostgres: false,
        env: { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin", WALE_HOME: home, BINDIR: bin },
      });
      assert.match(out.stdout, /runs as postgres \(version 1\.1\.1\)/);
      const v = await sh(["env", "-i", "PATH=/usr/bin:/bin", join(bin, "wal-e"), "version"]);
      assert.equal(v.stdout.trim(), "1.1.1");
      // The launcher starts the program with the V8 flags its cache was warmed with.
      assert.ok((await Deno.readTextFile(join(bin, "wal-e"))).includes(`--v8-flags='${V8_FLAGS}'`));

      const gen = join(home, "deno-dir", "gen", "file");
      const app = join(home, "app");
      const missing = tsFiles(app).filter((f) => {
        try {
          return !Deno.statSync(join(gen, app, `${f}.js`)).isFile;
        } catch {
          return true;
        }
      });
      assert.deepEqual(missing, [], "modules without transpiled code at the installed path");
      const staged = [...Deno.readDirSync(join(gen, home))].map((e) => e.name)
        .filter((n) => n !== "app");
      assert.deepEqual(staged, [], "cache entries for paths other than the installed copy");
    } finally {
      await Deno.remove(tmp, { recursive: true });
    }
  },
});
