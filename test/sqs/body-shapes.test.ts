import assert from "node:assert/strict";
import { test } from "node:test";
import { connectSse, type SseConnection } from "../support/sse-client.ts";
import { token } from "../support/gateway.ts";
import { eventBridgeEvent, snsNotification, untilQueueEmpty, userEvents, withSqsGateway } from "../support/sqs.ts";

const fixture = withSqsGateway();

async function subscribe(sub: string, topics: string[] = []): Promise<SseConnection> {
  const connection = await connectSse(fixture.gateway.url, { token: await token({ sub, topics: ["reports", "files/*"] }), topics });
  assert.equal(connection.status, 200);
  return connection;
}

test("every body shape reaches exactly the streams it names", { timeout: 20_000 }, async () => {
  const alice = await subscribe("alice");
  const bob = await subscribe("bob", ["reports"]);
  const carol = await subscribe("carol", ["files/42"]);
  try {
    await fixture.sqs.send(fixture.queue, eventBridgeEvent("file.processed", { userId: "alice", fileId: "1" }));
    await fixture.sqs.send(fixture.queue, eventBridgeEvent("file.shared", { userIds: ["alice", "bob"], fileId: "2" }));
    await fixture.sqs.send(fixture.queue, eventBridgeEvent("report.ready", { topic: "reports", reportId: "3" }));
    await fixture.sqs.send(fixture.queue, eventBridgeEvent("file.scanned", { topics: ["files/42"], userId: 7 }));
    await fixture.sqs.send(fixture.queue, snsNotification(eventBridgeEvent("sns.eventbridge", { userId: "carol" })));
    await fixture.sqs.send(fixture.queue, snsNotification({ users: ["bob"], type: "sns.publish", data: { via: "sns" } }));
    await fixture.sqs.send(fixture.queue, { topics: ["reports"], users: ["alice"], type: "own.publish", data: [1, 2] });

    await alice.waitFor(3, userEvents);
    await bob.waitFor(4, userEvents);
    await carol.waitFor(2, userEvents);
    await untilQueueEmpty(fixture.sqs, fixture.queue.url);

    const types = (connection: SseConnection) => connection.events.filter(userEvents).map((event) => event.event).sort();
    assert.deepEqual(types(alice), ["file.processed", "file.shared", "own.publish"]);
    assert.deepEqual(types(bob), ["file.shared", "own.publish", "report.ready", "sns.publish"]);
    assert.deepEqual(types(carol), ["file.scanned", "sns.eventbridge"]);

    const processed = alice.events.find((event) => event.event === "file.processed")!;
    assert.deepEqual(JSON.parse(processed.data), { userId: "alice", fileId: "1" }, "the data is the EventBridge detail");
    assert.match(processed.id ?? "", /^\d+-\d+$/);
    const own = alice.events.find((event) => event.event === "own.publish")!;
    assert.deepEqual(JSON.parse(own.data), [1, 2]);
  } finally {
    for (const connection of [alice, bob, carol]) connection.close();
  }
});
