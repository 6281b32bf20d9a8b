import assert from "node:assert/strict";
import {
  extendedVersionKey,
  PARTITION_RE,
  partitionKey,
  sentinelKey,
  walKey,
} from "../../src/archive/keys.ts";

Deno.test("object keys follow WAL-E's 005 layout (COMPAT §17.3)", () => {
  const n = "base_000000010000000000000002_00000040";
  assert.equal(extendedVersionKey(n), `basebackups_005/${n}/extended_version.txt`);
  assert.equal(partitionKey(n, 0), `basebackups_005/${n}/tar_partitions/part_00000000.tar.lzo`);
  assert.equal(partitionKey(n, 1), `basebackups_005/${n}/tar_partitions/part_00000001.tar.lzo`);
  assert.equal(sentinelKey(n), `basebackups_005/${n}_backup_stop_sentinel.json`);
  assert.equal(walKey("000000010000000000000001"), "wal_005/000000010000000000000001.lzo");
  assert.equal(walKey("00000002.history"), "wal_005/00000002.history.lzo");
  assert.equal(
    walKey("000000010000000000000002.00000028.backup"),
    "wal_005/000000010000000000000002.00000028.backup.lzo",
  );
  assert.equal(
    walKey("000000010000000000000003.partial"),
    "wal_005/000000010000000000000003.partial.lzo",
  );
});

Deno.test("partition names are recognised padded and unpadded", () => {
  for (const name of ["part_00000000.tar.lzo", "part_0.tar.lzo", "part_10.tar.lzo"]) {
    assert.match(name, PARTITION_RE);
  }
  assert.doesNotMatch("part_x.tar.lzo", PARTITION_RE);
});
