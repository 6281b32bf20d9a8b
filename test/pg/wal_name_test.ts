import assert from "node:assert/strict";
import { backupName } from "../../src/archive/keys.ts";
import {
  nextSegmentName,
  parseLsn,
  parseSegmentName,
  segmentNumber,
  walFileNameOffset,
} from "../../src/pg/wal_name.ts";

Deno.test("backup names from start LSNs match WAL-E's vectors (COMPAT §17.1)", () => {
  const cases: [number, string, string][] = [
    [1, "0/2000028", "base_000000010000000000000002_00000040"],
    [1, "0/2ABCDEF", "base_000000010000000000000002_11259375"],
    [1, "0/3000000", "base_000000010000000000000002_00000000"],
    [3, "1F/A2000028", "base_000000030000001F000000A2_00000040"],
    [4, "2DF/A6000028", "base_00000004000002DF000000A6_00000040"],
  ];
  for (const [tli, lsn, name] of cases) {
    const { fileName, offset } = walFileNameOffset(parseLsn(lsn), tli);
    assert.equal(backupName(fileName, offset), name, lsn);
  }
});

Deno.test("segment numbers ignore the timeline (COMPAT §17.1)", () => {
  assert.equal(segmentNumber("000000010000000A000000FF"), 42_949_673_215n);
  assert.equal(segmentNumber("base_000000030000001F000000A2_00000040".slice(5)), 133_143_986_338n);
  assert.equal(segmentNumber("00000002.history"), undefined);
});

Deno.test("the next segment carries into the log id after FF for 16 MiB segments", () => {
  assert.equal(nextSegmentName("000000010000000A000000FE"), "000000010000000A000000FF");
  assert.equal(nextSegmentName("000000010000000A000000FF"), "000000010000000B00000000");
  assert.equal(nextSegmentName("0000000100000000000003FF", 4 << 20), "000000010000000100000000");
  assert.deepEqual(parseSegmentName("000000030000001F000000A2.partial"), {
    timeline: 3,
    log: 0x1f,
    seg: 0xa2,
  });
});
