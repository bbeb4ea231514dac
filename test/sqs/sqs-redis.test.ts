import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Redis } from "ioredis";
import { connectSse, type SseConnection } from "../support/sse-client.ts";
import { token } from "../support/gateway.ts";
import { startGatewayGroup, type GatewayGroup } from "../support/redis-cluster.ts";
import { killableRedisSkipReason, startTestRedis, type TestRedis } from "../support/redis-server.ts";
import { eventBridgeEvent, metricValue, startSqs, untilQueueEmpty, userEvents, type TestSqs } from "../support/sqs.ts";
import { eventually, readyz } from "../support/wait.ts";

const skip = killableRedisSkipReason();

const indices = (connection: SseConnection, type: string) =>
  connection.events.filter((event) => event.event === type).map((event) => JSON.parse(event.data).index as number);
const range = (count: number) => [...Array(count).keys()];

describe("SQS with the Redis bus", { skip, timeout: 60_000 }, () => {
  let sqs: TestSqs;
  let redis: TestRedis;
  let group: GatewayGroup | undefined;

  before(async () => {
    sqs = await startSqs();
    redis = await startTestRedis();
  });

  after(async () => {
    await group?.stop();
    await redis?.stop();
    await sqs?.stop();
  });

  test("Redis down while messages arrive: none is deleted, all are delivered after recovery", async () => {
    const queue = await sqs.createQueue({ maxReceiveCount: 3 });
    group = await startGatewayGroup(redis.url, 1, { ...sqs.gatewayEnv(queue), SQS_VISIBILITY_TIMEOUT_SECONDS: "2" });
    const url = group.instances[0]!.url;
    const stream = await connectSse(url, { token: await token({ sub: "gina" }) });
    try {
      await sqs.send(queue, eventBridgeEvent("before", { userId: "gina" }));
      await stream.waitFor(1, (event) => event.event === "before");

      await redis.kill();
      const count = 8;
      for (const index of range(count)) await sqs.send(queue, eventBridgeEvent("during", { userId: "gina", index }));
      // Each receive loop holds the batch it took; the rest stay on the queue until the loops are free.
      const held = await eventually(async () => {
        const sqsCheck = (await readyz(url)).body.failing.find((check) => check.name === "sqs");
        return sqsCheck?.reason.startsWith("holding") ? sqsCheck.reason : undefined;
      }, 5000, "the consumer to report held messages");
      assert.match(held, /^holding \d+ messages until the bus takes events again$/);
      // Longer than the visibility timeout: held messages stay hidden, so SQS does not hand them out
      // again; what another consumer can see now are only messages no gateway received yet.
      await new Promise((resolve) => setTimeout(resolve, 3000));
      const waiting = await sqs.count(queue.url);
      assert.equal(waiting.visible + waiting.inFlight, count, "nothing was deleted while the bus was down");
      const visible = await sqs.peek(queue.url);
      assert.ok(visible.length < count, "some messages are held by the gateway");
      assert.deepEqual(visible.filter((message) => message.receiveCount > 1), [], "no held message became visible again");
      assert.ok(await metricValue(url, 'sse_gateway_sqs_messages_failed_total{reason="bus_unavailable"}') > 0);
      assert.equal(await metricValue(url, "sse_gateway_sqs_messages_delivered_total"), 1);

      await redis.start();
      await stream.waitFor(count, (event) => event.event === "during", 20_000);
      await untilQueueEmpty(sqs, queue.url, 20_000);
      assert.deepEqual(indices(stream, "during").sort((a, b) => a - b), range(count), "each delivered once");
      assert.deepEqual(await sqs.drain(queue.dlqUrl, 0), [], "the outage did not push messages to the DLQ");
      await eventually(async () => (await readyz(url)).status === 200, 10_000, "ready again");
    } finally {
      stream.close();
      await redis.start();
      await group.stop();
      group = undefined;
    }
  });

  test("two instances consume one queue; clients on both get every event once", async () => {
    const queue = await sqs.createQueue();
    group = await startGatewayGroup(redis.url, 2, sqs.gatewayEnv(queue));
    const [first, second] = group.instances as [typeof group.instances[0], typeof group.instances[0]];
    const onFirst = await connectSse(first.url, { token: await token({ sub: "hank" }) });
    const onSecond = await connectSse(second.url, { token: await token({ sub: "hank", topics: ["news"] }), topics: ["news"] });
    try {
      const count = 40;
      for (const index of range(count)) {
        await sqs.send(queue, eventBridgeEvent("fanned", index % 4 === 0 ? { topic: "news", index } : { userId: "hank", index }));
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      await onSecond.waitFor(count, (event) => event.event === "fanned", 15_000);
      await onFirst.waitFor(count - count / 4, (event) => event.event === "fanned", 15_000);
      await untilQueueEmpty(sqs, queue.url);
      await new Promise((resolve) => setTimeout(resolve, 100));
      assert.deepEqual(indices(onSecond, "fanned").sort((a, b) => a - b), range(count));
      assert.deepEqual(indices(onFirst, "fanned").sort((a, b) => a - b), range(count).filter((index) => index % 4 !== 0));
      assert.equal(onFirst.events.filter(userEvents).length, count - count / 4, "nothing else, nothing twice");
      const consumed = await Promise.all(group.instances.map((instance) => metricValue(instance.url, "sse_gateway_sqs_messages_delivered_total")));
      assert.equal(consumed[0]! + consumed[1]!, count, `each message consumed once: ${consumed}`);
      assert.ok(consumed[0]! > 0 && consumed[1]! > 0, `both instances consumed: ${consumed}`);
    } finally {
      onFirst.close();
      onSecond.close();
    }
  });

  test("an event the bus refuses for good leaves its message to the redrive policy at once, counted, while the others flow", async () => {
    const queue = await sqs.createQueue({ maxReceiveCount: 2, visibilityTimeoutSeconds: 2 });
    const refusing = await startGatewayGroup(redis.url, 1, { ...sqs.gatewayEnv(queue), SQS_VISIBILITY_TIMEOUT_SECONDS: "2" });
    const url = refusing.instances[0]!.url;
    // A key of the wrong type where the user's history should be: every publish to that user is refused.
    const admin = new Redis(redis.url);
    await admin.set(`${refusing.env.REDIS_KEY_PREFIX}ids:u:broken`, "not a stream");
    const stream = await connectSse(url, { token: await token({ sub: "ivan" }) });
    try {
      const refused = eventBridgeEvent("refused", { userId: "broken" });
      await sqs.send(queue, refused);
      for (const index of range(5)) await sqs.send(queue, eventBridgeEvent("fine", { userId: "ivan", index }));
      await stream.waitFor(5, (event) => event.event === "fine", 10_000);
      // Received twice (once per visibility timeout, never kept hidden longer), then the redrive policy moves it.
      const dead = await eventually(async () => {
        const bodies = await sqs.drain(queue.dlqUrl, 1);
        return bodies.length > 0 ? bodies : undefined;
      }, 15_000, "the refused message in the DLQ");
      assert.deepEqual(dead.map((body) => JSON.parse(body).id), [refused.id]);
      assert.equal(await metricValue(url, 'sse_gateway_sqs_messages_failed_total{reason="bus_rejected"}'), 2);
      assert.equal(await metricValue(url, 'sse_gateway_sqs_messages_failed_total{reason="bus_unavailable"}'), 0);
      assert.equal(await metricValue(url, "sse_gateway_sqs_messages_delivered_total"), 5);
    } finally {
      stream.close();
      admin.disconnect();
      await refusing.stop();
    }
  });
});
