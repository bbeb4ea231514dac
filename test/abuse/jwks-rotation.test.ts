import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { exportJWK, generateKeyPair } from "jose";
import { KeySetUnavailableError, RemoteKeySet } from "../../src/auth/remote-key-set.ts";

// A key rotated in at the identity provider during its outage: tokens signed with the new key
// name a kid the gateway has not seen, the refetch fails, and they were refused as
// token_unknown_key (401), which an EventSource takes as final. Not knowing the key set is an
// outage: KeySetUnavailableError, answered 503 jwks_unavailable with Retry-After (see tokens.test.ts).
describe("an unknown kid while the key set cannot be fetched", () => {
  let served: object[];
  let failing = false;
  let fetches = 0;
  let server: http.Server;
  let url: URL;
  const jwk = async (kid: string) => ({ ...(await exportJWK(((await generateKeyPair("RS256")) as CryptoKeyPair).publicKey)), kid, alg: "RS256", use: "sig" });
  const header = (kid: string) => ({ alg: "RS256", kid });
  const input = { payload: "", signature: "", protected: "" };
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  before(async () => {
    server = http.createServer((_request, response) => {
      fetches++;
      if (failing) return void response.writeHead(502).end("bad gateway");
      response.setHeader("content-type", "application/json");
      response.end(JSON.stringify({ keys: served }));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    url = new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`);
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it("is an outage, not a refusal; known keys keep verifying; fetches stay spaced; the rotated key is taken once the provider is back", async () => {
    const oldKey = await jwk("old");
    served = [oldKey];
    failing = false;
    const keySet = new RemoteKeySet(url, { timeoutMs: 300, maxAgeMs: 600_000, unknownKidCooldownMs: 100, failureBackoffMs: 200 });
    await keySet.getKey(header("old"), input);
    await sleep(150);
    failing = true;
    const before = fetches;
    for (let i = 0; i < 20; i++) await assert.rejects(keySet.getKey(header("new"), input), KeySetUnavailableError);
    assert.ok(fetches - before <= 1, `${fetches - before} fetches for 20 unknown kids within the backoff`);
    assert.ok(await keySet.getKey(header("old"), input), "the key fetched before keeps verifying");
    failing = false;
    served = [oldKey, await jwk("new")];
    await sleep(250);
    assert.ok(await keySet.getKey(header("new"), input), "the rotated key is fetched once the provider answers");
  });

  it("a kid the answering set lacks stays unknown (401), with one fetch per cooldown", async () => {
    served = [await jwk("old")];
    failing = false;
    const keySet = new RemoteKeySet(url, { timeoutMs: 300, maxAgeMs: 600_000, unknownKidCooldownMs: 60_000, failureBackoffMs: 200 });
    await keySet.getKey(header("old"), input);
    const before = fetches;
    for (let i = 0; i < 20; i++) {
      await assert.rejects(keySet.getKey(header(`made-up-${i}`), input), (error: Error) => error.name === "JWKSNoMatchingKey");
    }
    assert.equal(fetches - before, 0, "the set was fetched within the cooldown: no refetch");
  });
});
