import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { Redis } from "ioredis";
import { SignJWT } from "jose";
import { startGateway, type RunningGateway } from "../support/gateway.ts";
import { killableRedisSkipReason, startTestRedis, type TestRedis } from "../support/redis-server.ts";

/**
 * Mercure's promise under faults, from outside: two instances on one Redis, publishers' ids,
 * subscribers that hop between the instances with Last-Event-ID (as EventSource does when its
 * connection is cut), while Redis is killed and restarted and later paused. Every subscriber,
 * exact or template, receives every update exactly once and in order.
 */

const PUBLISHER_KEY = "mercure-publisher-key-long-enough-for-hs256";
const TOPIC = "https://example.com/items/1";
const UPDATES = 120;

interface Update {
  readonly id: string;
  readonly data: string;
}

/** Reads one stream until `stop` aborts it or it ends; hands each update to `onUpdate`. */
async function readStream(url: string, lastEventId: string | undefined, signal: AbortSignal, onUpdate: (update: Update) => void): Promise<number> {
  const response = await fetch(url, { headers: lastEventId === undefined ? {} : { "last-event-id": lastEventId }, signal });
  if (response.status !== 200) {
    await response.body?.cancel();
    return response.status;
  }
  const decoder = new TextDecoder();
  let buffer = "";
  try {
    for await (const chunk of response.body!) {
      buffer += decoder.decode(chunk as Uint8Array, { stream: true });
      let end: number;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const frame = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const id = /^id: (.*)$/m.exec(frame)?.[1];
        const data = [...frame.matchAll(/^data: (.*)$/gm)].map((line) => line[1]).join("\n");
        // An id-only frame moves the position (as an EventSource's lastEventId) without an event.
        if (id !== undefined) onUpdate({ id, data });
      }
    }
  } catch {
    // aborted, or the instance cut the stream: the caller reconnects
  }
  return 200;
}

/** A subscriber that reconnects to the other instance every `hopEvery` updates, and whenever its stream ends. */
function hoppingSubscriber(urls: readonly string[], query: string, hopEvery: number) {
  const received: string[] = [];
  let lastEventId: string | undefined;
  let stopped = false;
  let current: AbortController | undefined;
  const done = (async () => {
    for (let visit = 0; !stopped; visit++) {
      current = new AbortController();
      let inVisit = 0;
      const controller = current;
      const status = await readStream(`${urls[visit % urls.length]}/.well-known/mercure?${query}`, lastEventId, controller.signal, ({ id, data }) => {
        lastEventId = id;
        if (data === "") return;
        received.push(data);
        if (++inVisit >= hopEvery) controller.abort();
      }).catch(() => 0);
      if (status !== 200 || !controller.signal.aborted) await new Promise((resolve) => setTimeout(resolve, 200));
    }
  })();
  return {
    received,
    async stop() {
      stopped = true;
      current?.abort();
      await done;
    },
  };
}

