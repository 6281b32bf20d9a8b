/**
 * A TCP fault proxy for the tests: it sits between our tool and a real server (RGW, Azurite,
 * Swift) on 127.0.0.1 and, on the requests a rule picks, resets, stalls or truncates the
 * connection after a chosen number of bytes. Everything else passes through untouched.
 *
 * Requests are recognised by their HTTP/1.1 request line in the client→server byte stream
 * (keep-alive connections carry several); a rule armed by a request line counts the bytes that
 * follow it in the direction it names, and fires when the count passes `afterBytes`:
 * - `reset`: both sockets are destroyed with a TCP RST (`resetAndDestroy`), as a crashed peer;
 * - `truncate`: the bytes up to the cut are delivered, then both sides are closed cleanly (FIN),
 *   as a proxy that gives up mid-body;
 * - `stall`: nothing more moves in that direction for `stallMs` (default: until the proxy stops),
 *   as a silent network; the other direction keeps flowing.
 *
 * Fault injection goes through this proxy, never through mocks of our own code.
 */
import net from "node:net";

/** One fault to inject. */
export interface FaultRule {
  /** Request line test, e.g. `/^GET \/bucket\/pg\/wal_005\//`. */
  request: RegExp;
  /** Which bytes are counted: the server's answer (default) or the client's request body. */
  direction?: "response" | "request";
  /** Bytes let through after the request line (response: head included) before the fault. */
  afterBytes: number;
  action: "reset" | "truncate" | "stall";
  /** For `stall`: how long; default until the proxy stops. */
  stallMs?: number;
  /** How many matching requests the rule hits (default 1); `Infinity` for all. */
  times?: number;
}

/** What a rule did, for assertions that the fault really happened. */
export interface FaultEvent {
  rule: number;
  requestLine: string;
  action: FaultRule["action"];
}

const REQUEST_LINE =
  /(?:^|\r\n)((?:GET|PUT|POST|HEAD|DELETE|PATCH|OPTIONS) [^\r\n]* HTTP\/1\.[01])\r\n/g;

interface Armed {
  rule: number;
  counted: number;
  line: string;
}

/** A running proxy in front of `127.0.0.1:upstreamPort`. */
export class FaultProxy {
  readonly #server: net.Server;
  readonly #upstreamPort: number;
  readonly #rules: FaultRule[];
  readonly #hits: number[];
  readonly #sockets = new Set<net.Socket>();
  readonly #timers = new Set<ReturnType<typeof setTimeout>>();
  /** Faults injected so far, in order. */
  readonly events: FaultEvent[] = [];
  /** Request lines seen, in order (for assertions on what the client sent). */
  readonly requests: string[] = [];
  port = 0;

  private constructor(upstreamPort: number, rules: FaultRule[]) {
    this.#upstreamPort = upstreamPort;
    this.#rules = rules;
    this.#hits = rules.map(() => 0);
    this.#server = net.createServer((client) => this.#accept(client));
  }

  /** Starts a proxy on a free loopback port. */
  static async start(upstreamPort: number, rules: FaultRule[] = []): Promise<FaultProxy> {
    const p = new FaultProxy(upstreamPort, rules);
    await new Promise<void>((resolve, reject) => {
      p.#server.once("error", reject);
      p.#server.listen(0, "127.0.0.1", () => resolve());
    });
    const addr = p.#server.address();
    if (addr === null || typeof addr === "string") throw new Error("proxy has no port");
    p.port = addr.port;
    return p;
  }

  /** Replaces the rules (hit counts restart). */
  setRules(rules: FaultRule[]): void {
    this.#rules.splice(0, this.#rules.length, ...rules);
    this.#hits.splice(0, this.#hits.length, ...rules.map(() => 0));
  }

