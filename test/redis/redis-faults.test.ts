import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Redis } from "ioredis";
import { comparePositions, parseEventId } from "../../src/events/event-id.ts";
import { REFETCH_EVENT } from "../../src/hub/hub.ts";
import { publish, token } from "../support/gateway.ts";
import { startGatewayGroup, type GatewayGroup } from "../support/redis-cluster.ts";
import { killableRedisSkipReason, startTestRedis } from "../support/redis-server.ts";
import { connectSse, type ReceivedEvent, type SseConnection } from "../support/sse-client.ts";
import { eventually, readyz } from "../support/wait.ts";

const skip = killableRedisSkipReason();

const dataEvents = (event: ReceivedEvent) => !event.event?.startsWith("gateway.");
const sequence = (events: readonly ReceivedEvent[]) => events.filter(dataEvents).map((event) => JSON.parse(event.data).n as number);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface WatchedStream {
  readonly connection: SseConnection;
  ended: boolean;
}

async function watch(url: string, sub: string, topics: string[] = []): Promise<WatchedStream> {
  const connection = await connectSse(url, { token: await token({ sub, topics: ["*"] }), topics });
  assert.equal(connection.status, 200);
  const stream = { connection, ended: false };
  void connection.ended.then(() => (stream.ended = true));
  return stream;
}

/** Publishes event n until it is accepted, as a well-behaved publisher retries a 503; counts the 503s. */
async function publishUntilAccepted(group: GatewayGroup, n: number, refusals: number[]): Promise<void> {
  const body = { users: ["ivy"], topics: ["feed"], type: "tick", data: { n }, id: `tick-${n}` };
  const deadline = Date.now() + 20_000;
  for (let attempt = 0; ; attempt++) {
    const response = await publish(group.instances[(n + attempt) % group.instances.length]!.url, body);
    if (response.status === 202) return;
    assert.equal(response.status, 503, `unexpected answer ${response.status}: ${JSON.stringify(response.body)}`);
    refusals.push(n);
    assert.ok(Date.now() < deadline, `event ${n} was never accepted`);
    await sleep(100);
  }
}

