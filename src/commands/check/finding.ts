/** One line of `check` output: a verdict on one thing checked. */
export interface Finding {
  /** FAIL makes check exit non-zero; WARN does not. */
  status: "OK" | "WARN" | "FAIL";
  /** What part was checked: `store` or `postgres`. */
  area: "store" | "postgres";
  /** The check and what it found, e.g. `write: permission denied ...`. */
  text: string;
}

/** `OK store: list`. */
export function findingLine(f: Finding): string {
  return `${f.status} ${f.area}: ${f.text}\n`;
}

/** An error as one line of text: our MSG and DETAIL, or the system's message. */
export function errorText(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const detail = (err as { detail?: unknown }).detail;
  return typeof detail === "string" ? `${err.message}: ${detail}` : err.message;
}
