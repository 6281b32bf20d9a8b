import assert from "node:assert/strict";
import { fileSource } from "../../src/archive/file_source.ts";
import { assertBytes, readAll } from "../support/streams.ts";

Deno.test("fileSource streams a file exactly, in chunks of the asked size, and closes it", async () => {
  const path = await Deno.makeTempFile();
  try {
    for (const size of [0, 1, 4096, 4097, 3 * 4096]) {
      const data = new Uint8Array(size).map((_, i) => i * 13);
      await Deno.writeFile(path, data);
      const sizes: number[] = [];
      const out = await readAll(
        fileSource(await Deno.open(path), 4096).pipeThrough(
          new TransformStream({
            transform(c, ctl) {
              sizes.push(c.length);
              ctl.enqueue(c);
            },
          }),
        ),
      );
      assertBytes(out, data);
      assert.ok(sizes.every((s) => s <= 4096 && s > 0), String(sizes));
    }
  } finally {
    await Deno.remove(path);
  }
});
