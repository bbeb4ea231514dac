import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { launchChromium, scenario, waitForDemo, withoutChromium, type RunningBrowser } from "../support/browser.ts";
import { demoUrl, inCluster } from "../support/cluster.ts";
import { startTestRedis, type TestRedis } from "../support/redis-server.ts";
import { eventBridgeEvent, startSqs, untilQueueEmpty, type TestSqs } from "../support/sqs.ts";

/**
 * From EventBridge to the browser across instances: instance A consumes the queue (the fauxqs
 * SQS emulator stands in for AWS, which cannot be reached here), instance B holds the page.
 */
describe("the demo page in Chromium receives events from the SQS queue", { skip: withoutChromium, timeout: 120_000 }, () => {
  let chromium: RunningBrowser;
  let redis: TestRedis;
  let sqs: TestSqs;

  before(async () => {
    chromium = await launchChromium();
    redis = await startTestRedis();
    sqs = await startSqs();
  });

  after(async () => {
    await sqs?.stop();
    await redis?.stop();
    await chromium?.close();
  });

  test("(1) an EventBridge event taken from SQS by instance A reaches the page on instance B, and only its user's page", async () => {
    const queue = await sqs.createQueue();
    await inCluster(redis.url, async (cluster) => {
      const a = await cluster.start("A", sqs.gatewayEnv(queue));
      const b = await cluster.start("B");
      // Only B serves browsers; only A consumes the queue.
      const front = await cluster.startFront([b]);
      await scenario(chromium.browser, "1-sqs-to-other-instance", async ({ open }) => {
        const alice = await open(demoUrl(front, "alice", "&types=FileUploaded"));
        const bob = await open(demoUrl(front, "bob", "&types=FileUploaded"));
        await waitForDemo(alice, (state) => state.state === "open", "alice's stream to open");
        await waitForDemo(bob, (state) => state.state === "open", "bob's stream to open");

        await sqs.send(queue, eventBridgeEvent("FileUploaded", { userId: "alice", file: "report.pdf" }));
        const aliceState = await waitForDemo(alice, (state) => state.events.length > 0, "the EventBridge event on alice's page");
        assert.deepEqual(aliceState.events.map(({ type, data }) => ({ type, data })), [
          { type: "FileUploaded", data: { userId: "alice", file: "report.pdf" } },
        ]);

        // Bob's own event, sent after alice's: once it is on bob's page, alice's would have been too.
        await sqs.send(queue, eventBridgeEvent("FileUploaded", { userId: "bob", file: "notes.txt" }));
        const bobState = await waitForDemo(bob, (state) => state.events.length > 0, "bob's own event");
        assert.deepEqual(bobState.events.map((event) => event.data), [{ userId: "bob", file: "notes.txt" }], "bob's page has only bob's event");
        await untilQueueEmpty(sqs, queue.url);
        assert.ok(front.streams.every((stream) => stream.upstream === "B"), "the streams were held by instance B");
        const metrics = await (await fetch(`${a.url}/metrics`)).text();
        assert.match(metrics, /^sse_gateway_sqs_messages_delivered_total(\{[^}]*\})? 2$/m, "instance A took both messages");
      });
    });
  });
});
