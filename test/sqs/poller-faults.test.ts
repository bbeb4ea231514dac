import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { DeleteMessageBatchCommand, SQSClient, type Message } from "@aws-sdk/client-sqs";
import fc from "fast-check";
import { QueuePoller, type PollerEvents } from "../../src/ingest/sqs/queue-poller.ts";
import { startSqs, type TestSqs } from "../support/sqs.ts";

const QUIET: PollerEvents = { received() {}, receiveFailed() {}, receiveSucceeded() {}, deleted() {}, handlerFailed() {}, settleFailed() {} };

/** What happens to one DeleteMessageBatch call: it goes through (perhaps slowly), fails before reaching SQS, or fails after it. */
type DeleteFault = { kind: "ok" | "fail-before" | "fail-after"; delayMs: number };

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * At least once, and twice only where a delete failed: messages on the emulator through one
 * poller whose first deletes are slow, fail before SQS sees them, or fail after it did.
 */
describe("the SQS poller under delete faults (property, on the emulator)", () => {
  let sqs: TestSqs;
  before(async () => {
    sqs = await startSqs();
  });
  after(() => sqs.stop());

  it("every message is handled, a second time only if a delete of it failed before reaching SQS, and the queue ends empty", { timeout: 120_000 }, async () => {
    const fault = fc.record({ kind: fc.constantFrom("ok", "ok", "ok", "fail-before", "fail-after"), delayMs: fc.constantFrom(0, 1200, 1500, 1500) }) as fc.Arbitrary<DeleteFault>;
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 20 }), fc.array(fault, { minLength: 1, maxLength: 6 }), fc.integer({ min: 1, max: 3 }), async (count, faults, pollers) => {
        const queue = await sqs.createQueue({ maxReceiveCount: 100 });
        for (let index = 0; index < count; index++) await sqs.send(queue, `m${index}`);
        const client = new SQSClient({ region: "us-east-1", endpoint: sqs.endpoint });
        const send = client.send.bind(client) as (command: unknown, options?: unknown) => Promise<any>;
        const bodyOf = new Map<string, string>();
        /** Bodies whose delete never reached SQS: they may come back. */
        const undeleted = new Set<string>();
        let deleteCalls = 0;
        (client as { send: unknown }).send = async (command: unknown, options?: unknown) => {
          if (!(command instanceof DeleteMessageBatchCommand)) return send(command, options);
          const { kind, delayMs } = faults[deleteCalls++] ?? { kind: "ok", delayMs: 0 };
          await sleep(delayMs);
          const bodies = command.input.Entries!.map((entry) => bodyOf.get(entry.ReceiptHandle!)!);
          if (kind === "fail-before") {
            for (const body of bodies) undeleted.add(body);
            throw new Error("injected: the delete never reached SQS");
          }
          const output = await send(command, options);
          if (kind === "fail-after") throw new Error("injected: the delete's answer was lost");
          return output;
        };
        const handled: string[] = [];
        const poller = new QueuePoller({
          client,
          queueUrl: queue.url,
          visibilityTimeoutSeconds: 2,
          pollers,
          handle: async (message: Message) => {
            bodyOf.set(message.ReceiptHandle!, message.Body!);
            handled.push(message.Body!);
            return "delete";
          },
          events: QUIET,
        });
        poller.start();
        const deadline = Date.now() + 20_000;
        const empty = async () => {
          const { visible, inFlight } = await sqs.count(queue.url);
          return visible + inFlight === 0;
        };
        while (Date.now() < deadline && !(new Set(handled).size === count && (await empty()))) await sleep(100);
        await poller.stop();
        client.destroy();
        assert.equal(new Set(handled).size, count, "every message handled");
        assert.ok(await empty(), "the queue ends empty");
        const twice = [...new Set(handled.filter((body, index) => handled.indexOf(body) !== index))];
        assert.deepEqual(twice.filter((body) => !undeleted.has(body)), [], `handled again without a failed delete: ${JSON.stringify({ handled, undeleted: [...undeleted], faults })}`);
      }),
      { numRuns: 4 },
    );
  });
});
