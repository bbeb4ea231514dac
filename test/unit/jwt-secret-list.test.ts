import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, it } from "node:test";
import fc from "fast-check";
import { AuthError } from "../../src/auth/auth-error.ts";
import { createTokenVerifier } from "../../src/auth/token-verifier.ts";
import { ConfigError } from "../../src/config/env-reader.ts";
import { jwtSecretsFrom, loadConfig, type JwtConfig } from "../../src/config/config.ts";
import { connectSse } from "../support/sse-client.ts";
import { startGateway, token, type RunningGateway } from "../support/gateway.ts";

const secretArbitrary = fc.string({ unit: fc.constantFrom(..."abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"), minLength: 32, maxLength: 80 });
const decoded = (bytes: readonly Uint8Array[]) => bytes.map((key) => new TextDecoder().decode(key));
const hs256 = (value: string): JwtConfig => loadConfig({ JWT_SECRET: value }, () => randomBytes(32)).jwt;

describe("JWT_SECRET as a comma list", () => {
  it("keeps every secret of the list, in order, without the spaces around commas", () => {
    fc.assert(fc.property(fc.uniqueArray(secretArbitrary, { minLength: 1, maxLength: 4 }), (secrets) => {
      const config = hs256(secrets.join(" , "));
      assert.equal(config.kind, "secret");
      assert.deepEqual(decoded(config.kind === "secret" ? config.secrets : []), secrets);
    }));
  });

  it("answers any value with keys of at least 32 bytes or a ConfigError naming JWT_SECRET, never anything else", () => {
    fc.assert(fc.property(fc.string({ unit: fc.constantFrom("a", "b", ",", " ", "\u00e9", "\t"), maxLength: 200 }), (value) => {
      try {
        const keys = jwtSecretsFrom(value);
        assert.ok(keys.length >= 1 && keys.length <= 4 && keys.every((key) => key.length >= 32));
      } catch (error) {
        assert.ok(error instanceof ConfigError && error.message.startsWith("JWT_SECRET "), String(error));
      }
    }), { numRuns: 500 });
  });

  const wrong: Array<[string, RegExp]> = [
    ["short", /at least 32 bytes long for HS256, got 5/],
    [`${"a".repeat(32)},short`, /secret 2 of 2 in the comma list\), got 5/],
    [`${"a".repeat(32)},`, /secret 2 of 2 in the comma list\), got 0/],
    [`${"a".repeat(32)},,${"b".repeat(32)}`, /secret 2 of 3/],
    [Array.from({ length: 5 }, (_, index) => String(index).repeat(32)).join(","), /at most 4 secrets, got 5/],
  ];
  for (const [value, message] of wrong) {
    it(`refuses ${JSON.stringify(value.slice(0, 40))}... naming JWT_SECRET`, () => {
      assert.throws(() => jwtSecretsFrom(value), (error: unknown) => error instanceof ConfigError && message.test(error.message));
      assert.throws(() => hs256(value), (error: unknown) => error instanceof ConfigError && /^JWT_SECRET /.test(error.message));
    });
  }
});

describe("verifying with a list of HS256 secrets", () => {
  it("accepts a token signed with any listed secret and refuses one signed with another", async () => {
    await fc.assert(fc.asyncProperty(
      fc.uniqueArray(secretArbitrary, { minLength: 2, maxLength: 5 }),
      fc.nat(),
      async (keys, pick) => {
        const [outsider, ...listed] = keys as [string, ...string[]];
        const verifier = createTokenVerifier(hs256(listed.join(",")), "topics");
        const signer = listed[pick % listed.length]!;
        const principal = await verifier.verify(await token({ sub: "alice", topics: ["news"] }, { secret: signer }));
        assert.deepEqual(principal.topicPatterns, ["news"]);
        await assert.rejects(verifier.verify(await token({ sub: "alice" }, { secret: outsider })),
          (error: unknown) => error instanceof AuthError && error.code === "token_bad_signature");
      },
    ), { numRuns: 40 });
  });

  it("gives a matching key's verdict, not a signature error, for an expired token signed with a later key", async () => {
    const [first, second] = ["f".repeat(40), "s".repeat(40)];
    const verifier = createTokenVerifier(hs256(`${first},${second}`), "topics");
    const expired = await token({ sub: "alice" }, { secret: second, exp: Math.floor(Date.now() / 1000) - 60 });
    await assert.rejects(verifier.verify(expired), (error: unknown) => error instanceof AuthError && error.code === "token_expired");
  });
});

describe("a gateway in the middle of a rotation", () => {
  const [next, current, previous] = ["n".repeat(40), "c".repeat(40), "p".repeat(40)];
  let gw: RunningGateway;
  before(async () => {
    gw = await startGateway({ JWT_SECRET: `${current},${next},${previous}` });
  });
  after(() => gw.stop());

  it("opens streams for tokens of the previous, current and next secret alike", async () => {
    for (const secret of [next, current, previous]) {
      const connection = await connectSse(gw.url, { token: await token({ sub: "alice", topics: ["news"] }, { secret }) });
      assert.equal(connection.status, 200);
      connection.close();
    }
    const retired = await connectSse(gw.url, { token: await token({ sub: "alice" }, { secret: "r".repeat(40) }) });
    assert.equal(retired.status, 401);
    assert.equal(JSON.parse(await retired.body).error, "token_bad_signature");
  });
});
