import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { SignJWT, exportJWK, generateKeyPair } from "jose";
import { connectSse } from "../support/sse-client.ts";
import { startGateway, type RunningGateway } from "../support/gateway.ts";

describe("JWKS_URL: asymmetric keys from a key set", () => {
  let gw: RunningGateway;
  let keyServer: http.Server;
  let fetches = 0;
  const issuer = "https://login.example";
  const audience = "sse-gateway";
  let sign: (claims: Record<string, unknown>, kid?: string) => Promise<string>;

  before(async () => {
    const rsa = await generateKeyPair("RS256");
    const ec = await generateKeyPair("ES256");
    const ed = await generateKeyPair("EdDSA");
    const keys = [
      { ...(await exportJWK(rsa.publicKey)), kid: "rsa-1", alg: "RS256", use: "sig" },
      { ...(await exportJWK(ec.publicKey)), kid: "ec-1", alg: "ES256", use: "sig" },
      { ...(await exportJWK(ed.publicKey)), kid: "ed-1", alg: "EdDSA", use: "sig" },
    ];
    keyServer = http.createServer((_request, response) => {
      fetches++;
      response.setHeader("content-type", "application/json");
      response.end(JSON.stringify({ keys }));
    });
    await new Promise<void>((resolve) => keyServer.listen(0, "127.0.0.1", resolve));
    const { port } = keyServer.address() as AddressInfo;
    gw = await startGateway({ JWT_SECRET: "", JWKS_URL: `http://127.0.0.1:${port}/jwks.json`, JWT_ISSUER: issuer, JWT_AUDIENCE: audience });
    sign = (claims, kid = "rsa-1") => {
      const [key, alg] = kid.startsWith("ec") ? [ec.privateKey, "ES256"] : kid.startsWith("ed") ? [ed.privateKey, "EdDSA"] : [rsa.privateKey, "RS256"];
      return new SignJWT(claims)
        .setProtectedHeader({ alg, kid })
        .setIssuer(issuer)
        .setAudience(audience)
        .setExpirationTime("5m")
        .sign(key);
    };
  });
  after(async () => {
    await gw.stop();
    keyServer.close();
  });

  it("accepts RS256, ES256 and EdDSA tokens signed by keys of the set", async () => {
    for (const kid of ["rsa-1", "ec-1", "ed-1"]) {
      const stream = await connectSse(gw.url, { token: await sign({ sub: "ann" }, kid) });
      assert.equal(stream.status, 200, kid);
      stream.close();
    }
    assert.ok(fetches >= 1);
  });

  it("refuses a key id the set does not have, and HS256 tokens", async () => {
    const unknown = await connectSse(gw.url, { token: await sign({ sub: "ann" }, "rsa-2") });
    assert.equal(unknown.status, 401);
    assert.equal(JSON.parse(await unknown.body).error, "token_unknown_key");
    const hs = await new SignJWT({ sub: "ann" }).setProtectedHeader({ alg: "HS256" }).setIssuer(issuer).setAudience(audience).sign(new Uint8Array(32));
    const symmetric = await connectSse(gw.url, { token: hs });
    assert.equal(symmetric.status, 401);
    assert.equal(JSON.parse(await symmetric.body).error, "token_algorithm_not_allowed");
  });
});
