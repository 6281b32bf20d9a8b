/**
 * The archive the real WAL-E 1.1.1 wrote (`../shared/fixtures/wale-archive/`), loaded into a
 * local store directory with each object's modification time taken from `objects.tsv`, so
 * LATEST and time ordering behave as they did on S3.
 */
import { dirname, join } from "node:path";

/** Root of the fixture. */
export const FIXTURE = new URL("../../../shared/fixtures/wale-archive/", import.meta.url).pathname;

/** Copies the fixture's `plain` objects under `dir/plain/` and returns the file:// prefix. */
export async function loadWalEFixture(dir: string): Promise<string> {
  const tsv = await Deno.readTextFile(join(FIXTURE, "objects.tsv"));
  for (const line of tsv.trim().split("\n").slice(1)) {
    const [key, , , , modified] = line.split("\t");
    if (key === undefined || modified === undefined) continue;
    const dest = join(dir, key);
    await Deno.mkdir(dirname(dest), { recursive: true });
    await Deno.copyFile(join(FIXTURE, "objects", key), dest);
    const t = new Date(modified);
    await Deno.utime(dest, t, t);
  }
  return `file://localhost${dir}/plain`;
}

/** What WAL-E printed for a command (`outputs/<name>.{stdout,stderr,rc}`). */
export async function walEOutput(
  name: string,
): Promise<{ stdout: string; stderr: string; rc: number }> {
  const base = join(FIXTURE, "outputs", name);
  return {
    stdout: await Deno.readTextFile(`${base}.stdout`),
    stderr: await Deno.readTextFile(`${base}.stderr`),
    rc: Number((await Deno.readTextFile(`${base}.rc`)).trim()),
  };
}

/**
 * The MSG/DETAIL/HINT lines of a log, with time/pid masked and store URLs reduced to their
 * key, so our output on a file:// store compares with WAL-E's on s3://.
 */
export function maskLog(text: string, prefixUrl: string): string[] {
  return text.split("\n")
    .filter((l) => !l.includes("STRUCTURED:"))
    .map((l) =>
      l.replaceAll(prefixUrl, "<prefix>").replaceAll("s3://wale-bucket/plain", "<prefix>")
    );
}
