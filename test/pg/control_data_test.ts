import assert from "node:assert/strict";
import { offlineCheckpoint, parseControlData, parsePgConfig } from "../../src/pg/control_data.ts";
import { UserError } from "../../src/errors.ts";

const CONTROLDATA = `pg_control version number:            1300
Latest checkpoint location:           0/3000060
Latest checkpoint's REDO location:    0/3000028
Latest checkpoint's TimeLineID:       1
Time of latest checkpoint:            Wed 25 Nov 2026 01:00:00 AM UTC
Bytes per WAL segment:                16777216
`;

Deno.test("parseControlData keeps one-colon lines and reads the checkpoint", () => {
  const f = parseControlData(CONTROLDATA);
  assert.equal(f.get("Latest checkpoint's REDO location"), "0/3000028");
  assert.equal(f.has("Time of latest checkpoint"), false);
  assert.deepEqual(offlineCheckpoint(f), {
    redoLsn: 0x3000028n,
    timeline: 1,
    segmentSize: 16777216,
  });
});

Deno.test("offlineCheckpoint fails with a UserError when fields are missing", () => {
  assert.throws(() => offlineCheckpoint(parseControlData("nothing: here\n")), UserError);
});

Deno.test("parsePgConfig reads KEY = value lines", () => {
  const f = parsePgConfig(
    "BINDIR = /usr/lib/postgresql/15/bin\nVERSION = PostgreSQL 15.18 (Debian 15.18-0+deb12u1)\n",
  );
  assert.equal(f.get("BINDIR"), "/usr/lib/postgresql/15/bin");
  assert.equal(f.get("VERSION"), "PostgreSQL 15.18 (Debian 15.18-0+deb12u1)");
});
