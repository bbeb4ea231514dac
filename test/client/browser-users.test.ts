import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { Page } from "playwright-core";
import { launchChromium, scenario, withoutChromium, type RunningBrowser } from "../support/browser.ts";
import { publish, startGateway, type RunningGateway } from "../support/gateway.ts";
import { eventually } from "../support/wait.ts";
import { startWebhook, type WebhookServer } from "../support/webhook-server.ts";

/**
 * Two users in one browser whose subscriber tokens are the application's own opaque session
 * tokens (read by the authorizer webhook, not JWTs with a `sub` the client could read): their
 * tabs must never share a stream, whatever the sharing mode.
 */

interface Tab {
  readonly events: string[];
  readonly status: string;
}

async function connectTab(page: Page, token: string, share: string): Promise<void> {
  await page.evaluate(
    async ({ token, share }) => {
      const { connect } = await import("/client/index.js" as string);
      const tab = ((window as unknown as { tab: Tab }).tab = { events: [] as string[], status: "connecting" });
      const connection = connect({ url: "/events", token: async () => token, share });
      connection.on("*", (data: unknown, event: { type: string }) => tab.events.push(`${event.type} ${JSON.stringify(data)}`));
      connection.onStatus((status: string) => (tab.status = status));
    },
    { token, share },
  );
}

async function openStreams(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return Number(/^sse_gateway_open_streams (\d+)/m.exec(text)?.[1]);
}

const tabState = (page: Page) => page.evaluate(() => (window as unknown as { tab: Tab }).tab);

describe("two users with opaque tokens in one browser", { skip: withoutChromium, timeout: 60_000 }, () => {
  let chromium: RunningBrowser;
  let webhook: WebhookServer;
  let gateway: RunningGateway;

  before(async () => {
    chromium = await launchChromium();
    webhook = await startWebhook((body: { headers: { authorization?: string } }) => {
      const user = /^Bearer opaque-(\w+)$/.exec(body.headers.authorization ?? "")?.[1];
      return user ? { status: 200, body: { sub: user, topics: [] } } : { status: 401, body: { message: "no session" } };
    });
    gateway = await startGateway({ AUTH_WEBHOOK_URL: webhook.url });
  });

  after(async () => {
    await gateway?.stop();
    await webhook?.stop();
    await chromium?.close();
  });

  for (const share of ["leader", "worker"]) {
    test(`each user's tab gets that user's events only (${share})`, async () => {
      await scenario(chromium.browser, `client-opaque-users-${share}`, async ({ open }) => {
        await eventually(async () => (await openStreams(gateway.url)) === 0, 10_000, "the previous case's streams closed");
        const alice = await open(`${gateway.url}/openapi.json`);
        await connectTab(alice, `opaque-alice${share}`, share);
        await eventually(async () => (await tabState(alice)).status === "open", 10_000, "alice's stream open");
        const bob = await open(`${gateway.url}/openapi.json`);
        await connectTab(bob, `opaque-bob${share}`, share);
        await eventually(async () => (await tabState(bob)).status === "open", 10_000, "bob's stream open");
        const aliceAgain = await open(`${gateway.url}/openapi.json`);
        await connectTab(aliceAgain, `opaque-alice${share}`, share);
        await eventually(async () => (await tabState(aliceAgain)).status === "open", 10_000, "alice's second tab open");
        assert.equal(await openStreams(gateway.url), 2, "alice's two tabs share one stream; bob has his own");
        await publish(gateway.url, { users: [`alice${share}`], type: "note", data: "for alice" });
        await publish(gateway.url, { users: [`bob${share}`], type: "note", data: "for bob" });
        await eventually(async () => (await tabState(alice)).events.length >= 1 && (await tabState(bob)).events.length >= 1, 10_000, "an event in each tab");
        await new Promise((resolve) => setTimeout(resolve, 300));
        assert.deepEqual((await tabState(alice)).events, ['note "for alice"']);
        assert.deepEqual((await tabState(bob)).events, ['note "for bob"']);
        assert.deepEqual((await tabState(aliceAgain)).events, ['note "for alice"']);
      });
    });
  }
});
