import assert from "node:assert/strict";
import { join } from "node:path";
import { UserError } from "../../src/errors.ts";
import { walkCluster } from "../../src/pg/cluster_walk.ts";

Deno.test("walkCluster applies WAL-E's exclusions and records tablespaces (COMPAT §5.5)", async () => {
  const tmp = await Deno.makeTempDir();
  try {
    const d = join(tmp, "data");
    const ts = join(tmp, "ts");
    for (
      const p of [
        "base/1/pgsql_tmp",
        "pg_wal/archive_status",
        "pg_stat_tmp",
        "lost+found",
        "pg_tblspc",
      ]
    ) {
      await Deno.mkdir(join(d, p), { recursive: true });
    }
    await Deno.mkdir(join(ts, "PG_15_1/5"), { recursive: true });
    await Deno.writeTextFile(join(ts, "PG_15_1/5/16385"), "t");
    await Deno.symlink(ts, join(d, "pg_tblspc/16384"));
    for (
      const f of [
        "PG_VERSION",
        "postmaster.pid",
        "postgresql.conf",
        "backup_label",
        "tablespace_map",
        "base/1/123",
        "base/1/pgsql_tmp/tmp1",
        "pg_wal/000000010000000000000001",
        "pg_stat_tmp/x",
      ]
    ) {
      await Deno.writeTextFile(join(d, f), "x");
    }
    const w = await walkCluster(d, { skipBackupLabel: true });
    const names = w.entries.map((e) => e.name);
    assert.equal(names[0], "");
    for (
      const n of [
        "pg_wal",
        "PG_VERSION",
        "base",
        "base/1",
        "base/1/123",
        "base/1/pgsql_tmp",
        "pg_stat_tmp",
        "pg_tblspc",
        "pg_tblspc/16384/PG_15_1",
        "pg_tblspc/16384/PG_15_1/5/16385",
      ]
    ) {
      assert.ok(names.includes(n), n);
    }
    for (
      const n of [
        "postmaster.pid",
        "postgresql.conf",
        "backup_label",
        "tablespace_map",
        "lost+found",
        "base/1/pgsql_tmp/tmp1",
        "pg_wal/000000010000000000000001",
        "pg_wal/archive_status",
        "pg_stat_tmp/x",
        "pg_tblspc/16384",
        "pg_tblspc/16384/PG_15_1/5",
      ]
    ) {
      assert.ok(!names.includes(n), n);
    }
    assert.ok(names.indexOf("base") < names.indexOf("base/1/123"));
    assert.deepEqual(JSON.parse(JSON.stringify(w.spec)), {
      base_prefix: `${d}/`,
      tablespaces: ["16384"],
      "16384": { loc: `${ts}/`, link: "pg_tblspc/16384" },
    });
    const kept = await walkCluster(d);
    assert.ok(kept.entries.some((e) => e.name === "backup_label"));
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("walkCluster fails on a tablespace link it cannot follow, naming it (#16 item 5)", async () => {
  const tmp = await Deno.makeTempDir();
  try {
    const d = join(tmp, "data");
    await Deno.mkdir(join(d, "pg_tblspc"), { recursive: true });
    await Deno.writeTextFile(join(d, "PG_VERSION"), "15\n");
    await Deno.writeTextFile(join(tmp, "a_file"), "x");
    const cases: [string, string, RegExp][] = [
      ["dangling", join(tmp, "missing"), /points at ".*\/missing", which does not exist/],
      ["loop", join(d, "pg_tblspc", "loop"), /Could not follow .*loop/],
      ["to a file", join(tmp, "a_file"), /points at ".*\/a_file", which is not a directory/],
    ];
    for (const [what, target, detail] of cases) {
      const link = join(d, "pg_tblspc", "loop");
      await Deno.symlink(target, link);
      try {
        await assert.rejects(walkCluster(d), (err: unknown) => {
          assert.ok(err instanceof UserError, `${what}: ${err}`);
          assert.equal(err.message, 'could not read tablespace "pg_tblspc/loop"', what);
          assert.match(err.detail ?? "", detail, what);
          return true;
        });
      } finally {
        await Deno.remove(link);
      }
    }
    // A stray regular file in pg_tblspc is not a tablespace: archived as it is.
    await Deno.writeTextFile(join(d, "pg_tblspc", "stray"), "x");
    const w = await walkCluster(d);
    assert.ok(w.entries.some((e) => e.name === "pg_tblspc/stray"));
    assert.deepEqual(w.spec.tablespaces, []);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});
