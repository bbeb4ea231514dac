import assert from "node:assert/strict";
import http from "node:http";
import { after, before, describe, it } from "node:test";
import { startGateway, type RunningGateway } from "../support/gateway.ts";

const PUBLISHER_KEY = "mercure-publisher-key-long-enough-for-hs256";
const ISSUER = "https://auth.example.com/realms/main";
const AUDIENCE = "https://hub.example.com/.well-known/mercure";
const METADATA_PATH = "/.well-known/oauth-protected-resource/.well-known/mercure";

/** A GET with a Host header of the test's choosing (fetch would not send a malformed one). */
function getWithHost(url: string, host: string): Promise<{ status: number; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const request = http.get(url, { headers: { host } }, (response) => {
      response.resume();
      resolve({ status: response.statusCode!, headers: response.headers });
    });
    request.on("error", reject);
  });
}

describe("Mercure protected resource metadata (RFC 9728)", () => {
  let withAccessTokens: RunningGateway;
  let withoutAccessTokens: RunningGateway;
  before(async () => {
    withAccessTokens = await startGateway({
      MERCURE_PUBLISHER_JWT_KEY: PUBLISHER_KEY,
      MERCURE_TOKEN_ISSUER: ISSUER,
      MERCURE_TOKEN_AUDIENCE: AUDIENCE,
      MERCURE_SUBSCRIPTIONS: "1",
    });
    withoutAccessTokens = await startGateway({ MERCURE_PUBLISHER_JWT_KEY: PUBLISHER_KEY });
  });
  after(async () => {
    await withAccessTokens.stop();
    await withoutAccessTokens.stop();
  });

  it("serves the document at the hub's path-derived location when access tokens are accepted", async () => {
    const response = await fetch(`${withAccessTokens.url}${METADATA_PATH}`);
    assert.equal(response.status, 200);
    assert.match(response.headers.get("content-type") ?? "", /^application\/json/);
    assert.deepEqual(await response.json(), {
      resource: AUDIENCE,
      authorization_servers: [ISSUER],
      bearer_methods_supported: ["header", "query"],
      authorization_details_types_supported: ["mercure"],
      mercure_cookie: true,
      mercure_subscriptions: true,
    });
  });

  it("points a subscriber without a token to it from the 401 challenge", async () => {
    const subscribe = await fetch(`${withAccessTokens.url}/.well-known/mercure?match=https://example.com/a`);
    assert.equal(subscribe.status, 401);
    const { host } = new URL(withAccessTokens.url);
    assert.equal(subscribe.headers.get("www-authenticate"), `Bearer resource_metadata="http://${host}${METADATA_PATH}"`);
    await subscribe.body?.cancel();
    const publish = await fetch(`${withAccessTokens.url}/.well-known/mercure`, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: "topic=x&data=y" });
    assert.equal(publish.status, 401);
    assert.match(publish.headers.get("www-authenticate") ?? "", /^Bearer resource_metadata="http:\/\/.+"$/);
    await publish.body?.cancel();
  });

  it("leaves a Host header that could break the quoted parameter out of the challenge", async () => {
    const answer = await getWithHost(`${withAccessTokens.url}/.well-known/mercure?topic=x`, 'evil.example" error="x');
    assert.equal(answer.status, 401);
    assert.equal(answer.headers["www-authenticate"], "Bearer");
  });

  it("is not served by a hub without access tokens (0.x hubs publish none), whose challenge stays plain", async () => {
    const response = await fetch(`${withoutAccessTokens.url}${METADATA_PATH}`);
    assert.equal(response.status, 404);
    await response.body?.cancel();
    const subscribe = await fetch(`${withoutAccessTokens.url}/.well-known/mercure?topic=x`);
    assert.equal(subscribe.status, 401);
    assert.equal(subscribe.headers.get("www-authenticate"), "Bearer");
    await subscribe.body?.cancel();
  });
});
