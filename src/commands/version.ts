/** version: prints the WAL-E version this tool is compatible with (WAL-E-COMPAT §2.3). */

/** The version string `wal-e version` prints, as WAL-E 1.1.1 does (scripts compare it). */
export const VERSION = "1.1.1";

/** Runs version; needs no store or credentials. */
export function version(stdout: (text: string) => void): number {
  stdout(`${VERSION}\n`);
  return 0;
}
