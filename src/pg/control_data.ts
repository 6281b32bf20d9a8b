/**
 * Reading a stopped cluster's state for `backup-push --while-offline` (WAL-E-COMPAT §5.4):
 * `pg_config` for VERSION and BINDIR, then `<BINDIR>/pg_controldata <datadir>` run with
 * `LC_ALL=C` so its field names are the English ones we parse.
 */
import { UserError } from "../errors.ts";
import { DEFAULT_SEGMENT_SIZE, parseLsn } from "./wal_name.ts";

/** What an offline backup needs from `pg_controldata`. */
export interface OfflineCheckpoint {
  /** `Latest checkpoint's REDO location`, the backup's start (and stop) position. */
  redoLsn: bigint;
  /** `Latest checkpoint's TimeLineID` (decimal in the output). */
  timeline: number;
  /** `Bytes per WAL segment`; 16 MiB when the line is missing (PostgreSQL < 11). */
  segmentSize: number;
}

/**
 * Parses `pg_controldata` output as WAL-E does: keep lines with exactly one `:`, key and value
 * trimmed. (Lines with timestamps such as `Time of latest checkpoint` contain more colons and
 * are dropped, which is harmless: we never need them.)
 */
export function parseControlData(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split("\n")) {
    const parts = line.split(":");
    if (parts.length !== 2) continue;
    out.set((parts[0] ?? "").trim(), (parts[1] ?? "").trim());
  }
  return out;
}

/** Parses `pg_config` output: lines `KEY = value`. */
export function parsePgConfig(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split("\n")) {
    const i = line.indexOf(" = ");
    if (i <= 0) continue;
    out.set(line.slice(0, i).trim(), line.slice(i + 3).trim());
  }
  return out;
}

/** The checkpoint fields of parsed `pg_controldata` output; UserError when any is missing. */
export function offlineCheckpoint(fields: Map<string, string>): OfflineCheckpoint {
  const redo = fields.get("Latest checkpoint's REDO location");
  const tli = fields.get("Latest checkpoint's TimeLineID");
  if (redo === undefined || tli === undefined || !/^\d+$/.test(tli)) {
    throw new UserError("could not read the latest checkpoint from pg_controldata", {
      detail: `REDO location "${redo ?? ""}", TimeLineID "${tli ?? ""}".`,
      hint: "Check that pg_controldata matches the cluster's PostgreSQL version.",
    });
  }
  const seg = fields.get("Bytes per WAL segment");
  return {
    redoLsn: parseLsn(redo),
    timeline: Number(tli),
    segmentSize: seg !== undefined && /^\d+$/.test(seg) ? Number(seg) : DEFAULT_SEGMENT_SIZE,
  };
}

/** Runs a program and returns stdout; a UserError naming it when it cannot run or fails. */
async function capture(
  program: string,
  args: string[],
  env: Readonly<Record<string, string>>,
): Promise<string> {
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command(program, {
      args,
      env: { ...env, LC_ALL: "C", LANG: "C" },
      clearEnv: true,
      stdout: "piped",
      stderr: "piped",
    }).output();
  } catch (err) {
    throw new UserError("could not run one or more external programs WAL-E depends upon", {
      detail: `Could not run "${program}": ${err instanceof Error ? err.message : String(err)}.`,
      cause: err,
    });
  }
  if (!out.success) {
    throw new UserError(`"${program}" failed`, {
      detail: new TextDecoder().decode(out.stderr).trim() || `exit status ${out.code}`,
    });
  }
  return new TextDecoder().decode(out.stdout);
}

/** Version and binary directory of the PostgreSQL on PATH (`pg_config`). */
export async function readPgConfig(
  env: Readonly<Record<string, string>>,
): Promise<{ version: string; bindir: string }> {
  const fields = parsePgConfig(await capture("pg_config", [], env));
  const version = fields.get("VERSION");
  const bindir = fields.get("BINDIR");
  if (version === undefined || bindir === undefined) {
    throw new UserError("pg_config did not report VERSION and BINDIR");
  }
  return { version, bindir };
}

/** Runs `<bindir>/pg_controldata <dataDir>` in the C locale and returns the checkpoint. */
export async function readControlData(
  bindir: string,
  dataDir: string,
  env: Readonly<Record<string, string>>,
): Promise<OfflineCheckpoint> {
  const text = await capture(`${bindir}/pg_controldata`, [dataDir], env);
  return offlineCheckpoint(parseControlData(text));
}

/**
 * The cluster's system identifier: the first 8 bytes of `global/pg_control` (ControlFileData
 * starts with it, in the server's byte order; little-endian on every platform we run on).
 * Undefined when the file cannot be read or is too short.
 */
export async function readSystemIdentifier(dataDir: string): Promise<bigint | undefined> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(`${dataDir.replace(/\/+$/, "")}/global/pg_control`, { read: true });
  } catch {
    return undefined;
  }
  try {
    const buf = new Uint8Array(8);
    let filled = 0;
    while (filled < 8) {
      const n = await file.read(buf.subarray(filled));
      if (n === null) return undefined;
      filled += n;
    }
    return new DataView(buf.buffer).getBigUint64(0, true);
  } finally {
    file.close();
  }
}
