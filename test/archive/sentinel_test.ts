import assert from "node:assert/strict";
import { parseSentinel, serializeSentinel } from "../../src/archive/sentinel.ts";
import { CorruptArchiveError } from "../../src/errors.ts";

const ONLINE = '{"wal_segment_backup_stop": "000000010000000000000002", ' +
  '"wal_segment_offset_backup_stop": "00000248", "expanded_size_bytes": 23712345, ' +
  '"spec": {"base_prefix": "/var/lib/postgresql/9.6/main/", "tablespaces": ["16385"], ' +
  '"16385": {"loc": "/srv/tblspc/fast/", "link": "pg_tblspc/16385"}}}';

Deno.test("sentinels serialise byte for byte as WAL-E's json.dumps (COMPAT §17.4)", () => {
  const s = parseSentinel(new TextEncoder().encode(ONLINE), "k");
  assert.equal(new TextDecoder().decode(serializeSentinel(s)), ONLINE);
  const none = serializeSentinel({
    wal_segment_backup_stop: "000000010000000000000002",
    wal_segment_offset_backup_stop: "00000248",
    expanded_size_bytes: 1,
    spec: { base_prefix: "/data/", tablespaces: [] },
  });
  assert.match(
    new TextDecoder().decode(none),
    /"spec": \{"base_prefix": "\/data\/", "tablespaces": \[\]\}\}$/,
  );
});

Deno.test("every sentinel in the WAL-E fixture parses and re-serialises identically", async () => {
  const dir = new URL(
    "../../../shared/fixtures/wale-archive/objects/plain/basebackups_005/",
    import.meta.url,
  );
  let n = 0;
  for await (const e of Deno.readDir(dir)) {
    if (!e.name.endsWith("_backup_stop_sentinel.json")) continue;
    const bytes = await Deno.readFile(new URL(e.name, dir));
    assert.deepEqual(serializeSentinel(parseSentinel(bytes, e.name)), bytes);
    n++;
  }
  assert.equal(n, 2);
});

Deno.test("a malformed sentinel is a CorruptArchiveError", () => {
  assert.throws(() => parseSentinel(new TextEncoder().encode("{"), "k"), CorruptArchiveError);
  assert.throws(() => parseSentinel(new TextEncoder().encode("{}"), "k"), CorruptArchiveError);
});
