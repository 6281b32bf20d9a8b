/**
 * Swift authentication: request shapes and catalog selection as pure functions, then Keystone
 * v3 and v2.0 (through the script's shim; Keystone 22 has no v2.0 API) against a real Keystone
 * with two Keystone-auth Swift proxies on 127.0.0.1, whose ports tell which endpoint was
 * chosen: RegionOne public → K1, RegionOne internal → K2, RegionTwo public → K2, RegionTwo
 * internal → K1.
 */
import assert from "node:assert/strict";
import { ConfigError } from "../../src/errors.ts";
import { openSwiftStore } from "../../src/storage/swift.ts";
import { parsePrefix } from "../../src/storage/prefix.ts";
import {
  authenticate,
  type CatalogEndpoint,
  keystoneBase,
  pickEndpoint,
  swiftAuthSettings,
  v2Request,
  v3Request,
} from "../../src/storage/swift_auth.ts";
import { newContainer, swift, type SwiftServer } from "../support/swift.ts";
import { settingsOf, swiftOf } from "../support/store_settings.ts";

const BASE = { SWIFT_AUTHURL: "http://k:5000", SWIFT_USER: "u", SWIFT_PASSWORD: "p" };

Deno.test("swift auth: settings default to v2 and publicURL; bad values are ConfigErrors", () => {
  const s = swiftAuthSettings(swiftOf(BASE));
  assert.equal(s.authVersion, "2");
  assert.equal(s.endpointType, "publicURL");
  assert.equal(swiftAuthSettings(swiftOf({ ...BASE, SWIFT_AUTH_VERSION: "3" })).authVersion, "3");
  assert.equal(swiftAuthSettings(swiftOf({ ...BASE, SWIFT_AUTH_VERSION: "1.0" })).authVersion, "1");
  assert.throws(
    () => swiftAuthSettings(swiftOf({ ...BASE, SWIFT_AUTH_VERSION: "4" })),
    ConfigError,
  );
  assert.throws(
    () => swiftAuthSettings(swiftOf({ SWIFT_AUTHURL: "http://k" })),
    /SWIFT_USER, SWIFT_PASSWORD not set/,
  );
});

Deno.test("swift auth: a version-less Keystone URL gets /v2.0 or /v3", () => {
  assert.equal(keystoneBase("http://k:5000", "2"), "http://k:5000/v2.0");
  assert.equal(keystoneBase("http://k:5000/", "3"), "http://k:5000/v3");
  assert.equal(keystoneBase("http://k:5000/v3/", "3"), "http://k:5000/v3");
  assert.equal(keystoneBase("http://k/identity/v2.0", "2"), "http://k/identity/v2.0");
});

Deno.test("swift auth: v2 tenant from SWIFT_TENANT or tenant:user; v3 project scope", () => {
  assert.deepEqual(v2Request(swiftAuthSettings(swiftOf({ ...BASE, SWIFT_USER: "t:u" }))), {
    auth: { passwordCredentials: { username: "u", password: "p" }, tenantName: "t" },
  });
  assert.deepEqual(
    v2Request(swiftAuthSettings(swiftOf({ ...BASE, SWIFT_TENANT: "x", SWIFT_TENANT_ID: "id1" }))),
    { auth: { passwordCredentials: { username: "u", password: "p" }, tenantId: "id1" } },
  );
  assert.deepEqual(
    v3Request(swiftAuthSettings(swiftOf({
      ...BASE,
      SWIFT_PROJECT_NAME: "pr",
      SWIFT_USER_DOMAIN_NAME: "Default",
      SWIFT_PROJECT_DOMAIN_ID: "d1",
    }))),
    {
      auth: {
        identity: {
          methods: ["password"],
          password: { user: { name: "u", domain: { name: "Default" }, password: "p" } },
        },
        scope: { project: { name: "pr", domain: { id: "d1" } } },
      },
    },
  );
  const byId = v3Request(
    swiftAuthSettings(swiftOf({ ...BASE, SWIFT_USER_ID: "uid", SWIFT_PROJECT_ID: "pid" })),
  );
  assert.deepEqual(byId["auth"], {
    identity: { methods: ["password"], password: { user: { id: "uid", password: "p" } } },
    scope: { project: { id: "pid" } },
  });
  const domainScoped = v3Request(swiftAuthSettings(swiftOf({ ...BASE, SWIFT_DOMAIN_NAME: "dom" })));
  assert.deepEqual((domainScoped["auth"] as Record<string, unknown>)["scope"], {
    domain: { name: "dom" },
  });
});

Deno.test("swift auth: endpoint by region, then type; clear errors otherwise", () => {
  const eps: CatalogEndpoint[] = [
    { region: "R1", urls: { publicURL: "http://a", internalURL: "http://b" } },
    { region: "R2", urls: { publicURL: "http://c" } },
  ];
  assert.equal(pickEndpoint(eps, undefined, "publicURL"), "http://a");
  assert.equal(pickEndpoint(eps, "R2", "publicURL"), "http://c");
  assert.equal(pickEndpoint(eps, "R1", "internalURL"), "http://b");
  assert.throws(() => pickEndpoint(eps, "R3", "publicURL"), /no Swift endpoint in region "R3"/);
  assert.throws(() => pickEndpoint(eps, "R2", "adminURL"), /of type "adminURL"/);
  assert.throws(() => pickEndpoint([], undefined, "publicURL"), /no object-store/);
});

