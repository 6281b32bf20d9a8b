/**
 * backup-verify and page checksums with a real PostgreSQL 15 (`initdb -k`), on the local store
 * and on a real Ceph RGW (S3): a page corrupted on disk is reported by backup-push (a WARNING
 * naming file and block) and by backup-verify; a good backup verifies; a flipped byte in a
 * partition, a missing partition and a manifest that disagrees each fail naming the culprit;
 * the manifest stays out of what WAL-E lists, fetches and deletes; WAL-E's own backups verify
 * without a manifest.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { GetObjectCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import { giveToPostgres, makeSharedTempDir, PgCluster, sh } from "../support/postgres.ts";
import { adminClient, newBucket, rgw, s3Env, stopRgw } from "../support/rgw.ts";
import { runWalE, writeWrapper } from "../support/wal_e.ts";
import { loadWalEFixture } from "../support/wale_fixture.ts";
import { dispose, makeRing } from "../support/gpg.ts";

const PAGE = 8192;

/** A running `initdb -k` cluster archiving into `env`'s store, with table `t` on disk. */
async function checksummedCluster(
  tmp: string,
  env: Record<string, string>,
): Promise<{ pg: PgCluster; tablePath: string }> {
  const walE = await writeWrapper(tmp, env);
  const pg = await PgCluster.init(
    join(tmp, "pg"),
    `wal_level = replica\narchive_mode = on\narchive_command = '${walE} wal-push %p'\n` +
      "autovacuum = off\n",
    ["-k"],
  );
  await pg.start();
  await pg.psql(
    "CREATE TABLE t AS SELECT g AS id, repeat('x', 100) AS pad FROM generate_series(1, 5000) g",
  );
  await pg.psql("CHECKPOINT");
  return { pg, tablePath: await pg.psql("SELECT pg_relation_filepath('t')") };
}

/** Flips one byte inside block `block` of the table's file while the server is down. */
async function corruptBlock(pg: PgCluster, tablePath: string, block: number): Promise<void> {
  await pg.stop();
  const file = join(pg.dataDir, tablePath);
  const bytes = await Deno.readFile(file);
  assert.ok(bytes.length > (block + 1) * PAGE);
  bytes[block * PAGE + 5000]! ^= 0x5A;
  await Deno.writeFile(file, bytes);
  await pg.start();
}

/** The single complete backup's name. */
async function latestName(env: Record<string, string>): Promise<string> {
  const list = await runWalE(["backup-list", "LATEST"], env);
  assert.equal(list.code, 0, list.stderr);
  const name = list.stdout.split("\r\n")[1]?.split("\t")[0] ?? "";
  assert.match(name, /^base_[0-9A-F]{24}_\d{8}$/);
  return name;
}

/** Runs backup-verify; returns stdout lines, stderr and the code. */
async function verify(
  env: Record<string, string>,
  name = "LATEST",
): Promise<{ code: number; lines: string[]; stderr: string; stdout: string }> {
  const r = await runWalE(["backup-verify", name], env);
  return { code: r.code, lines: r.stdout.trim().split("\n"), stderr: r.stderr, stdout: r.stdout };
}

/** The lines of `lines` starting with FAIL. */
function fails(lines: string[]): string[] {
  return lines.filter((l) => l.startsWith("FAIL"));
}

