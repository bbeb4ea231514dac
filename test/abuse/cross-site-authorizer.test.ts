import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { startGateway, token, type RunningGateway } from "../support/gateway.ts";
import { startWebhook, type WebhookServer } from "../support/webhook-server.ts";

const nowSeconds = () => Math.floor(Date.now() / 1000);

// A page of another site could open a stream with the user's session cookie by adding any
// access_token parameter to the URL: the parameter exempted the request from the Origin check,
// the token failed, and the authorizer admitted the stream on the cookie it was sent.
describe("a cookie sent by another site's page is no credential, whatever the URL holds", () => {
  let webhook: WebhookServer;
  let gw: RunningGateway;
  before(async () => {
    webhook = await startWebhook((body: { headers: { cookie?: string } }) =>
      /session=alice-session/.test(body.headers.cookie ?? "")
        ? { status: 200, body: { sub: "alice", topics: ["news"], expiresAt: nowSeconds() + 3600 } }
        : { status: 401, body: { message: "not signed in" } });
    gw = await startGateway({ NODE_ENV: "production", AUTH_WEBHOOK_URL: webhook.url, CORS_ORIGINS: "https://app.example" });
  });
  after(async () => {
    await gw.stop();
    await webhook.stop();
  });

  const open = async (query: string, headers: Record<string, string>) => {
    const controller = new AbortController();
    const response = await fetch(`${gw.url}/events${query}`, { headers: { cookie: "session=alice-session", ...headers }, signal: controller.signal });
    const status = response.status;
    controller.abort();
    return status;
  };

  it("refuses the stream and sends the webhook no cookie from a foreign page", async () => {
    const foreign: Record<string, string>[] = [{ origin: "https://evil.example" }, { origin: "null" }, { "sec-fetch-site": "cross-site" }, { "sec-fetch-site": "same-site" }];
    for (const headers of foreign) {
      for (const query of ["?access_token=", "?access_token=x", "?topic=news&access_token=opaque"]) {
        assert.notEqual(await open(query, headers), 200, `${query} ${JSON.stringify(headers)}`);
      }
      assert.notEqual(await open("", { ...headers, authorization: "Bearer opaque" }), 200, JSON.stringify(headers));
    }
    for (const call of webhook.calls as { headers: { cookie?: string } }[]) assert.equal(call.headers.cookie, undefined);
  });

  it("still admits the cookie from the gateway's own origin, a listed one, or no browser at all", async () => {
    const own: Record<string, string>[] = [{}, { origin: "https://app.example" }, { "sec-fetch-site": "same-origin" }];
    for (const headers of own) {
      assert.equal(await open("?access_token=x", headers), 200, JSON.stringify(headers));
    }
  });

  it("still takes a valid token in the URL from a foreign page (it is not ambient)", async () => {
    assert.equal(await open(`?access_token=${await token({ sub: "carol" })}`, { origin: "https://evil.example" }), 200);
  });
});
