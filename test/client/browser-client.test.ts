import assert from "node:assert/strict";
import type http from "node:http";
import { after, before, describe, test } from "node:test";
import { SignJWT } from "jose";
import type { Page } from "playwright-core";
import { APP_TOKEN_PATH, serveAppTokens } from "../support/app-tokens.ts";
import { demoState, launchChromium, scenario, waitForDemo, withoutChromium, type RunningBrowser } from "../support/browser.ts";
import { startFront, type Front } from "../support/front.ts";
import { publish, startGateway, type RunningGateway } from "../support/gateway.ts";
import { eventually } from "../support/wait.ts";

/**
 * The browser client (client/, through the demo page that runs on it) in Chromium against a
 * real in-process gateway behind the test front. The front also answers the application's token
 * endpoint and, where a test asks, stands in for the gateway refusing a reconnect with 429 or 503
 * (as the gateway or an ALB does under load); the 401 comes from the gateway itself.
 */

const PUBLISH_EVERY_MS = 80;

interface Refusal {
  readonly status: number;
  readonly retryAfterSeconds: number;
}

/** What the front saw of GET /events: when each arrived and whether it was refused. */
interface Attempt {
  readonly at: number;
  readonly refused?: number;
}

class Harness {
  gateway!: RunningGateway;
  front!: Front;
  readonly attempts: Attempt[] = [];
  readonly refusals: Refusal[] = [];
  /** Subscriber tokens still to hand out signed with a key the gateway does not know. */
  forgedTokens = 0;

  async start(): Promise<void> {
    this.gateway = await startGateway({ MAX_CONNECTIONS_PER_USER: "20" });
    this.front = await startFront([{ name: "A", url: this.gateway.url }], { local: (request, response) => this.#local(request, response) });
  }

  async stop(): Promise<void> {
    await this.front?.close();
    await this.gateway?.stop();
  }

  page(sub: string, extra = ""): string {
    return `${this.front.url}/?sub=${sub}&tokenUrl=${APP_TOKEN_PATH}${extra}`;
  }

  async openStreams(): Promise<number> {
    const text = await (await fetch(`${this.gateway.url}/metrics`)).text();
    return Number(/^sse_gateway_open_streams (\d+)/m.exec(text)?.[1]);
  }

  /** Waits until the earlier scenarios' streams are closed, so that counts start from zero. */
  async noStreams(): Promise<void> {
    await eventually(async () => (await this.openStreams()) === 0, 10_000, "no stream open at the gateway");
  }

  async authFailures(): Promise<number> {
    const text = await (await fetch(`${this.gateway.url}/metrics`)).text();
    return [...text.matchAll(/^sse_gateway_auth_failures_total\{[^}]*\} (\d+)/gm)].reduce((sum, match) => sum + Number(match[1]), 0);
  }

  #local(request: http.IncomingMessage, response: http.ServerResponse): boolean {
    const url = new URL(request.url ?? "/", "http://front");
    if (url.pathname === "/events") {
      const refusal = this.refusals.shift();
      this.attempts.push({ at: Date.now(), ...(refusal && { refused: refusal.status }) });
      if (!refusal) return false;
      response
        .writeHead(refusal.status, { "content-type": "application/json", "retry-after": String(refusal.retryAfterSeconds) })
        .end(JSON.stringify({ error: refusal.status === 429 ? "too_many_streams" : "unavailable", message: "refused by the test" }));
      return true;
    }
    if (url.pathname === APP_TOKEN_PATH && url.searchParams.get("role") !== "publisher" && this.forgedTokens > 0) {
      this.forgedTokens--;
      new SignJWT({ sub: url.searchParams.get("sub") ?? "x", topics: ["*"] })
        .setProtectedHeader({ alg: "HS256" })
        .setExpirationTime("1h")
        .sign(new TextEncoder().encode("a-secret-the-gateway-does-not-know-at-all"))
        .then((token) => response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ token })));
      return true;
    }
    return serveAppTokens(request, response);
  }
}