/** What the corrupt-page checks expect of push and verify, on any store. */
async function pushAndVerifyCorrupt(
  env: Record<string, string>,
  pg: PgCluster,
  tablePath: string,
): Promise<string> {
  await corruptBlock(pg, tablePath, 1);
  const push = await runWalE(["backup-push", "--fast-checkpoint", pg.dataDir], {
    ...env,
    ...pg.pgEnv,
  });
  assert.equal(push.code, 0, push.stderr);
  assert.match(
    push.stderr,
    new RegExp(
      `WARNING +MSG: page checksum verification failed\\n +DETAIL: File "${tablePath}", ` +
        "block 1: calculated checksum [0-9A-F]{4} but the page has [0-9A-F]{4} \\(read twice\\)",
    ),
  );
  assert.match(push.stderr, /WARNING +MSG: 1 pages failed checksum verification/);
  // No other page of the cluster is reported.
  assert.equal(push.stderr.match(/page checksum verification failed/g)?.length, 1, push.stderr);

  const v = await verify(env);
  assert.equal(v.code, 1, v.stdout + v.stderr);
  const f = fails(v.lines);
  assert.match(
    f[0] ?? "",
    new RegExp(
      `^FAIL page ${tablePath} block 1 \\(part_00000000\\.tar\\.lzo\\): checksum ` +
        "verification failed when backup-push read it \\(calculated [0-9A-F]{4}, stored " +
        "[0-9A-F]{4}\\)$",
    ),
  );
  assert.match(f[1] ?? "", /^FAIL backup: base_\w+: 1 problem$/);
  assert.equal(f.length, 2, v.stdout);
  assert.match(v.stderr, /ERROR +MSG: backup verification failed\n +DETAIL: base_\w+: 1 problem;/);
  const json = await runWalE(["backup-verify", "--json", "LATEST"], env);
  assert.equal(json.code, 1);
  const doc = JSON.parse(json.stdout);
  assert.equal(doc.ok, false);
  assert.equal(doc.corrupt_pages.length, 1);
  assert.equal(doc.corrupt_pages[0].path, tablePath);
  assert.equal(doc.corrupt_pages[0].block, 1);
  assert.equal(doc.manifest.data_checksums, true);
  assert.ok(doc.manifest.pages_verified > 100, String(doc.manifest.pages_verified));
  assert.match(doc.verified_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  assert.match(doc.manifest.created_at, /Z$/);
  return await latestName(env);
}

Deno.test({
  name:
    "local store: a corrupted page of an initdb -k cluster is reported by backup-push and backup-verify",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const tmp = await makeSharedTempDir("wal-e-verify-page-");
    await Deno.mkdir(join(tmp, "archive"));
    await giveToPostgres(tmp);
    const env = { WALE_FILE_PREFIX: `file://localhost${tmp}/archive` };
    const { pg, tablePath } = await checksummedCluster(tmp, env);
    try {
      await pushAndVerifyCorrupt(env, pg, tablePath);
    } finally {
      await pg.stop();
      await Deno.remove(tmp, { recursive: true }).catch(() => {});
    }
  },
});

/** Keys of a file store, relative to its root. */
async function storeKeys(root: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (dir: string, rel: string): Promise<void> => {
    for await (const e of Deno.readDir(dir)) {
      const r = rel === "" ? e.name : `${rel}/${e.name}`;
      if (e.isDirectory) await walk(join(dir, e.name), r);
      else out.push(r);
    }
  };
  await walk(root, "");
  return out.sort();
}

/**
 * WAL-E 1.1.1's rules (WAL-E-COMPAT §2.9, §6.1, §10.3), for keys under `basebackups_005/`:
 * the backups it lists, the volumes its backup-fetch reads, and what its `delete before` sweep
 * recognises (anything else it keeps, with a warning).
 */
function walESees(keys: string[]): { listed: string[]; volumes: string[]; sweeps: string[] } {
  const rel = keys.filter((k) => k.startsWith("basebackups_005/"))
    .map((k) => k.slice("basebackups_005/".length));
  const name = "base_[0-9A-F]{24}_[0-9A-F]{8}";
  return {
    listed: rel.filter((k) => new RegExp(`^${name}_backup_stop_sentinel\\.json$`).test(k)),
    volumes: rel.filter((k) =>
      new RegExp(`^${name}/tar_partitions/part_\\d+\\.tar\\.lzo$`).test(k)
    ),
    sweeps: rel.filter((k) =>
      k.split("/").length === 1 ||
      new RegExp(`^${name}/extended_version\\.txt$`).test(k) ||
      new RegExp(`^${name}/tar_partitions/[^/]+$`).test(k)
    ),
  };
}

