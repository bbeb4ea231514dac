import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { SignJWT, exportJWK, generateKeyPair } from "jose";
import { RemoteKeySet } from "../../src/auth/remote-key-set.ts";
import { connectSse } from "../support/sse-client.ts";
import { publish, startGateway, TEST_SECRET, token, type RunningGateway } from "../support/gateway.ts";
import { startKeyServer, type KeyServer } from "../support/key-server.ts";

const secret = new TextEncoder().encode(TEST_SECRET);
const nowSeconds = () => Math.floor(Date.now() / 1000);

/** A token signed like the support's, but with exactly the claims given (no exp unless set). */
function signExactly(claims: Record<string, unknown>): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: "HS256" }).sign(secret);
}

// Finding 6: tokens without `exp` were accepted, and their streams never ended.
describe("token lifetime", () => {
  let gw: RunningGateway;
  let capped: RunningGateway;
  before(async () => {
    gw = await startGateway();
    capped = await startGateway({ MAX_TOKEN_LIFETIME_S: "600" });
  });
  after(async () => {
    await gw.stop();
    await capped.stop();
  });

  it("refuses subscriber and publisher tokens without exp, naming the claim", async () => {
    const stream = await connectSse(gw.url, { token: await signExactly({ sub: "ivy" }) });
    assert.equal(stream.status, 401);
    const refusal = JSON.parse(await stream.body);
    assert.equal(refusal.error, "token_claim_invalid");
    assert.match(refusal.message, /`exp`/);
    const published = await publish(gw.url, { users: ["ivy"], type: "t" }, await signExactly({ sub: "svc", publish: ["*"] }));
    assert.equal(published.status, 401);
    assert.equal(published.body.error, "token_claim_invalid");
    assert.match(published.body.message, /`exp`/);
  });

  it("refuses an exp that is not a number", async () => {
    const stream = await connectSse(gw.url, { token: await signExactly({ sub: "ivy", exp: "tomorrow" }) });
    assert.equal(stream.status, 401);
  });

  it("with MAX_TOKEN_LIFETIME_S, refuses tokens that live longer, however their iat reads", async () => {
    const long = await token({ sub: "jay" }, { exp: nowSeconds() + 3600 });
    const refused = await connectSse(capped.url, { token: long });
    assert.equal(refused.status, 401);
    const body = JSON.parse(await refused.body);
    assert.equal(body.error, "token_claim_invalid");
    assert.match(body.message, /MAX_TOKEN_LIFETIME_S \(600 s\)/);
    const backdated = await signExactly({ sub: "jay", iat: nowSeconds() - 3000, exp: nowSeconds() + 300 });
    assert.equal((await connectSse(capped.url, { token: backdated })).status, 401, "exp - iat counts");
    const forward = await signExactly({ sub: "jay", iat: nowSeconds() + 3000, exp: nowSeconds() + 3500 });
    assert.equal((await connectSse(capped.url, { token: forward })).status, 401, "a future iat does not shorten the lifetime");
    const short = await connectSse(capped.url, { token: await token({ sub: "jay" }, { exp: nowSeconds() + 300 }) });
    assert.equal(short.status, 200);
    short.close();
  });

  it("refuses subjects that are not well-formed Unicode", async () => {
    for (const sub of ["x\udbff", "x\ud800", "\udc00y"]) {
      const stream = await connectSse(gw.url, { token: await token({ sub }) });
      assert.equal(stream.status, 401, JSON.stringify(sub));
      assert.equal(JSON.parse(await stream.body).error, "token_subject_invalid");
    }
  });
});

