import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { SignJWT } from "jose";
import type { Page } from "playwright-core";
import { launchChromium, scenario, withoutChromium, type RunningBrowser } from "../support/browser.ts";
import { startGatewayProcess, type GatewayProcess } from "../support/gateway-process.ts";
import { killableRedisSkipReason, startTestRedis, type TestRedis } from "../support/redis-server.ts";
import { connectSse, type SseConnection } from "../support/sse-client.ts";
import { eventually } from "../support/wait.ts";

/**
 * The Mercure subscriptions API across gateway processes sharing one spawned redis-server, with
 * Chromium EventSource subscribers: every instance's subscriptions in one list, one topic's, one
 * subscription; 401 and 403; a listing's lastEventID followed by the subscription updates from
 * it adds up to the state; a SIGKILLed instance drops out within its lease and the end of its
 * subscriptions is announced once; Redis down is a 503.
 */

const PUBLISHER_KEY = "mercure-publisher-key-long-enough-for-hs256!";
const SUBSCRIBER_KEY = "mercure-subscriber-key-long-enough-for-hs256";
const HUB = "/.well-known/mercure";
const SUBSCRIPTIONS = `${HUB}/subscriptions`;
const TEMPLATE = `${SUBSCRIPTIONS}{/topic}{/subscriber}`;
const LEASE_MS = 3000;

function subscriberToken(subscribe: string[], payload?: unknown): Promise<string> {
  return new SignJWT({ mercure: { subscribe, ...(payload === undefined ? {} : { payload }) } })
    .setProtectedHeader({ alg: "HS256" })
    .setExpirationTime("1h")
    .sign(new TextEncoder().encode(SUBSCRIBER_KEY));
}

interface Listed {
  readonly status: number;
  readonly headers: Headers;
  readonly body: any;
}

async function get(base: string, path: string, token?: string): Promise<Listed> {
  const response = await fetch(new URL(path, base), { headers: token === undefined ? {} : { authorization: `Bearer ${token}` } });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: text === "" ? undefined : JSON.parse(text) };
}

const topicPath = (topic: string) => `${SUBSCRIPTIONS}/${encodeURIComponent(topic)}`;
const stream = (base: string, topic: string) => connectSse(base, { path: `${HUB}?topic=${encodeURIComponent(topic)}` });

/** Opens an EventSource in the page that records each message's data. */
async function openEventSource(page: Page, name: string, url: string): Promise<void> {
  await page.evaluate(
    ([name, url]) => {
      const w = window as unknown as { got: Record<string, string[]>; opened: Record<string, boolean>; sources: Record<string, EventSource> };
      w.got ??= {};
      w.opened ??= {};
      w.sources ??= {};
      w.got[name] = [];
      const source = new EventSource(url);
      source.onmessage = (event) => w.got[name]!.push(event.data);
      source.onopen = () => (w.opened[name] = true);
      w.sources[name] = source;
    },
    [name, url] as const,
  );
  await page.waitForFunction((name) => (window as unknown as { opened: Record<string, boolean> }).opened[name] === true, name, { timeout: 5000 });
}

const receivedIn = (page: Page, name: string) => page.evaluate((name) => (window as unknown as { got: Record<string, string[]> }).got[name]!, name);

