import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Redis } from "ioredis";
import { REFETCH_EVENT } from "../../src/hub/hub.ts";
import { publish, token } from "../support/gateway.ts";
import { startGatewayGroup } from "../support/redis-cluster.ts";
import { startTestRedis, type TestRedis } from "../support/redis-server.ts";
import { connectSse, type ReceivedEvent, type SseConnection } from "../support/sse-client.ts";

let redis: TestRedis;
before(async () => {
  redis = await startTestRedis();
});
after(async () => {
  await redis.stop();
});

const dataEvents = (event: ReceivedEvent) => !event.event?.startsWith("gateway.");
const sequence = (events: readonly ReceivedEvent[]) => events.filter(dataEvents).map((event) => JSON.parse(event.data).n as number);
const ids = (events: readonly ReceivedEvent[]) => events.filter(dataEvents).map((event) => event.id!);

function assertIncreasingIds(events: readonly ReceivedEvent[]): void {
  const positions = ids(events).map((id) => id.split("-").map(Number) as [number, number]);
  for (let i = 1; i < positions.length; i++) {
    const [ms, seq] = positions[i]!;
    const [prevMs, prevSeq] = positions[i - 1]!;
    assert.ok(ms > prevMs || (ms === prevMs && seq > prevSeq), `ids must grow: ${ids(events).join(", ")}`);
  }
}

async function subscribe(url: string, sub: string, topics: string[] = [], lastEventId?: string): Promise<SseConnection> {
  const connection = await connectSse(url, { token: await token({ sub, topics: ["*"] }), topics, lastEventId });
  assert.equal(connection.status, 200);
  return connection;
}

