/**
 * The fault proxy does what the fault tests rely on: passes traffic through untouched, and cuts,
 * resets or stalls exactly the request a rule names, after the byte count it names.
 */
import assert from "node:assert/strict";
import { FaultProxy } from "./fault_proxy.ts";

const BODY = new Uint8Array(1 << 20).map((_, i) => (i * 31) & 0xff);

async function withServer(fn: (port: number) => Promise<void>): Promise<void> {
  const ac = new AbortController();
  const server = Deno.serve(
    {
      hostname: "127.0.0.1",
      port: 0,
      signal: ac.signal,
      onListen: () => {},
      onError: () => new Response("cut", { status: 500 }),
    },
    async (req) => {
      if (req.method === "PUT") {
        const got = new Uint8Array(await req.arrayBuffer());
        return new Response(String(got.length));
      }
      return new Response(BODY, { headers: { "content-length": String(BODY.length) } });
    },
  );
  try {
    await fn(server.addr.port);
  } finally {
    ac.abort();
    await server.finished;
  }
}

async function readAll(res: Response): Promise<number> {
  let n = 0;
  for await (const c of res.body!) n += c.length;
  return n;
}

Deno.test("fault proxy: passes keep-alive traffic through byte for byte", async () => {
  await withServer(async (port) => {
    const proxy = await FaultProxy.start(port);
    try {
      for (let i = 0; i < 3; i++) {
        const res = await fetch(`${proxy.url}/x${i}`);
        const got = new Uint8Array(await res.arrayBuffer());
        assert.deepEqual(got, BODY);
      }
      assert.deepEqual(proxy.requests, [
        "GET /x0 HTTP/1.1",
        "GET /x1 HTTP/1.1",
        "GET /x2 HTTP/1.1",
      ]);
      assert.equal(proxy.events.length, 0);
    } finally {
      await proxy.stop();
    }
  });
});

for (const action of ["reset", "truncate"] as const) {
  Deno.test(`fault proxy: ${action} cuts the chosen response mid-body, once`, async () => {
    await withServer(async (port) => {
      const proxy = await FaultProxy.start(port, [
        { request: /^GET \/cut /, afterBytes: 100_000, action },
      ]);
      try {
        const res = await fetch(`${proxy.url}/cut`);
        await assert.rejects(readAll(res));
        assert.equal(proxy.events.length, 1);
        // The rule hit once: the same request now passes.
        const again = await fetch(`${proxy.url}/cut`);
        assert.equal(await readAll(again), BODY.length);
      } finally {
        await proxy.stop();
      }
    });
  });
}

Deno.test("fault proxy: stall holds the response until stallMs has passed", async () => {
  await withServer(async (port) => {
    const proxy = await FaultProxy.start(port, [
      { request: /^GET \/slow /, afterBytes: 10_000, action: "stall", stallMs: 600 },
    ]);
    try {
      const t0 = performance.now();
      const res = await fetch(`${proxy.url}/slow`);
      assert.equal(await readAll(res), BODY.length);
      assert.ok(performance.now() - t0 >= 550, "the stall did not hold the body");
    } finally {
      await proxy.stop();
    }
  });
});

Deno.test("fault proxy: a request-direction reset cuts an upload", async () => {
  await withServer(async (port) => {
    const proxy = await FaultProxy.start(port, [
      { request: /^PUT /, direction: "request", afterBytes: 200_000, action: "reset" },
    ]);
    try {
      await assert.rejects(fetch(`${proxy.url}/up`, { method: "PUT", body: BODY }));
      assert.equal(proxy.events.length, 1);
      const res = await fetch(`${proxy.url}/up`, { method: "PUT", body: BODY });
      assert.equal(await res.text(), String(BODY.length));
    } finally {
      await proxy.stop();
    }
  });
});