describe("the Mercure subscriptions API, three instances on Redis", { skip: withoutChromium, timeout: 120_000 }, () => {
  let redis: TestRedis;
  let a: GatewayProcess;
  let b: GatewayProcess;
  let chromium: RunningBrowser;
  let lister: string;
  const shared: Record<string, string> = {};

  before(async () => {
    redis = await startTestRedis();
    Object.assign(shared, {
      REDIS_URL: redis.url,
      REDIS_KEY_PREFIX: `mercure-subs-${randomUUID().slice(0, 8)}:`,
      MERCURE_PUBLISHER_JWT_KEY: PUBLISHER_KEY,
      MERCURE_SUBSCRIBER_JWT_KEY: SUBSCRIBER_KEY,
      MERCURE_ANONYMOUS: "1",
      MERCURE_SUBSCRIPTIONS: "1",
      MERCURE_SUBSCRIPTION_LEASE_MS: String(LEASE_MS),
    });
    [a, b] = await Promise.all([startGatewayProcess("a", shared), startGatewayProcess("b", shared)]);
    chromium = await launchChromium();
    lister = await subscriberToken([TEMPLATE]);
  });

  after(async () => {
    await chromium?.close();
    await Promise.all([a?.stop(), b?.stop()]);
    await redis?.stop();
  });

  it("lists every instance's subscriptions, one topic's and one subscription; 401 without a token, 403 when it does not match", async () => {
    await scenario(chromium.browser, "mercure-subscriptions-list", async ({ open }) => {
      const [mine, theirs] = [`https://example.com/books/${randomUUID()}`, `https://example.com/authors/${randomUUID()}`];
      const page = await open(`${a.url}/healthz`);
      const alice = await subscriberToken([mine], { user: "alice" });
      await openEventSource(page, "books", `${HUB}?topic=${encodeURIComponent(mine)}&topic=${encodeURIComponent("https://example.com/{x}")}&authorization=${alice}`);
      const other = await stream(b.url, theirs);
      try {
        const listed = await eventually(async () => {
          const answer = await get(b.url, SUBSCRIPTIONS, lister);
          const topics = (answer.body?.subscriptions ?? []).map((subscription: { topic: string }) => subscription.topic);
          return [mine, theirs, "https://example.com/{x}"].every((topic) => topics.includes(topic)) && answer;
        }, 5000, "both instances' subscriptions listed");
        assert.equal(listed.status, 200);
        assert.match(listed.headers.get("content-type") ?? "", /^application\/ld\+json/);
        assert.equal(listed.body["@context"], "https://mercure.rocks/");
        assert.equal(listed.body.id, SUBSCRIPTIONS);
        assert.equal(listed.body.type, "Subscriptions");
        assert.match(listed.body.lastEventID, /^#\d+-\d+$/);
        const book = listed.body.subscriptions.find((subscription: { topic: string }) => subscription.topic === mine);
        assert.deepEqual(Object.keys(book).sort(), ["active", "id", "payload", "subscriber", "topic", "type"]);
        assert.equal(book.type, "Subscription");
        assert.equal(book.active, true);
        assert.deepEqual(book.payload, { user: "alice" });
        assert.match(book.subscriber, /^urn:uuid:[0-9a-f-]{36}$/);
        assert.equal(book.id, `${topicPath(mine)}/${encodeURIComponent(book.subscriber)}`);
        // The same stream's other selector is another subscription of the same subscriber.
        assert.ok(listed.body.subscriptions.some((subscription: { topic: string; subscriber: string }) => subscription.topic === "https://example.com/{x}" && subscription.subscriber === book.subscriber));

        const ofTopic = await get(a.url, topicPath(theirs), lister);
        assert.equal(ofTopic.status, 200);
        assert.equal(ofTopic.body.id, topicPath(theirs));
        assert.deepEqual(ofTopic.body.subscriptions.map((subscription: { topic: string }) => subscription.topic), [theirs]);

        const one = await get(a.url, book.id, lister);
        assert.equal(one.status, 200);
        assert.deepEqual(one.body, { ...book, "@context": "https://mercure.rocks/", lastEventID: one.body.lastEventID });
        assert.match(one.body.lastEventID, /^#\d+-\d+$/);
        const missing = await get(a.url, `${topicPath(mine)}/${encodeURIComponent(`urn:uuid:${randomUUID()}`)}`, lister);
        assert.equal(missing.status, 404);
        assert.equal(missing.body.error, "not_found");

        const anonymous = await get(a.url, SUBSCRIPTIONS);
        assert.equal(anonymous.status, 401);
        assert.equal(anonymous.headers.get("www-authenticate"), "Bearer");
        assert.equal(anonymous.body.error, "token_missing");
        const unrelated = await get(a.url, SUBSCRIPTIONS, alice);
        assert.equal(unrelated.status, 403);
        assert.equal(unrelated.body.error, "subscriptions_not_allowed");
        assert.match(unrelated.headers.get("www-authenticate") ?? "", /insufficient_scope/);
        // A token for one topic's subscriptions reads those, not the whole list.
        const narrow = await subscriberToken([`${topicPath(mine)}{/subscriber}`]);
        assert.equal((await get(a.url, topicPath(mine), narrow)).status, 200);
        assert.equal((await get(a.url, book.id, narrow)).status, 200);
        assert.equal((await get(a.url, SUBSCRIPTIONS, narrow)).status, 403);
        assert.equal((await get(a.url, topicPath(theirs), narrow)).status, 403);

        // Closing the EventSource takes its subscriptions off the list.
        await page.evaluate(() => (window as unknown as { sources: Record<string, EventSource> }).sources.books!.close());
        await eventually(async () => (await get(b.url, topicPath(mine), lister)).body.subscriptions.length === 0, 5000, "the closed stream to leave the list");
      } finally {
        other.close();
      }
    });
  });

  it("the newer revision's matchers: subscriptions and their updates under .../subscriptions/{matchType}/{match}/{subscriber}", async () => {
    await scenario(chromium.browser, "mercure-subscriptions-matchers", async ({ open }) => {
      const exact = `https://example.com/exact/${randomUUID()}`;
      const pattern = `https://example.com/shelves-${randomUUID().slice(0, 8)}/:id`;
      const everything = await subscriberToken([`${SUBSCRIPTIONS}{/matchType}{/match}{/subscriber}`]);
      const page = await open(`${a.url}/healthz`);
      await openEventSource(page, "updates", `${HUB}?match_urlpattern=${encodeURIComponent(`${SUBSCRIPTIONS}/:matchType/:match/:subscriber`)}&authorization=${everything}`);
      const newer = await connectSse(b.url, { path: `${HUB}?match=${encodeURIComponent(exact)}&match_urlpattern=${encodeURIComponent(pattern)}` });
      try {
        const listed = await eventually(async () => {
          const answer = await get(a.url, SUBSCRIPTIONS, everything);
          const mine = answer.body.subscriptions.filter((subscription: { match?: string }) => subscription.match === exact || subscription.match === pattern);
          return mine.length === 2 && mine;
        }, 5000, "the matchers' subscriptions listed");
        const byPattern = listed.find((subscription: { matchType: string }) => subscription.matchType === "URLPattern");
        const byExact = listed.find((subscription: { matchType: string }) => subscription.matchType === "Exact");
        assert.equal(byPattern.id, `${SUBSCRIPTIONS}/URLPattern/${encodeURIComponent(pattern)}/${encodeURIComponent(byPattern.subscriber)}`);
        assert.equal(byExact.id, `${SUBSCRIPTIONS}/Exact/${encodeURIComponent(exact)}/${encodeURIComponent(byExact.subscriber)}`);
        assert.equal(byPattern.topic, undefined, "match and matchType in place of topic");
        const ofPattern = await get(b.url, `${SUBSCRIPTIONS}/URLPattern/${encodeURIComponent(pattern)}`, everything);
        assert.deepEqual(ofPattern.body.subscriptions, [byPattern]);
        assert.deepEqual((await get(b.url, `${SUBSCRIPTIONS}/Exact/${encodeURIComponent(pattern)}`, everything)).body.subscriptions, [], "another matcher type is another selector");
        assert.deepEqual((await get(b.url, topicPath(exact), everything)).body.subscriptions, [], "the 0.x path lists topic selectors only");
        const one = await get(a.url, byExact.id, everything);
        assert.deepEqual(one.body, { ...byExact, "@context": "https://mercure.rocks/", lastEventID: one.body.lastEventID });
        newer.close();
        const updates = await eventually(async () => {
          const got = (await receivedIn(page, "updates")).map((data) => JSON.parse(data) as { id: string; active: boolean; matchType: string; match: string });
          const mine = got.filter((update) => update.id === byPattern.id || update.id === byExact.id);
          return mine.length === 4 && mine;
        }, 5000, "both subscriptions' updates, start and end");
        assert.deepEqual(updates.filter((update) => update.id === byPattern.id).map((update) => [update.matchType, update.match, update.active]), [["URLPattern", pattern, true], ["URLPattern", pattern, false]]);
      } finally {
        newer.close();
      }
    });
  });

  it("a listing's lastEventID, then the subscription updates from it in Chromium, add up to the state however streams come and go meanwhile", async () => {
    await scenario(chromium.browser, "mercure-subscriptions-last-event-id", async ({ open }) => {
      const topic = `https://example.com/churn/${randomUUID()}`;
      const streams: SseConnection[] = [];
      const openOn = async (index: number) => streams.push(await stream(index % 2 === 0 ? a.url : b.url, topic));
      try {
        for (let i = 0; i < 4; i++) await openOn(i);
        // Streams open and close on both instances while the list is read.
        const churn = (async () => {
          for (let i = 0; i < 12; i++) {
            if (i % 3 === 2) streams.shift()!.close();
            else await openOn(i);
            await new Promise((resolve) => setTimeout(resolve, 5 + Math.random() * 20));
          }
        })();
        await new Promise((resolve) => setTimeout(resolve, 40));
        const listing = await get(a.url, topicPath(topic), lister);
        assert.equal(listing.status, 200);
        await churn;
        const page = await open(`${a.url}/healthz`);
        await openEventSource(page, "updates", `${HUB}?topic=${encodeURIComponent(TEMPLATE)}&lastEventID=${encodeURIComponent(listing.body.lastEventID)}&authorization=${lister}`);
        const expected = streams.length;
        const final = await eventually(async () => {
          const answer = await get(b.url, topicPath(topic), lister);
          return answer.body.subscriptions.length === expected && answer.body;
        }, 5000, `${expected} subscriptions of the topic`);
        const state = new Set<string>(listing.body.subscriptions.map((subscription: { id: string }) => subscription.id));
        await eventually(async () => {
          const folded = new Set(state);
          for (const data of await receivedIn(page, "updates")) {
            const update = JSON.parse(data) as { id: string; topic: string; active: boolean };
            if (update.topic !== topic) continue;
            if (update.active) folded.add(update.id);
            else folded.delete(update.id);
          }
          const wanted = final.subscriptions.map((subscription: { id: string }) => subscription.id).sort();
          return JSON.stringify([...folded].sort()) === JSON.stringify(wanted);
        }, 5000, "the listing plus the updates from its lastEventID to equal the final list");
        assert.ok(listing.body.subscriptions.length >= 1, "the listing was taken with streams open");
      } finally {
        for (const open of streams) open.close();
      }
    });
  });

  it("an instance killed with SIGKILL drops out of the list within the lease, and a live one announces the end of its subscriptions", async () => {
    const c = await startGatewayProcess("c", shared);
    const topic = `https://example.com/doomed/${randomUUID()}`;
    try {
      await scenario(chromium.browser, "mercure-subscriptions-sigkill", async ({ open }) => {
        const page = await open(`${a.url}/healthz`);
        await openEventSource(page, "updates", `${HUB}?topic=${encodeURIComponent(TEMPLATE)}&authorization=${lister}`);
        const doomed = await stream(c.url, topic);
        const listed = await eventually(async () => {
          const answer = await get(a.url, topicPath(topic), lister);
          return answer.body.subscriptions.length === 1 && answer.body.subscriptions[0];
        }, 5000, "c's subscription listed");
        c.signal("SIGKILL");
        await c.exited;
        const killedAt = Date.now();
        await eventually(async () => (await get(a.url, topicPath(topic), lister)).body.subscriptions.length === 0, LEASE_MS + 3000, "c's subscription to drop out");
        const elapsed = Date.now() - killedAt;
        assert.ok(elapsed <= LEASE_MS + 1000, `dropped out ${elapsed} ms after the kill (lease ${LEASE_MS} ms)`);
        const updates = async () => (await receivedIn(page, "updates")).map((data) => JSON.parse(data) as { id: string; active: boolean }).filter((update) => update.id === listed.id);
        await eventually(async () => (await updates()).some((update) => !update.active), LEASE_MS, "the end of c's subscription announced");
        await new Promise((resolve) => setTimeout(resolve, LEASE_MS / 2)); // room for a second announcement
        assert.deepEqual((await updates()).map((update) => update.active), [true, false], "started once, ended once");
        doomed.close();
      });
    } finally {
      await c.stop();
    }
  });

  it("with Redis down the listing answers 503 unavailable at once; once Redis is back the open streams are listed again", { skip: killableRedisSkipReason() }, async () => {
    const topic = `https://example.com/outage/${randomUUID()}`;
    const open = await stream(b.url, topic);
    try {
      await eventually(async () => (await get(a.url, topicPath(topic), lister)).body.subscriptions.length === 1, 5000, "the subscription listed");
      await redis.kill();
      const started = Date.now();
      const down = await get(a.url, topicPath(topic), lister);
      assert.equal(down.status, 503);
      assert.equal(down.body.error, "unavailable");
      assert.ok(down.headers.get("retry-after"));
      assert.ok(Date.now() - started < 2000, "no hang");
      await redis.start();
      // The data set came back empty: each instance writes its subscriptions anew.
      await eventually(async () => (await get(a.url, topicPath(topic), lister)).body?.subscriptions?.length === 1, 15_000, "the subscription listed again");
    } finally {
      open.close();
    }
  });
});