describe("several instances on one Redis", { timeout: 60_000 }, () => {
  test("an event published on any instance reaches every matching stream on every instance once, in order", async () => {
    const group = await startGatewayGroup(redis.url, 3);
    const [a, b, c] = group.instances.map((instance) => instance.url) as [string, string, string];
    const clients = [await subscribe(a, "ann"), await subscribe(b, "ann", ["news"]), await subscribe(c, "bob", ["news"])];
    try {
      const total = 30;
      for (let n = 0; n < total; n++) {
        // Addressed to ann and to the topic: the stream on b watches both and must see it once.
        const response = await publish(group.instances[n % 3]!.url, { users: ["ann"], topics: ["news"], type: "tick", data: { n } });
        assert.equal(response.status, 202);
      }
      for (const client of clients) {
        const events = await client.waitFor(total, dataEvents);
        await new Promise((resolve) => setTimeout(resolve, 200)); // room for a repeat to show up
        assert.deepEqual(sequence(client.events), [...Array(total).keys()]);
        assertIncreasingIds(events);
      }
    } finally {
      for (const client of clients) client.close();
      await group.stop();
    }
  });

  test("a client resuming on another instance gets what it missed, then live events, no gap and no repeat", async () => {
    const group = await startGatewayGroup(redis.url, 2);
    const [a, b] = group.instances.map((instance) => instance.url) as [string, string];
    const first = await subscribe(a, "cara", ["news"]);
    let next = 0;
    const publishNext = async () => {
      const n = next++;
      const response = await publish(n % 2 === 0 ? a : b, { topics: ["news"], type: "tick", data: { n } });
      assert.equal(response.status, 202);
    };
    for (let i = 0; i < 5; i++) await publishNext();
    const seen = await first.waitFor(5, dataEvents);
    first.close();
    for (let i = 0; i < 5; i++) await publishNext();
    // Publishing goes on while the client reconnects: replay and live part must meet exactly.
    let publishing = true;
    const background = (async () => {
      while (publishing && next < 60) await publishNext();
    })();
    const resumed = await subscribe(b, "cara", ["news"], seen.at(-1)!.id);
    await new Promise((resolve) => setTimeout(resolve, 300));
    publishing = false;
    await background;
    await publishNext();
    try {
      const expected = next - 5;
      await resumed.waitFor(expected, dataEvents);
      await new Promise((resolve) => setTimeout(resolve, 200));
      assert.deepEqual(sequence(resumed.events), [...Array(expected).keys()].map((i) => i + 5));
      assertIncreasingIds(resumed.events);
      assert.equal(resumed.events.filter((event) => event.event === REFETCH_EVENT).length, 0);
    } finally {
      resumed.close();
      await group.stop();
    }
  });

  test("the same publisher id sent to two instances at once is delivered once, and both get its event id", async () => {
    const group = await startGatewayGroup(redis.url, 2);
    const [a, b] = group.instances.map((instance) => instance.url) as [string, string];
    const client = await subscribe(b, "dan");
    try {
      const body = { users: ["dan"], type: "order.paid", data: { order: 7 }, id: "evt-7" };
      const responses = await Promise.all([publish(a, body), publish(b, body), publish(a, body)]);
      for (const response of responses) assert.equal(response.status, 202);
      assert.equal(new Set(responses.map((response) => response.body.id)).size, 1);
      assert.equal(responses.filter((response) => response.body.duplicate === false).length, 1);
      await publish(a, { users: ["dan"], type: "marker", data: { n: 1 } });
      await client.waitFor(1, (event) => event.event === "marker");
      assert.deepEqual(client.events.map((event) => event.event), ["order.paid", "marker"]);
      assert.equal(client.events[0]!.id, responses[0]!.body.id);
    } finally {
      client.close();
      await group.stop();
    }
  });

  test("history keeps HISTORY_MAX_EVENTS per channel; resuming behind it gets gateway.refetch", async () => {
    const group = await startGatewayGroup(redis.url, 2, { HISTORY_MAX_EVENTS: "3" });
    const [a, b] = group.instances.map((instance) => instance.url) as [string, string];
    const published: string[] = [];
    for (let n = 0; n < 6; n++) published.push((await publish(a, { users: ["eve"], type: "tick", data: { n } })).body.id);
    const withinHistory = await subscribe(b, "eve", [], published[2]);
    const behindHistory = await subscribe(b, "eve", [], published[1]);
    try {
      await withinHistory.waitFor(3, dataEvents);
      assert.deepEqual(sequence(withinHistory.events), [3, 4, 5]);
      const [refetch] = await behindHistory.waitFor(1, (event) => event.event === REFETCH_EVENT);
      assert.equal(JSON.parse(refetch!.data).reason, "history-gap");
      assert.equal(refetch!.id, published[5], "the refetch carries the newest id, so the next resume starts there");
      assert.deepEqual(sequence(behindHistory.events), []);
    } finally {
      withinHistory.close();
      behindHistory.close();
      await group.stop();
    }
  });

  test("history keeps events for HISTORY_MAX_AGE_MS; older positions get gateway.refetch", async () => {
    const group = await startGatewayGroup(redis.url, 2, { HISTORY_MAX_AGE_MS: "1000" });
    const [a, b] = group.instances.map((instance) => instance.url) as [string, string];
    const old = (await publish(a, { users: ["fay"], topics: ["quiet"], type: "tick", data: { n: 0 } })).body.id;
    const older = (await publish(a, { users: ["fay"], type: "tick", data: { n: 1 } })).body.id;
    await new Promise((resolve) => setTimeout(resolve, 1300));
    const fresh = (await publish(a, { users: ["fay"], type: "tick", data: { n: 2 } })).body.id;
    const fromTrimmed = await subscribe(b, "fay", [], old);
    // The topic's history key has expired whole: a position that old cannot be vouched for.
    const fromExpiredTopic = await subscribe(b, "gus", ["quiet"], older);
    const fromFresh = await subscribe(b, "fay", [], fresh);
    try {
      await fromTrimmed.waitFor(1, (event) => event.event === REFETCH_EVENT);
      await fromExpiredTopic.waitFor(1, (event) => event.event === REFETCH_EVENT);
      await publish(a, { users: ["fay"], type: "tick", data: { n: 3 } });
      await fromFresh.waitFor(1, dataEvents);
      assert.deepEqual(sequence(fromFresh.events), [3]);
      assert.equal(fromFresh.events.filter((event) => event.event === REFETCH_EVENT).length, 0);
    } finally {
      for (const client of [fromTrimmed, fromExpiredTopic, fromFresh]) client.close();
      await group.stop();
    }
  });

  test("a position from before the Redis data set began (data lost) gets gateway.refetch", async () => {
    const group = await startGatewayGroup(redis.url, 1);
    const url = group.instances[0]!.url;
    const before = (await publish(url, { users: ["hal"], type: "tick", data: { n: 0 } })).body.id;
    const admin = new Redis(redis.url);
    try {
      const keys = await admin.keys(`${group.env.REDIS_KEY_PREFIX}*`);
      assert.ok(keys.length >= 3, `expected the bus's keys, found ${keys.join(", ")}`);
      await admin.del(...keys);
      await publish(url, { users: ["hal"], type: "tick", data: { n: 1 } });
      const client = await subscribe(url, "hal", [], before);
      await client.waitFor(1, (event) => event.event === REFETCH_EVENT);
      assert.deepEqual(sequence(client.events), []);
      client.close();
    } finally {
      admin.disconnect();
      await group.stop();
    }
  });
});
