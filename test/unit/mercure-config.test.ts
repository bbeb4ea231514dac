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
});
