/**
 * Restores the archive the real WAL-E 1.1.1 wrote (`shared/fixtures/wale-archive/`) with our
 * backup-fetch and recovers it through our wal-fetch with a real PostgreSQL 15; the data must
 * match the checksums recorded on the source cluster (README of the fixture).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { giveToPostgres, makeSharedTempDir, PG_BIN, PgCluster, sh } from "../support/postgres.ts";
import { runWalE, writeWrapper } from "../support/wal_e.ts";
import { FIXTURE, loadWalEFixture } from "../support/wale_fixture.ts";

async function checksum(c: PgCluster): Promise<string> {
  const r = await sh([
    `${PG_BIN}/psql`,
    "-X",
    "-At",
    "-F",
    " ",
    "-d",
    "postgres",
    "-f",
    join(FIXTURE, "expected/checksum.sql"),
  ], { env: c.pgEnv });
  return r.stdout.trim();
}

async function expected(phase: string): Promise<string> {
  return (await Deno.readTextFile(join(FIXTURE, `expected/checksum-phase${phase}.txt`))).trim();
}

/** Fetches `backup` into a fresh data dir (tablespace via `how`) and recovers it. */
async function restoreAndRecover(
  backup: string,
  how: "spec" | "symlink",
  recoveryConf: string,
): Promise<string> {
  const tmp = await makeSharedTempDir("wal-e-fixture-");
  // The server writes its log beside the data directory.
  if (Deno.uid() === 0) await sh(["chown", "postgres:postgres", tmp], { asPostgres: false });
  let cluster: PgCluster | undefined;
  try {
    const prefix = await loadWalEFixture(join(tmp, "store"));
    const env = { WALE_FILE_PREFIX: prefix };
    const data = join(tmp, "data");
    const ts = join(tmp, "ts1");
    const args = ["backup-fetch", data, backup];
    if (how === "spec") {
      const specFile = join(tmp, "spec.json");
      await Deno.writeTextFile(
        specFile,
        JSON.stringify({
          tablespaces: ["16384"],
          "16384": { loc: `${ts}/`, link: "pg_tblspc/16384" },
        }),
      );
      args.push("--restore-spec", specFile);
    } else {
      await Deno.mkdir(join(data, "pg_tblspc"), { recursive: true, mode: 0o700 });
      await Deno.mkdir(ts, { mode: 0o700 });
      await Deno.symlink(ts, join(data, "pg_tblspc/16384"));
    }
    const r = await runWalE(args, env);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(((await Deno.stat(data)).mode ?? 0) & 0o777, 0o700);
    // The tablespace data went through the link, not into the data directory.
    assert.ok((await Deno.lstat(join(data, "pg_tblspc/16384"))).isSymlink);
    assert.ok([...Deno.readDirSync(ts)].length > 0);
    await giveToPostgres(ts);
    const walE = await writeWrapper(tmp, env);
    cluster = await PgCluster.adopt(data);
    await cluster.writeBaseConf(
      `restore_command = '${walE} wal-fetch "%f" "%p"'\n` +
        "recovery_target_action = 'promote'\n" + recoveryConf,
    );
    await Deno.writeTextFile(join(data, "recovery.signal"), "");
    await giveToPostgres(data);
    await cluster.start();
    await cluster.waitFor("SELECT pg_is_in_recovery()", "f", 60_000);
    return await checksum(cluster);
  } finally {
    await cluster?.stop();
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
}

Deno.test({
  name: "WAL-E's LATEST backup restores (restore spec) and recovers to the archive's end (phase C)",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const got = await restoreAndRecover("LATEST", "spec", "");
    assert.equal(got, await expected("C"));
  },
});

Deno.test({
  name: "WAL-E's offline backup restores (pre-made symlink) to recovery_target immediate (phase A)",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const got = await restoreAndRecover(
      "base_000000010000000000000030_00000030",
      "symlink",
      "recovery_target = 'immediate'\n",
    );
    assert.equal(got, await expected("A"));
  },
});
