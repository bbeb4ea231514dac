import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { Page } from "playwright-core";
import { launchChromium, scenario, withoutChromium, type RunningBrowser } from "../support/browser.ts";
import { publish, startGateway, type RunningGateway } from "../support/gateway.ts";
import { eventually } from "../support/wait.ts";
import { startWebhook, type WebhookServer } from "../support/webhook-server.ts";

const USERS: Record<string, string> = { "alice-sid": "alice", "bob-sid": "bob" };

/** A plain EventSource with no token at all: the browser sends the session cookie by itself. */
async function listen(page: Page): Promise<void> {
  await page.evaluate(() => {
    const seen: string[] = [];
    (window as unknown as { seen: string[] }).seen = seen;
    const source = new EventSource("/events?topic=news");
    for (const type of ["for-alice", "for-bob", "news"]) source.addEventListener(type, (message) => seen.push(`${type}:${message.data}`));
  });
}

const seen = (page: Page) => page.evaluate(() => (window as unknown as { seen: string[] }).seen);

describe("an application session cookie in Chromium, admitted by the webhook", { skip: withoutChromium, timeout: 60_000 }, () => {
  let chromium: RunningBrowser;
  let webhook: WebhookServer;
  let gw: RunningGateway;

  before(async () => {
    chromium = await launchChromium();
    webhook = await startWebhook((body) => {
      const user = USERS[/sid=([^;]+)/.exec(body.headers.cookie ?? "")?.[1] ?? ""];
      if (!user) return { status: 401, body: { message: "sign in" } };
      return { status: 200, body: { sub: user, topics: ["news"], expiresAt: Math.floor(Date.now() / 1000) + 600 } };
    });
    gw = await startGateway({ AUTH_WEBHOOK_URL: webhook.url });
  });
  after(async () => {
    await gw?.stop();
    await webhook?.stop();
    await chromium?.close();
  });

  test("each browser gets its own user's events and the shared topic, never the other's", async () => {
    const url = new URL(gw.url);
    await scenario(chromium.browser, "authorizer-alice", async (alice) => {
      await scenario(chromium.browser, "authorizer-bob", async (bob) => {
        await alice.context.addCookies([{ name: "sid", value: "alice-sid", domain: url.hostname, path: "/" }]);
        await bob.context.addCookies([{ name: "sid", value: "bob-sid", domain: url.hostname, path: "/" }]);
        const alicePage = await alice.open(`${gw.url}/healthz`);
        const bobPage = await bob.open(`${gw.url}/healthz`);
        await listen(alicePage);
        await listen(bobPage);
        await eventually(() => gw.gateway.hub.size === 2, 10_000, "both streams open");
        await publish(gw.url, { users: ["alice"], type: "for-alice", data: 1 });
        await publish(gw.url, { users: ["bob"], type: "for-bob", data: 2 });
        await publish(gw.url, { topics: ["news"], type: "news", data: 3 });
        await eventually(async () => (await seen(alicePage)).length >= 2 && (await seen(bobPage)).length >= 2, 10_000, "the events in both pages");
        assert.deepEqual(await seen(alicePage), ["for-alice:1", "news:3"]);
        assert.deepEqual(await seen(bobPage), ["for-bob:2", "news:3"]);
        assert.ok(webhook.calls.every((call) => (call as { headers: { cookie?: string } }).headers.cookie?.startsWith("sid=")), "the browser sent its cookie");
      });
    });
  });
});
