/**
 * Modules loaded only when a command needs them, imported by a specifier Deno cannot see
 * statically. A literal `import("./x.ts")` is cheap to write but not free: Deno prepares the
 * module graph behind every literal dynamic import when the importing module loads, npm
 * resolution included, which cost ~1 ms per such import on every wal-push and wal-fetch
 * (PostgreSQL starts one per segment) for code they never run: commander, the cloud SDKs,
 * OpenPGP, the backup commands, and the stream pipeline (wal-push needs it only to encrypt or
 * to compare with an archived copy).
 *
 * `deno compile` cannot see these imports either: `scripts/compile` passes every entry of
 * `LAZY_MODULES` to it with `--include`, and `test/lazy_test.ts` checks that each loads.
 * Types still come from `typeof import(...)`, which `deno check` follows.
 */

/** Every lazily loaded module, relative to `src/` (scripts/compile includes them). */
export const LAZY_MODULES = [
  "cli/program.ts",
  "commands/backup_push.ts",
  "commands/backup_fetch.ts",
  "commands/backup_list.ts",
  "commands/delete.ts",
  "commands/wal_verify.ts",
  "commands/check.ts",
  "commands/backup_verify.ts",
  "storage/s3.ts",
  "storage/azure.ts",
  "storage/swift.ts",
  "codec/pgp.ts",
  "archive/pipeline.ts",
  "storage/file_mtime.ts",
] as const;

/**
 * Modules run as Web Workers (by URL, which `deno compile` cannot see either): the codec
 * workers of backup-push and backup-fetch. Never loaded by the WAL commands.
 */
export const WORKER_MODULES = ["codec/lzo_worker.ts"] as const;

type LazyModule = typeof LAZY_MODULES[number];

function load<T>(path: LazyModule): Promise<T> {
  return import(new URL(`./${path}`, import.meta.url).href);
}

/** Typed loaders, one per entry of LAZY_MODULES. */
export const lazy = {
  program: () => load<typeof import("./cli/program.ts")>("cli/program.ts"),
  backupPush: () => load<typeof import("./commands/backup_push.ts")>("commands/backup_push.ts"),
  backupFetch: () => load<typeof import("./commands/backup_fetch.ts")>("commands/backup_fetch.ts"),
  backupList: () => load<typeof import("./commands/backup_list.ts")>("commands/backup_list.ts"),
  deleteCommand: () => load<typeof import("./commands/delete.ts")>("commands/delete.ts"),
  walVerify: () => load<typeof import("./commands/wal_verify.ts")>("commands/wal_verify.ts"),
  check: () => load<typeof import("./commands/check.ts")>("commands/check.ts"),
  backupVerify: () =>
    load<typeof import("./commands/backup_verify.ts")>("commands/backup_verify.ts"),
  s3: () => load<typeof import("./storage/s3.ts")>("storage/s3.ts"),
  azure: () => load<typeof import("./storage/azure.ts")>("storage/azure.ts"),
  swift: () => load<typeof import("./storage/swift.ts")>("storage/swift.ts"),
  pgp: () => load<typeof import("./codec/pgp.ts")>("codec/pgp.ts"),
  pipeline: () => load<typeof import("./archive/pipeline.ts")>("archive/pipeline.ts"),
  fileMtime: () => load<typeof import("./storage/file_mtime.ts")>("storage/file_mtime.ts"),
};
