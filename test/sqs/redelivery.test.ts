import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { test } from "node:test";
import { connectSse } from "../support/sse-client.ts";
import { token } from "../support/gateway.ts";
import { eventBridgeEvent, metricValue, untilQueueEmpty, userEvents, withSqsGateway } from "../support/sqs.ts";

const MAX_RECEIVE_COUNT = 2;
const fixture = withSqsGateway({
  queue: { maxReceiveCount: MAX_RECEIVE_COUNT },
  env: { SQS_VISIBILITY_TIMEOUT_SECONDS: "2", MAX_EVENT_BYTES: "256" },
});

test("an EventBridge event the queue delivers twice reaches the stream once", { timeout: 15_000 }, async () => {
  const stream = await connectSse(fixture.gateway.url, { token: await token({ sub: "dana" }) });
  try {
    const event = eventBridgeEvent("order.shipped", { userId: "dana", orderId: "7" });
    await fixture.sqs.send(fixture.queue, event);
    await fixture.sqs.send(fixture.queue, event);
    await fixture.sqs.send(fixture.queue, eventBridgeEvent("order.other", { userId: "dana" }));
    await stream.waitFor(2, userEvents);
    await untilQueueEmpty(fixture.sqs, fixture.queue.url);
    await new Promise((resolve) => setTimeout(resolve, 100));
    const shipped = stream.events.filter((received) => received.event === "order.shipped");
    assert.equal(shipped.length, 1, "the repeat was recognised by its EventBridge id");
    assert.equal(await metricValue(fixture.gateway.url, 'sse_gateway_events_duplicate_total{source="sqs"}'), 1);
    assert.equal(await metricValue(fixture.gateway.url, "sse_gateway_sqs_messages_delivered_total"), 3, "both copies were deleted");
  } finally {
    stream.close();
  }
});

test("poison messages end on the dead-letter queue while good ones around them flow", { timeout: 30_000 }, async () => {
  const stream = await connectSse(fixture.gateway.url, { token: await token({ sub: "erin" }) });
  const poison: Record<string, string> = {
    not_json: `not json ${randomUUID()}`,
    unknown_shape: JSON.stringify({ hello: randomUUID() }),
    no_recipient: JSON.stringify(eventBridgeEvent("nobody.cares", { fileId: randomUUID() })),
    too_large: JSON.stringify(eventBridgeEvent("too.large", { userId: "erin", blob: "x".repeat(300) })),
    invalid: JSON.stringify(eventBridgeEvent("gateway.spoofed", { userId: "erin" })),
  };
  try {
    const sentAt = Date.now();
    for (const [index, body] of Object.values(poison).entries()) {
      await fixture.sqs.send(fixture.queue, body);
      await fixture.sqs.send(fixture.queue, eventBridgeEvent("good.event", { userId: "erin", index }));
    }
    const good = await stream.waitFor(5, (event) => event.event === "good.event");
    assert.ok(Date.now() - sentAt < 2000, "good messages did not wait behind the poison ones");
    assert.deepEqual(good.map((event) => JSON.parse(event.data).index).sort(), [0, 1, 2, 3, 4]);

    const deadLettered: string[] = [];
    const deadline = Date.now() + 20_000;
    while (deadLettered.length < 5 && Date.now() < deadline) deadLettered.push(...(await fixture.sqs.drain(fixture.queue.dlqUrl, 1)));
    assert.deepEqual(deadLettered.sort(), Object.values(poison).sort(), "every poison message, and only those, reached the DLQ");
    await untilQueueEmpty(fixture.sqs, fixture.queue.url);
    for (const reason of Object.keys(poison)) {
      const failures = await metricValue(fixture.gateway.url, `sse_gateway_sqs_messages_failed_total{reason="${reason}"}`);
      assert.equal(failures, MAX_RECEIVE_COUNT, `${reason}: counted on each of its receives`);
    }
    assert.equal(stream.events.filter(userEvents).filter((event) => event.event !== "good.event").length, 0);
    assert.equal((await fetch(new URL("/readyz", fixture.gateway.url))).status, 200, "poison does not make the consumer unready");
  } finally {
    stream.close();
  }
});