describe("Mercure resume across two instances, with Redis killed and paused", { skip: killableRedisSkipReason(), timeout: 120_000 }, () => {
  let redis: TestRedis;
  let a: RunningGateway;
  let b: RunningGateway;

  before(async () => {
    redis = await startTestRedis({ persistent: true });
    const shared = { REDIS_URL: redis.url, REDIS_KEY_PREFIX: `mrf-${randomUUID().slice(0, 8)}:`, MERCURE_PUBLISHER_JWT_KEY: PUBLISHER_KEY, MERCURE_ANONYMOUS: "1", REDIS_COMMAND_TIMEOUT_MS: "500" };
    a = await startGateway(shared);
    b = await startGateway(shared);
  });
  after(async () => {
    await a?.stop();
    await b?.stop();
    await redis?.stop();
  });

  it("every subscriber receives every update once, in order", async () => {
    const token = await new SignJWT({ mercure: { publish: ["*"] } }).setProtectedHeader({ alg: "HS256" }).sign(new TextEncoder().encode(PUBLISHER_KEY));
    const urls = [a.url, b.url];
    const subscribers = [
      hoppingSubscriber(urls, `topic=${encodeURIComponent(TOPIC)}`, 17),
      hoppingSubscriber([b.url, a.url], `topic=${encodeURIComponent("https://example.com/items/{id}")}`, 23),
      hoppingSubscriber(urls, `match_urlpattern=${encodeURIComponent("https://example.com/items/:id")}`, 29),
    ];
    await new Promise((resolve) => setTimeout(resolve, 500));
    const control = new Redis(redis.url, { maxRetriesPerRequest: 1, lazyConnect: true, enableOfflineQueue: false });
    for (let index = 0; index < UPDATES; index++) {
      if (index === 40) {
        await redis.kill();
        setTimeout(() => void redis.start(), 1500);
      }
      if (index === 80) {
        await control.connect().catch(() => undefined);
        await control.call("CLIENT", "PAUSE", "1500", "ALL");
      }
      // A publisher retries an update it was not told was taken, under the same id.
      for (let attempt = 0; ; attempt++) {
        const answer = await fetch(`${urls[index % 2]}/.well-known/mercure`, {
          method: "POST",
          headers: { "content-type": "application/x-www-form-urlencoded", authorization: `Bearer ${token}` },
          body: new URLSearchParams([["topic", TOPIC], ["id", `u-${index}`], ["data", `update ${index}`]]).toString(),
        }).catch(() => undefined);
        if (answer?.status === 200) {
          assert.equal(await answer.text(), `u-${index}`);
          break;
        }
        await answer?.body?.cancel();
        assert.ok(attempt < 100, `update ${index} was not taken after 100 attempts (last ${answer?.status})`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
    control.disconnect();
    const expected = Array.from({ length: UPDATES }, (_, index) => `update ${index}`);
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline && subscribers.some((subscriber) => subscriber.received.length < UPDATES)) await new Promise((resolve) => setTimeout(resolve, 100));
    for (const subscriber of subscribers) await subscriber.stop();
    for (const [index, subscriber] of subscribers.entries()) assert.deepEqual(subscriber.received, expected, `subscriber ${index}`);
  });

  // A publish whose Redis command timed out answered 503 "nothing was accepted: retry", yet Redis
  // ran the script once it answered again: a publisher that retried as told sent the update twice.
  it("a publish that timed out in Redis says its update may have been taken, and a retry with the same id delivers it once", async () => {
    const token = await new SignJWT({ mercure: { publish: ["*"] } }).setProtectedHeader({ alg: "HS256" }).sign(new TextEncoder().encode(PUBLISHER_KEY));
    const topic = "https://example.com/items/timed-out";
    const subscriber = hoppingSubscriber([a.url], `topic=${encodeURIComponent(topic)}`, 1000);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const publish = (fields: [string, string][]) =>
      fetch(`${a.url}/.well-known/mercure`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded", authorization: `Bearer ${token}` },
        body: new URLSearchParams([["topic", topic], ...fields]).toString(),
      });
    const control = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    try {
    await control.call("CLIENT", "PAUSE", "1500", "ALL");
    const timedOut = await publish([["id", "maybe-taken"], ["data", "once"]]);
    assert.equal(timedOut.status, 503);
    const refusal = (await timedOut.json()) as { error: string; message: string };
    assert.equal(refusal.error, "unavailable");
    assert.match(refusal.message, /may have been taken/);
    assert.match(refusal.message, /same `id`/);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const retried = await publish([["id", "maybe-taken"], ["data", "once"]]);
    assert.equal(retried.status, 200);
    const ending = await publish([["data", "end"]]);
    assert.equal(ending.status, 200);
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline && !subscriber.received.includes("end")) await new Promise((resolve) => setTimeout(resolve, 50));
    } finally {
      control.disconnect();
      await subscriber.stop();
    }
    assert.deepEqual(subscriber.received, ["once", "end"], "the timed-out publish was taken: the retry under its id is not a second update");
  });

  // Resuming while Redis did not answer started the stream at the present with Last-Event-ID
  // "earliest": the updates after the client's id were never sent, though history held them.
  it("a subscriber resuming from a generated id while Redis does not answer gets every update after it", async () => {
    const token = await new SignJWT({ mercure: { publish: ["*"] } }).setProtectedHeader({ alg: "HS256" }).sign(new TextEncoder().encode(PUBLISHER_KEY));
    const topic = "https://example.com/items/resumed-in-outage";
    const publish = async (data: string) => {
      const answer = await fetch(`${b.url}/.well-known/mercure`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded", authorization: `Bearer ${token}` },
        body: new URLSearchParams([["topic", topic], ["data", data]]).toString(),
      });
      assert.equal(answer.status, 200);
      return answer.text();
    };
    const seen = await publish("seen");
    await publish("missed-1");
    await publish("missed-2");
    const control = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    const controller = new AbortController();
    try {
      await control.call("CLIENT", "PAUSE", "2000", "ALL");
      const stream = await fetch(`${a.url}/.well-known/mercure?topic=${encodeURIComponent(topic)}`, { headers: { "last-event-id": seen }, signal: controller.signal });
      assert.equal(stream.status, 200);
      assert.equal(stream.headers.get("last-event-id"), seen, "the stream resumes after the id asked for");
      const received: string[] = [];
      const reading = readStream(`${a.url}/.well-known/mercure?topic=${encodeURIComponent(topic)}`, seen, controller.signal, ({ data }) => void (data !== "" && received.push(data)));
      await stream.body?.cancel();
      await new Promise((resolve) => setTimeout(resolve, 2500));
      await publish("after");
      const deadline = Date.now() + 8000;
      while (Date.now() < deadline && !received.includes("after")) await new Promise((resolve) => setTimeout(resolve, 50));
      controller.abort();
      await reading;
      assert.deepEqual(received, ["missed-1", "missed-2", "after"]);
    } finally {
      controller.abort();
      control.disconnect();
    }
  });
});
