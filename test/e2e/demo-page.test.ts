import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { Page } from "playwright-core";
import { demoState, launchChromium, scenario, waitForDemo, withoutChromium, type DemoState, type RunningBrowser } from "../support/browser.ts";
import { startDevGateway, type DevGateway } from "../support/dev-gateway.ts";
import { publish } from "../support/gateway.ts";
import { makeSelfSignedCertificate, type SelfSignedCertificate } from "../support/tls.ts";
import { eventually } from "../support/wait.ts";

/** Browsers open at most six HTTP/1.1 connections per origin; the HTTP/2 scenario goes past that. */
const STREAMS_PAST_THE_HTTP1_LIMIT = 8;

/** Opens `count` more EventSource streams from the page with its own token; each records what it receives. */
async function openExtraStreams(page: Page, count: number): Promise<void> {
  await page.evaluate((count) => {
    const token = (document.getElementById("sub-token") as HTMLInputElement).value;
    const extra: { opened: boolean; received: string[] }[] = [];
    (window as unknown as { extraStreams: typeof extra }).extraStreams = extra;
    for (let n = 0; n < count; n++) {
      const record = { opened: false, received: [] as string[] };
      extra.push(record);
      const source = new EventSource(`/events?access_token=${encodeURIComponent(token)}&topic=news`);
      source.onopen = () => (record.opened = true);
      source.addEventListener("greeting", (message) => record.received.push(message.lastEventId));
    }
  }, count);
}

function extraStreams(page: Page): Promise<{ opened: boolean; received: string[] }[]> {
  return page.evaluate(() => (window as unknown as { extraStreams: { opened: boolean; received: string[] }[] }).extraStreams);
}

