/** Our POSIX path helpers give what node:path/posix gives, on the paths the WAL commands see. */
import assert from "node:assert/strict";
import posix from "node:path/posix";
import { basename, dirname, join } from "../src/paths.ts";

const PATHS = [
  "",
  "/",
  "//",
  "a",
  "a/",
  "/a",
  "/a/",
  "a/b",
  "/a/b/",
  "pg_wal/000000010000000000000002",
  "/var/lib/postgresql/15/main/pg_wal/RECOVERYXLOG",
  "./x",
  "../x",
  "a//b",
  "/tmp/.wal-e/prefetch/running",
];

Deno.test("paths: basename and dirname agree with node:path/posix", () => {
  for (const p of PATHS) {
    assert.equal(basename(p), posix.basename(p), `basename(${JSON.stringify(p)})`);
    assert.equal(dirname(p), posix.dirname(p), `dirname(${JSON.stringify(p)})`);
  }
});

Deno.test("paths: join agrees with node:path/posix", () => {
  const parts: string[][] = [
    ["/a", "b"],
    ["a", "b/"],
    ["/a/", "/b"],
    ["a", "..", "b"],
    ["/a", "..", "..", "b"],
    ["..", "a"],
    ["a", "../.."],
    ["", "a"],
    ["/", "x", ".wal-e", "prefetch"],
    ["/p/wal_005", ".x.wal-e-tmp.abc"],
    ["."],
    [],
  ];
  for (const p of parts) assert.equal(join(...p), posix.join(...p), JSON.stringify(p));
});
