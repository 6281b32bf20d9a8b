/**
 * check's store part: write, read back, list and delete one probe object under
 * `wal-e-check/`, a folder no backup or WAL listing (ours or WAL-E's) looks into. The probe is
 * deleted again whatever failed.
 */
import type { Store } from "../../storage/store.ts";
import { errorText, type Finding } from "./finding.ts";

/** Folder of probe objects, beside `basebackups_005/` and `wal_005/`. */
export const PROBE_DIR = "wal-e-check/";

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Runs the probe; one finding per operation. */
export async function probeStore(store: Store): Promise<Finding[]> {
  const findings: Finding[] = [];
  const body = crypto.getRandomValues(new Uint8Array(1024));
  const key = `${PROBE_DIR}probe-${hex(crypto.getRandomValues(new Uint8Array(8)))}`;
  const step = async (name: string, fn: () => Promise<string | undefined>): Promise<boolean> => {
    try {
      const note = await fn();
      findings.push({ status: "OK", area: "store", text: note ? `${name}: ${note}` : name });
      return true;
    } catch (err) {
      findings.push({ status: "FAIL", area: "store", text: `${name}: ${errorText(err)}` });
      return false;
    }
  };
  try {
    const written = await step("write", async () => {
      await store.put(key, ReadableStream.from([body]), {
        size: body.length,
        contentType: "application/octet-stream",
      });
      return store.url(key);
    });
    if (written) {
      await step("read back", async () => {
        const got = new Uint8Array(await new Response(await store.get(key)).arrayBuffer());
        if (got.length !== body.length || !got.every((b, i) => b === body[i])) {
          throw new Error(`read ${got.length} bytes that differ from the ${body.length} written`);
        }
        return undefined;
      });
    }
    await step("list", async () => {
      let seen = false;
      for await (const o of store.list(PROBE_DIR)) if (o.key === key) seen = true;
      if (written && !seen) throw new Error(`the probe object "${key}" is not in the listing`);
      return undefined;
    });
    if (written) {
      await step("delete", async () => {
        await store.deleteMany([key]);
        if (await store.exists(key)) throw new Error(`"${key}" still exists after deleting it`);
        return undefined;
      });
    }
  } finally {
    // Never leave the probe behind, even when a step above failed.
    await store.deleteMany([key]).catch(() => {});
  }
  return findings;
}