describe("the demo page in Chromium, one gateway", { skip: withoutChromium, timeout: 120_000 }, () => {
  let chromium: RunningBrowser;
  let gateway: DevGateway;

  before(async () => {
    chromium = await launchChromium();
    gateway = await startDevGateway({ MAX_CONNECTIONS_PER_USER: "20" });
  });

  after(async () => {
    await gateway?.stop();
    await chromium?.close();
  });

  test("(2) a user's event reaches that user's page and not another user's page in the same browser", async () => {
    await scenario(chromium.browser, "2-private-events", async ({ open }) => {
      const alice = await open(`${gateway.url}/?sub=alice`);
      const bob = await open(`${gateway.url}/?sub=bob`);
      await waitForDemo(alice, (state) => state.state === "open", "alice's stream to open");
      await waitForDemo(bob, (state) => state.state === "open", "bob's stream to open");

      // Bob uses the page's publish form to send alice a private event.
      await bob.fill("#pub-users", "alice");
      await bob.fill("#pub-data", '{"for":"alice"}');
      await bob.click("#publish");
      await bob.waitForFunction(() => document.getElementById("publish-result")?.textContent?.startsWith("202"));
      const forAlice = JSON.parse((await bob.textContent("#publish-result"))!.slice(4)).id as string;
      await waitForDemo(alice, (state) => state.events.some((event) => event.id === forAlice), "alice's event on alice's page");

      // An event for bob published after alice's: once it arrived, alice's would have too.
      const forBob = await publish(gateway.url, { users: ["bob"], type: "greeting", data: { for: "bob" } }, await gateway.publisherToken());
      assert.equal(forBob.status, 202);
      const bobState = await waitForDemo(bob, (state) => state.events.some((event) => event.id === forBob.body.id), "bob's own event");
      const aliceState = await waitForDemo(alice, () => true, "alice's page state");
      assert.deepEqual(bobState.events.map((event) => event.data), [{ for: "bob" }], "bob's page received only bob's event");
      assert.deepEqual(aliceState.events.map((event) => event.data), [{ for: "alice" }], "alice's page received only alice's event");
    });
  });

  test("every event type shows on the page unless 'Event types to show' names some", async () => {
    await scenario(chromium.browser, "demo-every-type", async ({ open }) => {
      const page = await open(`${gateway.url}/?sub=tom`);
      await waitForDemo(page, (state) => state.state === "open", "the stream to open");
      const token = await gateway.publisherToken();
      const shownTypes = () => page.$$eval("#log li.event .badge", (badges) => badges.map((badge) => badge.textContent));
      for (const type of ["order.updated", "greeting", "x-y"]) {
        assert.equal((await publish(gateway.url, { users: ["tom"], type, data: { type } }, token)).status, 202);
      }
      await waitForDemo(page, (state) => state.events.length === 3, "three events");
      assert.deepEqual(await shownTypes(), ["x-y", "greeting", "order.updated"], "newest first, every type");

      await page.fill("#sub-types", "greeting");
      await publish(gateway.url, { users: ["tom"], type: "order.updated", data: {} }, token);
      await publish(gateway.url, { users: ["tom"], type: "greeting", data: {} }, token);
      await waitForDemo(page, (state) => state.events.length === 5, "five events");
      assert.deepEqual(await shownTypes(), ["greeting", "x-y", "greeting", "order.updated"], "with a filter, only the named types");
    });
  });

  /**
   * Publishes to `user` every 150 ms while the page renews its token (slowly: the token endpoint
   * takes 600 ms, so what is published meanwhile reaches the page only through the resume from
   * its last id) until a second after `renewed` holds; returns the published ids.
   */
  async function publishAcrossRenewal(page: Page, user: string, renewed: (state: DemoState) => boolean): Promise<string[]> {
    await page.route("**/dev/token?*", async (route) => {
      await new Promise((resolve) => setTimeout(resolve, 600));
      await route.continue();
    });
    const publisherToken = await gateway.publisherToken();
    const published: string[] = [];
    const deadline = Date.now() + 15_000;
    let renewedAt: number | undefined;
    while (renewedAt === undefined || Date.now() < renewedAt + 1000) {
      assert.ok(Date.now() < deadline, "the page did not renew its token within 15 s");
      const result = await publish(gateway.url, { users: [user], type: "greeting", data: { n: published.length } }, publisherToken);
      assert.equal(result.status, 202);
      published.push(result.body.id);
      await new Promise((resolve) => setTimeout(resolve, 150));
      if (renewedAt === undefined && renewed(await demoState(page))) renewedAt = Date.now();
    }
    return published;
  }

  test("(5) the client renews the token before it expires and resumes from its last id without loss", async () => {
    await scenario(chromium.browser, "5-token-renewal", async ({ open }) => {
      const ttlSeconds = 6;
      const page = await open(`${gateway.url}/?sub=dave&ttl=${ttlSeconds}`);
      const first = await waitForDemo(page, (state) => state.state === "open", "the stream to open");
      const published = await publishAcrossRenewal(page, "dave", (state) => state.opens >= 2);
      const state = await waitForDemo(page, (state) => state.events.length >= published.length, `all ${published.length} events`);
      assert.deepEqual(state.controls.filter((control) => control.type === "gateway.token-expired"), [], "renewed before the gateway had to say so");
      assert.ok(state.openedAt[1]! - first.openedAt[0]! < ttlSeconds * 1000, "the new stream opened before the first token expired");
      assert.deepEqual(state.events.map((event) => event.id), published, "every event exactly once, in order");
    });
  });

  test("(5) the token expires, the client fetches a fresh one on gateway.token-expired and resumes without loss", async () => {
    await scenario(chromium.browser, "5-token-expiry", async ({ open }) => {
      const page = await open(`${gateway.url}/?sub=dave-late&ttl=3&renewEarly=false`);
      await waitForDemo(page, (state) => state.state === "open", "the stream to open");
      const published = await publishAcrossRenewal(
        page,
        "dave-late",
        (state) => state.controls.some((control) => control.type === "gateway.token-expired") && state.opens >= 2,
      );
      const state = await waitForDemo(page, (state) => state.events.length >= published.length, `all ${published.length} events`);
      assert.deepEqual(state.events.map((event) => event.id), published, "every event exactly once, in order");
    });
  });

  test("(6) over HTTPS the page holds more than six EventSource streams on one HTTP/2 connection, all receiving", async () => {
    const certificate: SelfSignedCertificate = makeSelfSignedCertificate();
    const secure = await startDevGateway({ TLS_CERT: certificate.certPath, TLS_KEY: certificate.keyPath, MAX_CONNECTIONS_PER_USER: "20" });
    let tlsConnections = 0;
    secure.gateway.app.server.on("secureConnection", () => tlsConnections++);
    try {
      await scenario(chromium.browser, "6-http2", async ({ open }) => {
        const page = await open(`${secure.url}/?sub=erin&topics=news`);
        await waitForDemo(page, (state) => state.state === "open", "the demo stream to open");
        await openExtraStreams(page, STREAMS_PAST_THE_HTTP1_LIMIT);
        const total = STREAMS_PAST_THE_HTTP1_LIMIT + 1;
        await eventually(() => secure.gateway.hub.size === total, 10_000, `${total} streams open at the gateway`);

        await page.fill("#pub-users", "");
        await page.fill("#pub-topics", "news");
        await page.fill("#pub-data", '{"over":"h2"}');
        await page.click("#publish");
        await page.waitForFunction(() => document.getElementById("publish-result")?.textContent?.startsWith("202"));
        const id = JSON.parse((await page.textContent("#publish-result"))!.slice(4)).id as string;

        await waitForDemo(page, (state) => state.events.some((event) => event.id === id), "the event on the demo stream");
        await page.waitForFunction(
          (id) => (window as unknown as { extraStreams: { received: string[] }[] }).extraStreams.every((stream) => stream.received.includes(id)),
          id,
          { timeout: 10_000 },
        );
        assert.equal((await extraStreams(page)).filter((stream) => stream.opened).length, STREAMS_PAST_THE_HTTP1_LIMIT);

        const protocols = await page.evaluate(() =>
          [...performance.getEntriesByType("navigation"), ...performance.getEntriesByType("resource")].map(
            (entry) => (entry as PerformanceResourceTiming).nextHopProtocol,
          ),
        );
        assert.ok(protocols.length >= 2, "the page recorded its navigation and resources");
        assert.deepEqual(new Set(protocols), new Set(["h2"]), `the page and its requests went over HTTP/2: ${protocols.join(", ")}`);
        assert.equal(tlsConnections, 1, "all streams and requests shared one TLS connection");
      });
    } finally {
      await secure.stop();
      certificate.remove();
    }
  });

  test("(6, contrast) over plain HTTP/1.1 the same page gets only six streams to the origin", async () => {
    await scenario(chromium.browser, "6-http1-contrast", async ({ open }) => {
      const page = await open(`${gateway.url}/?sub=frank&topics=news`);
      await waitForDemo(page, (state) => state.state === "open", "the demo stream to open");
      const before = gateway.gateway.hub.size;
      await openExtraStreams(page, STREAMS_PAST_THE_HTTP1_LIMIT);
      await eventually(() => gateway.gateway.hub.size === before + 5, 10_000, "five more streams (six in all)");
      // Give the browser time to open more if it were going to; it holds the rest back.
      await new Promise((resolve) => setTimeout(resolve, 1500));
      assert.equal(gateway.gateway.hub.size - before, 5, "the browser held streams seven and eight back");
      assert.equal((await extraStreams(page)).filter((stream) => stream.opened).length, 5);
    });
  });
});
