import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { SignJWT } from "jose";
import type { Page } from "playwright-core";
import { launchChromium, scenario, withoutChromium, type RunningBrowser } from "../support/browser.ts";
import { startGateway, type RunningGateway } from "../support/gateway.ts";
import { startTestRedis, type TestRedis } from "../support/redis-server.ts";
import { connectSse } from "../support/sse-client.ts";

/**
 * The Mercure hub as Mercure clients use it: Chromium EventSource subscribers and form-encoded
 * publishers, on two gateway instances sharing one spawned redis-server. Subscribers are on
 * instance A, publishers on instance B, so every delivery crosses Redis.
 */

const PUBLISHER_KEY = "mercure-publisher-key-long-enough-for-hs256!";
const SUBSCRIBER_KEY = "mercure-subscriber-key-long-enough-for-hs256";
const HUB = "/.well-known/mercure";
const ISSUER = "https://auth.example.com";
const AUDIENCE = "https://hub.example.com";

/** An OAuth access token of the newer revision (typ at+jwt, authorization_details). */
async function accessToken(details: unknown[], key: string, claims: Record<string, unknown> = {}): Promise<string> {
  return new SignJWT({ authorization_details: details, iss: ISSUER, aud: AUDIENCE, ...claims })
    .setProtectedHeader({ alg: "HS256", typ: "at+jwt" })
    .setExpirationTime("1h")
    .sign(new TextEncoder().encode(key));
}

async function mercureToken(claims: Record<string, unknown>, key: string, expiresIn?: string): Promise<string> {
  const jwt = new SignJWT(claims).setProtectedHeader({ alg: "HS256" });
  if (expiresIn !== undefined) jwt.setExpirationTime(expiresIn);
  return jwt.sign(new TextEncoder().encode(key));
}

/** A long-lived publisher token without `exp`, as Mercure publishers commonly hold. */
const publisherToken = (publish: string[] = ["*"]) => mercureToken({ mercure: { publish } }, PUBLISHER_KEY);

async function publishForm(url: string, fields: [string, string][], token?: string): Promise<{ status: number; body: string; headers: Headers }> {
  const response = await fetch(new URL(HUB, url), {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", authorization: `Bearer ${token ?? (await publisherToken())}` },
    body: new URLSearchParams(fields).toString(),
  });
  return { status: response.status, body: await response.text(), headers: response.headers };
}

/** Opens EventSources in the page; each records what it receives (the default event and the given types). */
async function subscribe(page: Page, name: string, query: string, types: string[] = []): Promise<void> {
  await page.evaluate(
    ([name, url, types]) => {
      const w = window as unknown as { got: Record<string, { type: string; data: string; id: string }[]>; sources: Record<string, EventSource>; opened: Record<string, boolean> };
      w.got ??= {};
      w.sources ??= {};
      w.opened ??= {};
      w.got[name] = [];
      const source = new EventSource(url, { withCredentials: true });
      const record = (event: MessageEvent) => w.got[name]!.push({ type: event.type, data: event.data, id: event.lastEventId });
      source.onmessage = record;
      for (const type of types) source.addEventListener(type, record);
      source.onopen = () => (w.opened[name] = true);
      w.sources[name] = source;
    },
    [name, query, types] as const,
  );
  await page.waitForFunction((name) => (window as unknown as { opened: Record<string, boolean> }).opened[name] === true, name, { timeout: 5000 });
}

async function received(page: Page, name: string): Promise<{ type: string; data: string; id: string }[]> {
  return page.evaluate((name) => (window as unknown as { got: Record<string, { type: string; data: string; id: string }[]> }).got[name]!, name);
}

async function waitReceived(page: Page, name: string, count: number): Promise<{ type: string; data: string; id: string }[]> {
  try {
    await page.waitForFunction(([name, count]) => (window as unknown as { got: Record<string, unknown[]> }).got[name]!.length >= count, [name, count] as const, { timeout: 5000 });
  } catch (error) {
    const got = await page.evaluate(() => (window as unknown as { got: unknown }).got);
    throw new Error(`${name} did not receive ${count} events; the page had ${JSON.stringify(got)}`, { cause: error });
  }
  return received(page, name);
}

