import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { loadConfig } from "../../src/config/config.ts";
import { ConfigError } from "../../src/config/env-reader.ts";

const KEY = "a-mercure-key-that-is-long-enough-for-hs256";
const load = (env: Record<string, string>) => loadConfig({ JWT_SECRET: KEY, ...env }, () => new Uint8Array(32));

describe("Mercure configuration", () => {
  it("is off without MERCURE_PUBLISHER_JWT_KEY; the subscriber key defaults to the publisher's", () => {
    assert.equal(load({}).mercure, undefined);
    const mercure = load({ MERCURE_PUBLISHER_JWT_KEY: KEY })!.mercure!;
    assert.deepEqual(mercure.subscriberKey, mercure.publisherKey);
    assert.equal(mercure.anonymous, false);
    assert.equal(mercure.accessTokens, undefined);
  });

  it("refuses settings that would do nothing or too little, naming the variable", () => {
    for (const [env, named] of [
      [{ MERCURE_ANONYMOUS: "1" }, "MERCURE_PUBLISHER_JWT_KEY"],
      [{ MERCURE_PUBLISHER_JWT_KEY: "short" }, "MERCURE_PUBLISHER_JWT_KEY"],
      [{ MERCURE_PUBLISHER_JWT_KEY: KEY, MERCURE_TOKEN_ISSUER: "https://auth.example" }, "MERCURE_TOKEN_AUDIENCE"],
      [{ MERCURE_PUBLISHER_JWT_KEY: KEY, MERCURE_CORS_ORIGINS: "https://app.example/path" }, "MERCURE_CORS_ORIGINS"],
      [{ MERCURE_PUBLISHER_JWT_KEY: KEY, MERCURE_ANONYMOUS: "yes" }, "MERCURE_ANONYMOUS"],
    ] as const) {
      assert.throws(() => load(env), (error: Error) => error instanceof ConfigError && error.message.includes(named), JSON.stringify(env));
    }
  });

  const JWKS = { JWT_SECRET: "", JWKS_URL: "https://login.example/jwks.json", JWT_ISSUER: "https://login.example", JWT_AUDIENCE: "sse-gateway" };

  it("with JWKS_URL, lets its keys sign subscriber tokens by default, held to JWT_ISSUER and JWT_AUDIENCE unless the Mercure ones are set", () => {
    assert.equal(load({ ...JWKS }).mercure, undefined, "JWKS_URL alone does not turn the hub on");
    assert.equal(load({ MERCURE_PUBLISHER_JWT_KEY: KEY }).mercure!.keySet, undefined, "no key set without JWKS_URL");
    assert.deepEqual(load({ ...JWKS, MERCURE_PUBLISHER_JWT_KEY: KEY }).mercure!.keySet, { roles: ["subscriber"], issuer: "https://login.example", audience: "sse-gateway" });
    const own = load({ ...JWKS, MERCURE_PUBLISHER_JWT_KEY: KEY, MERCURE_TOKEN_ISSUER: "https://auth.example", MERCURE_TOKEN_AUDIENCE: "https://hub.example" }).mercure!;
    assert.deepEqual(own.keySet, { roles: ["subscriber"], issuer: "https://auth.example", audience: "https://hub.example" });
    assert.equal(load({ ...JWKS, MERCURE_PUBLISHER_JWT_KEY: KEY, MERCURE_JWKS_ROLES: "none" }).mercure!.keySet, undefined);
    assert.deepEqual(load({ ...JWKS, MERCURE_PUBLISHER_JWT_KEY: KEY, MERCURE_JWKS_ROLES: "publisher, subscriber" }).mercure!.keySet!.roles, ["publisher", "subscriber"]);
  });

  it("runs on the key set alone when MERCURE_JWKS_ROLES names publisher: no HS256 key is then required", () => {
    const mercure = load({ ...JWKS, MERCURE_JWKS_ROLES: "subscriber,publisher" }).mercure!;
    assert.equal(mercure.publisherKey, undefined);
    assert.equal(mercure.subscriberKey, undefined);
    const subscribersByKey = load({ ...JWKS, MERCURE_JWKS_ROLES: "publisher", MERCURE_SUBSCRIBER_JWT_KEY: KEY }).mercure!;
    assert.deepEqual(subscribersByKey.keySet!.roles, ["publisher"]);
    assert.ok(subscribersByKey.subscriberKey);
  });

  it("refuses key-set settings that cannot work, naming the variable", () => {
    for (const [env, named] of [
      [{ MERCURE_PUBLISHER_JWT_KEY: KEY, MERCURE_JWKS_ROLES: "subscriber" }, "needs JWKS_URL"],
      [{ ...JWKS, MERCURE_PUBLISHER_JWT_KEY: KEY, MERCURE_JWKS_ROLES: "admin" }, "MERCURE_JWKS_ROLES must be"],
      [{ ...JWKS, MERCURE_PUBLISHER_JWT_KEY: KEY, MERCURE_JWKS_ROLES: "none,publisher" }, "MERCURE_JWKS_ROLES must be"],
      [{ ...JWKS, MERCURE_JWKS_ROLES: "subscriber" }, "MERCURE_JWKS_ROLES=subscriber,publisher"],
      [{ ...JWKS, MERCURE_SUBSCRIBER_JWT_KEY: KEY }, "MERCURE_PUBLISHER_JWT_KEY, or JWKS_URL"],
      [{ ...JWKS, MERCURE_JWKS_ROLES: "publisher", MERCURE_SUBSCRIBER_JWT_KEY: "short" }, "MERCURE_SUBSCRIBER_JWT_KEY"],
    ] as const) {
      assert.throws(() => load(env), (error: Error) => error instanceof ConfigError && error.message.includes(named), JSON.stringify(env));
    }
  });
});
