/**
 * The README's first command ends in `bash scripts/demo`: a whole point-in-time restore drill
 * with the installed `wal-e` launcher. Here it runs against this checkout: the launcher on PATH
 * is a wrapper that runs main.ts (what scripts/install's launcher does with its own copy), the
 * demo's directory and ports are fresh, and the run must end with what it proved.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { AS_ROOT, freePort, giveToPostgres, makeSharedTempDir } from "../support/postgres.ts";
import { REPO, writeWrapper } from "../support/wal_e.ts";

/** A free port whose successor is free too (the demo's restored copy takes port + 1). */
function twoFreePorts(): number {
  for (let i = 0; i < 50; i++) {
    const port = freePort();
    if (port >= 65535) continue;
    try {
      Deno.listen({ hostname: "127.0.0.1", port: port + 1 }).close();
      return port;
    } catch { /* taken: try another */ }
  }
  throw new Error("no two consecutive free ports on 127.0.0.1");
}

Deno.test({
  name: "scripts/demo, the README's main job, restores to the target time and proves it",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const tmp = await makeSharedTempDir("wal-e-demo-");
    try {
      // The launcher: `wal-e` first on PATH (the demo also puts its directory first on the
      // servers' PATH, for archive_command and restore_command).
      const bin = join(tmp, "bin");
      await Deno.mkdir(bin, { mode: 0o755 });
      const launcher = await writeWrapper(bin, {});
      await giveToPostgres(tmp);
      await Deno.chmod(tmp, 0o755);
      const demoDir = join(tmp, "demo");
      const out = await new Deno.Command("bash", {
        args: [join(REPO, "scripts", "demo")],
        env: {
          PATH: `${bin}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`,
          DEMO_DIR: demoDir,
          DEMO_PORT: String(twoFreePorts()),
          PG_BIN: "/usr/lib/postgresql/15/bin",
          ...(AS_ROOT ? {} : { HOME: Deno.env.get("HOME") ?? tmp }),
        },
        clearEnv: true,
        cwd: tmp,
        stdout: "piped",
        stderr: "piped",
      }).output();
      const stdout = new TextDecoder().decode(out.stdout);
      const text = `${stdout}\n${new TextDecoder().decode(out.stderr)}`;
      assert.equal(out.code, 0, text);
      // It used this checkout's launcher, and got to the end of the drill.
      assert.match(stdout, new RegExp(`wal-e 1\\.1\\.1 from ${launcher}, PostgreSQL 15\\.`), text);
      assert.match(stdout, /PROVED:\n/, text);
      assert.match(stdout, /its data equals the primary's at that time \(\d+ history rows/, text);
      assert.match(stdout, /stopped at .* and promoted \(timeline 2\)/, text);
      assert.match(stdout, /nothing of timeline 2 reached the store/, text);
      // Both clusters were stopped: no postmaster.pid left behind.
      for (const cluster of ["primary", "restored"]) {
        const pid = await Deno.stat(join(demoDir, cluster, "postmaster.pid")).catch(() => null);
        assert.equal(pid, null, `${cluster} still running`);
      }
    } finally {
      await Deno.remove(tmp, { recursive: true }).catch(() => {});
    }
  },
});
