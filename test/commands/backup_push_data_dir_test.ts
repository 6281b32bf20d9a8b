/**
 * backup-push refuses what is not a PostgreSQL data directory (issue #16 item 4): before any
 * connection to the (real, running) server and before anything is written to the store. A
 * relative path is resolved against the working directory.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { giveToPostgres, makeSharedTempDir, PgCluster } from "../support/postgres.ts";
import { runWalE } from "../support/wal_e.ts";
import { assertOneError, errorDetail, listTree } from "./backup_push_helpers.ts";

/** Connections our tool made, from the server's log (log_connections). */
async function pushConnections(c: PgCluster): Promise<number> {
  return (await c.log()).split("\n")
    .filter((l) => l.includes("connection authorized") && l.includes("wal-e backup-push"))
    .length;
}

Deno.test({
  name: "backup-push refuses a non-data directory, a missing path and a file before touching " +
    "server or store",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const tmp = await makeSharedTempDir("wal-e-push-notpg-");
    await giveToPostgres(tmp);
    const store = join(tmp, "store");
    const env = { WALE_FILE_PREFIX: `file://localhost${store}` };
    const c = await PgCluster.init(join(tmp, "pg"), "log_connections = on\n");
    try {
      await c.start();
      const pgEnv = { ...env, ...c.pgEnv };

      // A directory with files, but not a cluster (e.g. the parent of the data directory).
      const notPg = join(tmp, "notpg");
      await Deno.mkdir(join(notPg, "global"), { recursive: true });
      await Deno.writeTextFile(join(notPg, "some_file"), "x");
      // Only PG_VERSION: global/pg_control is missing.
      const half = join(tmp, "half");
      await Deno.mkdir(half);
      await Deno.writeTextFile(join(half, "PG_VERSION"), "15\n");
      const aFile = join(tmp, "notpg", "some_file");
      const missing = join(tmp, "no", "such", "dir");

      const cases: [string[], RegExp, RegExp][] = [
        [[notPg], /MSG: ".*\/notpg" is not a PostgreSQL data directory/, /notpg\/PG_VERSION"/],
        [[half], /is not a PostgreSQL data directory/, /half\/global\/pg_control" does not exist/],
        [[aFile], /"[^"]*some_file" is not a directory/, /data directory/],
        [[missing], /the data directory ".*\/no\/such\/dir" does not exist/, /^$/],
        [["--while-offline", notPg], /is not a PostgreSQL data directory/, /PG_VERSION/],
        [["--while-offline", missing], /does not exist/, /^$/],
      ];
      for (const [args, msg, detail] of cases) {
        const r = await runWalE(["backup-push", ...args], pgEnv);
        assertOneError(r, 1, msg);
        assert.match(errorDetail(r), detail, r.stderr);
        assert.deepEqual(await listTree(store), [], `${args.join(" ")} wrote to the store`);
      }
      assert.equal(await pushConnections(c), 0, "a refused backup-push connected to the server");

      // Relative: resolved against the cwd, named absolutely in the error.
      const rel = await runWalE(["backup-push", "notpg"], pgEnv, { cwd: tmp });
      assertOneError(rel, 1, /MSG: ".*\/notpg" is not a PostgreSQL data directory/);
      assert.match(errorDetail(rel), new RegExp(`"${tmp}/notpg/PG_VERSION"`));
      const relMissing = await runWalE(["backup-push", "nodir"], pgEnv, { cwd: tmp });
      assertOneError(relMissing, 1, new RegExp(`"${tmp}/nodir" does not exist`));
      assert.match(errorDetail(relMissing), /"nodir" was resolved against/);
      assert.deepEqual(await listTree(store), []);
      assert.equal(await pushConnections(c), 0);

      const list = await runWalE(["backup-list"], env);
      assert.equal(list.code, 0, list.stderr);
      assert.equal(list.stdout.trim().split("\r\n").length, 1, list.stdout);

      // The real cluster, by a relative path: accepted, recorded with its absolute path.
      const ok = await runWalE(["backup-push", "pg"], pgEnv, { cwd: tmp });
      assert.equal(ok.code, 0, ok.stderr);
      assert.ok(await pushConnections(c) > 0, "the log check sees our connections");
      const sentinels = (await listTree(store)).filter((p) => p.endsWith("_sentinel.json"));
      assert.equal(sentinels.length, 1);
      const sentinel = JSON.parse(await Deno.readTextFile(join(store, sentinels[0] ?? "")));
      assert.equal(sentinel.spec.base_prefix, `${c.dataDir}/`);
    } finally {
      await c.stop();
      await Deno.remove(tmp, { recursive: true }).catch(() => {});
    }
  },
});

Deno.test({
  name: "backup-push refuses a data directory of another cluster than the server it reaches",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const tmp = await makeSharedTempDir("wal-e-push-other-");
    await giveToPostgres(tmp);
    const store = join(tmp, "store");
    const env = { WALE_FILE_PREFIX: `file://localhost${store}` };
    const a = await PgCluster.init(join(tmp, "a"));
    const b = await PgCluster.init(join(tmp, "b"), "log_statement = 'all'\n");
    try {
      await a.start();
      await b.start();
      // A's files, B's server (PGPORT left pointing at another cluster on the host).
      const r = await runWalE(["backup-push", a.dataDir], { ...env, ...b.pgEnv });
      assertOneError(r, 1, /MSG: the server is not the cluster in the data directory/);
      assert.match(errorDetail(r), new RegExp(`"${a.dataDir}" has system identifier \\d+`));
      assert.deepEqual(await listTree(store), []);
      assert.doesNotMatch(await b.log(), /pg_backup_start/, "a backup was started on B");

      const ok = await runWalE(["backup-push", b.dataDir], { ...env, ...b.pgEnv });
      assert.equal(ok.code, 0, ok.stderr);
    } finally {
      await a.stop();
      await b.stop();
      await Deno.remove(tmp, { recursive: true }).catch(() => {});
    }
  },
});
