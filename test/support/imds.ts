/**
 * A tiny EC2 instance metadata service on 127.0.0.1 for `--aws-instance-profile` tests; point
 * the SDK at it with `AWS_EC2_METADATA_SERVICE_ENDPOINT=http://127.0.0.1:PORT`. It speaks
 * IMDSv2 (PUT /latest/api/token, then GETs carrying `x-aws-ec2-metadata-token`) or, with
 * `v1Only`, refuses tokens with 403 so clients must fall back to IMDSv1 as on old instances.
 */

/** Options of `startImds`. */
export interface ImdsOptions {
  accessKeyId: string;
  secretAccessKey: string;
  /** Refuse IMDSv2 tokens (403), serving IMDSv1 only. */
  v1Only?: boolean;
  role?: string;
}

/** A running fake metadata service. */
export interface Imds {
  endpoint: string;
  /** `METHOD path token?` of every request, in order. */
  requests: string[];
  close(): Promise<void>;
}

/** Starts the service on a free port. */
export function startImds(o: ImdsOptions): Imds {
  const role = o.role ?? "wal-e-test-role";
  const token = `tok-${crypto.randomUUID()}`;
  const requests: string[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    const path = new URL(req.url).pathname;
    const sent = req.headers.get("x-aws-ec2-metadata-token");
    requests.push(`${req.method} ${path}${sent === null ? "" : " token"}`);
    if (req.method === "PUT" && path === "/latest/api/token") {
      if (o.v1Only === true) return new Response("Forbidden", { status: 403 });
      return new Response(token, { headers: { "x-aws-ec2-metadata-token-ttl-seconds": "21600" } });
    }
    if (o.v1Only !== true && sent !== token) return new Response("Unauthorized", { status: 401 });
    const base = /^\/latest\/meta-data\/iam\/security-credentials(-extended)?\/(.*)$/.exec(path);
    if (req.method !== "GET" || base === null) return new Response("Not Found", { status: 404 });
    if (base[2] === "") return new Response(role);
    if (base[2] !== role) return new Response("Not Found", { status: 404 });
    const now = Date.now();
    return Response.json({
      Code: "Success",
      LastUpdated: new Date(now).toISOString(),
      Type: "AWS-HMAC",
      AccessKeyId: o.accessKeyId,
      SecretAccessKey: o.secretAccessKey,
      Token: `session-${crypto.randomUUID()}`,
      Expiration: new Date(now + 6 * 3600_000).toISOString(),
    });
  });
  return {
    endpoint: `http://127.0.0.1:${server.addr.port}`,
    requests,
    close: () => server.shutdown(),
  };
}
