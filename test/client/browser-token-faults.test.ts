import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { Page } from "playwright-core";
import { launchChromium, scenario, withoutChromium, type RunningBrowser } from "../support/browser.ts";
import { publish, startGateway, token, type RunningGateway } from "../support/gateway.ts";
import { eventually } from "../support/wait.ts";

/**
 * The application's token function misbehaving on the very first call, before the client has a
 * stream to share (Chromium, the client from the gateway's /client/index.js). The page's clock is
 * Playwright's, so that the client's 30 s token timeout passes in an instant.
 */

interface Tab {
  readonly events: string[];
  readonly status: string;
  calls: number;
}

/** Connects with a token function whose first call never settles and whose later calls give `good`. */
async function connectWithHangingToken(page: Page, good: string, share: string): Promise<void> {
  await page.evaluate(
    async ({ good, share }) => {
      const { connect } = await import("/client/index.js" as string);
      const tab = ((window as unknown as { tab: Tab }).tab = { events: [] as string[], status: "connecting", calls: 0 });
      const connection = connect({ url: "/events", token: () => (tab.calls++ === 0 ? new Promise<string>(() => {}) : Promise.resolve(good)), share });
      connection.on("*", (data: unknown, event: { type: string }) => tab.events.push(`${event.type} ${JSON.stringify(data)}`));
      connection.onStatus((status: string) => (tab.status = status));
    },
    { good, share },
  );
}

const tabState = (page: Page) => page.evaluate(() => (window as unknown as { tab: Tab }).tab);

describe("a token function that hangs on its first call", { skip: withoutChromium, timeout: 60_000 }, () => {
  let chromium: RunningBrowser;
  let gateway: RunningGateway;

  before(async () => {
    chromium = await launchChromium();
    gateway = await startGateway();
  });

  after(async () => {
    await gateway?.stop();
    await chromium?.close();
  });

  for (const share of ["auto", "off"]) {
    test(`is given up after the token timeout, and the connection opens with the next call (share ${share})`, async () => {
      await scenario(chromium.browser, `client-hanging-token-${share}`, async ({ open, context }) => {
        await context.clock.install();
        const page = await open(`${gateway.url}/openapi.json`);
        const user = `hang-${share}`;
        await connectWithHangingToken(page, await token({ sub: user }), share);
        await eventually(async () => (await tabState(page)).calls === 1, 5000, "the first token call");
        await page.clock.fastForward(31_000);
        await eventually(async () => (await tabState(page)).status === "open", 10_000, "the stream open with the second token");
        await publish(gateway.url, { users: [user], type: "note", data: "hello" });
        await eventually(async () => (await tabState(page)).events.length === 1, 5000, "the event");
        assert.deepEqual((await tabState(page)).events, ['note "hello"']);
      });
    });
  }
});