Deno.test({
  name:
    "local store: a good backup verifies; a flipped byte, a missing partition and a manifest mismatch fail naming the culprit",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const tmp = await makeSharedTempDir("wal-e-verify-");
    // archive_command (as postgres) writes into the store root that backup-push (as root)
    // writes too: it must exist, owned by postgres.
    await Deno.mkdir(join(tmp, "archive"));
    await giveToPostgres(tmp);
    const store = join(tmp, "archive");
    const env = { WALE_FILE_PREFIX: `file://localhost${store}` };
    const { pg } = await checksummedCluster(tmp, env);
    try {
      const push = await runWalE(["backup-push", "--fast-checkpoint", pg.dataDir], {
        ...env,
        ...pg.pgEnv,
      });
      assert.equal(push.code, 0, push.stderr);
      assert.match(push.stderr, /INFO +MSG: page checksums verified\n +DETAIL: \d+ pages verified/);
      assert.doesNotMatch(push.stderr, /WARNING/);
      const name = await latestName(env);
      const dir = join(store, "basebackups_005", name);

      // The layout: the manifest beside extended_version.txt, outside tar_partitions/, written
      // before the sentinel; WAL-E's listing and fetch do not see it, its sweep leaves it.
      const keys = await storeKeys(store);
      const manifestKey = `basebackups_005/${name}/manifest.json.lzo`;
      assert.ok(keys.includes(manifestKey), keys.join("\n"));
      const wale = walESees(keys);
      assert.deepEqual(wale.listed, [`${name}_backup_stop_sentinel.json`]);
      assert.deepEqual(wale.volumes, [
        `${name}/tar_partitions/part_00000000.tar.lzo`,
        `${name}/tar_partitions/part_00000001.tar.lzo`,
      ]);
      assert.ok(!wale.sweeps.includes(`${name}/manifest.json.lzo`));
      const sentinelTime =
        (await Deno.stat(join(store, `basebackups_005/${name}_backup_stop_sentinel.json`))).mtime!;
      assert.ok((await Deno.stat(join(store, manifestKey))).mtime! <= sentinelTime);
      // lzop reads the manifest like any volume.
      const doc = JSON.parse((await sh(["lzop", "-dc", join(store, manifestKey)])).stdout);
      assert.equal(doc.backup_name, name);
      assert.equal(doc.partition_count, 2);
      assert.deepEqual(
        doc.files.filter((f: { path: string }) => f.path === "backup_label")
          .map((f: { partition: number }) => f.partition),
        [1],
      );
      const list = await runWalE(["backup-list", "--detail"], env);
      assert.equal(list.stdout.trim().split("\r\n").length, 2, list.stdout);

      const good = await verify(env);
      assert.equal(good.code, 0, good.stdout + good.stderr);
      assert.deepEqual(fails(good.lines), []);
      assert.match(
        good.lines.at(-1) ?? "",
        /^OK {3}backup: base_\w+: verified \(2 partitions, \d+ files, matching the manifest\)$/,
      );
      assert.ok(good.lines.includes("OK   backup_label (part_00000001.tar.lzo): present"));
      const json = JSON.parse((await runWalE(["backup-verify", "--json", name], env)).stdout);
      assert.equal(json.ok, true);
      assert.equal(json.backup_label_present, true);
      assert.equal(json.manifest.present, true);
      assert.deepEqual(json.partitions.map((p: { status: string }) => p.status), ["ok", "ok"]);
      assert.match(json.backup_finished_at, /Z$/);

      // backup-fetch restores it as before (it reads tar_partitions/ only).
      const restored = join(tmp, "restored");
      const fetch = await runWalE(["backup-fetch", restored, name], env);
      assert.equal(fetch.code, 0, fetch.stderr);
      assert.equal(await Deno.readTextFile(join(restored, "PG_VERSION")), "15\n");
      assert.ok((await Deno.stat(join(restored, "backup_label"))).isFile);

      // A flipped byte in a partition: the lzop checksum names the partition.
      const part0 = join(dir, "tar_partitions", "part_00000000.tar.lzo");
      const original = await Deno.readFile(part0);
      const flipped = original.slice();
      flipped[Math.floor(flipped.length / 2)]! ^= 0x01;
      await Deno.writeFile(part0, flipped);
      let v = await verify(env);
      assert.equal(v.code, 1);
      assert.match(
        fails(v.lines)[0] ?? "",
        /^FAIL partition part_00000000\.tar\.lzo file [^:]+: .*(lzop|tar)/i,
      );
      assert.match(
        v.stderr,
        /ERROR +MSG: backup verification failed\n +DETAIL: .*partition part_00000000\.tar\.lzo/,
      );
      await Deno.writeFile(part0, original);

      // A missing partition: named, with what it held (here backup_label).
      const part1 = join(dir, "tar_partitions", "part_00000001.tar.lzo");
      await Deno.rename(part1, `${part1}.aside`);
      v = await verify(env);
      assert.equal(v.code, 1);
      assert.deepEqual(fails(v.lines).slice(0, 2), [
        "FAIL partition part_00000001.tar.lzo: missing from the store; the manifest lists 1 file in it",
        "FAIL backup_label: not in any partition: recovery would not know where to start " +
        "(a partition above is missing or unreadable)",
      ]);
      await Deno.rename(`${part1}.aside`, part1);

      // A manifest that disagrees: the file is named, with its partition.
      const manifestFile = join(store, manifestKey);
      const savedManifest = await Deno.readFile(manifestFile);
      const changed = structuredClone(doc);
      const version = changed.files.find((f: { path: string }) => f.path === "PG_VERSION");
      version.crc32 = "00000000";
      const control = changed.files.find((f: { path: string }) => f.path === "global/pg_control");
      control.size += 1;
      await Deno.writeTextFile(join(tmp, "m.json"), JSON.stringify(changed));
      await sh(["lzop", "-f", "-o", manifestFile, join(tmp, "m.json")], { asPostgres: false });
      v = await verify(env);
      assert.equal(v.code, 1);
      assert.deepEqual(
        fails(v.lines).slice(0, 2).sort(),
        [
          `FAIL file PG_VERSION (part_00000000.tar.lzo): CRC-32 ${
            doc.files.find((f: { path: string }) => f.path === "PG_VERSION").crc32
          } differs from the manifest's 00000000`,
          `FAIL file global/pg_control (part_00000000.tar.lzo): 8192 bytes, the manifest says 8193`,
        ].sort(),
      );
      await Deno.writeFile(manifestFile, savedManifest);
      assert.equal((await verify(env)).code, 0);

      // Our delete removes a dropped backup's manifest with it, without a warning.
      await pg.psql("INSERT INTO t SELECT g, 'y' FROM generate_series(1, 10) g");
      const second = await runWalE(["backup-push", "--fast-checkpoint", pg.dataDir], {
        ...env,
        ...pg.pgEnv,
      });
      assert.equal(second.code, 0, second.stderr);
      const del = await runWalE(["delete", "--confirm", "retain", "1"], env);
      assert.equal(del.code, 0, del.stderr);
      assert.doesNotMatch(del.stderr, /skipping non-qualifying key/);
      assert.match(del.stderr, /MSG: deleting a backup manifest/);
      const left = await storeKeys(store);
      assert.ok(!left.some((k) => k.includes(name)), left.join("\n"));
      assert.equal((await verify(env)).code, 0);
    } finally {
      await pg.stop();
      await Deno.remove(tmp, { recursive: true }).catch(() => {});
    }
  },
});

