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

/** CRC-32C (Castagnoli, reflected), the checksum of `pg_control` since PostgreSQL 9.5. */
const CRC32C_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82F63B78 : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** Bytes of `global/pg_control` read (PG_CONTROL_FILE_SIZE; the struct is far smaller). */
const PG_CONTROL_FILE_SIZE = 8192;
/** `pg_control_version` of PostgreSQL 10, the first with the 32-byte nonce before the CRC. */
const PG_CONTROL_VERSION_10 = 1002;

/**
 * `data_checksum_version` from `global/pg_control` (0: checksums off, 1: on), read without
 * running a program and without knowing the struct's layout, which changes between major
 * versions: since PostgreSQL 10 the struct ends with `data_checksum_version` (4 bytes), a
 * 32-byte nonce, then the CRC-32C of everything before the CRC. The CRC's offset is found by
 * running the CRC over the file and stopping where the next 4 bytes equal it (a false match
 * is a 1 in 2^32 chance per offset, and the offset must also leave room for the fields).
 * Undefined when the file cannot be read, is older than PostgreSQL 10, or no offset matches.
 */
export async function readDataChecksumVersion(dataDir: string): Promise<number | undefined> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(`${dataDir.replace(/\/+$/, "")}/global/pg_control`);
  } catch {
    return undefined;
  }
  return dataChecksumVersionOf(bytes.subarray(0, PG_CONTROL_FILE_SIZE));
}

/** `data_checksum_version` of a `pg_control` image (see readDataChecksumVersion). */
export function dataChecksumVersionOf(bytes: Uint8Array): number | undefined {
  if (bytes.length < 64) return undefined;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  if (dv.getUint32(8, true) < PG_CONTROL_VERSION_10) return undefined;
  let crc = 0xFFFFFFFF;
  for (let x = 0; x + 4 <= bytes.length; x++) {
    if (x >= 48 && ((crc ^ 0xFFFFFFFF) >>> 0) === dv.getUint32(x, true)) {
      return dv.getUint32(x - 36, true);
    }
    crc = (CRC32C_TABLE[(crc ^ bytes[x]!) & 0xFF]! ^ (crc >>> 8)) >>> 0;
  }
  return undefined;
}