describe("Mercure hub at /.well-known/mercure, two instances on Redis", { skip: withoutChromium, timeout: 60_000 }, () => {
  let redis: TestRedis;
  let a: RunningGateway;
  let b: RunningGateway;
  let chromium: RunningBrowser;

  before(async () => {
    redis = await startTestRedis();
    const shared = {
      REDIS_URL: redis.url,
      REDIS_KEY_PREFIX: `mercure-${randomUUID().slice(0, 8)}:`,
      MERCURE_PUBLISHER_JWT_KEY: PUBLISHER_KEY,
      MERCURE_SUBSCRIBER_JWT_KEY: SUBSCRIBER_KEY,
      MAX_CONNECTIONS_PER_USER: "2",
      MERCURE_SUBSCRIPTIONS: "1",
      MERCURE_TOKEN_ISSUER: ISSUER,
      MERCURE_TOKEN_AUDIENCE: AUDIENCE,
    };
    a = await startGateway({ ...shared, MERCURE_ANONYMOUS: "1" });
    b = await startGateway(shared);
    chromium = await launchChromium();
  });

  after(async () => {
    await chromium?.close();
    await a?.stop();
    await b?.stop();
    await redis?.stop();
  });

  it("delivers to exact, URI template and * selectors, by canonical or alternate topic, with multi-line data", async () => {
    await scenario(chromium.browser, "mercure-selectors", async ({ open }) => {
      const page = await open(`${a.url}/healthz`);
      const q = (...topics: string[]) => `${HUB}?${topics.map((topic) => `topic=${encodeURIComponent(topic)}`).join("&")}`;
      await subscribe(page, "exact", q("https://example.com/books/1"), ["book.updated"]);
      await subscribe(page, "template", q("https://example.com/books/{id}"), ["book.updated"]);
      await subscribe(page, "any", q("*"), ["book.updated"]);
      await subscribe(page, "alternate", q("urn:isbn:42"), ["book.updated"]);
      const data = "first line\n\n  indented\nlast";
      const published = await publishForm(b.url, [["topic", "https://example.com/books/1"], ["topic", "urn:isbn:42"], ["data", data], ["type", "book.updated"]]);
      assert.equal(published.status, 200, published.body);
      assert.match(published.headers.get("content-type") ?? "", /^text\/plain/);
      const generated = published.body;
      assert.match(generated, /^#\d+-\d+$/);
      assert.equal((await publishForm(b.url, [["topic", "https://example.com/books/1/reviews/3"], ["data", "nested"]])).status, 200);
      assert.equal((await publishForm(b.url, [["topic", "https://example.com/authors/9"], ["data", "author"]])).status, 200);
      const any = await waitReceived(page, "any", 3);
      assert.deepEqual(any.map((event) => event.data), [data, "nested", "author"]);
      assert.equal(any[0]!.type, "book.updated");
      assert.equal(any[0]!.id, generated);
      for (const name of ["exact", "template", "alternate"]) {
        const events = await received(page, name);
        assert.deepEqual(events.map((event) => event.data), [data], `${name} gets the book's update alone`);
      }
    });
  });

  it("private updates reach only subscribers whose mercure.subscribe matches; anonymous ones get public updates", async () => {
    await scenario(chromium.browser, "mercure-private", async ({ open, context }) => {
      const topic = "https://example.com/users/7/inbox";
      const allowed = await mercureToken({ mercure: { subscribe: ["https://example.com/users/7/{box}"] } }, SUBSCRIBER_KEY, "1h");
      const other = await mercureToken({ mercure: { subscribe: ["https://example.com/users/8/{box}"] } }, SUBSCRIBER_KEY, "1h");
      const page = await open(`${a.url}/healthz`);
      await subscribe(page, "anonymous", `${HUB}?topic=${encodeURIComponent(topic)}`);
      await subscribe(page, "other", `${HUB}?topic=${encodeURIComponent(topic)}&authorization=${other}`);
      await context.addCookies([{ name: "mercureAuthorization", value: allowed, url: a.url }]);
      await subscribe(page, "owner", `${HUB}?topic=${encodeURIComponent(topic)}`);
      assert.equal((await publishForm(b.url, [["topic", topic], ["data", "secret"], ["private", "on"]])).status, 200);
      assert.equal((await publishForm(b.url, [["topic", topic], ["data", "public"]])).status, 200);
      assert.deepEqual((await waitReceived(page, "owner", 2)).map((event) => event.data), ["secret", "public"]);
      assert.deepEqual((await waitReceived(page, "anonymous", 1)).map((event) => event.data), ["public"]);
      assert.deepEqual((await received(page, "other")).map((event) => event.data), ["public"]);
    });
  });

  it("resumes from a publisher's id (header and query), from a generated id and from earliest; the Last-Event-ID header says where", async () => {
    const topic = `https://example.com/resume/${randomUUID()}`;
    const selector = `${HUB}?topic=${encodeURIComponent(topic)}`;
    const ids = ["urn:uuid:" + randomUUID(), "urn:uuid:" + randomUUID()];
    for (const [index, id] of ids.entries()) assert.equal((await publishForm(b.url, [["topic", topic], ["data", `n${index}`], ["id", id]])).body, id);
    const generated = (await publishForm(b.url, [["topic", topic], ["data", "n2"]])).body;
    const path = (extra: string) => `${selector}${extra}`;
    const open = (extra: string, lastEventId?: string) =>
      connectSse(a.url, { path: path(extra), ...(lastEventId === undefined ? {} : { lastEventId }) });

    const byHeader = await open("", ids[0]);
    assert.equal(byHeader.status, 200);
    assert.equal(byHeader.headers["last-event-id"], ids[0]);
    assert.deepEqual((await byHeader.waitFor(2)).map((event) => [event.id, event.data]), [[ids[1], "n1"], [generated, "n2"]]);
    byHeader.close();

    const byQuery = await open(`&lastEventID=${encodeURIComponent(ids[1]!)}`);
    assert.equal(byQuery.headers["last-event-id"], ids[1]);
    assert.deepEqual((await byQuery.waitFor(1)).map((event) => event.data), ["n2"]);
    byQuery.close();

    const headerWins = await open(`&lastEventID=${encodeURIComponent(ids[1]!)}`, ids[0]);
    assert.deepEqual((await headerWins.waitFor(2)).map((event) => event.data), ["n1", "n2"]);
    headerWins.close();

    const fromGenerated = await open("", generated);
    assert.equal(fromGenerated.headers["last-event-id"], generated);
    fromGenerated.close();

    for (const id of ["earliest", "urn:uuid:never-published", "#1-0"]) {
      const earliest = await open("", id);
      assert.equal(earliest.status, 200, `${id} answers 200, never 4xx`);
      assert.equal(earliest.headers["last-event-id"], "earliest", id);
      assert.deepEqual((await earliest.waitFor(3)).map((event) => event.data), ["n0", "n1", "n2"], id);
      earliest.close();
    }

    const fresh = await open("");
    assert.match(String(fresh.headers["last-event-id"]), /^#\d+-\d+$/);
    fresh.close();
  });

  it("a repeated publisher id with the same content is one update; with other content, 409", async () => {
    const topic = `https://example.com/repeat/${randomUUID()}`;
    const stream = await connectSse(a.url, { path: `${HUB}?topic=${encodeURIComponent(topic)}` });
    const fields: [string, string][] = [["topic", topic], ["data", "once"], ["id", "order-1"]];
    assert.equal((await publishForm(b.url, fields)).body, "order-1");
    assert.equal((await publishForm(b.url, fields)).body, "order-1");
    assert.equal((await publishForm(b.url, [["topic", topic], ["data", "other"], ["id", "order-1"]])).status, 409);
    assert.equal((await publishForm(b.url, [["topic", topic], ["data", "after"]])).status, 200);
    assert.deepEqual((await stream.waitFor(2)).map((event) => event.data), ["once", "after"]);
    stream.close();
  });

  it("401 with WWW-Authenticate: Bearer without a token; 401 invalid_token for a bad one; 403 for a topic not allowed", async () => {
    const noToken = await fetch(new URL(`${HUB}?topic=x`, b.url));
    assert.equal(noToken.status, 401);
    // The hub takes access tokens here (MERCURE_TOKEN_ISSUER): the challenge points to its metadata.
    const challenge = `Bearer resource_metadata="${b.url}/.well-known/oauth-protected-resource/.well-known/mercure"`;
    assert.equal(noToken.headers.get("www-authenticate"), challenge);
    const badToken = await fetch(new URL(`${HUB}?topic=x`, b.url), { headers: { authorization: `Bearer ${await mercureToken({}, "a-wrong-key-that-is-long-enough-for-hs256!")}` } });
    assert.equal(badToken.status, 401);
    assert.match(badToken.headers.get("www-authenticate") ?? "", /error="invalid_token"/);
    const publisherKeyForSubscriber = await fetch(new URL(`${HUB}?topic=x`, b.url), { headers: { authorization: `Bearer ${await publisherToken()}` } });
    assert.equal(publisherKeyForSubscriber.status, 401, "each role has its own key");
    const unpublished = await fetch(new URL(HUB, b.url), { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: "topic=x&data=y" });
    assert.equal(unpublished.status, 401);
    assert.equal(unpublished.headers.get("www-authenticate"), challenge);
    const forbidden = await publishForm(b.url, [["topic", "https://example.com/admin"], ["data", "x"]], await publisherToken(["https://example.com/books/{id}"]));
    assert.equal(forbidden.status, 403);
    const invalid = await publishForm(b.url, [["topic", "a"], ["id", "#mine"]]);
    assert.equal(invalid.status, 400);
    assert.equal(JSON.parse(invalid.body).error, "invalid_body");
    const noTopic = await fetch(new URL(HUB, a.url));
    assert.equal(noTopic.status, 400);
  });

  it("a token's exp ends the stream; anonymous streams share no per-user cap", async () => {
    const shortLived = await mercureToken({ sub: "short" }, SUBSCRIBER_KEY, "2s");
    const stream = await connectSse(b.url, { path: `${HUB}?topic=x`, token: shortLived });
    assert.equal(stream.status, 200);
    await stream.ended;
    assert.ok(stream.raw().includes("gateway.token-expired"));
    const anonymous = await Promise.all([1, 2, 3].map(() => connectSse(a.url, { path: `${HUB}?topic=x` })));
    assert.deepEqual(anonymous.map((connection) => connection.status), [200, 200, 200], "three anonymous streams over MAX_CONNECTIONS_PER_USER=2");
    for (const connection of anonymous) connection.close();
  });

  it("newer revision: match (no template expansion), match_urlpattern, last_event_id and Mercure-Last-Event-ID; an unknown match parameter is 400", async () => {
    await scenario(chromium.browser, "mercure-newer-revision", async ({ open }) => {
      const page = await open(`${a.url}/healthz`);
      await subscribe(page, "match", `${HUB}?match=${encodeURIComponent("https://example.com/v1/{id}")}`);
      await subscribe(page, "pattern", `${HUB}?match_urlpattern=${encodeURIComponent("https://example.com/v1/:id")}`);
      await subscribe(page, "relative", `${HUB}?matchURLPattern=${encodeURIComponent("/v1/:id")}`);
      const first = (await publishForm(b.url, [["topic", "https://example.com/v1/1"], ["data", "one"]])).body;
      assert.equal((await publishForm(b.url, [["topic", "https://example.com/v1/{id}"], ["data", "literal"]])).status, 200);
      assert.equal((await publishForm(b.url, [["topic", "/v1/2"], ["data", "relative"]])).status, 200);
      // A URL Pattern's :id matches the literal {id} segment too; `match` does not expand templates.
      assert.deepEqual((await waitReceived(page, "pattern", 2)).map((event) => event.data), ["one", "literal"]);
      assert.deepEqual((await waitReceived(page, "match", 1)).map((event) => event.data), ["literal"]);
      assert.deepEqual((await waitReceived(page, "relative", 1)).map((event) => event.data), ["relative"]);
      const resumed = await connectSse(a.url, { path: `${HUB}?match_urlpattern=${encodeURIComponent("https://example.com/v1/:id")}&last_event_id=${encodeURIComponent(first)}` });
      assert.equal(resumed.headers["mercure-last-event-id"], first);
      assert.equal(resumed.headers["last-event-id"], first);
      resumed.close();
    });
    for (const query of ["match_regex=.*", "MATCH=x", "match_urlpattern=" + encodeURIComponent("https://example.com/(")]) {
      const response = await fetch(new URL(`${HUB}?${query}`, a.url));
      assert.equal(response.status, 400, query);
      assert.equal(((await response.json()) as { error: string }).error, "invalid_request");
    }
  });

  it("newer revision: OAuth access tokens (at+jwt, authorization_details) with MERCURE_TOKEN_ISSUER and MERCURE_TOKEN_AUDIENCE", async () => {
    const topic = "https://example.com/at/1";
    const subscriber = await accessToken([{ type: "mercure", actions: ["subscribe"], topics: [{ match: "https://example.com/at/:id", matchType: "URLPattern" }] }], SUBSCRIBER_KEY);
    const stream = await connectSse(a.url, { path: `${HUB}?match=${encodeURIComponent(topic)}`, token: subscriber });
    assert.equal(stream.status, 200);
    const publisher = await accessToken([{ type: "mercure", actions: ["publish"], topics: [{ match: topic }] }], PUBLISHER_KEY);
    assert.equal((await publishForm(b.url, [["topic", topic], ["data", "private"], ["private", "on"]], publisher)).status, 200);
    assert.equal((await publishForm(b.url, [["topic", "https://example.com/at/2"], ["data", "x"]], publisher)).status, 403, "outside the publish grant");
    assert.deepEqual((await stream.waitFor(1)).map((event) => event.data), ["private"]);
    stream.close();
    const wrongAudience = await accessToken([], SUBSCRIBER_KEY, { aud: "https://other.example.com" });
    const broken = await accessToken([{ type: "mercure", actions: ["read"], topics: [{ match: topic }] }], SUBSCRIBER_KEY);
    for (const token of [wrongAudience, broken]) {
      const response = await fetch(new URL(`${HUB}?match=x`, a.url), { headers: { authorization: `Bearer ${token}` } });
      assert.equal(response.status, 401);
      assert.match(response.headers.get("www-authenticate") ?? "", /invalid_token/);
    }
  });

  it("subscription updates reach authorised subscribers on every instance when a subscription starts and ends; publishers cannot forge them", async () => {
    const watcherToken = await mercureToken({ mercure: { subscribe: ["/.well-known/mercure/subscriptions{/topic}{/subscriber}"] } }, SUBSCRIBER_KEY, "1h");
    const watcher = await connectSse(a.url, { path: `${HUB}?topic=${encodeURIComponent("/.well-known/mercure/subscriptions{/topic}{/subscriber}")}`, token: watcherToken });
    const anonymousWatcher = await connectSse(a.url, { path: `${HUB}?topic=*` });
    const chat = `https://example.com/chat/${randomUUID()}`;
    const payloadToken = await mercureToken({ mercure: { payload: { user: "ada" } } }, SUBSCRIBER_KEY, "1h");
    const member = await connectSse(b.url, { path: `${HUB}?topic=${encodeURIComponent(chat)}`, token: payloadToken });
    const [started] = await watcher.waitFor(1, (event) => event.data.includes(chat));
    const description = JSON.parse(started!.data);
    assert.equal(description.type, "Subscription");
    assert.equal(description.topic, chat);
    assert.equal(description.active, true);
    assert.deepEqual(description.payload, { user: "ada" });
    assert.match(description.subscriber, /^urn:uuid:/);
    assert.equal(description.id, `/.well-known/mercure/subscriptions/${encodeURIComponent(chat)}/${encodeURIComponent(description.subscriber)}`);
    member.close();
    const [ended] = await watcher.waitFor(1, (event) => event.data.includes(chat) && JSON.parse(event.data).active === false);
    assert.equal(JSON.parse(ended!.data).subscriber, description.subscriber);
    const forged = await publishForm(b.url, [["topic", "/.well-known/mercure/subscriptions/x/y"], ["data", "{}"]]);
    assert.equal(forged.status, 403);
    const absolute = await publishForm(b.url, [["topic", "https://hub.example.com/.well-known/mercure/subscriptions/x/y"], ["data", "{}"]]);
    assert.equal(absolute.status, 403);
    assert.equal(anonymousWatcher.events.filter((event) => event.data.includes("Subscription")).length, 0, "subscription updates are private");
    watcher.close();
    anonymousWatcher.close();
  });
});