Deno.test({
  name:
    "encrypted backups (WALE_GPG_KEY_ID): the manifest is encrypted too, and the backup verifies",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const ring = await makeRing("cv25519");
    const tmp = await makeSharedTempDir("wal-e-verify-gpg-");
    await Deno.mkdir(join(tmp, "archive"));
    await giveToPostgres(tmp);
    const store = join(tmp, "archive");
    const env = {
      WALE_FILE_PREFIX: `file://localhost${store}`,
      WALE_GPG_KEY_ID: ring.uid,
      WALE_GPG_PUBLIC_KEY_FILE: ring.pub,
      WALE_GPG_SECRET_KEY_FILE: ring.sec,
    };
    await Deno.chmod(ring.home, 0o755);
    for (const f of [ring.pub, ring.sec]) await Deno.chmod(f, 0o644);
    const { pg } = await checksummedCluster(tmp, env);
    try {
      const push = await runWalE(
        ["backup-push", "--fast-checkpoint", pg.dataDir],
        { ...env, ...pg.pgEnv },
      );
      assert.equal(push.code, 0, push.stderr);
      const name = await latestName(env);
      const manifest = await Deno.readFile(
        join(store, "basebackups_005", name, "manifest.json.lzo"),
      );
      // An OpenPGP packet, not lzop's magic (0x89 'L' 'Z' 'O').
      assert.notEqual(manifest[0], 0x89);
      assert.equal((manifest[0] ?? 0) & 0x80, 0x80);
      const v = await verify(env);
      assert.equal(v.code, 0, v.stdout + v.stderr);
      assert.match(v.lines.at(-1) ?? "", /matching the manifest\)$/);
      // Without the key nothing can be checked: a configuration error, exit 1.
      const noKey = await runWalE(["backup-verify", "LATEST"], {
        WALE_FILE_PREFIX: env.WALE_FILE_PREFIX,
      });
      assert.equal(noKey.code, 1);
      assert.match(
        noKey.stdout,
        /^FAIL manifest: object is encrypted but no GPG key is configured/m,
      );
    } finally {
      await pg.stop();
      await dispose(ring);
      await Deno.remove(tmp, { recursive: true }).catch(() => {});
    }
  },
});

