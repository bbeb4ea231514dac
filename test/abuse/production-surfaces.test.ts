import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { loadConfig } from "../../src/config/config.ts";
import { ConfigError } from "../../src/config/env-reader.ts";
import { startDevGateway, type DevGateway } from "../support/dev-gateway.ts";
import { startGateway, token, type RunningGateway } from "../support/gateway.ts";

const status = async (url: string, init?: RequestInit) => {
  const response = await fetch(url, { ...init, signal: AbortSignal.timeout(3000) });
  const body = await response.text();
  return { status: response.status, body, headers: response.headers };
};

// Finding 10: the demo page was always served, /metrics was public, http: JWKS URLs were
// accepted in production, and cookie-authenticated streams checked no Origin.
describe("production surfaces", () => {
  let production: RunningGateway;
  let productionWithDemo: RunningGateway;
  let devWithoutDemo: DevGateway;
  before(async () => {
    production = await startGateway({ NODE_ENV: "production", METRICS_TOKEN: "scrape-secret-0123456789", CORS_ORIGINS: "https://app.example" });
    productionWithDemo = await startGateway({ NODE_ENV: "production", DEMO_PAGE: "on" });
    devWithoutDemo = await startDevGateway({ DEMO_PAGE: "off" });
  });
  after(async () => {
    await Promise.all([production.stop(), productionWithDemo.stop(), devWithoutDemo.stop()]);
  });

  it("serves the demo page and /dev/token only with DEMO_PAGE=on (the default outside production)", async () => {
    for (const path of ["/", "/demo.js"]) {
      assert.equal((await status(`${production.url}${path}`)).status, 404, `production ${path}`);
      assert.equal((await status(`${devWithoutDemo.url}${path}`)).status, 404, `DEMO_PAGE=off ${path}`);
      assert.equal((await status(`${productionWithDemo.url}${path}`)).status, 200, `DEMO_PAGE=on ${path}`);
    }
    assert.equal((await status(`${devWithoutDemo.url}/dev/token`)).status, 404);
    const dev = await startDevGateway();
    try {
      assert.equal((await status(`${dev.url}/`)).status, 200);
      assert.equal((await status(`${dev.url}/dev/token`)).status, 200);
    } finally {
      await dev.stop();
    }
  });

  it("keeps /metrics behind METRICS_TOKEN, and /healthz open", async () => {
    const none = await status(`${production.url}/metrics`);
    assert.equal(none.status, 401);
    assert.equal(JSON.parse(none.body).error, "metrics_token_required");
    assert.equal((await status(`${production.url}/metrics`, { headers: { authorization: "Bearer wrong" } })).status, 401);
    assert.equal((await status(`${production.url}/metrics`, { headers: { authorization: "Bearer scrape-secret-012345678" } })).status, 401);
    const scraped = await status(`${production.url}/metrics`, { headers: { authorization: "Bearer scrape-secret-0123456789" } });
    assert.equal(scraped.status, 200);
    assert.match(scraped.body, /sse_gateway_open_streams/);
    assert.equal((await status(`${production.url}/healthz`)).status, 200);
    assert.equal((await status(`${productionWithDemo.url}/metrics`)).status, 200, "without METRICS_TOKEN /metrics stays open");
  });

  it("accepts only https: JWKS URLs in production", () => {
    const env = { NODE_ENV: "production", JWT_ISSUER: "https://login.example", JWT_AUDIENCE: "gw" };
    assert.throws(() => loadConfig({ ...env, JWKS_URL: "http://login.example/jwks.json" }, () => randomBytes(32)), (error: unknown) => error instanceof ConfigError && /JWKS_URL must be a https: URL/.test(error.message));
    assert.equal(loadConfig({ ...env, JWKS_URL: "https://login.example/jwks.json" }, () => randomBytes(32)).jwt.kind, "jwks");
    assert.equal(loadConfig({ JWT_ISSUER: "i", JWT_AUDIENCE: "a", JWKS_URL: "http://127.0.0.1:9/jwks.json" }, () => randomBytes(32)).jwt.kind, "jwks", "http: stays allowed outside production");
  });

  it("refuses a cookie-authenticated stream opened from another site, unless CORS_ORIGINS lists it", async () => {
    const subscriber = await token({ sub: "cookie-user" });
    const host = new URL(production.url).host;
    const open = async (headers: Record<string, string>) => {
      const controller = new AbortController();
      const response = await fetch(`${production.url}/events`, { headers, signal: controller.signal });
      const answer = { status: response.status, body: response.status === 200 ? "" : await response.text() };
      controller.abort();
      return answer;
    };
    const cookie = { cookie: `access_token=${subscriber}` };
    const refused: Record<string, string>[] = [
      { origin: "https://evil.example" },
      { origin: "null" },
      { origin: `https://${host}.evil.example` },
      { "sec-fetch-site": "cross-site" },
      { "sec-fetch-site": "same-site" },
    ];
    for (const headers of refused) {
      const answer = await open({ ...cookie, ...headers });
      assert.equal(answer.status, 403, JSON.stringify(headers));
      assert.equal(JSON.parse(answer.body).error, "origin_not_allowed");
    }
    const allowed: Record<string, string>[] = [
      {},
      { origin: "https://app.example" },
      { origin: `http://${host}` },
      { "sec-fetch-site": "same-origin" },
      { "sec-fetch-site": "none" },
      { origin: "https://app.example", "sec-fetch-site": "cross-site" },
    ];
    for (const headers of allowed) assert.equal((await open({ ...cookie, ...headers })).status, 200, JSON.stringify(headers));
    // A token the page itself holds (header or query) is not ambient: the Origin does not matter.
    assert.equal((await open({ authorization: `Bearer ${subscriber}`, origin: "https://evil.example" })).status, 200);
    const viaQuery = await fetch(`${production.url}/events?access_token=${subscriber}`, { headers: { origin: "https://evil.example", ...cookie }, signal: AbortSignal.timeout(3000) });
    assert.equal(viaQuery.status, 200);
    await viaQuery.body?.cancel();
  });
});
