import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { DeleteMessageBatchCommand, ReceiveMessageCommand, SQSClient, type Message } from "@aws-sdk/client-sqs";
import { QueuePoller, type PollerEvents } from "../../src/ingest/sqs/queue-poller.ts";
import { startSqs, type TestQueue, type TestSqs } from "../support/sqs.ts";

const QUIET: PollerEvents = { received() {}, receiveFailed() {}, receiveSucceeded() {}, deleted() {}, handlerFailed() {}, settleFailed() {} };

/** A real client to the emulator whose calls are timed, and whose deletes can be held back. */
function observedClient(sqs: TestSqs, deleteDelayMs: number | ((deleteIndex: number) => number) = 0) {
  const client = new SQSClient({ region: "us-east-1", endpoint: sqs.endpoint });
  const receives: { startedAt: number; endedAt?: number; messages?: number }[] = [];
  const deletes: { startedAt: number; endedAt: number; ids: string[] }[] = [];
  let deletesStarted = 0;
  const delayOf = typeof deleteDelayMs === "number" ? () => deleteDelayMs : deleteDelayMs;
  const send = client.send.bind(client) as (command: unknown, options?: unknown) => Promise<any>;
  (client as { send: unknown }).send = async (command: unknown, options?: unknown) => {
    const startedAt = performance.now();
    const receive = command instanceof ReceiveMessageCommand ? { startedAt } : undefined;
    if (receive) receives.push(receive);
    if (command instanceof DeleteMessageBatchCommand) await new Promise((resolve) => setTimeout(resolve, delayOf(deletesStarted++)));
    const output = await send(command, options);
    if (receive) Object.assign(receive, { endedAt: performance.now(), messages: output.Messages?.length ?? 0 });
    if (command instanceof DeleteMessageBatchCommand) deletes.push({ startedAt, endedAt: performance.now(), ids: command.input.Entries!.map((entry) => entry.ReceiptHandle!) });
    return output;
  };
  return { client, receives, deletes };
}

describe("the SQS poller's rounds", () => {
  let sqs: TestSqs;
  let queue: TestQueue;
  before(async () => {
    sqs = await startSqs();
  });
  after(() => sqs.stop());

  it("a batch's delete does not hold up the next receive, and stop() waits for it: nothing is left on the queue", { timeout: 20_000 }, async () => {
    queue = await sqs.createQueue();
    const { client, deletes } = observedClient(sqs, 400);
    const handledAt = new Map<string, number>();
    const poller = new QueuePoller({
      client,
      queueUrl: queue.url,
      visibilityTimeoutSeconds: 30,
      pollers: 1,
      handle: async (message: Message) => (handledAt.set(message.Body!, performance.now()), "delete"),
      events: QUIET,
    });
    poller.start();
    await sqs.send(queue, "first");
    while (!handledAt.has("first")) await new Promise((resolve) => setTimeout(resolve, 5));
    await sqs.send(queue, "second");
    while (!handledAt.has("second")) await new Promise((resolve) => setTimeout(resolve, 5));
    await poller.stop();
    assert.equal(deletes.length, 2, "each batch deleted, the last one before stop() resolved");
    assert.ok(handledAt.get("second")! < deletes[0]!.endedAt, "the second message was handled while the first one's delete was still under way");
    assert.deepEqual(await sqs.count(queue.url), { visible: 0, inFlight: 0 });
    client.destroy();
  });

  // Found by an attack pass: a batch's delete waited for the previous batch's delete, the batch no
  // longer kept hidden; one slow delete let the next batch's visibility timeout run out too, and
  // another consumer received those messages again.
  it("a slow delete does not hold up the next batch's delete: no other consumer receives that batch again", { timeout: 20_000 }, async () => {
    queue = await sqs.createQueue();
    // The first delete takes longer than the visibility timeout (2 s, the least the config takes).
    const { client } = observedClient(sqs, (index) => (index === 0 ? 3500 : 0));
    const handled: string[] = [];
    const poller = new QueuePoller({
      client,
      queueUrl: queue.url,
      visibilityTimeoutSeconds: 2,
      pollers: 1,
      handle: async (message: Message) => (handled.push(message.Body!), "delete"),
      events: QUIET,
    });
    poller.start();
    await sqs.send(queue, "first");
    while (!handled.includes("first")) await new Promise((resolve) => setTimeout(resolve, 5));
    await sqs.send(queue, "second");
    while (!handled.includes("second")) await new Promise((resolve) => setTimeout(resolve, 5));
    // Past the second message's visibility timeout, while the first delete is still under way:
    // another instance polls. The first message may come back (its own delete outlived its
    // timeout: at least once); the second one was delivered and deleted at once.
    await new Promise((resolve) => setTimeout(resolve, 2400));
    const other = new SQSClient({ region: "us-east-1", endpoint: sqs.endpoint });
    const seen = await other.send(new ReceiveMessageCommand({ QueueUrl: queue.url, MaxNumberOfMessages: 10, WaitTimeSeconds: 0, VisibilityTimeout: 0 }));
    other.destroy();
    await poller.stop();
    assert.deepEqual((seen.Messages ?? []).map((message) => message.Body).filter((body) => body === "second"), [], "the delivered second message is gone from the queue");
    client.destroy();
  });

  it("after a partial batch a loop waits a moment before its next receive, so that the next call carries more", { timeout: 20_000 }, async () => {
    queue = await sqs.createQueue();
    // Twelve waiting: a full batch of 10, then a partial one of 2.
    for (let index = 0; index < 12; index++) await sqs.send(queue, `m${index}`);
    const { client, receives } = observedClient(sqs);
    let handled = 0;
    const poller = new QueuePoller({ client, queueUrl: queue.url, visibilityTimeoutSeconds: 30, pollers: 1, handle: async () => (handled++, "delete"), events: QUIET });
    poller.start();
    while (handled < 12) await new Promise((resolve) => setTimeout(resolve, 5));
    while (receives.length < 3) await new Promise((resolve) => setTimeout(resolve, 5));
    await poller.stop();
    assert.deepEqual(receives.slice(0, 2).map((receive) => receive.messages), [10, 2]);
    const afterPartial = receives[2]!.startedAt - receives[1]!.endedAt!;
    assert.ok(afterPartial >= 19, `next receive ${afterPartial} ms after a partial batch`);
    client.destroy();
  });
});