// Finding 7: an unreachable JWKS answered 401 token_malformed, which EventSource takes as final.
describe("JWKS outages", () => {
  const issuer = "https://login.example";
  const audience = "sse-gateway";
  let rsa: CryptoKeyPair;
  let keyServer: KeyServer;
  let gw: RunningGateway;
  const sign = (kid: string, sub = "kim") =>
    new SignJWT({ sub }).setProtectedHeader({ alg: "RS256", kid }).setIssuer(issuer).setAudience(audience).setExpirationTime("5m").sign(rsa.privateKey);

  before(async () => {
    rsa = (await generateKeyPair("RS256")) as CryptoKeyPair;
    keyServer = await startKeyServer([{ ...(await exportJWK(rsa.publicKey)), kid: "k1", alg: "RS256", use: "sig" }]);
  });
  after(async () => {
    await gw?.stop();
    await keyServer.close();
  });

  async function gatewayWithKeys(): Promise<RunningGateway> {
    await gw?.stop();
    gw = await startGateway({ JWT_SECRET: "", JWKS_URL: keyServer.url, JWT_ISSUER: issuer, JWT_AUDIENCE: audience });
    return gw;
  }

  it("answers 503 jwks_unavailable with Retry-After while the key set cannot be fetched", async () => {
    keyServer.mode = "fail";
    await gatewayWithKeys();
    for (const mode of ["fail", "refuse"] as const) {
      keyServer.mode = mode;
      const stream = await connectSse(gw.url, { token: await sign("k1") });
      assert.equal(stream.status, 503, mode);
      assert.ok(Number(stream.headers["retry-after"]) >= 1);
      assert.equal(JSON.parse(await stream.body).error, "jwks_unavailable");
      const published = await publish(gw.url, { users: ["kim"], type: "t" }, await sign("k1"));
      assert.equal(published.status, 503, mode);
      assert.equal(published.body.error, "jwks_unavailable");
    }
  });

  it("keeps verifying with the keys it fetched once the key set goes down, and unknown kids cannot make it fetch without bound", async () => {
    keyServer.mode = "serve";
    await gatewayWithKeys();
    const first = await connectSse(gw.url, { token: await sign("k1") });
    assert.equal(first.status, 200);
    first.close();
    for (const mode of ["fail", "hang"] as const) {
      keyServer.mode = mode;
      const before = keyServer.fetches;
      const answers = await Promise.all(
        Array.from({ length: 100 }, async (_, i) => {
          const stream = await connectSse(gw.url, { token: await sign(`unknown-${mode}-${i}`, `u${i}`) });
          stream.close();
          return stream.status;
        }),
      );
      // At most one refetch for the whole flood (the cooldown), whatever each token names.
      assert.ok(keyServer.fetches - before <= 1, `${keyServer.fetches - before} fetches for 100 unknown kids (${mode})`);
      assert.ok(answers.every((status) => status === 401 || status === 503), String(answers));
      const known = await connectSse(gw.url, { token: await sign("k1", "lee") });
      assert.equal(known.status, 200, `a known key still verifies while the key set is ${mode}`);
      known.close();
    }
  });

  it("a stale key set is refreshed in the background; a failed refresh keeps the old keys, and refetches are spaced", async () => {
    keyServer.mode = "serve";
    const keySet = new RemoteKeySet(new URL(keyServer.url), { timeoutMs: 300, maxAgeMs: 50, unknownKidCooldownMs: 60_000, failureBackoffMs: 200 });
    const token = await sign("k1");
    const header = { alg: "RS256", kid: "k1" };
    const input = { payload: "", signature: "", protected: token.split(".")[0]! };
    await keySet.getKey(header, input);
    const fetched = keyServer.fetches;
    keyServer.mode = "hang";
    for (let i = 0; i < 20; i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      const started = Date.now();
      await keySet.getKey(header, input);
      assert.ok(Date.now() - started < 100, "a stale key answers at once, without waiting for the fetch");
    }
    // 400 ms of requests with a 300 ms timeout and a 200 ms backoff: a handful of attempts, not 20.
    assert.ok(keyServer.fetches - fetched <= 3, `${keyServer.fetches - fetched} fetches`);
    keyServer.mode = "serve";
  });
});