const server = (): Promise<SwiftServer> => swift({ keystone: true });

function ksEnv(s: SwiftServer, version: "2" | "3", extra: Record<string, string> = {}) {
  return {
    SWIFT_AUTHURL:
      (version === "2" ? s.env["SWIFT_KEYSTONE_V2_AUTHURL"] : s.env["SWIFT_KEYSTONE_URL"]) ?? "",
    SWIFT_USER: s.env["SWIFT_KEYSTONE_USER"] ?? "",
    SWIFT_PASSWORD: s.env["SWIFT_KEYSTONE_PASSWORD"] ?? "",
    SWIFT_AUTH_VERSION: version,
    ...(version === "2"
      ? { SWIFT_TENANT: s.env["SWIFT_KEYSTONE_TENANT"] ?? "" }
      : { SWIFT_PROJECT_NAME: "test", SWIFT_USER_DOMAIN_ID: "default" }),
    ...extra,
  };
}

Deno.test({
  name: "swift auth: Keystone v3 and v2.0 pick the endpoint by region and endpoint type",
  sanitizeResources: false,
  async fn() {
    const s = await server();
    const k1 = s.env["SWIFT_KEYSTONE_PROXY_URL"] ?? "";
    const k2 = s.env["SWIFT_KEYSTONE_PROXY2_URL"] ?? "";
    const cases: [string | undefined, string | undefined, string][] = [
      [undefined, undefined, k1],
      ["RegionOne", "publicURL", k1],
      ["RegionOne", "internalURL", k2],
      ["RegionTwo", "publicURL", k2],
      ["RegionTwo", "internalURL", k1],
      ["RegionTwo", "adminURL", k2],
    ];
    for (const version of ["3", "2"] as const) {
      for (const [region, type, want] of cases) {
        const env = ksEnv(s, version, {
          ...(region === undefined ? {} : { SWIFT_REGION: region }),
          ...(type === undefined ? {} : { SWIFT_ENDPOINT_TYPE: type }),
        });
        const session = await authenticate(
          swiftAuthSettings(swiftOf(env)),
          AbortSignal.timeout(30_000),
        );
        assert.ok(
          session.storageUrl.startsWith(`${want}/v1/AUTH_`),
          `v${version} ${region}/${type}: ${session.storageUrl}`,
        );
      }
    }
    // Domain by name and the version-less URL work too.
    const named = await authenticate(
      swiftAuthSettings(swiftOf(ksEnv(s, "3", {
        SWIFT_USER_DOMAIN_ID: "",
        SWIFT_USER_DOMAIN_NAME: "Default",
        SWIFT_PROJECT_DOMAIN_NAME: "Default",
      }))),
      AbortSignal.timeout(30_000),
    );
    assert.ok(named.storageUrl.startsWith(`${k1}/v1/AUTH_`));
    await assert.rejects(
      () =>
        authenticate(
          swiftAuthSettings(swiftOf(ksEnv(s, "3", { SWIFT_REGION: "Nowhere" }))),
          AbortSignal.timeout(30_000),
        ),
      /no Swift endpoint in region "Nowhere"/,
    );
    for (const version of ["3", "2"] as const) {
      await assert.rejects(
        () =>
          authenticate(
            swiftAuthSettings(swiftOf(ksEnv(s, version, { SWIFT_PASSWORD: "wrong" }))),
            AbortSignal.timeout(30_000),
          ),
        (e: unknown) => {
          assert.ok(e instanceof ConfigError);
          assert.match(e.message, /^Swift authentication failed: check SWIFT_USER, SWIFT_PASSWORD/);
          return true;
        },
      );
    }
  },
});

Deno.test({
  name: "swift auth: a store authenticated by Keystone v3 and v2.0 round-trips objects",
  sanitizeResources: false,
  async fn() {
    const s = await server();
    for (const version of ["3", "2"] as const) {
      const env = ksEnv(s, version, { SWIFT_REGION: "RegionTwo" });
      const session = await authenticate(
        swiftAuthSettings(swiftOf(env)),
        AbortSignal.timeout(30_000),
      );
      const c = await newContainer({ url: session.storageUrl, token: session.token }, "ks");
      const store = await openSwiftStore(parsePrefix(`swift://${c}/pg`), settingsOf({ env }));
      await store.put("wal_005/a.lzo", ReadableStream.from([new Uint8Array([4, 2])]));
      const got = new Uint8Array(
        await new Response(await store.get("wal_005/a.lzo")).arrayBuffer(),
      );
      assert.deepEqual(got, new Uint8Array([4, 2]));
      assert.deepEqual((await Array.fromAsync(store.list(""))).map((o) => o.key), [
        "wal_005/a.lzo",
      ]);
      await store.deleteMany(["wal_005/a.lzo"]);
      assert.equal(await store.exists("wal_005/a.lzo"), false);
    }
  },
});
