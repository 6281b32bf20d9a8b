import assert from "node:assert/strict";
import { join } from "node:path";
import { connectionSettings, parseBackupLabel, passwordFromFile } from "../../src/pg/backup_api.ts";

Deno.test("parseBackupLabel reads START WAL LOCATION and START TIMELINE", () => {
  const label = "START WAL LOCATION: 0/9000028 (file 000000010000000000000009)\n" +
    "CHECKPOINT LOCATION: 0/9000060\nBACKUP METHOD: streamed\nBACKUP FROM: primary\n" +
    "START TIME: 2026-11-25 01:00:53 UTC\nLABEL: freeze_start_x\nSTART TIMELINE: 1\n";
  assert.deepEqual(parseBackupLabel(label), {
    lsn: 0x9000028n,
    fileName: "000000010000000000000009",
    timeline: 1,
  });
  assert.equal(parseBackupLabel("garbage"), undefined);
});

Deno.test("passwordFromFile matches fields, wildcards and escapes", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const f = join(dir, "pgpass");
    await Deno.writeTextFile(
      f,
      "# comment\nother:5432:*:postgres:nope\n*:5433:postgres:postgres:pa\\:ss\n",
    );
    assert.equal(await passwordFromFile(f, ["h", "5433", "postgres", "postgres"]), "pa:ss");
    assert.equal(await passwordFromFile(f, ["h", "5434", "postgres", "postgres"]), undefined);
    const s = await connectionSettings({
      PGHOST: "127.0.0.1",
      PGPORT: "5433",
      PGUSER: "postgres",
      PGPASSFILE: f,
    });
    assert.equal(s.password, "pa:ss");
    assert.equal(s.database, "postgres");
    assert.equal(s.socketPath, undefined);
    const sock = await connectionSettings({ PGHOST: "/tmp/s", PGPORT: "6000" });
    assert.equal(sock.socketPath, "/tmp/s/.s.PGSQL.6000");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
