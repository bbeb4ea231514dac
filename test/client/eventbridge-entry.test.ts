import assert from "node:assert/strict";
import { test } from "node:test";
import { eventBridgeEntry } from "../../client/src/node.ts";
import { token } from "../support/gateway.ts";
import { connectSse } from "../support/sse-client.ts";
import { eventBridgeEvent, untilQueueEmpty, userEvents, withSqsGateway } from "../support/sqs.ts";

/**
 * An entry from eventBridgeEntry, delivered as EventBridge delivers it to the gateway's queue
 * (fauxqs stands in for SQS; EventBridge itself cannot run here, so the test wraps the entry in
 * the envelope a rule target receives), reaches the streams it names through the SQS source.
 */
const fixture = withSqsGateway();

test("a PutEvents entry built by eventBridgeEntry reaches exactly its user and topic through SQS", { timeout: 20_000 }, async () => {
  const subscribe = async (sub: string, topics: string[] = []) => {
    const connection = await connectSse(fixture.gateway.url, { token: await token({ sub, topics: ["*"] }), topics });
    assert.equal(connection.status, 200);
    return connection;
  };
  const ada = await subscribe("ada");
  const reader = await subscribe("ben", ["reports"]);
  const other = await subscribe("cy");
  try {
    const entry = eventBridgeEntry({ source: "app.reports", type: "report.ready", users: ["ada"], topics: ["reports"], data: { reportId: "r-1" } });
    await fixture.sqs.send(fixture.queue, eventBridgeEvent(entry.DetailType, JSON.parse(entry.Detail)));
    const [forAda] = await ada.waitFor(1, userEvents);
    const [forReader] = await reader.waitFor(1, userEvents);
    await untilQueueEmpty(fixture.sqs, fixture.queue.url);
    assert.equal(forAda!.event, "report.ready");
    assert.deepEqual(JSON.parse(forAda!.data), { reportId: "r-1", userIds: ["ada"], topics: ["reports"] });
    assert.equal(forReader!.id, forAda!.id, "one event, to both recipients");
    assert.deepEqual(other.events.filter(userEvents), [], "nobody else got it");
  } finally {
    for (const connection of [ada, reader, other]) connection.close();
  }
});
