import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { test } from "node:test";
import { loadConfig } from "../../src/config/config.ts";
import { defaultRouting } from "../../src/ingest/sqs/eventbridge-routing.ts";
import { readMessageBody } from "../../src/ingest/sqs/message-body.ts";
import { PoisonMessageError } from "../../src/ingest/sqs/poison-message.ts";
import { eventBridgeEvent, snsNotification } from "../support/sqs.ts";

const MAX_EVENT_BYTES = 1024;

function configWith(env: Record<string, string>) {
  return loadConfig({ SQS_QUEUE_URL: "https://sqs.eu-west-1.amazonaws.com/123456789012/events", ...env }, () => randomBytes(32));
}

function poisonReason(body: string): string {
  try {
    readMessageBody(body, defaultRouting, MAX_EVENT_BYTES);
  } catch (error) {
    assert.ok(error instanceof PoisonMessageError, String(error));
    return error.reason;
  }
  assert.fail("the body was accepted");
}

test("an EventBridge event: detail-type is the type, detail the data, id the idempotency key", () => {
  const event = eventBridgeEvent("file.processed", { userIds: ["a", "b", "a"], topics: ["files/1"], topic: "all" }, "eb-1");
  const { draft, shape, viaSns } = readMessageBody(JSON.stringify(event), defaultRouting, MAX_EVENT_BYTES);
  assert.equal(shape, "eventbridge");
  assert.equal(viaSns, false);
  assert.equal(draft.type, "file.processed");
  assert.equal(draft.idempotencyKey, "eb-1");
  assert.deepEqual(JSON.parse(draft.dataJson), event.detail);
  assert.deepEqual([...draft.channels].sort(), ["t:all", "t:files/1", "u:a", "u:b"]);
});

test("an SNS notification is unwrapped once, whatever it carries", () => {
  const wrapped = readMessageBody(JSON.stringify(snsNotification({ users: ["c"], type: "t", data: 1 })), defaultRouting, MAX_EVENT_BYTES);
  assert.equal(wrapped.shape, "publish");
  assert.equal(wrapped.viaSns, true);
  assert.deepEqual(wrapped.draft.channels, ["u:c"]);
  assert.equal(poisonReason(JSON.stringify(snsNotification(snsNotification({ users: ["c"], type: "t" })))), "unknown_shape");
  assert.equal(poisonReason(JSON.stringify({ ...snsNotification({}), Message: "{oops" })), "not_json");
});

test("each kind of undeliverable body gets its own reason", () => {
  assert.equal(poisonReason("not json"), "not_json");
  assert.equal(poisonReason("[1,2]"), "unknown_shape");
  assert.equal(poisonReason(JSON.stringify({ detail: {} })), "unknown_shape");
  assert.equal(poisonReason(JSON.stringify(eventBridgeEvent("x", { fileId: 1 }))), "no_recipient");
  assert.equal(poisonReason(JSON.stringify({ type: "x", users: [] })), "no_recipient");
  assert.equal(poisonReason(JSON.stringify(eventBridgeEvent("x", { userId: "a", blob: "y".repeat(MAX_EVENT_BYTES) }))), "too_large");
  assert.equal(poisonReason(JSON.stringify(eventBridgeEvent("x", { userId: { id: "a" } }))), "invalid");
  assert.equal(poisonReason(JSON.stringify(eventBridgeEvent("gateway.draining", { userId: "a" }))), "invalid");
  assert.equal(poisonReason(JSON.stringify({ type: "x", users: ["a"], extra: true })), "invalid");
});

test("configured JSON paths route events that carry the user elsewhere", () => {
  const config = configWith({
    SQS_USER_ID_PATHS: "$.detail.owner.id, $.detail.sharedWith[*].userId",
    SQS_TOPIC_PATHS: "$.detail.project,$.resources[0]",
  });
  const event = eventBridgeEvent("doc.shared", {
    userId: "ignored-now",
    owner: { id: 42 },
    sharedWith: [{ userId: "b" }, { userId: "c" }],
    project: "apollo",
  });
  event.resources = ["arn-like/doc-9", "second"];
  const { draft } = readMessageBody(JSON.stringify(event), config.sqs!.routing, MAX_EVENT_BYTES);
  assert.deepEqual([...draft.channels].sort(), ["t:apollo", "t:arn-like/doc-9", "u:42", "u:b", "u:c"]);
});

test("the SQS configuration is checked at start", () => {
  const config = configWith({});
  assert.equal(config.sqs?.region, "eu-west-1", "the region is read from the queue URL");
  assert.equal(config.sqs?.pollers, 2);
  assert.equal(loadConfig({}, () => randomBytes(32)).sqs, undefined, "no queue URL, no consumer");
  assert.throws(() => configWith({ SQS_USER_ID_PATHS: "detail.userId" }), /SQS_USER_ID_PATHS must be .* starts with "\$"/);
  assert.throws(() => configWith({ SQS_TOPIC_PATHS: "$.detail['x']" }), /SQS_TOPIC_PATHS .* from character 9/);
  assert.throws(() => configWith({ SQS_QUEUE_URL: "http://127.0.0.1:1/q" }), /AWS_REGION must be set/);
  assert.throws(() => configWith({ SQS_POLLERS: "11" }), /SQS_POLLERS must be a whole number from 1 to 10/);
});
