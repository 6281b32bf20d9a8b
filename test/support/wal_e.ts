/**
 * Test harness: runs our tool through `main.ts` as a real process (the way PostgreSQL runs
 * it) or in-process through `run()` with captured output.
 */
import { run } from "../../src/cli/run.ts";
import { AS_ROOT, type Output, sh } from "./postgres.ts";
import { V8_FLAGS } from "../../main.ts";

/** Repository root directory. */
export const REPO = new URL("../../", import.meta.url).pathname.replace(/\/$/, "");

/** The argv prefix that runs main.ts with the project's config, lock file and V8 flags. */
export const WAL_E_CMD = [
  Deno.execPath(),
  "run",
  "--allow-all",
  "--quiet",
  `--v8-flags=${V8_FLAGS}`,
  "--config",
  `${REPO}/deno.json`,
  `${REPO}/main.ts`,
];

/** Runs the tool as a subprocess of this (test) user. */
export async function runWalE(
  args: string[],
  env: Record<string, string>,
  opts: { cwd?: string } = {},
): Promise<Output> {
  const [program, ...rest] = WAL_E_CMD;
  const out = await new Deno.Command(program ?? "deno", {
    args: [...rest, ...args],
    env: { NO_COLOR: "1", PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin", ...denoEnv(), ...env },
    clearEnv: true,
    cwd: opts.cwd ?? REPO,
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
  };
}

/** DENO_DIR of this test process as an absolute path (subprocesses run elsewhere). */
function denoDir(): string | undefined {
  const dir = Deno.env.get("DENO_DIR");
  return dir === undefined ? undefined : Deno.realPathSync(dir);
}

function denoEnv(): Record<string, string> {
  const dir = denoDir();
  return dir === undefined ? {} : { DENO_DIR: dir };
}

/** Runs the tool in-process with captured stdout/stderr. */
export async function runInProcess(
  args: string[],
  env: Record<string, string>,
): Promise<Output> {
  let stdout = "";
  let stderr = "";
  const code = await run(args, env, {
    stdout: (t) => (stdout += t),
    stderr: (t) => (stderr += t),
  });
  return { code, stdout, stderr };
}

/**
 * Writes an executable wrapper `wal-e` into `dir` that PostgreSQL (running as the postgres
 * user) can use in archive_command / restore_command; `env` is exported inside it.
 */
export async function writeWrapper(dir: string, env: Record<string, string>): Promise<string> {
  const cache = denoDir();
  if (AS_ROOT) {
    const main = await sh(["test", "-r", `${REPO}/main.ts`], { check: false });
    if (main.code !== 0) {
      throw new Error(
        `the postgres user cannot read "${REPO}/main.ts"; make the checkout and its parent ` +
          "directories traversable (chmod o+x on each, as .ci/run does)",
      );
    }
    const probe = cache ?? "/root/.cache/deno";
    const r = await sh(["test", "-r", `${probe}/npm`], { check: false });
    if (r.code !== 0) {
      throw new Error(
        `the postgres user cannot read the Deno cache "${probe}"; run the tests with ` +
          "`deno task test`, which keeps it in the repository (DENO_DIR=.deno-dir)",
      );
    }
  }
  const exports = Object.entries({ ...denoEnv(), ...env })
    .map(([k, v]) => `export ${k}='${v.replaceAll("'", "'\\''")}'`).join("\n");
  const path = `${dir}/wal-e`;
  await Deno.writeTextFile(
    path,
    `#!/bin/sh\n${exports}\nexport NO_COLOR=1\nexec ${
      WAL_E_CMD.map((a) => `'${a}'`).join(" ")
    } "$@"\n`,
  );
  await Deno.chmod(path, 0o755);
  return path;
}
