import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { SignJWT } from "jose";
import { startGateway, type RunningGateway } from "../support/gateway.ts";

const PUBLISHER_KEY = "mercure-publisher-key-long-enough-for-hs256";
const SUBSCRIBER_KEY = "mercure-subscriber-key-long-enough-for-hs256";
const sign = (claims: Record<string, unknown>, key: string) =>
  new SignJWT(claims).setProtectedHeader({ alg: "HS256" }).setExpirationTime("1h").sign(new TextEncoder().encode(key));

// The Mercure hub took its mercureAuthorization cookie from any page: another site's page could
// submit a form (a simple request, no preflight) that published as the signed-in user, or open
// streams that used up the user's slots. As for /events, a cookie is a credential only from the
// gateway's own origin or one of CORS_ORIGINS; a token in a header or the URL is not ambient.
describe("Mercure: the mercureAuthorization cookie from another site's page", () => {
  let gw: RunningGateway;
  let publisherCookie: string;
  let subscriberCookie: string;
  before(async () => {
    gw = await startGateway({ MERCURE_PUBLISHER_JWT_KEY: PUBLISHER_KEY, MERCURE_SUBSCRIBER_JWT_KEY: SUBSCRIBER_KEY, CORS_ORIGINS: "https://app.example" });
    publisherCookie = `mercureAuthorization=${await sign({ mercure: { publish: ["*"] } }, PUBLISHER_KEY)}`;
    subscriberCookie = `mercureAuthorization=${await sign({ sub: "mia", mercure: { subscribe: ["*"] } }, SUBSCRIBER_KEY)}`;
  });
  after(() => gw.stop());

  const hub = () => `${gw.url}/.well-known/mercure`;
  const publishWith = async (headers: Record<string, string>) => {
    const response = await fetch(hub(), { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded", ...headers }, body: "topic=https%3A%2F%2Fexample.com%2Fa&data=forged" });
    return { status: response.status, body: await response.text() };
  };
  const subscribeWith = async (headers: Record<string, string>) => {
    const controller = new AbortController();
    const response = await fetch(`${hub()}?topic=*`, { headers, signal: controller.signal });
    const answer = { status: response.status, body: response.status === 200 ? "" : await response.text() };
    controller.abort();
    return answer;
  };
  const foreign: Record<string, string>[] = [{ origin: "https://evil.example" }, { origin: "null" }, { "sec-fetch-site": "cross-site" }, { "sec-fetch-site": "same-site" }];
  const own: Record<string, string>[] = [{}, { origin: "https://app.example" }, { "sec-fetch-site": "same-origin" }];

  it("publishes nothing for a foreign page (403 origin_not_allowed), and still for the gateway's own or a listed one", async () => {
    for (const headers of foreign) {
      const answer = await publishWith({ cookie: publisherCookie, ...headers });
      assert.equal(answer.status, 403, `${JSON.stringify(headers)}: ${answer.body}`);
      assert.equal(JSON.parse(answer.body).error, "origin_not_allowed");
    }
    for (const headers of own) assert.equal((await publishWith({ cookie: publisherCookie, ...headers })).status, 200, JSON.stringify(headers));
  });

  it("opens no stream for a foreign page, and still for the gateway's own or a listed one", async () => {
    for (const headers of foreign) assert.equal((await subscribeWith({ cookie: subscriberCookie, ...headers })).status, 403, JSON.stringify(headers));
    for (const headers of own) assert.equal((await subscribeWith({ cookie: subscriberCookie, ...headers })).status, 200, JSON.stringify(headers));
  });

  it("takes a token in the Authorization header from any page: it is not ambient", async () => {
    const token = publisherCookie.slice("mercureAuthorization=".length);
    assert.equal((await publishWith({ authorization: `Bearer ${token}`, origin: "https://evil.example", cookie: publisherCookie })).status, 200);
  });
});