Deno.test({
  name: "WAL-E's own backups (no manifest) verify, saying the manifest is absent",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const tmp = await makeSharedTempDir("wal-e-verify-fixture-");
    try {
      const env = { WALE_FILE_PREFIX: await loadWalEFixture(tmp) };
      for (
        const [name, label] of [
          [
            "base_000000010000000000000009_00000040",
            "OK   backup_label (part_00000000.tar.lzo): present",
          ],
          [
            "base_000000010000000000000030_00000030",
            "NOTE backup_label: none: an offline backup (--while-offline) has no backup_label",
          ],
        ]
      ) {
        const v = await verify(env, name);
        assert.equal(v.code, 0, v.stdout + v.stderr);
        assert.match(v.lines[0] ?? "", /^NOTE manifest: absent/);
        assert.match(
          v.lines[1] ?? "",
          /^OK {3}partition part_00000000\.tar\.lzo: lzop checksums and tar structure; \d+ members/,
        );
        assert.ok(v.lines.includes(label ?? ""), v.stdout);
        assert.match(v.lines.at(-1) ?? "", /verified \(1 partitions, \d+ files, no manifest\)$/);
      }
      // A WAL-E partition with a flipped byte fails as ours does.
      const part = join(
        tmp,
        "plain/basebackups_005/base_000000010000000000000009_00000040/tar_partitions/part_00000000.tar.lzo",
      );
      const bytes = await Deno.readFile(part);
      bytes[bytes.length >> 1]! ^= 0x10;
      await Deno.writeFile(part, bytes);
      const v = await verify(env);
      assert.equal(v.code, 1);
      assert.match(
        fails(v.lines)[0] ?? "",
        /^FAIL partition part_00000000\.tar\.lzo( file [^:]+)?: /,
      );
      // The restore drill runs only after every check passed.
      const drill = await runWalE(["backup-verify", "--restore", "LATEST"], env);
      assert.equal(drill.code, 1);
      assert.match(drill.stderr, /MSG: backup verification failed/);
      assert.doesNotMatch(drill.stderr, /restore drill/i);
    } finally {
      await Deno.remove(tmp, { recursive: true }).catch(() => {});
    }
  },
});

Deno.test({
  name:
    "S3 (Ceph RGW): a good backup verifies; a corrupted page is reported by push and verify; a flipped byte fails naming the partition",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const r = await rgw();
    const bucket = await newBucket(r, "verify");
    const env = s3Env(r, bucket);
    const tmp = await makeSharedTempDir("wal-e-verify-s3-");
    await giveToPostgres(tmp);
    const { pg, tablePath } = await checksummedCluster(tmp, env);
    const s3 = adminClient(r);
    try {
      const push = await runWalE(["backup-push", "--fast-checkpoint", pg.dataDir], {
        ...env,
        ...pg.pgEnv,
      });
      assert.equal(push.code, 0, push.stderr);
      const good = await verify(env);
      assert.equal(good.code, 0, good.stdout + good.stderr);
      assert.match(good.lines.at(-1) ?? "", /matching the manifest\)$/);

      const name = await pushAndVerifyCorrupt(env, pg, tablePath);

      const key = `pg/basebackups_005/${name}/tar_partitions/part_00000000.tar.lzo`;
      const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      const bytes = await got.Body!.transformToByteArray();
      bytes[bytes.length >> 1]! ^= 0x01;
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: bytes }));
      const v = await verify(env);
      assert.equal(v.code, 1);
      assert.match(
        fails(v.lines)[0] ?? "",
        /^FAIL partition part_00000000\.tar\.lzo( file [^:]+)?: /,
      );
    } finally {
      s3.destroy();
      await pg.stop();
      await Deno.remove(tmp, { recursive: true }).catch(() => {});
    }
  },
});

Deno.test("teardown: stop the servers", async () => {
  await stopRgw();
});
