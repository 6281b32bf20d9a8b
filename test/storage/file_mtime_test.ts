/**
 * File-store times to the microsecond, as WAL-E printed them: the nanosecond mtime from
 * statx(2) agrees with coreutils `stat`, and its text is Python's
 * `utcfromtimestamp(st_mtime).isoformat()` to the last digit (values pinned from CPython 3.11).
 */
import assert from "node:assert/strict";
import { preciseMtime, pythonIsoUtcPrecise } from "../../src/storage/file_mtime.ts";
import { LocalStore } from "../../src/storage/local.ts";

/** Sets `path`'s mtime to `seconds` + `nanoseconds` with coreutils touch (Deno.utime has ms). */
async function touchNs(path: string, seconds: number, nanoseconds: number): Promise<void> {
  const stamp = `@${seconds}.${String(nanoseconds).padStart(9, "0")}`;
  const out = await new Deno.Command("touch", { args: ["-m", "-d", stamp, path] }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
}

/** `stat -c %y` of `path`: `2026-12-05 21:00:00.123456789 +0000` (TZ=UTC). */
async function coreutilsMtime(path: string): Promise<string> {
  const out = await new Deno.Command("stat", {
    args: ["-c", "%y", path],
    env: { TZ: "UTC" },
    stdout: "piped",
  }).output();
  return new TextDecoder().decode(out.stdout).trim();
}

Deno.test("preciseMtime reads the nanoseconds coreutils stat shows; Deno.stat has only ms", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/f`;
    await Deno.writeFile(path, new Uint8Array(1));
    for (const ns of [123456789, 1, 999999999, 0, 500]) {
      await touchNs(path, 1796504400, ns);
      const t = preciseMtime(path);
      assert.ok(t !== undefined, "statx is not available");
      assert.equal(
        `2026-12-05 21:00:00.${String(t.nanoseconds).padStart(9, "0")} +0000`,
        await coreutilsMtime(path),
      );
      assert.equal(t.seconds, 1796504400);
      assert.equal((await Deno.stat(path)).mtime?.getTime(), 1796504400_000 + Math.floor(ns / 1e6));
    }
    assert.equal(preciseMtime(`${dir}/missing`), undefined);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("pythonIsoUtcPrecise matches CPython's float rounding to microseconds", () => {
  const cases: [number, number, string][] = [
    [1796504400, 123456789, "2026-12-05T21:00:00.123457"],
    [1796504400, 500, "2026-12-05T21:00:00"],
    [1796504400, 1500, "2026-12-05T21:00:00.000001"],
    [1796504400, 2500, "2026-12-05T21:00:00.000002"],
    [1796504400, 999999500, "2026-12-05T21:00:01"],
    [1796504400, 999999999, "2026-12-05T21:00:01"],
    [1796504400, 0, "2026-12-05T21:00:00"],
    [1764032813, 595526000, "2025-11-25T01:06:53.595526"],
  ];
  for (const [seconds, nanoseconds, want] of cases) {
    assert.equal(pythonIsoUtcPrecise({ seconds, nanoseconds }), want, `${seconds}.${nanoseconds}`);
  }
});

Deno.test("the local store lists microsecond times, as WAL-E's file backend did", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const s = new LocalStore(`${dir.slice(1)}/`);
    await s.put("basebackups_005/x_backup_stop_sentinel.json", new Blob(["{}"]).stream());
    await touchNs(`${dir}/basebackups_005/x_backup_stop_sentinel.json`, 1764032813, 595526123);
    const [info] = await Array.fromAsync(s.list("basebackups_005/"));
    assert.equal(info?.lastModifiedText, "2025-11-25T01:06:53.595526");
    assert.equal(info?.lastModified.toISOString(), "2025-11-25T01:06:53.595Z");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