  /** `http://127.0.0.1:PORT` */
  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Stops listening and destroys every connection. */
  async stop(): Promise<void> {
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    for (const s of this.#sockets) s.destroy();
    this.#sockets.clear();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #accept(client: net.Socket): void {
    const upstream = net.connect(this.#upstreamPort, "127.0.0.1");
    this.#sockets.add(client);
    this.#sockets.add(upstream);
    const forget = (s: net.Socket) => () => this.#sockets.delete(s);
    client.on("close", forget(client));
    upstream.on("close", forget(upstream));
    client.on("error", () => upstream.destroy());
    upstream.on("error", () => client.destroy());
    client.on("end", () => upstream.end());
    upstream.on("end", () => client.end());

    let armedRequest: Armed | undefined;
    let armedResponse: Armed | undefined;
    let tail = "";
    const dead = { value: false };

    client.on("data", (chunk: Uint8Array) => {
      if (dead.value) return;
      // A request line may straddle chunks: search the previous chunk's tail too, and take
      // only matches that end in this chunk (the others were seen last time).
      const text = tail + new TextDecoder("latin1").decode(chunk);
      const seen = tail.length;
      tail = text.slice(-512);
      let lineEndInChunk = -1;
      REQUEST_LINE.lastIndex = 0;
      for (let m = REQUEST_LINE.exec(text); m !== null; m = REQUEST_LINE.exec(text)) {
        const end = m.index + m[0].length;
        if (end <= seen) continue;
        const line = m[1] ?? "";
        this.requests.push(line);
        lineEndInChunk = end - seen;
        const rule = this.#pick(line);
        if (rule === undefined) continue;
        const armed = { rule, counted: 0, line };
        if ((this.#rules[rule]?.direction ?? "response") === "response") armedResponse = armed;
        else armedRequest = armed;
      }
      if (armedRequest === undefined) {
        upstream.write(chunk);
        return;
      }
      // Only the bytes after the arming request line count.
      const counted = lineEndInChunk < 0 ? chunk.length : chunk.length - lineEndInChunk;
      const data = this.#apply(armedRequest, chunk, counted, client, upstream, upstream, dead);
      if (data.length > 0) upstream.write(data);
      if (data.length < chunk.length) armedRequest = undefined;
    });

    upstream.on("data", (chunk: Uint8Array) => {
      if (dead.value) return;
      if (armedResponse === undefined) {
        client.write(chunk);
        return;
      }
      const data = this.#apply(armedResponse, chunk, chunk.length, client, upstream, client, dead);
      if (data.length > 0) client.write(data);
      if (data.length < chunk.length) armedResponse = undefined;
    });
  }

  /** Index of the first rule with hits left whose pattern matches `line`. */
  #pick(line: string): number | undefined {
    for (let i = 0; i < this.#rules.length; i++) {
      const r = this.#rules[i];
      if (r === undefined || this.#hits[i]! >= (r.times ?? 1)) continue;
      if (r.request.test(line)) {
        this.#hits[i]!++;
        return i;
      }
    }
    return undefined;
  }

  /**
   * Counts `counted` of `chunk`'s bytes against the armed rule; returns the part to forward.
   * When the rule fires, performs its action (after the returned bytes have been written).
   */
  #apply(
    armed: Armed,
    chunk: Uint8Array,
    counted: number,
    client: net.Socket,
    upstream: net.Socket,
    target: net.Socket,
    dead: { value: boolean },
  ): Uint8Array {
    const rule = this.#rules[armed.rule];
    if (rule === undefined) return chunk;
    const room = rule.afterBytes - armed.counted;
    if (counted <= room) {
      armed.counted += counted;
      return chunk;
    }
    const keep = chunk.length - counted + Math.max(0, room);
    this.events.push({ rule: armed.rule, requestLine: armed.line, action: rule.action });
    const head = chunk.subarray(0, keep);
    const rest = chunk.subarray(keep);
    switch (rule.action) {
      case "reset":
        dead.value = true;
        target.write(head, () => {
          client.resetAndDestroy();
          upstream.resetAndDestroy();
        });
        return new Uint8Array(0);
      case "truncate":
        dead.value = true;
        target.write(head, () => {
          client.end();
          upstream.destroy();
        });
        return new Uint8Array(0);
      case "stall": {
        // Hold the rest of this direction: pause the source socket, resume after stallMs.
        const source = target === client ? upstream : client;
        source.pause();
        if (rule.stallMs !== undefined) {
          const t = setTimeout(() => {
            this.#timers.delete(t);
            if (target.destroyed) return;
            target.write(rest);
            source.resume();
          }, rule.stallMs);
          this.#timers.add(t);
        }
        return head;
      }
    }
  }
}
