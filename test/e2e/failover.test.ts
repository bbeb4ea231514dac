import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { launchChromium, scenario, waitForDemo, withoutChromium, type DemoState, type RunningBrowser } from "../support/browser.ts";
import { demoUrl, inCluster } from "../support/cluster.ts";
import type { Front } from "../support/front.ts";
import { publish } from "../support/gateway.ts";
import type { GatewayProcess } from "../support/gateway-process.ts";
import { startTestRedis, type TestRedis } from "../support/redis-server.ts";

/**
 * Failover and rolling restart as the browser sees them: gateway instances as child processes
 * (`node src/main.ts`) on one spawned redis-server, a small load balancer in front, the demo page
 * in Chromium, events published all along.
 */

const PUBLISH_EVERY_MS = 100;

/**
 * Publishes one event through `url` with an idempotency key, trying again with the same key when
 * the answer is lost or refused, as a careful publisher does: the returned id is the event's,
 * whether or not an earlier try already published it.
 */
async function publishOnce(url: () => string, body: Record<string, unknown>): Promise<string> {
  const key = randomUUID();
  let lastFailure = "";
  for (let attempt = 0; attempt < 20; attempt++) {
    const result = await publish(url(), { ...body, id: key }).catch((error: Error) => ({ status: 0, body: error.message }));
    if (result.status === 202) return result.body.id as string;
    lastFailure = `${result.status} ${JSON.stringify(result.body)}`;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`publishing failed 20 times; last: ${lastFailure}`);
}

/** Publishes an event for `user` every 100 ms until stopped; `ids` are the published events, in order. */
function keepPublishing(url: () => string, user: string): { ids: string[]; stop(): Promise<void> } {
  const ids: string[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      ids.push(await publishOnce(url, { users: [user], type: "greeting", data: { n: ids.length } }));
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

async function sleep(ms: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms));
}

function eventIds(state: DemoState): string[] {
  return state.events.map((event) => event.id);
}

/** The instance that holds the page's current stream, as the front routed it. */
function holderOf(front: Front, instances: readonly GatewayProcess[]): GatewayProcess {
  const name = front.streams.at(-1)?.upstream;
  const holder = instances.find((instance) => instance.name === name);
  assert.ok(holder, `the front routed no stream to a known instance (${name})`);
  return holder;
}

describe("the demo page in Chromium through failover and rolling restart", { skip: withoutChromium, timeout: 180_000 }, () => {
  let chromium: RunningBrowser;
  let redis: TestRedis;

  before(async () => {
    chromium = await launchChromium();
    redis = await startTestRedis();
  });

  after(async () => {
    await redis?.stop();
    await chromium?.close();
  });

  test("(3) failover: the instance holding the stream is SIGKILLed; the page resumes on the other with every event once, in order", async () => {
    await inCluster(redis.url, async (cluster) => {
      const env = { RETRY_MS: "500" };
      await cluster.start("A", env);
      await cluster.start("B", env);
      const front = await cluster.startFront(cluster.instances);
      await scenario(chromium.browser, "3-failover-sigkill", async ({ open }) => {
        const page = await open(demoUrl(front, "carol"));
        await waitForDemo(page, (state) => state.state === "open", "the stream to open");
        const holder = holderOf(front, cluster.instances);
        const publisher = keepPublishing(() => front.url, "carol");
        await sleep(800);
        holder.signal("SIGKILL");
        assert.equal((await holder.exited).signal, "SIGKILL");
        await waitForDemo(page, (state) => state.opens >= 2, "the page to reconnect", 15_000);
        await sleep(800);
        await publisher.stop();

        const state = await waitForDemo(page, (state) => state.events.length >= publisher.ids.length, `all ${publisher.ids.length} events`);
        assert.deepEqual(eventIds(state), publisher.ids, "every event exactly once, in order");
        const resumed = front.streams.at(-1)!;
        assert.notEqual(resumed.upstream, holder.name, "the stream moved to the surviving instance");
        assert.ok(resumed.lastEventId, "the browser resumed with Last-Event-ID");
        assert.ok(publisher.ids.length >= 10, `events kept being published (${publisher.ids.length})`);
      });
    });
  });

  test("(4) rolling restart with SIGTERM: the page sees the drain, comes back after the jittered retry, loses nothing", async () => {
    await inCluster(redis.url, async (cluster) => {
      const env = { RETRY_MS: "300", SHUTDOWN_GRACE_MS: "1500" };
      const originals = [await cluster.start("A", env), await cluster.start("B", env)];
      const front = await cluster.startFront(originals);
      await scenario(chromium.browser, "4-rolling-restart", async ({ open }) => {
        const page = await open(demoUrl(front, "dave"));
        await waitForDemo(page, (state) => state.state === "open", "the stream to open");
        const publisher = keepPublishing(() => front.url, "dave");
        await sleep(500);

        // Replace each original instance in turn, the one holding the page's stream first,
        // as a deployment does: the new task is up before the old one is told to stop.
        const first = holderOf(front, originals);
        let serving = [...originals];
        for (const old of [first, ...originals.filter((instance) => instance !== first)]) {
          serving = [...serving, await cluster.start(`${old.name}2`, env)];
          front.setUpstreams(serving);
          // Its /readyz turns 503 at once, so the front stops sending it new requests.
          old.signal("SIGTERM");
          assert.deepEqual(await old.exited, { code: 0, signal: null }, `${old.name} exits 0 after the drain`);
          serving = serving.filter((instance) => instance !== old);
          front.setUpstreams(serving);
          if (old === first) await waitForDemo(page, (state) => state.opens >= 2, "the page to come back after the drain", 15_000);
          await sleep(500);
        }
        await publisher.stop();

        const state = await waitForDemo(page, (state) => state.events.length >= publisher.ids.length, `all ${publisher.ids.length} events`);
        assert.deepEqual(eventIds(state), publisher.ids, "every event exactly once, in order");
        const drains = state.controls.filter((control) => control.type === "gateway.draining");
        assert.ok(drains.length >= 1, "the page saw gateway.draining");
        for (const drain of drains) {
          const reopenedAt = state.openedAt.find((at) => at > drain.at);
          assert.ok(reopenedAt, "the page reopened after the drain");
          // The browser waits the retry the drain announced (timer slack allowed) before reconnecting.
          const waitedMs = reopenedAt - drain.at;
          assert.ok(waitedMs >= drain.data.retryMs * 0.9 - 50, `reopened ${waitedMs} ms after a drain announcing ${drain.data.retryMs} ms`);
        }
        assert.ok(front.streams.at(-1)!.lastEventId, "the browser resumed with Last-Event-ID");
      });
    });
  });
});