describe("Redis faults", { skip, timeout: 90_000 }, () => {
  test("Redis absent at start: the gateway starts, /readyz says why, and it becomes ready by itself", async () => {
    const redis = await startTestRedis({ startStopped: true });
    const group = await startGatewayGroup(redis.url, 1, {}, false);
    const url = group.instances[0]!.url;
    try {
      const absent = await readyz(url);
      assert.equal(absent.status, 503);
      const bus = absent.body.failing.find((check) => check.name === "bus");
      assert.match(bus?.reason ?? "", /Redis .*connection to redis:\/\/127\.0\.0\.1:\d+ is down/);
      assert.equal((await publish(url, { users: ["kim"], type: "tick", data: { n: 0 } })).status, 503);
      // A stream opened meanwhile stays open and starts receiving once Redis is there.
      const early = await watch(url, "kim");

      await redis.start();
      await eventually(async () => (await readyz(url)).status === 200, 15_000, "readiness after Redis started");
      const first = await publish(url, { users: ["kim"], type: "tick", data: { n: 1 } });
      assert.equal(first.status, 202);
      // The stream began before this Redis data set did, so its catch-up may announce a gap
      // (gateway.refetch); event 1 then arrives unless the refetch position already covers it.
      const covers = (event: ReceivedEvent) =>
        event.event === REFETCH_EVENT && comparePositions(parseEventId(event.id!)!, parseEventId(first.body.id)!) >= 0;
      await early.connection.waitFor(1, (event) => (dataEvents(event) && JSON.parse(event.data).n === 1) || covers(event), 5000);
      assert.deepEqual(sequence(early.connection.events).filter((n) => n !== 1), [], "no event but event 1 so far");
      assert.equal((await publish(url, { users: ["kim"], type: "tick", data: { n: 2 } })).status, 202);
      await early.connection.waitFor(1, (event) => dataEvents(event) && JSON.parse(event.data).n === 2, 5000);
      assert.equal(early.ended, false);
      early.connection.close();
    } finally {
      await group.stop();
      await redis.stop();
    }
  });

  test("Redis killed and restarted mid-stream: streams stay open and every accepted event arrives once, in order", async () => {
    const redis = await startTestRedis({ persistent: true });
    const group = await startGatewayGroup(redis.url, 2);
    const [a, b] = group.instances.map((instance) => instance.url) as [string, string];
    const streams = [await watch(a, "ivy"), await watch(b, "ivy", ["feed"]), await watch(b, "joe", ["feed"])];
    const refusals: number[] = [];
    const total = 60;
    let restarted: Promise<void> | undefined;
    try {
      for (let n = 0; n < total; n++) {
        if (n === 20) {
          await redis.kill();
          await eventually(async () => (await readyz(a)).status === 503 && (await readyz(b)).status === 503, 5000, "both not ready");
          restarted = sleep(1500).then(() => redis.start());
        }
        await publishUntilAccepted(group, n, refusals);
      }
      await restarted;
      assert.ok(refusals.length > 0, "publishes during the outage must be refused with 503");
      for (const stream of streams) {
        await stream.connection.waitFor(total, dataEvents, 15_000);
        await sleep(200); // room for a repeat to show up
        assert.deepEqual(sequence(stream.connection.events), [...Array(total).keys()]);
        assert.deepEqual(stream.connection.events.filter((event) => !dataEvents(event)), []);
        assert.equal(stream.ended, false, "the stream stayed open through the outage");
      }
      await eventually(async () => (await readyz(a)).status === 200, 5000, "ready again after the outage");
    } finally {
      for (const stream of streams) stream.connection.close();
      await group.stop();
      await redis.stop();
    }
  });

  test("Redis restarted empty (data lost): streams get gateway.refetch, then every later event once", async () => {
    const redis = await startTestRedis({ persistent: false });
    const group = await startGatewayGroup(redis.url, 2);
    const [a, b] = group.instances.map((instance) => instance.url) as [string, string];
    const streams = [await watch(a, "ivy"), await watch(b, "joe", ["feed"])];
    const refusals: number[] = [];
    try {
      for (let n = 0; n < 10; n++) await publishUntilAccepted(group, n, refusals);
      for (const stream of streams) await stream.connection.waitFor(10, dataEvents);
      await redis.kill();
      const restarted = sleep(1000).then(() => redis.start());
      for (let n = 10; n < 30; n++) await publishUntilAccepted(group, n, refusals);
      await restarted;
      // The events of the lost data set cannot be vouched for: the client refetches its state as
      // of the refetch event's id (which may already cover every event above), then gets every later event.
      for (const stream of streams) await stream.connection.waitFor(1, (event) => event.event === REFETCH_EVENT, 10_000);
      await publishUntilAccepted(group, 30, refusals);
      for (const stream of streams) {
        const refetch = stream.connection.events.find((event) => event.event === REFETCH_EVENT);
        await stream.connection.waitFor(1, (event) => dataEvents(event) && JSON.parse(event.data).n === 30, 10_000);
        await sleep(200);
        const received = sequence(stream.connection.events);
        const afterRefetch = sequence(stream.connection.events.slice(stream.connection.events.indexOf(refetch!)));
        assert.deepEqual(received.slice(0, 10), [...Array(10).keys()], "everything before the loss arrived live");
        assert.ok(afterRefetch.length > 0);
        const first = afterRefetch[0]!;
        assert.deepEqual(afterRefetch, [...Array(31 - first).keys()].map((i) => i + first), "after the refetch, every event once, in order");
        assert.equal(new Set(received).size, received.length, "no event twice");
        assert.equal(stream.ended, false);
      }
    } finally {
      for (const stream of streams) stream.connection.close();
      await group.stop();
      await redis.stop();
    }
  });

  test("a Redis that stops answering: publish fails fast with 503, readiness drops, and all recovers", async () => {
    const redis = await startTestRedis();
    const group = await startGatewayGroup(redis.url, 1, { REDIS_COMMAND_TIMEOUT_MS: "300" });
    const url = group.instances[0]!.url;
    const stream = await watch(url, "lou");
    const admin = new Redis(redis.url);
    try {
      assert.equal((await publish(url, { users: ["lou"], type: "tick", data: { n: -1 } })).status, 202);
      await stream.connection.waitFor(1, dataEvents);
      // Longer than the subscriber connection's PING interval, so the stall is noticed there too.
      await admin.call("CLIENT", "PAUSE", "6000", "ALL");
      const started = Date.now();
      const stalled = await publish(url, { users: ["lou"], type: "tick", data: { n: 0 }, id: "paused-0" });
      assert.equal(stalled.status, 503);
      assert.ok(Date.now() - started < 1500, `a stalled Redis must not hold the publisher (${Date.now() - started} ms)`);
      // The subscriber connection's PING goes unanswered, so it is replaced and readiness drops.
      await eventually(async () => (await readyz(url)).status === 503, 8000, "not ready while Redis is stalled");
      await eventually(async () => (await readyz(url)).status === 200, 15_000, "ready after Redis answers again");
      assert.equal((await publish(url, { users: ["lou"], type: "tick", data: { n: 0 }, id: "paused-0" })).status, 202);
      assert.equal((await publish(url, { users: ["lou"], type: "tick", data: { n: 1 } })).status, 202);
      await stream.connection.waitFor(3, dataEvents, 5000);
      await sleep(200);
      // Whether Redis ran the timed-out publish after the pause or not, the retry with the same id makes it one event.
      assert.deepEqual(sequence(stream.connection.events), [-1, 0, 1]);
      assert.deepEqual(stream.connection.events.filter((event) => !dataEvents(event)), []);
      assert.equal(stream.ended, false);
    } finally {
      admin.disconnect();
      stream.connection.close();
      await group.stop();
      await redis.stop();
    }
  });
  test("a publish Redis refuses for good (a key of the wrong type) answers 500 bus_rejected, not a generic error, and other publishes flow", async () => {
    const redis = await startTestRedis();
    const group = await startGatewayGroup(redis.url, 1);
    const url = group.instances[0]!.url;
    const admin = new Redis(redis.url);
    try {
      await admin.set(`${group.env.REDIS_KEY_PREFIX}ids:u:wrong-type`, "not a stream");
      const refused = await publish(url, { users: ["wrong-type"], type: "tick", data: { n: 0 }, id: "rejected-0" });
      assert.equal(refused.status, 500);
      assert.equal(refused.body.error, "bus_rejected");
      assert.match(refused.body.message, /WRONGTYPE/);
      assert.match(refused.body.message, /retrying .* does not help/);
      assert.equal((await publish(url, { users: ["fine"], type: "tick", data: { n: 1 } })).status, 202);
      // Nothing of the refused publish was kept: once the cause is gone, the same id is a new event, delivered.
      await admin.del(`${group.env.REDIS_KEY_PREFIX}ids:u:wrong-type`);
      const stream = await watch(url, "wrong-type");
      const retried = await publish(url, { users: ["wrong-type"], type: "tick", data: { n: 0 }, id: "rejected-0" });
      assert.equal(retried.status, 202);
      assert.equal(retried.body.duplicate, false);
      await stream.connection.waitFor(1, dataEvents, 5000);
      assert.deepEqual(sequence(stream.connection.events), [0]);
      stream.connection.close();
    } finally {
      admin.disconnect();
      await group.stop();
      await redis.stop();
    }
  });
});
