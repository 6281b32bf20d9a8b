import assert from "node:assert/strict";
import { ConfigError } from "../../src/errors.ts";
import { parsePrefix } from "../../src/storage/prefix.ts";

Deno.test("prefix URLs parse into scheme, store name and a slash-terminated path prefix", () => {
  const cases: [string, string, string, string][] = [
    ["s3://foo/bar", "s3", "foo", "bar/"],
    ["s3://foo/bar/", "s3", "foo", "bar/"],
    ["s3://foo", "s3", "foo", ""],
    ["s3://foo/", "s3", "foo", ""],
    ["s3://foo/a/b/c", "s3", "foo", "a/b/c/"],
    ["wabs://container1/nextpath", "wabs", "container1", "nextpath/"],
    ["swift://container", "swift", "container", ""],
    ["gs://example-bucket/pg/main", "gs", "example-bucket", "pg/main/"],
    ["file://localhost/var/backups/pg", "file", "localhost", "var/backups/pg/"],
    ["file:///var/backups/pg", "file", "", "var/backups/pg/"],
  ];
  for (const [url, scheme, store, path] of cases) {
    const p = parsePrefix(url);
    assert.deepEqual([p.scheme, p.storeName, p.pathPrefix], [scheme, store, path], url);
  }
});

Deno.test("bad prefixes are ConfigErrors", () => {
  for (
    const url of ["notfile://x/y", "/var/backups", "s3:///path", "s3://b/a//c", "s3://b/p?x=1"]
  ) {
    assert.throws(() => parsePrefix(url), ConfigError, url);
  }
});
