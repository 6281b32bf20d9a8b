/** The restore drill's private configuration: restore_command quoting, target times, conf. */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  confString,
  dataDirMajor,
  drillConf,
  findBinaries,
  normalizeTargetTime,
  prepareDataDir,
  restoreCommand,
} from "../../../src/commands/backup_verify/scratch_config.ts";
import { UsageError, UserError } from "../../../src/errors.ts";

Deno.test("restoreCommand quotes for sh and doubles % so only %f and %p are replaced", () => {
  assert.equal(
    restoreCommand(["/usr/bin/deno", "run", "/opt/my app/main.ts", "--x=it's", "50%"]),
    `/usr/bin/deno run '/opt/my app/main.ts' '--x=it'\\''s' 50%% wal-fetch "%f" "%p"`,
  );
});

Deno.test("confString escapes quotes and backslashes for postgresql.conf", () => {
  assert.equal(confString(`a 'b' \\c`), `'a ''b'' \\\\c'`);
});

Deno.test("normalizeTargetTime accepts explicit zones and keeps microseconds", () => {
  assert.equal(normalizeTargetTime("2026-11-26 12:00:00+00"), "2026-11-26T12:00:00+00:00");
  assert.equal(
    normalizeTargetTime("2026-11-26T12:00:00.123456Z"),
    "2026-11-26T12:00:00.123456Z",
  );
  assert.equal(normalizeTargetTime("2026-11-26 12:00 UTC"), "2026-11-26T12:00Z");
  assert.equal(normalizeTargetTime("2026-11-26 12:00:00-0530"), "2026-11-26T12:00:00-05:30");
  assert.equal(normalizeTargetTime("2026-11-26 12:00:00+01:00"), "2026-11-26T12:00:00+01:00");
});

Deno.test("normalizeTargetTime refuses a time without a zone, or no time at all", () => {
  for (const bad of ["2026-11-26 12:00:00", "yesterday", "2026-13-45 99:00:00+00", ""]) {
    assert.throws(
      () => normalizeTargetTime(bad),
      (err: unknown) =>
        err instanceof UsageError && err.message === "--target-time is not a time with a time zone",
      bad,
    );
  }
});

Deno.test("drillConf: private socket, no archiving, recovery to the target then promotion", () => {
  const conf = drillConf({
    socketDir: "/tmp/d/socket",
    port: 5432,
    restoreCommand: `deno run main.ts wal-fetch "%f" "%p"`,
    targetTime: "2026-11-26T12:00:00+00:00",
    major: 15,
    maxPreparedTransactions: 3,
  });
  for (
    const line of [
      "listen_addresses = ''",
      "unix_socket_directories = '/tmp/d/socket'",
      "archive_mode = off",
      "archive_command = ''",
      "archive_library = ''",
      `restore_command = 'deno run main.ts wal-fetch "%f" "%p"'`,
      "recovery_target_time = '2026-11-26T12:00:00+00:00'",
      "recovery_target_action = 'promote'",
      "primary_conninfo = ''",
      "hot_standby = off",
      "max_prepared_transactions = 3",
      "lc_messages = 'C'",
      "allow_in_place_tablespaces = on",
    ]
  ) assert.ok(conf.split("\n").includes(line), line);
  const old = drillConf({
    socketDir: "/s",
    port: 5432,
    restoreCommand: "x",
    targetTime: undefined,
    major: 13,
    maxPreparedTransactions: 0,
  });
  assert.doesNotMatch(old, /archive_library|allow_in_place_tablespaces|recovery_target_time =/);
});

Deno.test("prepareDataDir moves postgresql.auto.conf aside and starts archive recovery", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(join(dir, "postgresql.auto.conf"), "archive_command = 'cp %p /x'\n");
    await Deno.writeTextFile(join(dir, "standby.signal"), "");
    await prepareDataDir(dir, "port = 5432\n");
    const names = (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name).sort();
    assert.deepEqual(names, [
      "pg_hba.conf",
      "pg_ident.conf",
      "postgresql.auto.conf.from-backup",
      "postgresql.conf",
      "recovery.signal",
    ]);
    assert.equal(await Deno.readTextFile(join(dir, "pg_hba.conf")), "local all all trust\n");
    assert.equal((await Deno.stat(join(dir, "postgresql.conf"))).mode! & 0o777, 0o600);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("findBinaries and dataDirMajor fail with clear errors", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await assert.rejects(
      findBinaries(dir, "15"),
      (err: unknown) =>
        err instanceof UserError &&
        err.message === "PostgreSQL server binaries not found for the restore drill" &&
        (err.detail ?? "").includes(`"${dir}/postgres"`) &&
        /PostgreSQL 15 server package/.test(err.hint ?? ""),
    );
    await assert.rejects(dataDirMajor(dir), /no valid PG_VERSION/);
    await Deno.writeTextFile(join(dir, "PG_VERSION"), "11\n");
    await assert.rejects(dataDirMajor(dir), /needs a backup of PostgreSQL 12 or later/);
    await Deno.writeTextFile(join(dir, "PG_VERSION"), "15\n");
    assert.equal(await dataDirMajor(dir), "15");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