/** Publishes to `user` every 80 ms until stopped; `ids` are the published events in order. */
function keepPublishing(url: string, user: string): { ids: string[]; stop(): Promise<void> } {
  const ids: string[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      const result = await publish(url, { users: [user], type: "note.added", data: { n: ids.length } });
      assert.equal(result.status, 202);
      ids.push(result.body.id);
      await new Promise((resolve) => setTimeout(resolve, PUBLISH_EVERY_MS));
    }
  })();
  return {
    ids,
    async stop() {
      running = false;
      await loop;
    },
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function receivedIds(page: Page, count: number, what: string): Promise<string[]> {
  const state = await waitForDemo(page, (state) => state.events.length >= count, `${count} events on ${what}`, 15_000);
  return state.events.map((event) => event.id);
}

describe("the browser client in Chromium", { skip: withoutChromium, timeout: 120_000 }, () => {
  let chromium: RunningBrowser;
  const harness = new Harness();

  before(async () => {
    chromium = await launchChromium();
    await harness.start();
  });

  after(async () => {
    await harness.stop();
    await chromium?.close();
  });

  test("a reload mid-stream resumes from the id kept in sessionStorage: nothing lost, nothing repeated", async () => {
    await scenario(chromium.browser, "client-reload", async ({ open, context }) => {
      // What the page's handlers received, across reloads (window.demo starts empty on each load),
      // written where the page itself keeps it: a message to the test could be lost in the unload.
      await context.addInitScript(() => {
        let demo: { events: { id: string }[] } | undefined;
        Object.defineProperty(window, "demo", {
          configurable: true,
          get: () => demo,
          set(value: { events: { id: string }[] }) {
            demo = value;
            const push = value.events.push.bind(value.events);
            value.events.push = (...events) => {
              const seen = JSON.parse(sessionStorage.getItem("test-delivered") ?? "[]") as string[];
              sessionStorage.setItem("test-delivered", JSON.stringify([...seen, ...events.map((event) => event.id)]));
              return push(...events);
            };
          },
        });
      });
      const delivered = async () => JSON.parse((await page.evaluate(() => sessionStorage.getItem("test-delivered"))) ?? "[]") as string[];
      const page = await open(harness.page("rita"));
      await waitForDemo(page, (state) => state.state === "open", "the stream to open");
      const publisher = keepPublishing(harness.gateway.url, "rita");
      await sleep(600);
      await page.reload();
      await waitForDemo(page, (state) => state.state === "open", "the stream to open after the reload");
      await sleep(600);
      await publisher.stop();
      await eventually(async () => (await delivered()).length >= publisher.ids.length, 10_000, `all ${publisher.ids.length} events delivered`).catch(
        async (error: Error) => {
          throw new Error(`${error.message}: published ${publisher.ids.join(" ")}, delivered ${(await delivered()).join(" ")}`);
        },
      );
      await sleep(200);
      assert.deepEqual(await delivered(), publisher.ids, "every event exactly once, in order, across the reload");
      const resumed = harness.front.streams.at(-1)!;
      assert.ok(resumed.lastEventId, "the reloaded page resumed from its last id");
    });
  });

  for (const share of ["leader", "worker"] as const) {
    test(`three tabs of one user share one stream (${share}); every tab gets every event; closing the first tab hands over without loss`, async () => {
      await scenario(chromium.browser, `client-three-tabs-${share}`, async ({ open }) => {
        const user = `tabs-${share}`;
        await harness.noStreams();
        const first = await open(harness.page(user, `&share=${share}`));
        await waitForDemo(first, (state) => state.state === "open", "the first tab's stream");
        const others = [await open(harness.page(user, `&share=${share}`)), await open(harness.page(user, `&share=${share}`))];
        for (const tab of others) await waitForDemo(tab, (state) => state.state === "open", "a later tab to see the stream open");
        assert.equal(await harness.openStreams(), 1, "one stream at the gateway for three tabs");

        const publisher = keepPublishing(harness.gateway.url, user);
        await sleep(700);
        const beforeClose = publisher.ids.length;
        const firstIds = await receivedIds(first, beforeClose, "the first tab");
        const streamsBefore = harness.front.streams.length;
        await first.close();
        await sleep(1200);
        await eventually(async () => (await harness.openStreams()) === 1, 5000, "one stream again after the first tab closed");
        await sleep(300);
        await publisher.stop();

        assert.deepEqual(firstIds.slice(0, beforeClose), publisher.ids.slice(0, beforeClose), "the first tab had every event while open");
        for (const [n, tab] of others.entries()) {
          assert.deepEqual(await receivedIds(tab, publisher.ids.length, `tab ${n + 2}`), publisher.ids, `tab ${n + 2}: every event once, in order`);
        }
        assert.equal(await harness.openStreams(), 1, "still one stream");
        const opened = harness.front.streams.slice(streamsBefore);
        if (share === "leader") {
          assert.equal(opened.length, 1, "the next leader opened the stream again");
          assert.ok(opened[0]!.lastEventId, "from the last id it had");
        } else assert.equal(opened.length, 0, "the worker kept the stream open");
        for (const tab of others) await tab.close();
      });
    });
  }

  test("the worker script cannot load (moved by a bundler, refused by a CSP): the tabs fall back on a leader tab", async () => {
    await scenario(chromium.browser, "client-worker-missing", async ({ open, context }) => {
      await context.route("**/client/worker.js", (route) => route.fulfill({ status: 404, body: "not here" }));
      await harness.noStreams();
      const tabs = [await open(harness.page("wanda")), await open(harness.page("wanda"))];
      for (const tab of tabs) await waitForDemo(tab, (state) => state.state === "open", "a tab's stream");
      assert.equal(await harness.openStreams(), 1, "one stream for both tabs");
      const held = await tabs[0]!.evaluate(async () => (await navigator.locks.query()).held?.map((lock) => lock.name));
      assert.ok(held?.some((name) => name?.startsWith("sse-gateway-client ")), `a tab leads: ${held}`);
      const id = (await publish(harness.gateway.url, { users: ["wanda"], type: "note.added", data: {} })).body.id;
      for (const tab of tabs) assert.deepEqual(await receivedIds(tab, 1, "a tab"), [id]);
    });
  });

  test("a worker that never answers (its script loads but serves no one): the tabs fall back on a leader tab", async () => {
    await scenario(chromium.browser, "client-worker-silent", async ({ open, context }) => {
      await context.route("**/client/worker.js", (route) => route.fulfill({ status: 200, contentType: "text/javascript", body: "// serves no one\n" }));
      await harness.noStreams();
      const tabs = [await open(harness.page("wendy")), await open(harness.page("wendy"))];
      for (const tab of tabs) await waitForDemo(tab, (state) => state.state === "open", "a tab's stream");
      assert.equal(await harness.openStreams(), 1, "one stream for both tabs");
      const id = (await publish(harness.gateway.url, { users: ["wendy"], type: "note.added", data: {} })).body.id;
      for (const tab of tabs) assert.deepEqual(await receivedIds(tab, 1, "a tab"), [id]);
    });
  });

  test("tabs of one user asking for different topics get a stream each, each with its own events", async () => {
    await scenario(chromium.browser, "client-topics", async ({ open }) => {
      await harness.noStreams();
      const news = await open(harness.page("tess", "&topics=news"));
      const sport = await open(harness.page("tess", "&topics=sport"));
      const alsoNews = await open(harness.page("tess", "&topics=news"));
      for (const tab of [news, sport, alsoNews]) await waitForDemo(tab, (state) => state.state === "open", "a tab's stream");
      assert.equal(await harness.openStreams(), 2, "one stream per distinct topic set");
      const forNews = (await publish(harness.gateway.url, { topics: ["news"], type: "headline", data: {} })).body.id;
      const forSport = (await publish(harness.gateway.url, { topics: ["sport"], type: "score", data: {} })).body.id;
      const forTess = (await publish(harness.gateway.url, { users: ["tess"], type: "note.added", data: {} })).body.id;
      assert.deepEqual(await receivedIds(news, 2, "the news tab"), [forNews, forTess]);
      assert.deepEqual(await receivedIds(alsoNews, 2, "the other news tab"), [forNews, forTess]);
      assert.deepEqual(await receivedIds(sport, 2, "the sport tab"), [forSport, forTess]);
    });
  });

  test("the gateway refuses reconnects with 429 and 503: the client waits their Retry-After and resumes without loss", async () => {
    await scenario(chromium.browser, "client-429-503", async ({ open }) => {
      const page = await open(harness.page("rhea"));
      await waitForDemo(page, (state) => state.state === "open", "the stream to open");
      const publisher = keepPublishing(harness.gateway.url, "rhea");
      await sleep(400);
      const from = harness.attempts.length;
      harness.refusals.push({ status: 429, retryAfterSeconds: 1 }, { status: 503, retryAfterSeconds: 1 });
      assert.equal(harness.front.cut("A"), 1, "the front cut the page's stream");
      await waitForDemo(page, (state) => state.opens >= 2, "the stream back", 15_000);
      await sleep(400);
      await publisher.stop();

      const attempts = harness.attempts.slice(from);
      assert.deepEqual(attempts.slice(0, 3).map((attempt) => attempt.refused), [429, 503, undefined], "429, then 503, then accepted");
      for (const n of [1, 2]) {
        const waited = attempts[n]!.at - attempts[n - 1]!.at;
        assert.ok(waited >= 950, `attempt ${n + 1} came ${waited} ms after a refusal with Retry-After: 1`);
      }
      assert.deepEqual(await receivedIds(page, publisher.ids.length, "the page"), publisher.ids, "every event once, in order");
      assert.equal((await demoState(page)).state, "open");
    });
  });

  test("the gateway answers 401 to a reconnect with a bad token: the client fetches a fresh one and resumes without loss", async () => {
    await scenario(chromium.browser, "client-401", async ({ open }) => {
      // A 4 s token: the client renews it early, and the renewal hands it a token the gateway refuses.
      const page = await open(harness.page("remy", "&ttl=4"));
      await waitForDemo(page, (state) => state.state === "open", "the stream to open");
      const failuresBefore = await harness.authFailures();
      harness.forgedTokens = 1;
      const publisher = keepPublishing(harness.gateway.url, "remy");
      await waitForDemo(page, (state) => state.opens >= 2, "the stream back with a good token", 15_000);
      await sleep(400);
      await publisher.stop();
      assert.equal(harness.forgedTokens, 0, "the client took the forged token");
      assert.ok((await harness.authFailures()) > failuresBefore, "the gateway refused it with 401");
      assert.deepEqual(await receivedIds(page, publisher.ids.length, "the page"), publisher.ids, "every event once, in order");
    });
  });
});
