/**
 * POSIX path helpers for the WAL commands and the local store. `node:path` would do, but the
 * first `node:` import starts Deno's Node compatibility layer, about 5 ms of every wal-push and
 * wal-fetch (PostgreSQL starts one per segment); these three functions are all that path needs.
 * Semantics follow `node:path/posix` for the inputs we pass (tested against it).
 */

/** The last component of `path`, ignoring trailing slashes. */
export function basename(path: string): string {
  const trimmed = path.replace(/\/+$/, "");
  if (trimmed === "") return "";
  return trimmed.slice(trimmed.lastIndexOf("/") + 1);
}

/** Everything before the last component: `.` for a bare name, `/` at the root. */
export function dirname(path: string): string {
  if (path === "") return ".";
  const rooted = path.startsWith("/");
  let end = -1;
  let inTrailingSlashes = true;
  for (let i = path.length - 1; i >= 1; i--) {
    if (path[i] === "/") {
      if (!inTrailingSlashes) {
        end = i;
        break;
      }
    } else {
      inTrailingSlashes = false;
    }
  }
  if (end === -1) return rooted ? "/" : ".";
  if (rooted && end === 1) return "//";
  return path.slice(0, end);
}

/** Joins components with `/` and normalises `.`, `..` and repeated slashes. */
export function join(...parts: string[]): string {
  const joined = parts.filter((p) => p !== "").join("/");
  if (joined === "") return ".";
  const absolute = joined.startsWith("/");
  const out: string[] = [];
  for (const seg of joined.split("/")) {
    if (seg === "" || seg === ".") continue;
    if (seg === ".." && out.length > 0 && out[out.length - 1] !== "..") out.pop();
    else if (seg !== ".." || !absolute) out.push(seg);
  }
  const body = out.join("/") + (out.length > 0 && joined.endsWith("/") ? "/" : "");
  if (absolute) return `/${body}`;
  return body === "" ? "." : body;
}
