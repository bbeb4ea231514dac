import { eventBridgeEvent, startSqs, type TestQueue, type TestSqs } from "../../test/support/sqs.ts";
import type { Target } from "../servers/protocol.ts";
import { sendAtRate, type EventSource, type PublishRun } from "./publisher.ts";

/**
 * Publishes through SQS as a backend does through EventBridge: each event is an EventBridge
 * envelope (detail-type, source, detail with the topic or userId) sent to a queue of the SQS
 * emulator (fauxqs, in this process, on loopback; or SQS_ENDPOINT when set), which the gateways
 * consume. AWS itself cannot be reached here: the emulator stands in for it.
 */
export class SqsPublisher implements EventSource {
  readonly #sqs: TestSqs;
  readonly #queue: TestQueue;

  private constructor(sqs: TestSqs, queue: TestQueue) {
    this.#sqs = sqs;
    this.#queue = queue;
  }

  static async start(): Promise<SqsPublisher> {
    const sqs = await startSqs();
    return new SqsPublisher(sqs, await sqs.createQueue());
  }

  /** The settings a gateway needs to consume the queue. */
  gatewayEnv(): Record<string, string> {
    return this.#sqs.gatewayEnv(this.#queue);
  }

  run(ratePerSecond: number, durationMs: number, targetOf: (sequence: number) => Target): Promise<PublishRun> {
    return sendAtRate(ratePerSecond, durationMs, async (sequence, data) => {
      const target = targetOf(sequence);
      const recipient = "topic" in target ? { topic: target.topic } : { userId: target.user };
      try {
        await this.#sqs.send(this.#queue, eventBridgeEvent("bench", { ...recipient, ...JSON.parse(data) }));
        return undefined;
      } catch (error) {
        return error instanceof Error ? error.message : String(error);
      }
    });
  }

  close(): Promise<void> {
    return this.#sqs.stop();
  }
}
