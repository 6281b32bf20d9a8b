/**
 * The `Environment:` section of `--help`, generated from the configuration table
 * (options.ts). Loaded only with commander, never on the WAL commands' path.
 */
import { ENVIRONMENT, type EnvScope, type EnvVariable } from "./options.ts";

const SCOPE_TITLES: Record<EnvScope, string> = {
  store: "storage (every command)",
  logging: "logging",
  "wal-push": "wal-push",
  "backup-push": "backup-push",
  diagnostics: "diagnostics",
  gpg: "encryption",
  s3: "S3",
  wabs: "Azure Blob Storage",
  swift: "OpenStack Swift",
  postgres: "PostgreSQL connection (backup-push, check)",
};

const NAME_WIDTH = 30;
const LINE_WIDTH = 100;

/** The `Environment:` section of `--help`, one line per variable, grouped by user. */
export function environmentHelp(): string {
  const lines = [
    "Environment (secrets are read only from the environment, never from the command line,",
    "and are redacted from every log line):",
  ];
  let scope: EnvScope | undefined;
  for (const v of ENVIRONMENT as readonly EnvVariable[]) {
    if (v.scope !== scope) {
      scope = v.scope;
      lines.push(` ${SCOPE_TITLES[scope]}:`);
    }
    const notes = [
      v.secret === true ? "(secret)" : undefined,
      v.help,
      v.default === undefined ? undefined : `[default: ${v.default}]`,
      v.readBy === undefined ? undefined : "[read by the AWS SDK itself]",
    ].filter((s) => s !== undefined).join(" ");
    const head = `  ${v.name}`;
    const words = notes.split(" ");
    let line = head.length + 2 <= NAME_WIDTH ? head.padEnd(NAME_WIDTH) : `${head}  `;
    let empty = true;
    for (const w of words) {
      if (!empty && line.length + 1 + w.length > LINE_WIDTH) {
        lines.push(line);
        line = " ".repeat(NAME_WIDTH);
        empty = true;
      }
      line += empty ? w : ` ${w}`;
      empty = false;
    }
    lines.push(line);
  }
  return lines.join("\n");
}
